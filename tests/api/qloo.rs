//! The Qloo adapter against the simulated Qloo: query strings and faults.

use std::time::Duration;

use qloophone_adapters::qloo::{QlooClient, QlooSettings};
use qloophone_adapters::secret::Secret;
use qloophone_adapters::tls::Trust;
use qloophone_domain::EntityId;
use qloophone_domain::ports::TasteGraph;
use qloophone_domain::ports::{
    EntityKind, InsightsQuery, Location, SearchQuery, SortBy, TasteError,
};
use qloophone_sandbox::qloo::{Fault, QlooOptions, QlooSim};
use tokio::net::TcpListener;

async fn setup(latency: Duration) -> (QlooSim, QlooClient) {
    let sim = QlooSim::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        QlooOptions {
            api_key: Some("test-key".into()),
            latency,
            rate_limit_reset_secs: 0,
            error_every: None,
            insights_latency: None,
        },
    )
    .unwrap();
    let client = client(&sim, "test-key", 2);
    (sim, client)
}

fn client(sim: &QlooSim, key: &str, retries: u32) -> QlooClient {
    QlooClient::new(
        &QlooSettings {
            api_url: sim.url(),
            api_key: Some(Secret::new(key)),
            search_timeout_ms: 500,
            insights_timeout_ms: 500,
            deadline_ms: 5000,
            max_retries: retries,
            api_log: String::new(),
            ..QlooSettings::default()
        },
        None,
        &Trust::builtin(),
    )
    .unwrap()
}

fn search(text: &str, types: &[EntityKind]) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        types: types.to_vec(),
        take: 5,
    }
}

#[tokio::test]
async fn searches_send_the_key_and_the_exact_query_string() {
    let (sim, client) = setup(Duration::ZERO).await;
    let found = client
        .search(&search("The Matrix", &[EntityKind::Movie]))
        .await
        .unwrap();
    assert_eq!(found[0].name, "The Matrix");
    assert_eq!(found[0].kind, Some(EntityKind::Movie));
    assert_eq!(
        found[0].year,
        Some(1999),
        "properties.release_year, as Qloo gives it"
    );
    let request = &sim.requests()[0];
    assert_eq!(request.path, "/search");
    assert_eq!(
        request.query,
        "query=The+Matrix&types=urn%3Aentity%3Amovie&take=5"
    );
    assert_eq!(request.api_key.as_deref(), Some("test-key"));
}

