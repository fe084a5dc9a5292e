//! A simulated Qloo Insights API on loopback.
//!
//! `GET /search` and `GET /v2/insights` with the real parameters and
//! response shapes, backed by a catalogue shipped with the project
//! (`data/catalogue.toml`): a few hundred entities of every type, places in
//! four cities, franchises with sequels, accented names. Affinities are
//! computed from shared taste tags, so recommendations are deterministic.
//!
//! It checks the API key, records every request, refuses what the real
//! service refuses (no `filter.type`, no signal or filter, video games on a
//! hackathon key, an unknown location name) and injects faults on request:
//! latency, 429 with reset headers, 5xx, malformed JSON, a wrong content type.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

const CATALOGUE: &str = include_str!("data/catalogue.toml");

/// One catalogue entity.
#[derive(Debug, Clone)]
pub struct SimEntity {
    /// Stable id derived from type and name.
    pub id: String,
    /// Name.
    pub name: String,
    /// Type URN.
    pub kind: String,
    /// Year, for media.
    pub year: Option<u32>,
    /// Taste words (and keywords such as "sequel", as Qloo's keyword tags).
    pub tags: Vec<String>,
    /// The people Qloo names for a work (directors, authors, creators).
    pub people: Vec<String>,
    /// 0 to 1.
    pub popularity: f64,
    /// Coordinates (places, localities).
    pub point: Option<(f64, f64)>,
    /// Street address (places) or region (localities).
    pub address: Option<String>,
    /// The locality a place is in.
    pub locality: Option<String>,
    /// Tag ids a place carries (category, cuisine).
    pub place_tags: Vec<String>,
    /// The brand a place belongs to.
    pub brand: Option<String>,
    /// What the work is about, when the catalogue says (otherwise its
    /// description is made of its year and tags).
    pub about: Option<String>,
}

/// The catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    entities: Vec<SimEntity>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(flatten)]
    media: HashMap<String, Vec<Vec<String>>>,
}

fn stable_hash(parts: &[&str]) -> u64 {
    // FNV-1a: fixed across runs and builds, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn entity_id(kind: &str, name: &str) -> String {
    let a = stable_hash(&[kind, name]);
    let b = stable_hash(&[name, kind, "qloo"]);
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

fn fold(text: &str) -> String {
    deunicode::deunicode(text)
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Catalogue {
    /// The shipped catalogue.
    ///
    /// # Panics
    /// Only if the shipped file is broken, which a test guards against.
    pub fn shipped() -> Self {
        Self::parse(CATALOGUE).expect("the shipped catalogue parses")
    }

    /// Reads a catalogue from its TOML text.
    ///
    /// # Errors
    /// When the text is not a catalogue.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut entities = Vec::new();
        let mut sections: Vec<_> = raw.media.into_iter().collect();
        sections.sort_by(|a, b| a.0.cmp(&b.0));
        for (section, rows) in sections {
            let kind = format!("urn:entity:{section}");
            for row in rows {
                let get = |i: usize| row.get(i).cloned().unwrap_or_default();
                let name = get(0);
                let popularity = 0.5 + (stable_hash(&[&name]) % 500) as f64 / 1000.0;
                let mut entity = SimEntity {
                    id: entity_id(&kind, &name),
                    name: name.clone(),
                    kind: kind.clone(),
                    year: None,
                    tags: Vec::new(),
                    people: Vec::new(),
                    popularity,
                    point: None,
                    address: None,
                    locality: None,
                    place_tags: Vec::new(),
                    brand: None,
                    about: None,
                };
                match section.as_str() {
                    "locality" => {
                        entity.point = Some((
                            get(1).parse().map_err(|_| format!("{name}: lat"))?,
                            get(2).parse().map_err(|_| format!("{name}: lon"))?,
                        ));
                        entity.address = Some(get(3));
                        // Two Austins: the region tells them apart.
                        entity.id = entity_id(&kind, &format!("{name}|{}", get(3)));
                    }
                    "place" => {
                        entity.locality = Some(get(1));
                        entity.point = Some((
                            get(2).parse().map_err(|_| format!("{name}: lat"))?,
                            get(3).parse().map_err(|_| format!("{name}: lon"))?,
                        ));
                        entity.address = Some(get(4));
                        entity
                            .place_tags
                            .push(format!("urn:tag:category:place:{}", get(5)));
                        if !get(6).is_empty() {
                            entity
                                .place_tags
                                .push(format!("urn:tag:genre:place:restaurant:{}", get(6)));
                        }
                        entity.tags = get(7).split_whitespace().map(str::to_owned).collect();
                        entity.tags.push(get(5));
                        entity.brand = Some(get(8)).filter(|b| !b.is_empty());
                    }
                    "brand" | "destination" | "person" => {
                        entity.tags = get(1).split_whitespace().map(str::to_owned).collect();
                    }
                    _ => {
                        entity.year = get(1).parse().ok();
                        entity.tags = get(2).split_whitespace().map(str::to_owned).collect();
                        entity.people = get(3)
                            .split(',')
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned)
                            .collect();
                        entity.about = Some(get(4)).filter(|about| !about.is_empty());
                    }
                }
                entities.push(entity);
            }
        }
        Ok(Self { entities })
    }

    /// Every entity.
    pub fn entities(&self) -> &[SimEntity] {
        &self.entities
    }

    /// The entity of this type and name.
    pub fn find(&self, kind: &str, name: &str) -> Option<&SimEntity> {
        self.entities
            .iter()
            .find(|e| e.kind == kind && e.name == name)
    }

    fn by_id(&self, id: &str) -> Option<&SimEntity> {
        self.entities.iter().find(|e| e.id.eq_ignore_ascii_case(id))
    }
}

