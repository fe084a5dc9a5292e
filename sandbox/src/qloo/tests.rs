//! The simulated Qloo over a real socket.

use serde_json::Value;
use tokio::net::TcpListener;

use super::*;

async fn sim(options: QlooOptions) -> (QlooSim, reqwest::Client) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        QlooSim::spawn(listener, options).unwrap(),
        reqwest::Client::new(),
    )
}

async fn get(client: &reqwest::Client, sim: &QlooSim, path_and_query: &str) -> (u16, Value) {
    let response = client
        .get(format!("{}{path_and_query}", sim.url()))
        .header("x-api-key", "k")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn the_shipped_catalogue_covers_every_type_and_several_cities() {
    let catalogue = Catalogue::shipped();
    assert!(
        catalogue.entities().len() >= 200,
        "{}",
        catalogue.entities().len()
    );
    for kind in INSIGHT_TYPES.iter().chain(["urn:entity:locality"].iter()) {
        assert!(
            catalogue.entities().iter().any(|e| &e.kind == kind),
            "{kind}"
        );
    }
    let mut cities: Vec<&str> = catalogue
        .entities()
        .iter()
        .filter_map(|e| e.locality.as_deref())
        .collect();
    cities.sort_unstable();
    cities.dedup();
    assert!(cities.len() >= 3, "{cities:?}");
    let ids: std::collections::HashSet<&str> =
        catalogue.entities().iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), catalogue.entities().len(), "ids are unique");
    assert!(catalogue.find("urn:entity:movie", "Amélie").is_some());
    assert_eq!(
        catalogue.find("urn:entity:movie", "The Matrix").unwrap().id,
        entity_id("urn:entity:movie", "The Matrix"),
        "ids are stable"
    );
}

#[test]
fn broken_catalogues_are_reported() {
    assert!(Catalogue::parse("movie = 5").is_err());
    assert!(
        Catalogue::parse("locality = [[\"X\", \"north\", \"1\"]]")
            .unwrap_err()
            .contains("X: lat")
    );
}

#[tokio::test]
async fn search_finds_by_name_and_type_with_the_real_shape() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let (status, body) = get(
        &client,
        &sim,
        "/search?query=the+matrix&types=urn%3Aentity%3Amovie&take=3",
    )
    .await;
    assert_eq!(status, 200);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["name"], "The Matrix");
    assert_eq!(results[0]["types"][0], "urn:entity:movie");
    assert!(
        results[0]["tags"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("urn:tag:")
    );
    let (_, body) = get(&client, &sim, "/search?query=amelie").await;
    assert_eq!(body["results"][0]["name"], "Amélie", "accents fold");
    let (_, body) = get(
        &client,
        &sim,
        "/search?query=Austin&types=urn:entity:locality",
    )
    .await;
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    assert!(
        body["results"][0]["disambiguation"]
            .as_str()
            .unwrap()
            .contains("Texas")
    );
    let (status, _) = get(&client, &sim, "/search").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_api_key_is_checked_and_requests_recorded() {
    let (sim, client) = sim(QlooOptions {
        api_key: Some("secret".into()),
        ..QlooOptions::default()
    })
    .await;
    let (status, body) = get(&client, &sim, "/search?query=x").await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["message"], "Invalid API key");
    let requests = sim.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/search");
    assert_eq!(requests[0].param("query").as_deref(), Some("x"));
    assert_eq!(requests[0].api_key.as_deref(), Some("k"));
}