#[tokio::test]
async fn insights_send_every_parameter_and_read_the_answer() {
    let (sim, client) = setup(Duration::ZERO).await;
    let control = sim.control();
    let khruangbin = control.id_of("urn:entity:artist", "Khruangbin").unwrap();
    let query = InsightsQuery {
        filter_type: EntityKind::Place,
        interest_entities: vec![EntityId::parse(&khruangbin).unwrap()],
        location: Some(Location::Named("Austin".into())),
        radius_m: Some(2000),
        tags: vec![qloophone_domain::TagId::parse("urn:tag:category:place:bar").unwrap()],
        take: 5,
        sort_by: Some(SortBy::Affinity),
        explainability: true,
        ..InsightsQuery::default()
    };
    let insights = client.insights(&query).await.unwrap();
    assert_eq!(insights.locality.as_deref(), Some("Austin"));
    assert!(!insights.entities.is_empty());
    let bar = &insights.entities[0];
    assert!(bar.address.as_deref().unwrap().contains("Austin"));
    assert!(bar.affinity.unwrap() > 0.0);
    assert!(bar.distance_m.is_some());
    assert_eq!(bar.explainability[0].entity_id.as_str(), khruangbin);
    assert_eq!(
        sim.requests()[0].query,
        format!(
            "filter.type=urn%3Aentity%3Aplace&signal.interests.entities={khruangbin}&filter.location.query=Austin\
             &filter.location.radius=2000&filter.tags=urn%3Atag%3Acategory%3Aplace%3Abar&take=5&sort_by=affinity\
             &feature.explainability=true"
        )
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_succeed() {
    let (sim, client) = setup(Duration::ZERO).await;
    sim.inject(Fault::Status(429));
    sim.inject(Fault::Status(503));
    let found = client.search(&search("Alien", &[])).await.unwrap();
    assert_eq!(found[0].name, "Alien");
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let (sim, client) = setup(Duration::ZERO).await;
    for _ in 0..3 {
        sim.inject(Fault::Status(500));
    }
    assert_eq!(
        client.search(&search("x", &[])).await,
        Err(TasteError::Upstream(500))
    );
    assert_eq!(sim.requests().len(), 3, "one try and two retries");
    for _ in 0..3 {
        sim.inject(Fault::Status(429));
    }
    assert_eq!(
        client.search(&search("x", &[])).await,
        Err(TasteError::RateLimited)
    );
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let (sim, client) = setup(Duration::ZERO).await;
    let refused = client
        .insights(&InsightsQuery {
            filter_type: EntityKind::Movie,
            take: 3,
            ..InsightsQuery::default()
        })
        .await;
    assert_eq!(
        refused,
        Err(TasteError::BadRequest(
            "at least one valid signal or filter is required for entity insights".into()
        ))
    );
    let games = InsightsQuery {
        filter_type: EntityKind::VideoGame,
        tags: vec![qloophone_domain::TagId::parse("urn:tag:keyword:qloo:space").unwrap()],
        take: 3,
        ..InsightsQuery::default()
    };
    assert_eq!(client.insights(&games).await, Err(TasteError::Forbidden));
    let wrong_key = self::client(&sim, "wrong", 2);
    assert_eq!(
        wrong_key.search(&search("x", &[])).await,
        Err(TasteError::Unauthorized)
    );
    assert_eq!(sim.requests().len(), 3);
}

#[tokio::test]
async fn broken_answers_are_bad_responses() {
    let (sim, client) = setup(Duration::ZERO).await;
    sim.inject(Fault::Malformed);
    assert!(matches!(
        client.search(&search("x", &[])).await,
        Err(TasteError::BadResponse(_))
    ));
    sim.inject(Fault::WrongContentType);
    assert!(matches!(
        client.search(&search("x", &[])).await,
        Err(TasteError::BadResponse(_))
    ));
}

#[tokio::test]
async fn slow_answers_time_out() {
    let (sim, client) = setup(Duration::ZERO).await;
    sim.inject(Fault::Latency(Duration::from_secs(2)));
    assert_eq!(
        client.search(&search("x", &[])).await,
        Err(TasteError::Timeout)
    );
    assert_eq!(sim.requests().len(), 1, "a timeout is not retried");
}

#[tokio::test]
async fn an_unreachable_service_is_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = QlooClient::new(
        &QlooSettings {
            api_url: format!("http://{addr}"),
            api_key: Some(Secret::new("k")),
            search_timeout_ms: 500,
            insights_timeout_ms: 500,
            deadline_ms: 1000,
            max_retries: 0,
            api_log: String::new(),
            ..QlooSettings::default()
        },
        None,
        &Trust::builtin(),
    )
    .unwrap();
    assert!(matches!(
        client.search(&search("x", &[])).await,
        Err(TasteError::Unreachable(_))
    ));
}

#[tokio::test]
async fn a_retry_that_would_pass_the_deadline_is_not_attempted() {
    let sim = QlooSim::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        QlooOptions {
            api_key: None,
            latency: Duration::ZERO,
            rate_limit_reset_secs: 2,
            error_every: None,
            insights_latency: None,
        },
    )
    .unwrap();
    let client = QlooClient::new(
        &QlooSettings {
            api_url: sim.url(),
            api_key: Some(Secret::new("k")),
            search_timeout_ms: 500,
            insights_timeout_ms: 500,
            deadline_ms: 800,
            max_retries: 2,
            api_log: String::new(),
            ..QlooSettings::default()
        },
        None,
        &Trust::builtin(),
    )
    .unwrap();
    sim.inject(Fault::Status(429));
    assert_eq!(
        client.search(&search("x", &[])).await,
        Err(TasteError::RateLimited)
    );
    assert_eq!(
        sim.requests().len(),
        1,
        "a 2 s reset does not fit in an 800 ms deadline"
    );
}

/// A caller who hangs up in the middle of a slow search that then fails
/// (its call task is aborted, as the runner does) must not decide what the
/// next callers get: each of the next two searches reaches Qloo and gets
/// its own answer.
#[tokio::test]
async fn a_caller_hanging_up_mid_search_does_not_poison_the_cache() {
    use std::sync::Arc;

    use qloophone_adapters::qloo::{CacheSettings, EntityCache};
    use qloophone_adapters::time::SystemClock;

    let (sim, _) = setup(Duration::ZERO).await;
    let cache = Arc::new(EntityCache::new(
        Arc::new(client(&sim, "test-key", 0)),
        Arc::new(SystemClock),
        &CacheSettings {
            snapshot: String::new(),
            ..CacheSettings::default()
        },
        None,
    ));
    sim.inject(Fault::SlowStatus(Duration::from_millis(300), 500));
    sim.inject(Fault::Status(503));
    let matrix = search("The Matrix", &[EntityKind::Movie]);

    let first = tokio::spawn({
        let cache = cache.clone();
        let matrix = matrix.clone();
        async move { cache.search(&matrix).await }
    });
    crate::helpers::wait_until("the first search to reach Qloo", || {
        sim.requests().len() == 1
    })
    .await;
    first.abort();
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "the caller hung up"
    );
    // Well past the 300 ms the abandoned search is held upstream.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    assert_eq!(
        cache.search(&matrix).await,
        Err(TasteError::Upstream(503)),
        "its own answer, not the abandoned search's 500"
    );
    let found = cache.search(&matrix).await.expect("Qloo answers now");
    assert_eq!(found[0].name, "The Matrix");
    assert_eq!(sim.requests().len(), 3, "each search reached Qloo");
}