/// A fault to inject into the next request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally, after a delay.
    Latency(Duration),
    /// Answer with this status (429 carries reset headers).
    Status(u16),
    /// Hold the request this long, then answer with this status.
    SlowStatus(Duration, u16),
    /// Answer 200 with a body that is not JSON.
    Malformed,
    /// Answer 200 with JSON labelled `text/html`.
    WrongContentType,
    /// Answer 200 with a JSON body this many bytes long (white space
    /// padding a real answer's shape).
    Huge(usize),
    /// A tag search answers with something even when nothing matches
    /// (as real semantic search does): the caller's words must be checked
    /// against what came back.
    LooseTags,
    /// `/v2/audiences` answers in the TypeScript SDK's shape
    /// (`results.entities[]` with `entity_id`) rather than
    /// `results.audiences[]` with `id`.
    AudiencesAsEntities,
    /// `/v2/audiences` answers 410, as a deprecated endpoint may.
    AudiencesGone,
}

/// One request received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The `X-Api-Key` header.
    pub api_key: Option<String>,
}

impl Recorded {
    /// The decoded query parameters.
    pub fn params(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// One decoded parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// How the simulated Qloo behaves.
#[derive(Debug, Clone)]
pub struct QlooOptions {
    /// The key it accepts (`None`: any or none).
    pub api_key: Option<String>,
    /// Delay before every answer.
    pub latency: Duration,
    /// Delay before an insights answer instead, when set: Qloo's
    /// recommendations take longer than its searches.
    pub insights_latency: Option<Duration>,
    /// Seconds announced in `x-second-ratelimit-reset` on a 429.
    pub rate_limit_reset_secs: u64,
    /// Answer every this-many-th request with a 503 (for soaks).
    pub error_every: Option<usize>,
}

impl Default for QlooOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            latency: Duration::ZERO,
            insights_latency: None,
            error_every: None,
            rate_limit_reset_secs: 1,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    faults: VecDeque<Fault>,
    requests: Vec<Recorded>,
}

/// A running simulated Qloo.
#[derive(Debug)]
pub struct QlooSim {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    catalogue: Arc<Catalogue>,
    task: JoinHandle<()>,
}

impl QlooSim {
    /// Serves the shipped catalogue on `listener` until dropped.
    ///
    /// # Errors
    /// When the listener has no address.
    pub fn spawn(listener: TcpListener, options: QlooOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let catalogue = Arc::new(Catalogue::shipped());
        let routes = routes(catalogue.clone(), state.clone(), Arc::new(options));
        let task = tokio::spawn(warp::serve(routes).incoming(listener).run());
        Ok(Self {
            addr,
            state,
            catalogue,
            task,
        })
    }