#[tokio::test]
async fn insights_refuse_what_the_real_service_refuses() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let (status, body) = get(&client, &sim, "/v2/insights?take=3").await;
    assert_eq!(
        (status, body["errors"][0]["message"].as_str()),
        (400, Some("filter.type is required"))
    );
    let (status, body) = get(&client, &sim, "/v2/insights?filter.type=urn:entity:movie").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["message"],
        "at least one valid signal or filter is required for entity insights"
    );
    let matrix = entity_id("urn:entity:movie", "The Matrix");
    let (status, _) = get(
        &client,
        &sim,
        &format!(
            "/v2/insights?filter.type=urn:entity:videogame&signal.interests.entities={matrix}"
        ),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:place&filter.location.query=Atlantis",
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:album&filter.tags=x",
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn insights_rank_by_shared_taste_and_explain() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let matrix = entity_id("urn:entity:movie", "The Matrix");
    let path = format!(
        "/v2/insights?filter.type=urn%3Aentity%3Amovie&signal.interests.entities={matrix}&take=10&feature.explainability=true"
    );
    let (status, first) = get(&client, &sim, &path).await;
    assert_eq!(status, 200);
    let (_, second) = get(&client, &sim, &path).await;
    assert_eq!(first, second, "deterministic");
    let entities = first["results"]["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 10);
    let names: Vec<&str> = entities
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"The Matrix Reloaded"),
        "sequels rank high: {names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| ["Blade Runner", "Dark City", "Ghost in the Shell"].contains(n)),
        "{names:?}"
    );
    let top = &entities[0];
    assert_eq!(top["type"], "urn:entity");
    assert_eq!(top["subtype"], "urn:entity:movie");
    assert!(top["query"]["affinity"].as_f64().unwrap() > 0.5);
    assert_eq!(
        top["query"]["explainability"]["signal.interests.entities"][0]["entity_id"],
        matrix
    );
    let affinities: Vec<f64> = entities
        .iter()
        .map(|e| e["query"]["affinity"].as_f64().unwrap())
        .collect();
    assert!(affinities.windows(2).all(|w| w[0] >= w[1]));
    let (_, excluded) = get(
        &client,
        &sim,
        &format!(
            "{path}&filter.exclude.entities={}",
            entity_id("urn:entity:movie", "The Matrix Reloaded")
        ),
    )
    .await;
    assert!(!excluded.to_string().contains("\"The Matrix Reloaded\""));
}

#[tokio::test]
async fn places_are_filtered_by_area_tag_and_brand() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let khruangbin = entity_id("urn:entity:artist", "Khruangbin");
    let (_, body) = get(
        &client,
        &sim,
        &format!("/v2/insights?filter.type=urn:entity:place&signal.interests.entities={khruangbin}&filter.location.query=Austin&filter.location.radius=2000&filter.tags=urn:tag:category:place:live_music_venue"),
    )
    .await;
    let entities = body["results"]["entities"].as_array().unwrap();
    assert!(!entities.is_empty());
    for place in entities {
        assert!(
            place["properties"]["address"]
                .as_str()
                .unwrap()
                .contains("Austin, TX"),
            "{place}"
        );
        assert!(place["query"]["distance"].as_f64().is_some());
        assert!(place["tags"].to_string().contains("live_music_venue"));
    }
    assert_eq!(body["query"]["localities"]["filter"][0]["name"], "Austin");

    let (_, body) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:place&filter.location=POLYGON((-73.992 40.721, -73.973 40.721, -73.973 40.733, -73.992 40.733, -73.992 40.721))",
    )
    .await;
    let names: Vec<&str> = body["results"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Nublu") && !names.contains(&"Balthazar"),
        "{names:?}"
    );

    let (_, body) = get(&client, &sim, "/v2/insights?filter.type=urn:entity:place&filter.location=POINT(-97.7431 30.2672)&filter.location.radius=1000&sort_by=distance").await;
    let distances: Vec<f64> = body["results"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["query"]["distance"].as_f64().unwrap())
        .collect();
    assert!(!distances.is_empty() && distances.iter().all(|d| *d <= 1000.0));
    assert!(distances.windows(2).all(|w| w[0] <= w[1]));

    let starbucks = entity_id("urn:entity:brand", "Starbucks");
    let (_, body) = get(&client, &sim, &format!("/v2/insights?filter.type=urn:entity:place&filter.references_brand={starbucks}&filter.location.query=Austin")).await;
    let names: Vec<&str> = body["results"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Starbucks Congress Avenue"]);
}

#[tokio::test]
async fn faults_are_injected_in_order() {
    let (sim, client) = sim(QlooOptions::default()).await;
    sim.inject(Fault::Status(429));
    sim.inject(Fault::Status(503));
    sim.inject(Fault::Malformed);
    sim.inject(Fault::WrongContentType);
    sim.inject(Fault::Latency(Duration::from_millis(1)));
    let url = format!("{}/search?query=x", sim.url());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["x-second-ratelimit-reset"], "1");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 503);
    let response = client.get(&url).send().await.unwrap();
    assert!(serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err());
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(sim.requests().len(), 6);
}

#[tokio::test]
async fn every_nth_request_can_be_answered_503() {
    let (sim, client) = sim(QlooOptions {
        error_every: Some(2),
        ..QlooOptions::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&client, &sim, "/search?query=The+Matrix").await.0);
    }
    assert_eq!(statuses, [200, 503, 200, 503]);
}