/// Qloo failing again and again opens the breaker: later searches fail at
/// once without reaching it, cached ones are still answered, and a probe
/// after the cool-down closes it again.
#[tokio::test]
async fn a_failing_qloo_trips_the_breaker_and_the_cache_still_answers() {
    use qloophone_adapters::qloo::{BreakerState, CacheSettings, EntityCache};
    use qloophone_adapters::time::SystemClock;
    use std::sync::Arc;

    let (sim, _) = setup(Duration::ZERO).await;
    let client = QlooClient::new(
        &QlooSettings {
            api_url: sim.url(),
            api_key: Some(Secret::new("test-key")),
            max_retries: 0,
            api_log: String::new(),
            breaker_failures: 3,
            breaker_cooldown_ms: 300,
            ..QlooSettings::default()
        },
        None,
        &Trust::builtin(),
    )
    .unwrap();
    let breaker = client.breaker();
    let cache = EntityCache::new(
        Arc::new(client),
        Arc::new(SystemClock),
        &CacheSettings {
            snapshot: String::new(),
            ..CacheSettings::default()
        },
        None,
    );
    let matrix = search("The Matrix", &[EntityKind::Movie]);
    assert!(
        cache.search(&matrix).await.is_ok(),
        "cached while Qloo is up"
    );
    for n in 0..3 {
        sim.inject(Fault::Status(503));
        let other = search(&format!("Film {n}"), &[EntityKind::Movie]);
        assert!(cache.search(&other).await.is_err());
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    let reached = sim.requests().len();
    let fast = cache
        .search(&search("Inception", &[EntityKind::Movie]))
        .await;
    assert!(matches!(fast, Err(TasteError::Unavailable)), "{fast:?}");
    assert_eq!(
        sim.requests().len(),
        reached,
        "an open breaker does not call Qloo"
    );
    assert!(
        cache.search(&matrix).await.is_ok(),
        "the cache still answers"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        cache
            .search(&search("Inception", &[EntityKind::Movie]))
            .await
            .is_ok(),
        "the probe"
    );
    assert_eq!(breaker.state(), BreakerState::Closed);
}

/// The franchise rules as they run: on what the Qloo adapter reads from the
/// simulated Qloo's answers (years, people from the disambiguation, keyword
/// tags, descriptions), not on hand-built works.
#[tokio::test]
async fn the_franchise_rules_read_what_qloo_gives() {
    use qloophone_domain::tools::sequels::{Work, same_franchise};
    let (_sim, client) = setup(Duration::ZERO).await;
    let mut found = std::collections::HashMap::new();
    for title in [
        "Rocky",
        "Rocky Balboa",
        "Finding Nemo",
        "Finding Dory",
        "Finding Neverland",
        "Jurassic Park",
        "Jurassic World",
        "Kung Fu Panda",
        "Kung Fu Hustle",
        "Arrival",
        "The Arrival",
        "Heat",
        "The Heat",
        "Blade",
        "Blade Runner 2049",
        "Before Sunrise",
        "Before Sunset",
        "Raiders of the Lost Ark",
        "Indiana Jones and the Temple of Doom",
        "Casino Royale",
        "Skyfall",
        "Monster",
        "Monsters",
        "Stargate",
        "Stargate SG-1",
    ] {
        let kind = if title == "Stargate SG-1" {
            EntityKind::TvShow
        } else {
            EntityKind::Movie
        };
        let hits = client.search(&search(title, &[kind])).await.unwrap();
        let hit = hits
            .into_iter()
            .find(|e| e.name == title)
            .unwrap_or_else(|| panic!("{title} is in the catalogue"));
        assert!(hit.year.is_some(), "{title}: a year");
        assert!(!hit.people.is_empty(), "{title}: its people");
        found.insert(title, hit);
    }
    assert!(
        found["Rocky Balboa"]
            .tags
            .iter()
            .any(|t| t.name == "Sequel")
    );
    let mut wrong = Vec::new();
    for (a, b, expected) in [
        ("Rocky Balboa", "Rocky", true),
        ("Finding Dory", "Finding Nemo", true),
        ("Finding Dory", "Finding Neverland", false),
        ("Jurassic World", "Jurassic Park", true),
        ("Kung Fu Hustle", "Kung Fu Panda", false),
        ("The Arrival", "Arrival", false),
        ("The Heat", "Heat", false),
        ("Blade", "Blade Runner 2049", false),
        ("Before Sunset", "Before Sunrise", true),
        // The hero named in the original's description.
        (
            "Indiana Jones and the Temple of Doom",
            "Raiders of the Lost Ark",
            true,
        ),
        // A character tag both carry.
        ("Skyfall", "Casino Royale", true),
        // Tagged, by other people, and no sequel: namesakes.
        ("Monster", "Monsters", false),
        // A series tagged as based on the film.
        ("Stargate SG-1", "Stargate", true),
    ] {
        if same_franchise(&Work::of(&found[a]), &Work::of(&found[b])) != expected {
            wrong.push(format!("{a} / {b}: expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
}

/// `get_recommendation` over the real adapter and the simulated Qloo: a fan
/// of "Finding Nemo" is not sent to its sequel, which the graph ranks first.
#[tokio::test]
async fn a_recommendation_leaves_out_the_sequel_the_graph_ranks_first() {
    use qloophone_domain::ToolCallId;
    use qloophone_domain::tools::recommend::taste_tools;
    use qloophone_domain::tools::{Known, ToolExecutor, ToolInvocation};
    use std::sync::Arc;
    let (sim, graph) = setup(Duration::ZERO).await;
    let toolbox = taste_tools(Arc::new(graph));
    let invoke = |name: &str, arguments: serde_json::Value, known| ToolInvocation {
        call_id: ToolCallId::parse("call_1").unwrap(),
        name: name.into(),
        arguments: arguments.to_string().into(),
        known,
    };
    let searched = toolbox
        .execute(invoke(
            "search_entity",
            serde_json::json!({"query": "Finding Nemo", "type": "movie"}),
            Arc::default(),
        ))
        .await;
    assert!(!searched.is_error, "{}", searched.output);
    let nemo = searched.learned.entities[0].clone();
    assert_eq!(nemo.people, ["Andrew Stanton"]);
    // What the graph itself ranks for a fan of Finding Nemo: the sequel.
    let raw = client(&sim, "test-key", 2)
        .insights(&InsightsQuery {
            filter_type: EntityKind::Movie,
            interest_entities: vec![nemo.id.clone()],
            take: 5,
            ..InsightsQuery::default()
        })
        .await
        .unwrap();
    assert!(
        raw.entities.iter().any(|e| e.name == "Finding Dory"),
        "the graph ranks the sequel among the first five"
    );
    let recommended = toolbox
        .execute(invoke(
            "get_recommendation",
            serde_json::json!({"entity_ids": nemo.id.as_str(), "output_type": "movie", "take": 5}),
            Arc::new(Known::of_entities(vec![nemo.clone()])),
        ))
        .await;
    assert!(!recommended.is_error, "{}", recommended.output);
    let first: serde_json::Value = serde_json::from_str(&recommended.output).unwrap();
    assert_eq!(
        first["filtered"].as_u64().map(|n| n >= 1),
        Some(true),
        "{first}"
    );
    let names: Vec<&str> = first["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Finding Dory"), "{names:?}");
    assert_eq!(names.len(), 5, "refilled after filtering: {names:?}");
}

/// An answer longer than `qloo.max_response_bytes` is cut off, not
/// buffered: a bad response, counted, and the next request is answered.
#[tokio::test]
async fn an_answer_past_the_size_limit_is_cut_off() {
    let (sim, _) = setup(Duration::ZERO).await;
    let client = QlooClient::new(
        &QlooSettings {
            api_url: sim.url(),
            api_key: Some(Secret::new("test-key")),
            api_log: String::new(),
            max_response_bytes: 64 * 1024,
            ..QlooSettings::default()
        },
        None,
        &Trust::builtin(),
    )
    .unwrap();
    sim.inject(Fault::Huge(8 << 20));
    let refused = client.search(&search("x", &[])).await;
    assert_eq!(
        refused,
        Err(TasteError::BadResponse(
            "the answer is longer than 65536 bytes".into()
        ))
    );
    // Just under the limit is read.
    sim.inject(Fault::Huge(60 * 1024));
    assert_eq!(client.search(&search("x", &[])).await, Ok(Vec::new()));
    let found = client.search(&search("The Matrix", &[])).await.unwrap();
    assert!(!found.is_empty());
    // Counted under its own label.
    assert_eq!(
        qloophone_adapters::metrics::QlooOutcome::TooLarge.label(),
        "too_large"
    );
}
