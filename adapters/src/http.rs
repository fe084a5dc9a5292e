//! The HTTP and WebSocket surface, as warp filters.
//!
//! Routes: `GET /health`, `GET /cache-stats`, `ALL /twiml`, `GET /tools`,
//! `GET /public-url`, `GET /test/sessions`, WebSocket `/call` (Twilio) and
//! `/logs` (dashboards). Anything else is a JSON 404. One `recover` turns
//! every rejection into a JSON error that never leaks internals.

use std::convert::Infallible;
use std::sync::Arc;

use qloophone_domain::call::{CallRegistry, CallServices, run_call};
use qloophone_domain::ports::Clock;
use serde::Serialize;
use serde_json::json;
use url::Url;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::dashboard::{self, DashboardHub, LogsOptions};
use crate::metrics::{Metrics, Snapshot};
use crate::openai::wire::tool_json;
use crate::time::rfc3339;
use crate::twilio::signature::SignatureValidator;
use crate::twilio::{TwilioLeg, twiml};

/// Largest frame accepted on `/call` (Twilio's are about 400 bytes).
pub const MAX_CALL_FRAME: usize = 64 * 1024;
/// Largest frame accepted on `/logs` (dashboards have nothing to say).
pub const MAX_LOGS_FRAME: usize = 16 * 1024;
/// Largest webhook body accepted on `/twiml`.
pub const MAX_WEBHOOK_BODY: u64 = 64 * 1024;

/// Entity cache counters, for `/cache-stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held.
    pub size: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went upstream.
    pub misses: u64,
    /// Entries pushed out to make room.
    pub evictions: u64,
}

/// Something that can report cache counters.
pub trait CacheStatsSource: Send + Sync {
    /// The counters now.
    fn cache_stats(&self) -> CacheStats;
}

/// What the routes need.
#[derive(Clone)]
pub struct AppState {
    /// Where Twilio reaches us.
    pub public_url: Url,
    /// This build's version.
    pub version: &'static str,
    /// Live calls.
    pub registry: CallRegistry,
    /// What each call needs.
    pub services: CallServices,
    /// Dashboards.
    pub dashboard: DashboardHub,
    /// Entity cache counters.
    pub cache: Arc<dyn CacheStatsSource>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Checks `X-Twilio-Signature` on `/twiml` and `/call`, when a Twilio
    /// auth token is configured.
    pub signatures: Option<SignatureValidator>,
    /// Prometheus metrics (fed as an event sink).
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.public_url.as_str())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every route, with rejections recovered and one tracing span a request.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            // Load balancers stop routing to a draining server.
            let (status, code) = if state.registry.is_draining() {
                ("draining", StatusCode::SERVICE_UNAVAILABLE)
            } else {
                ("healthy", StatusCode::OK)
            };
            let body = json!({
                "status": status,
                "timestamp": rfc3339(state.clock.now()),
                "version": state.version,
                "activeCalls": state.registry.active(),
            });
            warp::reply::with_status(warp::reply::json(&body), code)
        });
    let cache_stats = warp::path!("cache-stats")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| warp::reply::json(&cache_stats_body(&state)));
    let twiml = warp::path!("twiml")
        .and(body_within(MAX_WEBHOOK_BODY))
        .and(signed_webhook(state.clone()))
        .and(with_state(state.clone()))
        .map(twiml_reply);
    let tools = warp::path!("tools")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| warp::reply::json(&tool_schemas(&state)));
    let public_url = warp::path!("public-url")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            let url = state.public_url.as_str().trim_end_matches('/').to_owned();
            warp::reply::json(&json!({ "publicUrl": url }))
        });
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            let text = state.metrics.render(Snapshot {
                active_calls: state.registry.active(),
                dashboards: state.dashboard.clients(),
                draining: state.registry.is_draining(),
                cache: state.cache.cache_stats(),
            });
            warp::reply::with_header(
                text,
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        });
    let sessions = warp::path!("test" / "sessions")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            warp::reply::json(&json!({
                "activeSessions": state.registry.active(),
                "timestamp": rfc3339(state.clock.now()),
            }))
        });
    let call = warp::path!("call")
        .and(signed_stream(state.clone()))
        .and(warp::ws())
        .and(with_state(state.clone()))
        .map(call_upgrade);
    let logs = warp::path!("logs")
        .and(warp::ws())
        .and(warp::query::<LogsOptions>())
        .and(with_state(state))
        .map(logs_upgrade);

    health
        .or(cache_stats)
        .or(twiml)
        .or(tools)
        .or(public_url)
        .or(sessions)
        .or(metrics)
        .or(call)
        .or(logs)
        .recover(recover)
        .with(warp::trace::request())
}

#[derive(Serialize)]
struct CacheStatsBody {
    size: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
    #[serde(rename = "hitRate")]
    hit_rate: f64,
    timestamp: String,
}

fn cache_stats_body(state: &AppState) -> CacheStatsBody {
    let stats = state.cache.cache_stats();
    let lookups = stats.hits + stats.misses;
    #[allow(clippy::cast_precision_loss)] // counters far below 2^52
    let hit_rate = if lookups == 0 {
        0.0
    } else {
        stats.hits as f64 / lookups as f64
    };
    CacheStatsBody {
        size: stats.size,
        hits: stats.hits,
        misses: stats.misses,
        evictions: stats.evictions,
        hit_rate,
        timestamp: rfc3339(state.clock.now()),
    }
}