fn tag_ids(body: &Value) -> Vec<String> {
    body["results"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn tags_are_found_by_name_by_meaning_and_by_parent_type() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let (status, body) = get(
        &client,
        &sim,
        "/v2/tags?filter.query=cosy%20italian&feature.semantic_search=true&filter.parents.types=urn:entity:place&take=5",
    )
    .await;
    assert_eq!(status, 200);
    let ids = tag_ids(&body);
    assert!(
        ids.contains(&"urn:tag:genre:place:restaurant:italian".to_owned()),
        "{ids:?}"
    );
    assert!(
        ids.contains(&"urn:tag:keyword:qloo:cozy".to_owned()),
        "by meaning: {ids:?}"
    );
    assert_eq!(body["results"]["tags"][0]["name"], "Italian", "names first");

    // Without semantic search, "cosy" means nothing.
    let (_, body) = get(
        &client,
        &sim,
        "/v2/tags?filter.query=cosy&filter.parents.types=urn:entity:place",
    )
    .await;
    assert!(tag_ids(&body).is_empty());
    // Parent types narrow: no film is Italian food.
    let (_, body) = get(
        &client,
        &sim,
        "/v2/tags?filter.query=italian&filter.parents.types=urn:entity:movie",
    )
    .await;
    assert!(tag_ids(&body).is_empty());
    // An unknown vibe: nothing; told to be loose, something anyway.
    let unknown = "/v2/tags?filter.query=zxqv&feature.semantic_search=true";
    assert!(tag_ids(&get(&client, &sim, unknown).await.1).is_empty());
    sim.inject(Fault::LooseTags);
    assert!(!tag_ids(&get(&client, &sim, unknown).await.1).is_empty());
    let (status, _) = get(&client, &sim, "/v2/tags").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn insights_filter_by_tags_and_tag_signals_can_be_inert() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let names = |body: &Value| -> Vec<String> {
        body["results"]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let both = "/v2/insights?filter.type=urn:entity:place&filter.location.query=New%20York\
                &filter.tags=urn:tag:genre:place:restaurant:japanese,urn:tag:keyword:qloo:cozy";
    let (_, union) = get(&client, &sim, both).await;
    let (_, all) = get(
        &client,
        &sim,
        &format!("{both}&operator.filter.tags=intersection"),
    )
    .await;
    assert!(
        names(&all).contains(&"Ippudo East Village".to_owned()),
        "{all}"
    );
    assert!(names(&all).len() < names(&union).len(), "{all} {union}");

    // A keyword no film carries moves nothing: one constant affinity.
    let (_, inert) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:movie&signal.interests.tags=urn:tag:keyword:qloo:ramen&take=5",
    )
    .await;
    let affinities: Vec<f64> = inert["results"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["query"]["affinity"].as_f64().unwrap())
        .collect();
    assert!(
        affinities.len() > 1 && affinities.iter().all(|a| (a - 0.765).abs() < 0.001),
        "{affinities:?}"
    );
    let (_, live) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:movie&signal.interests.tags=urn:tag:keyword:qloo:cyberpunk&take=5",
    )
    .await;
    assert!(
        names(&live).contains(&"The Matrix".to_owned())
            || names(&live).contains(&"Akira".to_owned()),
        "{live}"
    );
}

#[tokio::test]
async fn audiences_answer_in_either_shape_or_gone() {
    let (sim, client) = sim(QlooOptions::default()).await;
    let by_parent = "/v2/audiences?filter.parents.types=urn:audience:hobbies_and_interests&take=10";
    let (status, body) = get(&client, &sim, by_parent).await;
    assert_eq!(status, 200);
    let audiences = body["results"]["audiences"].as_array().unwrap();
    assert!(audiences.iter().all(|a| {
        a["id"]
            .as_str()
            .unwrap()
            .starts_with("urn:audience:hobbies_and_interests:")
    }));
    assert!(audiences.iter().any(|a| a["name"] == "Foodies"));
    let (_, found) = get(&client, &sim, "/v2/audiences?filter.query=jazz").await;
    assert_eq!(
        found["results"]["audiences"][0]["id"],
        "urn:audience:hobbies_and_interests:jazz_lovers"
    );
    sim.inject(Fault::AudiencesAsEntities);
    let (_, other) = get(&client, &sim, by_parent).await;
    assert!(other["results"]["audiences"].is_null());
    assert!(other["results"]["entities"][0]["entity_id"].is_string());
    sim.inject(Fault::AudiencesGone);
    assert_eq!(get(&client, &sim, by_parent).await.0, 410);
    // An audience alone is a signal insights take (inert here).
    let (status, _) = get(
        &client,
        &sim,
        "/v2/insights?filter.type=urn:entity:movie&signal.demographics.audiences=urn:audience:life_stage:parents",
    )
    .await;
    assert_eq!(status, 200);
}