    /// The base URL to configure a client with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a fault for the next request (faults apply in order).
    pub fn inject(&self, fault: Fault) {
        self.control().inject(fault);
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.control().requests()
    }

    /// A handle for tests: faults, recorded requests, the catalogue.
    pub fn control(&self) -> QlooControl {
        QlooControl {
            state: self.state.clone(),
            catalogue: self.catalogue.clone(),
        }
    }
}

/// Steers a running [`QlooSim`] from elsewhere. Cloning shares it.
#[derive(Debug, Clone)]
pub struct QlooControl {
    state: Arc<Mutex<State>>,
    catalogue: Arc<Catalogue>,
}

impl QlooControl {
    /// Queues a fault for the next request (faults apply in order).
    pub fn inject(&self, fault: Fault) {
        lock(&self.state).faults.push_back(fault);
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// The id of a catalogue entity.
    pub fn id_of(&self, kind: &str, name: &str) -> Option<String> {
        self.catalogue.find(kind, name).map(|e| e.id.clone())
    }
}

impl Drop for QlooSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn routes(
    catalogue: Arc<Catalogue>,
    state: Arc<Mutex<State>>,
    options: Arc<QlooOptions>,
) -> impl Filter<Extract = (Response,), Error = std::convert::Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::get()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::optional::<String>("x-api-key"))
        .then(
            move |path: warp::path::FullPath, query: String, key: Option<String>| {
                let catalogue = catalogue.clone();
                let state = state.clone();
                let options = options.clone();
                async move {
                    let recorded = Recorded {
                        path: path.as_str().to_owned(),
                        query,
                        api_key: key,
                    };
                    let fault = {
                        let mut state = lock(&state);
                        state.requests.push(recorded.clone());
                        let count = state.requests.len();
                        state.faults.pop_front().or_else(|| {
                            options
                                .error_every
                                .filter(|every| *every > 0 && count.is_multiple_of(*every))
                                .map(|_| Fault::Status(503))
                        })
                    };
                    let delay = match options.insights_latency {
                        Some(slower) if recorded.path == "/v2/insights" => slower,
                        _ => options.latency,
                    };
                    tokio::time::sleep(delay).await;
                    answer(&catalogue, &options, &recorded, fault).await
                }
            },
        )
        .recover(|_| async {
            Ok::<Response, std::convert::Infallible>(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
            ))
        })
        .unify()
}

fn reply(status: StatusCode, body: &Value) -> Response {
    warp::Reply::into_response(warp::reply::with_status(warp::reply::json(body), status))
}

fn error(status: StatusCode, message: &str) -> Response {
    reply(status, &json!({"errors": [{"message": message}]}))
}

async fn answer(
    catalogue: &Catalogue,
    options: &QlooOptions,
    request: &Recorded,
    fault: Option<Fault>,
) -> Response {
    let mut loose = false;
    let mut audience_shape = audiences::Shape::Audiences;
    match fault {
        Some(Fault::AudiencesAsEntities) => audience_shape = audiences::Shape::Entities,
        Some(Fault::AudiencesGone) if request.path.starts_with("/v2/audiences") => {
            return audiences::gone();
        }
        Some(Fault::AudiencesGone) => {}
        Some(Fault::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::LooseTags) => loose = true,
        Some(Fault::Status(429)) => {
            let mut response = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            let headers = response.headers_mut();
            headers.insert(
                "x-second-ratelimit-reset",
                options.rate_limit_reset_secs.into(),
            );
            headers.insert("retry-after", options.rate_limit_reset_secs.into());
            headers.insert("x-month-ratelimit-remaining", 9_999u32.into());
            return response;
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "simulated failure");
        }
        Some(Fault::SlowStatus(delay, code)) => {
            tokio::time::sleep(delay).await;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error(status, "simulated slow failure");
        }
        Some(Fault::Malformed) => {
            return warp::Reply::into_response(warp::reply::with_header(
                "{\"results\": [",
                "content-type",
                "application/json",
            ));
        }
        Some(Fault::Huge(bytes)) => {
            let mut body = Vec::with_capacity(bytes.max(16));
            body.extend_from_slice(b"{\"results\": [");
            body.resize(bytes.saturating_sub(2).max(body.len()), b' ');
            body.extend_from_slice(b"]}");
            return warp::Reply::into_response(warp::reply::with_header(
                body,
                "content-type",
                "application/json",
            ));
        }
        Some(Fault::WrongContentType) => {
            return warp::Reply::into_response(warp::reply::with_header(
                "{\"results\": []}",
                "content-type",
                "text/html",
            ));
        }
        None => {}
    }
    if let Some(expected) = &options.api_key
        && request.api_key.as_deref() != Some(expected.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, "Invalid API key");
    }
    let params: HashMap<String, String> = request.params().into_iter().collect();
    match request.path.as_str() {
        "/search" => search(catalogue, &params),
        "/v2/insights" | "/v2/insights/" => insights(catalogue, &params),
        "/v2/tags" | "/v2/tags/" => tags::tags(catalogue, &params, loose),
        "/v2/audiences" | "/v2/audiences/" => audiences::audiences(&params, audience_shape),
        _ => error(StatusCode::NOT_FOUND, "not found"),
    }
}