/// The tools exactly as the model is given them.
fn tool_schemas(state: &AppState) -> Vec<serde_json::Value> {
    state.services.tools.specs().iter().map(tool_json).collect()
}

/// A request that should carry Twilio's signature and does not.
#[derive(Debug)]
struct BadSignature;

impl warp::reject::Reject for BadSignature {}

/// The URL Twilio requested for a webhook: the public origin, this path,
/// this query.
fn public_request_url(public_url: &Url, path: &str, query: &str) -> String {
    let origin = public_url.origin().ascii_serialization();
    if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    }
}

/// Passes a webhook signed by Twilio (or any, when no token is set).
fn signed_webhook(state: Arc<AppState>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path::full()
        .and(query)
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(warp::body::bytes())
        .and(with_state(state))
        .and_then(
            |path: warp::path::FullPath,
             query: String,
             signature: Option<String>,
             body: bytes::Bytes,
             state: Arc<AppState>| async move {
                let Some(validator) = &state.signatures else {
                    return Ok(());
                };
                let url = public_request_url(&state.public_url, path.as_str(), &query);
                let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                match signature {
                    Some(signature) if validator.is_valid(&url, &params, &signature) => Ok(()),
                    _ => {
                        tracing::warn!(%url, "webhook refused: missing or invalid X-Twilio-Signature");
                        Err(warp::reject::custom(BadSignature))
                    }
                }
            },
        )
        .untuple_one()
}

/// Passes a Media Stream upgrade signed by Twilio for the stream URL the
/// TwiML names (or any, when no token is set).
fn signed_stream(state: Arc<AppState>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("x-twilio-signature")
        .and(with_state(state))
        .and_then(|signature: Option<String>, state: Arc<AppState>| async move {
            let Some(validator) = &state.signatures else {
                return Ok(());
            };
            let url = twiml::stream_url(&state.public_url);
            match signature {
                Some(signature) if validator.is_valid(&url, &[], &signature) => Ok(()),
                _ => {
                    tracing::warn!(%url, "stream refused: missing or invalid X-Twilio-Signature");
                    Err(warp::reject::custom(BadSignature))
                }
            }
        })
        .untuple_one()
}

/// A body larger than a route accepts.
#[derive(Debug)]
struct TooLarge;

impl warp::reject::Reject for TooLarge {}

/// Refuses a declared body over `limit` bytes; a request without a body
/// (Twilio's GET webhooks) passes. The body itself is never read.
fn body_within(limit: u64) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |length: Option<u64>| async move {
            match length {
                Some(length) if length > limit => Err(warp::reject::custom(TooLarge)),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

fn xml(body: String) -> impl Reply {
    warp::reply::with_header(body, "content-type", "text/xml")
}

fn twiml_reply(state: Arc<AppState>) -> impl Reply {
    if state.registry.is_full() {
        tracing::warn!(
            active = state.registry.active(),
            "all lines busy: caller turned away"
        );
        return xml(twiml::busy());
    }
    xml(twiml::connect_stream(&state.public_url, &[]))
}

fn call_upgrade(ws: warp::ws::Ws, state: Arc<AppState>) -> Box<dyn Reply> {
    let Some(permit) = state.registry.try_admit() else {
        tracing::warn!(
            active = state.registry.active(),
            "call refused: at the call limit"
        );
        return Box::new(error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "at the call limit",
        ));
    };
    let ws = ws
        .max_message_size(MAX_CALL_FRAME)
        .max_frame_size(MAX_CALL_FRAME);
    Box::new(ws.on_upgrade(move |socket| async move {
        let leg = TwilioLeg::new(socket);
        let shutdown = state.registry.shutdown_signal();
        let span = tracing::info_span!(
            "call",
            stream = tracing::field::Empty,
            call = tracing::field::Empty
        );
        let reason =
            tracing::Instrument::instrument(run_call(leg, &state.services, permit, shutdown), span)
                .await;
        tracing::debug!(%reason, "call task done");
    }))
}

fn logs_upgrade(ws: warp::ws::Ws, options: LogsOptions, state: Arc<AppState>) -> impl Reply {
    let events = state.dashboard.subscribe();
    let shutdown = state.dashboard.closed();
    ws.max_message_size(MAX_LOGS_FRAME)
        .max_frame_size(MAX_LOGS_FRAME)
        .on_upgrade(move |socket| async move {
            dashboard::serve_client(socket, events, options, &*state.clock, shutdown).await;
        })
}

fn error_reply(status: StatusCode, message: &str) -> impl Reply + use<> {
    warp::reply::with_status(warp::reply::json(&json!({ "error": message })), status)
}

async fn recover(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, message) = if rejection.find::<BadSignature>().is_some() {
        (StatusCode::FORBIDDEN, "invalid Twilio signature")
    } else if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some()
        || rejection.find::<TooLarge>().is_some()
    {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "content length required")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid query string")
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some()
        || rejection.find::<warp::reject::MissingHeader>().is_some()
    {
        (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade")
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    };
    Ok(error_reply(status, message))
}