fn list(params: &HashMap<String, String>, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn take(params: &HashMap<String, String>, default: usize) -> usize {
    params
        .get("take")
        .and_then(|t| t.parse().ok())
        .unwrap_or(default)
        .clamp(1, 50)
}

/// `text`'s parts between `separator`s, capitalised and joined with
/// spaces, as Qloo names tags ("late-night" → "Late Night").
fn title_case(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn tag_json(word: &str) -> Value {
    let name = title_case(word, '-');
    json!({"id": format!("urn:tag:keyword:qloo:{word}"), "name": name, "type": "urn:tag:keyword:qloo"})
}

/// What tells an entity from its namesakes, as Qloo writes it: a place's
/// address, or a work's year followed by its people ("1999, Lana
/// Wachowski, Lilly Wachowski").
fn disambiguation(entity: &SimEntity) -> Option<String> {
    if let Some(address) = &entity.address {
        return Some(address.clone());
    }
    let year = entity.year?;
    Some(
        std::iter::once(year.to_string())
            .chain(entity.people.iter().cloned())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn tags_json(entity: &SimEntity) -> Vec<Value> {
    let mut tags: Vec<Value> = entity.tags.iter().map(|t| tag_json(t)).collect();
    for id in &entity.place_tags {
        let word = id.rsplit(':').next().unwrap_or_default();
        let mut tag = tag_json(word);
        tag["id"] = Value::from(id.as_str());
        tag["type"] = Value::from(id.rsplit_once(':').map_or("", |(t, _)| t));
        tags.push(tag);
    }
    tags
}

fn description(entity: &SimEntity) -> String {
    if let Some(about) = &entity.about {
        return about.clone();
    }
    match (&entity.year, entity.kind.as_str()) {
        (Some(year), "urn:entity:artist") => {
            format!("Active since {year}; {}.", entity.tags.join(", "))
        }
        (Some(year), _) => format!("{year}. {}.", entity.tags.join(", ")),
        (None, _) => entity.tags.join(", "),
    }
}

fn search(catalogue: &Catalogue, params: &HashMap<String, String>) -> Response {
    let Some(query) = params
        .get("query")
        .map(|q| fold(q))
        .filter(|q| !q.is_empty())
    else {
        return error(StatusCode::BAD_REQUEST, "query is required");
    };
    let types = list(params, "types");
    let query_words: Vec<&str> = query.split(' ').collect();
    let mut hits: Vec<(f64, &SimEntity)> = catalogue
        .entities
        .iter()
        .filter(|e| types.is_empty() || types.contains(&e.kind))
        .filter_map(|e| {
            let name = fold(&e.name);
            let score = if name == query {
                100.0
            } else if name.starts_with(&query) {
                80.0
            } else if name.contains(&query) {
                60.0
            } else {
                let name_words: Vec<&str> = name.split(' ').collect();
                let shared = query_words
                    .iter()
                    .filter(|w| w.len() > 2 && name_words.contains(w))
                    .count();
                if shared == 0 {
                    return None;
                }
                #[allow(clippy::cast_precision_loss)]
                let ratio = shared as f64 / query_words.len().max(name_words.len()) as f64;
                40.0 * ratio
            };
            Some((score + e.popularity, e))
        })
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let results: Vec<Value> = hits
        .iter()
        .take(take(params, 20))
        .map(|(_, e)| {
            let mut hit = json!({
                "name": e.name,
                "entity_id": e.id,
                "types": [e.kind],
                "popularity": e.popularity,
                "properties": {"short_description": description(e), "image": {"url": format!("https://images.example/{}.jpg", e.id)}},
                "tags": tags_json(e),
            });
            if let Some(text) = disambiguation(e) {
                hit["disambiguation"] = Value::from(text);
            }
            if let Some(year) = e.year {
                hit["properties"]["release_year"] = Value::from(year);
            }
            if let Some((lat, lon)) = e.point {
                hit["location"] = json!({"lat": lat, "lon": lon});
            }
            hit
        })
        .collect();
    reply(StatusCode::OK, &json!({ "results": results }))
}

/// The affinity Qloo gives every result of an inert tag signal.
const INERT_AFFINITY: f64 = 0.764_996_287_798_405_6;

const INSIGHT_TYPES: &[&str] = &[
    "urn:entity:artist",
    "urn:entity:book",
    "urn:entity:brand",
    "urn:entity:destination",
    "urn:entity:movie",
    "urn:entity:person",
    "urn:entity:place",
    "urn:entity:podcast",
    "urn:entity:tv_show",
    "urn:entity:videogame",
];

/// Great-circle distance in metres.
fn distance_m((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6_371_000.0 * 2.0 * a.sqrt().asin()
}

enum Area {
    Around {
        center: (f64, f64),
        radius: f64,
        locality: Option<String>,
    },
    Box {
        west: f64,
        south: f64,
        east: f64,
        north: f64,
    },
}

fn parse_wkt(text: &str) -> Option<Area> {
    let upper = text.trim().to_ascii_uppercase();
    let numbers = |inner: &str| -> Vec<(f64, f64)> {
        inner
            .split(',')
            .filter_map(|pair| {
                let mut it = pair
                    .split_whitespace()
                    .map(|n| n.trim_matches(|c| c == '(' || c == ')').parse::<f64>());
                match (it.next(), it.next()) {
                    (Some(Ok(lon)), Some(Ok(lat))) => Some((lon, lat)),
                    _ => None,
                }
            })
            .collect()
    };
    if let Some(inner) = upper.strip_prefix("POINT") {
        let point = numbers(inner).into_iter().next()?;
        return Some(Area::Around {
            center: (point.1, point.0),
            radius: 0.0,
            locality: None,
        });
    }
    if let Some(inner) = upper.strip_prefix("POLYGON") {
        let points = numbers(inner);
        if points.len() < 3 {
            return None;
        }
        let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
            points.iter().map(pick).fold(init, f)
        };
        return Some(Area::Box {
            west: fold(f64::min, f64::MAX, |p| p.0),
            east: fold(f64::max, f64::MIN, |p| p.0),
            south: fold(f64::min, f64::MAX, |p| p.1),
            north: fold(f64::max, f64::MIN, |p| p.1),
        });
    }
    None
}

fn insights(catalogue: &Catalogue, params: &HashMap<String, String>) -> Response {
    let Some(filter_type) = params.get("filter.type") else {
        return error(StatusCode::BAD_REQUEST, "filter.type is required");
    };
    if !INSIGHT_TYPES.contains(&filter_type.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("filter.type {filter_type} is not supported"),
        );
    }
    if filter_type == "urn:entity:videogame" {
        return error(
            StatusCode::FORBIDDEN,
            "This API key cannot query urn:entity:videogame",
        );
    }
    let signals: Vec<&SimEntity> = list(params, "signal.interests.entities")
        .iter()
        .filter_map(|id| catalogue.by_id(id))
        .collect();
    let signal_tags: Vec<String> = list(params, "signal.interests.tags");
    // Audiences are a signal (one that moves nothing here: inert, §6.4).
    let audiences = list(params, "signal.demographics.audiences");
    let has_filter = [
        "filter.location",
        "filter.location.query",
        "filter.tags",
        "filter.references_brand",
    ]
    .iter()
    .any(|p| params.contains_key(*p));
    if signals.is_empty() && signal_tags.is_empty() && audiences.is_empty() && !has_filter {
        return error(
            StatusCode::BAD_REQUEST,
            "at least one valid signal or filter is required for entity insights",
        );
    }
    let radius: Option<f64> = params
        .get("filter.location.radius")
        .and_then(|r| r.parse().ok());
    let locality_of = |locality: &SimEntity, radius: Option<f64>| Area::Around {
        center: locality.point.unwrap_or_default(),
        radius: radius.unwrap_or(15_000.0) * 1.5 + 1000.0,
        locality: Some(locality.name.clone()),
    };
    let area = if let Some(name) = params.get("filter.location.query") {
        let wanted = fold(name);
        match catalogue
            .entities
            .iter()
            .find(|e| e.kind == "urn:entity:locality" && fold(&e.name) == wanted)
        {
            Some(locality) => Some(locality_of(locality, radius)),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("could not resolve filter.location.query \"{name}\""),
                );
            }
        }
    } else if let Some(location) = params.get("filter.location") {
        if let Some(locality) = catalogue
            .by_id(location)
            .filter(|e| e.kind == "urn:entity:locality")
        {
            Some(locality_of(locality, radius))
        } else {
            match parse_wkt(location) {
                Some(Area::Around { center, .. }) => Some(Area::Around {
                    center,
                    radius: radius.unwrap_or(15_000.0),
                    locality: None,
                }),
                Some(area) => Some(area),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "filter.location is not WKT or a locality id",
                    );
                }
            }
        }
    } else {
        None
    };
    let tags = list(params, "filter.tags");
    let brands: Vec<String> = list(params, "filter.references_brand")
        .iter()
        .filter_map(|id| catalogue.by_id(id).map(|b| b.name.clone()))
        .collect();
    if params.contains_key("filter.references_brand") && brands.is_empty() {
        return reply(
            StatusCode::OK,
            &json!({"success": true, "results": {"entities": [], "duration": 0.001}}),
        );
    }
    // Tag signals move affinity only when the tag is connected to the
    // type asked for: carried by some entity of that type. Otherwise they
    // are inert, and every result gets the same affinity (§6.4).
    let signal_words: Vec<String> = signal_tags
        .iter()
        .map(|t| t.rsplit(':').next().unwrap_or_default().to_owned())
        .collect();
    let inert = !signal_tags.is_empty()
        && !catalogue
            .entities
            .iter()
            .filter(|e| &e.kind == filter_type)
            .any(|e| {
                signal_tags.iter().any(|t| e.place_tags.contains(t))
                    || e.tags.iter().any(|w| signal_words.contains(w))
            });
    let exclude = list(params, "filter.exclude.entities");
    let explain = params
        .get("feature.explainability")
        .is_some_and(|v| v == "true");

    let mut found: Vec<Scored<'_>> = Vec::new();
    for entity in catalogue.entities.iter().filter(|e| &e.kind == filter_type) {
        if exclude.iter().any(|x| x.eq_ignore_ascii_case(&entity.id)) {
            continue;
        }
        let carries = |t: &String| {
            entity.place_tags.contains(t)
                || entity
                    .tags
                    .iter()
                    .any(|w| *t == format!("urn:tag:keyword:qloo:{w}"))
        };
        let tagged = if params
            .get("operator.filter.tags")
            .is_some_and(|o| o == "intersection")
        {
            tags.iter().all(carries)
        } else {
            tags.iter().any(carries)
        };
        if !tags.is_empty() && !tagged {
            continue;
        }
        if !brands.is_empty() && !entity.brand.as_ref().is_some_and(|b| brands.contains(b)) {
            continue;
        }
        let mut distance = None;
        if let Some(area) = &area {
            let Some(point) = entity.point else { continue };
            match area {
                Area::Around {
                    center,
                    radius,
                    locality,
                } => {
                    let d = distance_m(*center, point);
                    let in_locality = locality.is_some() && entity.locality == *locality;
                    if d > *radius && !in_locality {
                        continue;
                    }
                    distance = Some(d);
                }
                Area::Box {
                    west,
                    south,
                    east,
                    north,
                } => {
                    if !(point.0 >= *south
                        && point.0 <= *north
                        && point.1 >= *west
                        && point.1 <= *east)
                    {
                        continue;
                    }
                }
            }
        }
        let mut scores = Vec::new();
        for signal in &signals {
            scores.push((
                signal.id.clone(),
                taste_overlap(&entity.tags, &signal.tags, &entity.id, &signal.id),
            ));
        }
        let mut affinity = if scores.is_empty() {
            if inert {
                // Qloo's default list, one constant affinity (§6.4).
                INERT_AFFINITY
            } else {
                taste_overlap(&entity.tags, &signal_words, &entity.id, "tags")
            }
        } else {
            #[allow(clippy::cast_precision_loss)]
            let mean = scores.iter().map(|(_, s)| s).sum::<f64>() / scores.len() as f64;
            mean
        };
        if !inert || !scores.is_empty() {
            affinity = (affinity * 0.9 + entity.popularity * 0.1).clamp(0.0, 1.0);
        }
        found.push(Scored {
            affinity,
            distance,
            scores,
            entity,
        });
    }
    if params.get("sort_by").is_some_and(|s| s == "distance") {
        found.sort_by(|a, b| {
            a.distance
                .unwrap_or(f64::MAX)
                .total_cmp(&b.distance.unwrap_or(f64::MAX))
        });
    } else {
        found.sort_by(|a, b| {
            b.affinity
                .total_cmp(&a.affinity)
                .then_with(|| a.entity.name.cmp(&b.entity.name))
        });
    }
    let entities: Vec<Value> = found
        .iter()
        .take(take(params, 20))
        .map(|Scored { affinity, distance, scores, entity: e }| {
            let mut query = json!({"affinity": (affinity * 10_000.0).round() / 10_000.0, "measurements": {"audience_growth": 0}});
            if let Some(distance) = distance {
                query["distance"] = Value::from((distance * 10.0).round() / 10.0);
            }
            if explain {
                query["explainability"] = json!({"signal.interests.entities": scores
                    .iter()
                    .filter(|(_, s)| *s >= 0.1)
                    .map(|(id, s)| json!({"entity_id": id, "score": (s * 1000.0).round() / 1000.0}))
                    .collect::<Vec<_>>()});
            }
            let mut properties = json!({"description": description(e), "short_descriptions": [{"value": description(e), "languages": ["en"]}]});
            if let Some(year) = e.year {
                properties["release_year"] = Value::from(year);
            }
            if let Some(address) = &e.address {
                properties["address"] = Value::from(address.as_str());
                properties["geocode"] = json!({"city": e.locality});
            }
            let mut item = json!({
                "name": e.name,
                "entity_id": e.id,
                "type": "urn:entity",
                "subtype": e.kind,
                "popularity": e.popularity,
                "properties": properties,
                "tags": tags_json(e),
                "query": query,
                "disambiguation": disambiguation(e).unwrap_or_default(),
            });
            if let Some((lat, lon)) = e.point {
                item["location"] = json!({"lat": lat, "lon": lon, "geohash": ""});
            }
            item
        })
        .collect();
    let mut body = json!({"success": true, "results": {"entities": entities, "duration": 0.004}});
    if let Some(Area::Around {
        locality: Some(name),
        ..
    }) = &area
        && let Some(locality) = catalogue
            .entities
            .iter()
            .find(|e| e.kind == "urn:entity:locality" && &e.name == name)
    {
        body["query"] = json!({"localities": {"filter": [{
            "entity_id": locality.id, "name": locality.name, "subtype": "urn:entity:locality",
            "disambiguation": locality.address,
        }]}});
    }
    reply(StatusCode::OK, &body)
}

/// A candidate with its scores.
struct Scored<'a> {
    affinity: f64,
    distance: Option<f64>,
    scores: Vec<(String, f64)>,
    entity: &'a SimEntity,
}

/// How much two sets of taste words overlap, 0 to 1, with a small stable
/// jitter so ties break the same way every time.
fn taste_overlap(a: &[String], b: &[String], a_id: &str, b_id: &str) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.05;
    }
    let shared = a.iter().filter(|w| b.contains(w)).count();
    #[allow(clippy::cast_precision_loss)]
    let jaccard = shared as f64 / (a.len() + b.len() - shared) as f64;
    #[allow(clippy::cast_precision_loss)]
    let jitter = (stable_hash(&[a_id, b_id]) % 1000) as f64 / 1000.0;
    (0.15 + 0.8 * jaccard.sqrt() + 0.05 * jitter).min(1.0)
}

mod audiences;
mod tags;
#[cfg(test)]
mod tests;
