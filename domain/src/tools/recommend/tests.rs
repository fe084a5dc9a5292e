//! The taste tools against a mockall `TasteGraph`.

use std::sync::Mutex;

use serde_json::{Value, json};

use super::recommendation::FALLBACK_NOTE;
use super::*;
use crate::ports::MockTasteGraph;
use crate::ports::{
    EntityKind, Explanation, Insights, InsightsQuery, Location, SortBy, Tag, TasteError,
};
use crate::tools::vocabulary::OUTPUT_TYPES;
use crate::tools::{ToolExecutor, ToolInvocation};
use crate::types::ToolCallId;

fn id(text: &str) -> EntityId {
    EntityId::parse(text).unwrap()
}

fn entity(id_text: &str, name: &str, kind: &str) -> Entity {
    Entity {
        id: Some(id(id_text)),
        name: name.into(),
        kind: EntityKind::from_name(kind),
        ..Entity::default()
    }
}

fn scored(id_text: &str, name: &str, affinity: f64, explain: &[(&str, f64)]) -> Entity {
    Entity {
        affinity: Some(affinity),
        tags: vec![
            Tag {
                id: "urn:tag:a".into(),
                name: "Sci-fi".into(),
            },
            Tag {
                id: "urn:tag:b".into(),
                name: "Cult".into(),
            },
            Tag {
                id: "urn:tag:c".into(),
                name: "Neo-noir".into(),
            },
            Tag {
                id: "urn:tag:d".into(),
                name: "Extra".into(),
            },
        ],
        description: Some("A film. ".repeat(40)),
        explainability: explain
            .iter()
            .map(|(entity_id, score)| Explanation {
                entity_id: id(entity_id),
                score: *score,
            })
            .collect(),
        ..entity(id_text, name, "urn:entity:movie")
    }
}

fn matrix() -> KnownEntity {
    KnownEntity::new(id("M1"), "The Matrix", Some(EntityKind::Movie))
}

fn khruangbin() -> KnownEntity {
    KnownEntity::new(id("K1"), "Khruangbin", Some(EntityKind::Artist))
}

fn austin() -> KnownEntity {
    KnownEntity::new(id("L1"), "Austin", Some(EntityKind::Locality))
}

async fn run(
    graph: MockTasteGraph,
    tool: &str,
    args: Value,
    known: Vec<KnownEntity>,
) -> (Value, Vec<KnownEntity>, bool) {
    let toolbox = taste_tools(Arc::new(graph));
    let outcome = toolbox
        .execute(ToolInvocation {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: tool.into(),
            arguments: args.to_string().into(),
            known: Arc::from(known),
        })
        .await;
    (
        serde_json::from_str(&outcome.output).unwrap(),
        outcome.learned,
        outcome.is_error,
    )
}

fn insights(entities: Vec<Entity>) -> Insights {
    Insights {
        entities,
        locality: None,
    }
}

#[tokio::test]
async fn the_four_tools_are_offered_with_schemas() {
    let toolbox = taste_tools(Arc::new(MockTasteGraph::new()));
    let names: Vec<String> = toolbox.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "search_entity",
            "get_recommendation",
            "search_locality",
            "get_fan_venues"
        ]
    );
    for spec in toolbox.specs() {
        assert_eq!(spec.parameters["type"], "object");
        assert!(spec.parameters["required"].is_array());
    }
}

#[tokio::test]
async fn search_entity_narrows_by_type_and_prefers_the_exact_title() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .withf(|q| q.text == "The Matrix" && q.types == [EntityKind::Movie] && q.take == 5)
        .times(1)
        .returning(|_| {
            Ok(vec![
                entity("A1", "The Matrix Soundtrack", "urn:entity:artist"),
                entity("M2", "The Matrix Reloaded", "urn:entity:movie"),
                Entity {
                    year: Some(1999),
                    ..entity("M1", "The Matrix", "urn:entity:movie")
                },
            ])
        });
    let (value, learned, is_error) = run(
        graph,
        "search_entity",
        json!({"query": " The Matrix ", "type": "film"}),
        vec![],
    )
    .await;
    assert!(!is_error);
    assert_eq!(
        value,
        json!({"entity_id": "M1", "name": "The Matrix", "type": "urn:entity:movie", "year": 1999})
    );
    // What the search said of the work is kept for the franchise rules.
    let with_year = KnownEntity {
        year: Some(1999),
        ..matrix()
    };
    assert_eq!(learned, vec![with_year]);
}

#[tokio::test]
async fn search_entity_without_a_type_takes_the_best_hit_of_any_type() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .withf(|q| q.types.is_empty())
        .returning(|_| Ok(vec![entity("K1", "Khruangbin", "urn:entity:artist")]));
    let (value, _, _) = run(
        graph,
        "search_entity",
        json!({"query": "khruangbin"}),
        vec![],
    )
    .await;
    assert_eq!(value["type"], "urn:entity:artist");
}

#[tokio::test]
async fn search_entity_reports_nothing_found_wrong_types_and_failures() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .returning(|_| Ok(vec![entity("A1", "Homeward Bound", "urn:entity:artist")]));
    let (value, learned, is_error) = run(
        graph,
        "search_entity",
        json!({"query": "Homeward Bound", "type": "movie"}),
        vec![],
    )
    .await;
    assert!(is_error && learned.is_empty());
    assert_eq!(value["error"], "No results found");
    assert!(
        value["suggestion"]
            .as_str()
            .unwrap()
            .contains("Homeward Bound")
    );

    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .returning(|_| Err(TasteError::Timeout));
    let (value, _, _) = run(graph, "search_entity", json!({"query": "x"}), vec![]).await;
    assert_eq!(
        value,
        json!({"error": "Search failed", "details": "the taste graph timed out"})
    );

    let (value, _, _) = run(
        MockTasteGraph::new(),
        "search_entity",
        json!({"query": "x", "type": "spaceship"}),
        vec![],
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"type\": unknown type \"spaceship\""
    );
    assert!(value["valid"].as_array().unwrap().len() > 5);
    let (value, _, _) = run(MockTasteGraph::new(), "search_entity", json!({}), vec![]).await;
    assert_eq!(value["error"], "Missing required argument \"query\"");
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "search_entity",
        json!({"query": 5}),
        vec![],
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"query\": expected a string"
    );
}

#[tokio::test]
async fn search_locality_asks_for_localities_only() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .withf(|q| q.text == "Austin" && q.types == [EntityKind::Locality])
        .returning(|_| Ok(vec![entity("L1", "Austin", "urn:entity:locality")]));
    let (value, learned, _) = run(
        graph,
        "search_locality",
        json!({"location": "Austin"}),
        vec![],
    )
    .await;
    assert_eq!(
        value,
        json!({"entity_id": "L1", "name": "Austin", "type": "urn:entity:locality"})
    );
    assert_eq!(learned, vec![austin()]);

    let mut graph = MockTasteGraph::new();
    graph.expect_search().returning(|_| Ok(vec![]));
    let (value, _, is_error) = run(
        graph,
        "search_locality",
        json!({"location": "Atlantis"}),
        vec![],
    )
    .await;
    assert!(is_error);
    assert_eq!(value["error"], "Location not found");
}

#[tokio::test]
async fn recommendations_accept_only_entities_searched_in_this_call() {
    let (value, _, is_error) = run(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"entity_ids": "M1,INVENTED"}),
        vec![matrix()],
    )
    .await;
    assert!(is_error);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .starts_with("Unknown entity id \"INVENTED\"")
    );
    assert_eq!(value["known_entity_ids"], json!(["M1"]));
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({}),
        vec![],
    )
    .await;
    assert_eq!(value["error"], "Missing required argument \"entity_ids\"");
}

/// The names a recommendation result gives, in order.
fn recommended(value: &Value) -> Vec<&str> {
    value["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// A graph that answers `first`, then, asked again with exclusions,
/// `again`; it records every query.
fn first_then_refetch(
    first: Vec<Entity>,
    again: Result<Vec<Entity>, TasteError>,
) -> (MockTasteGraph, Arc<Mutex<Vec<InsightsQuery>>>) {
    let mut graph = MockTasteGraph::new();
    let queries = Arc::new(Mutex::new(Vec::new()));
    let seen = queries.clone();
    graph.expect_insights().times(2).returning(move |q| {
        seen.lock().unwrap().push(q.clone());
        if q.exclude_entities.is_empty() {
            Ok(insights(first.clone()))
        } else {
            again.clone().map(insights)
        }
    });
    (graph, queries)
}

#[tokio::test]
async fn recommendations_bridge_tastes_and_leave_out_sequels() {
    let (graph, queries) = first_then_refetch(
        vec![
            scored("M2", "The Matrix Reloaded", 0.99, &[]),
            scored("M3", "The Matrix Revolutions", 0.98, &[]),
            scored("X1", "Inception", 0.9, &[("M1", 0.9), ("K1", 0.4)]),
        ],
        Ok(vec![
            scored("M1", "The Matrix", 0.99, &[]),
            scored("X1", "Inception", 0.9, &[("M1", 0.9), ("K1", 0.4)]),
            scored("T1", "Toy Story 2", 0.8, &[]),
            Entity {
                year: Some(1998),
                ..scored("X2", "Dark City", 0.7, &[("M1", 0.8)])
            },
            scored("T2", "Toy Story 3", 0.6, &[]),
        ]),
    );
    let (value, _, is_error) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": ["M1", "K1"], "output_type": "movie", "take": 5}),
        vec![matrix(), khruangbin()],
    )
    .await;
    assert!(!is_error, "{value}");
    let queries = queries.lock().unwrap();
    assert_eq!(queries[0].filter_type, EntityKind::Movie);
    assert_eq!(queries[0].interest_entities, [id("M1"), id("K1")]);
    assert!(queries[0].explainability);
    assert_eq!(queries[0].take, 10);
    assert_eq!(
        queries[1].exclude_entities,
        [id("M2"), id("M3")],
        "refetched without the sequels"
    );
    let names = recommended(&value);
    assert_eq!(
        names,
        ["Inception", "Toy Story 2", "Dark City"],
        "no input, no sequel, one per franchise"
    );
    assert_eq!(value["recommendations"][2]["year"], 1998);
    let first = &value["recommendations"][0];
    assert!(first.get("year").is_none(), "no year known, none said");
    assert_eq!(first["score"], 0.9);
    assert_eq!(first["tags"], json!(["Sci-fi", "Cult", "Neo-noir"]));
    assert!(first["description"].as_str().unwrap().chars().count() <= 161);
    assert_eq!(
        first["explainability"][0],
        json!({"entity_id": "M1", "name": "The Matrix", "score": 0.9})
    );
    assert_eq!(
        value["top_pick"],
        json!({"name": "Inception", "entity_id": "X1"})
    );
    assert_eq!(
        value["taste_bridge"],
        "Especially great for The Matrix fans, with elements of Khruangbin"
    );
    assert_eq!(value["count"], 3);
    assert_eq!(
        value["filtered"], 4,
        "two sequels, the input itself and a franchise repeat"
    );
    assert!(value.get("fallback_note").is_none());
}

#[tokio::test]
async fn a_sequel_is_dropped_without_a_refetch_when_enough_remain() {
    let mut graph = MockTasteGraph::new();
    graph.expect_insights().times(1).returning(|_| {
        Ok(insights(vec![
            scored("M2", "The Matrix Reloaded", 0.99, &[]),
            scored("X1", "Inception", 0.9, &[]),
            scored("X2", "Dark City", 0.8, &[]),
        ]))
    });
    let (value, _, _) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": "M1", "take": 2}),
        vec![matrix()],
    )
    .await;
    assert_eq!(value["recommendations"].as_array().unwrap().len(), 2);
    assert_eq!(value["filtered"], 1);
    assert!(
        value.get("taste_bridge").is_none(),
        "no explainability, no bridge"
    );
}

/// Fewer left than asked for: one more request, excluding what was
/// dropped; if it fails, the first answer's survivors are the result.
#[tokio::test]
async fn filtering_that_leaves_too_few_asks_again_and_a_failed_retry_keeps_the_first_answer() {
    for retry_fails in [false, true] {
        let again = if retry_fails {
            Err(TasteError::Timeout)
        } else {
            Ok(vec![
                scored("X1", "Inception", 0.9, &[]),
                scored("X2", "Dark City", 0.8, &[]),
                scored("X3", "Ghost in the Shell", 0.7, &[]),
            ])
        };
        let (graph, queries) = first_then_refetch(
            vec![
                scored("M2", "The Matrix Reloaded", 0.99, &[]),
                scored("X1", "Inception", 0.9, &[]),
                scored("X2", "Dark City", 0.8, &[]),
            ],
            again,
        );
        let (value, _, is_error) = run(
            graph,
            "get_recommendation",
            json!({"entity_ids": "M1", "take": 3}),
            vec![matrix()],
        )
        .await;
        assert!(!is_error, "{value}");
        assert_eq!(queries.lock().unwrap()[1].exclude_entities, [id("M2")]);
        let names = recommended(&value);
        if retry_fails {
            assert_eq!(names, ["Inception", "Dark City"]);
        } else {
            assert_eq!(names, ["Inception", "Dark City", "Ghost in the Shell"]);
        }
        assert_eq!(value["filtered"], 1);
    }
}

#[tokio::test]
async fn output_types_are_inferred_or_mapped_or_refused() {
    for (args, expected) in [
        (json!({"entity_ids": "K1"}), "urn:entity:artist"),
        (json!({"entity_ids": "K1,M1"}), "urn:entity:movie"),
        (
            json!({"entity_ids": "K1", "output_type": "urn:entity:music_album"}),
            "urn:entity:artist",
        ),
        (
            json!({"entity_ids": "K1", "output_type": "series"}),
            "urn:entity:tv_show",
        ),
        (
            json!({"entity_ids": "K1", "location": "Austin"}),
            "urn:entity:place",
        ),
    ] {
        let mut graph = MockTasteGraph::new();
        graph
            .expect_insights()
            .withf(move |q| q.filter_type.name() == expected)
            .times(1)
            .returning(|_| Ok(insights(vec![scored("X1", "Something", 0.5, &[])])));
        let (value, _, is_error) = run(
            graph,
            "get_recommendation",
            args.clone(),
            vec![matrix(), khruangbin()],
        )
        .await;
        assert!(!is_error, "{args}: {value}");
    }
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"entity_ids": "K1", "output_type": "urn:entity:locality"}),
        vec![khruangbin()],
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"output_type\": cannot recommend \"urn:entity:locality\""
    );
    assert_eq!(value["valid"].as_array().unwrap().len(), OUTPUT_TYPES.len());
}

#[tokio::test]
async fn place_requests_use_the_location_and_the_best_tag() {
    let cases = [
        (
            json!({"entity_ids": "K1", "location": "Austin", "place_tags": "cozy sushi restaurants"}),
            (
                Some(Location::Named("Austin".into())),
                Some(2000),
                Some(SortBy::Affinity),
                vec!["urn:tag:genre:place:restaurant:sushi"],
            ),
        ),
        (
            json!({"entity_ids": "K1", "location": "the East Village", "radius": 800}),
            (
                Some(Location::Area {
                    west: -73.992,
                    south: 40.721,
                    east: -73.973,
                    north: 40.733,
                }),
                None,
                Some(SortBy::Affinity),
                vec![],
            ),
        ),
        (
            json!({"entity_ids": "K1", "latitude": 30.27, "longitude": -97.74, "place_tags": "coffee"}),
            (
                Some(Location::Point {
                    lat: 30.27,
                    lon: -97.74,
                }),
                Some(5000),
                Some(SortBy::Distance),
                vec!["urn:tag:category:place:coffee_shop"],
            ),
        ),
    ];
    for (args, (location, radius, sort, tags)) in cases {
        let mut graph = MockTasteGraph::new();
        graph
            .expect_insights()
            .withf(move |q| {
                q.filter_type == EntityKind::Place
                    && q.location == location
                    && q.radius_m == radius
                    && q.sort_by == sort
                    && q.tags == tags
            })
            .times(1)
            .returning(|_| {
                let mut place = scored("P1", "Cafe Luna", 0.8, &[("K1", 0.85)]);
                place.address = Some("1 Main St".into());
                place.distance_m = Some(321.4);
                Ok(insights(vec![place]))
            });
        let (value, _, is_error) = run(
            graph,
            "get_recommendation",
            args.clone(),
            vec![khruangbin()],
        )
        .await;
        assert!(!is_error, "{args}: {value}");
        assert_eq!(value["recommendations"][0]["address"], "1 Main St");
        assert_eq!(value["recommendations"][0]["distance_m"], 321.0);
        assert_eq!(
            value["taste_bridge"],
            "Strong match for Khruangbin fans (85% affinity)"
        );
    }
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"entity_ids": "K1", "latitude": 30.2}),
        vec![khruangbin()],
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid arguments: latitude and longitude go together"
    );
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"entity_ids": "K1", "take": 50}),
        vec![khruangbin()],
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"take\": expected a number from 1 to 10"
    );
}

#[tokio::test]
async fn forbidden_video_games_fall_back_to_films() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_insights()
        .withf(|q| q.filter_type == EntityKind::VideoGame)
        .times(1)
        .returning(|_| Err(TasteError::Forbidden));
    graph
        .expect_insights()
        .withf(|q| q.filter_type == EntityKind::Movie)
        .times(1)
        .returning(|_| Ok(insights(vec![scored("X1", "Tron", 0.7, &[])])));
    let (value, _, is_error) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": "M1", "output_type": "game"}),
        vec![matrix()],
    )
    .await;
    assert!(!is_error);
    assert_eq!(value["output_type"], "urn:entity:movie");
    assert_eq!(value["fallback_note"], FALLBACK_NOTE);
}

#[tokio::test]
async fn recommendation_failures_and_empty_results_are_error_results() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_insights()
        .returning(|_| Err(TasteError::Upstream(500)));
    let (value, _, _) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": "M1"}),
        vec![matrix()],
    )
    .await;
    assert_eq!(
        value,
        json!({"error": "Recommendation failed", "details": "the taste graph failed with status 500"})
    );
    let mut graph = MockTasteGraph::new();
    graph.expect_insights().returning(|_| Ok(insights(vec![])));
    let (value, _, _) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": "M1"}),
        vec![matrix()],
    )
    .await;
    assert_eq!(value["error"], "No recommendations found");
}

#[tokio::test]
async fn fan_venues_by_locality_id_with_a_venue_tag() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_insights()
        .withf(|q| {
            q.filter_type == EntityKind::Place
                && q.location == Some(Location::Locality(id("L1")))
                && q.radius_m == Some(5000)
                && q.tags == ["urn:tag:category:place:bar"]
                && q.take == 5
                && q.interest_entities == [id("K1")]
        })
        .times(1)
        .returning(|_| {
            let mut bar = scored("P1", "Hole in the Wall", 0.874, &[]);
            bar.address = Some("2538 Guadalupe St".into());
            Ok(Insights {
                entities: vec![bar],
                locality: Some("Austin".into()),
            })
        });
    let (value, _, is_error) = run(
        graph,
        "get_fan_venues",
        json!({"entity_ids": "K1", "locality_id": "L1", "venue_type": "bar"}),
        vec![khruangbin(), austin()],
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(value["fan_entity"], "Khruangbin");
    assert_eq!(value["location_searched"], "Austin");
    assert_eq!(value["venues"][0]["score"], 87.0);
    assert_eq!(value["venues"][0]["address"], "2538 Guadalupe St");
    assert_eq!(
        value["summary"],
        "Found 1 bars in Austin where Khruangbin fans go"
    );
}

#[tokio::test]
async fn fan_venues_by_brand_name_and_location_query() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search()
        .withf(|q| q.text == "Starbucks" && q.types == [EntityKind::Brand])
        .times(1)
        .returning(|_| Ok(vec![entity("B1", "Starbucks", "urn:entity:brand")]));
    graph
        .expect_insights()
        .withf(|q| {
            q.references_brand == ["B1"]
                && q.location == Some(Location::Named("Austin".into()))
                && q.radius_m == Some(2000)
        })
        .times(1)
        .returning(|_| {
            Ok(insights(vec![scored(
                "P9",
                "Starbucks Congress Ave",
                0.5,
                &[],
            )]))
        });
    let (value, _, is_error) = run(
        graph,
        "get_fan_venues",
        json!({"entity_ids": "M1", "location": "Austin", "venue_type": "Starbucks"}),
        vec![matrix()],
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(value["location_searched"], "Austin");
    assert_eq!(value["venue_type"], "Starbucks");
}

#[tokio::test]
async fn fan_venue_arguments_are_checked() {
    let known = vec![khruangbin()];
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_fan_venues",
        json!({"entity_ids": "K1"}),
        known.clone(),
    )
    .await;
    assert_eq!(value["error"], "Either location or locality_id is required");
    let (value, _, _) = run(
        MockTasteGraph::new(),
        "get_fan_venues",
        json!({"entity_ids": "K1", "locality_id": "NOPE"}),
        known.clone(),
    )
    .await;
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .starts_with("Unknown locality_id")
    );
    let mut graph = MockTasteGraph::new();
    graph.expect_search().returning(|_| Ok(vec![]));
    let (value, _, _) = run(
        graph,
        "get_fan_venues",
        json!({"entity_ids": "K1", "location": "Austin", "venue_type": "spaceport"}),
        known.clone(),
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"venue_type\": unknown venue type \"spaceport\""
    );
    let mut graph = MockTasteGraph::new();
    graph.expect_insights().returning(|_| Ok(insights(vec![])));
    let (value, _, _) = run(
        graph,
        "get_fan_venues",
        json!({"entity_ids": "K1", "location": "Austin"}),
        known,
    )
    .await;
    assert_eq!(value["error"], "No places found in this area");
}

/// The facts a search gave of the caller's work (people, tags, year) reach
/// the franchise rules: a tagged sequel by the same director is left out,
/// a film that only shares its first word is kept.
#[tokio::test]
async fn what_the_search_said_of_the_input_decides_its_sequels() {
    let mut graph = MockTasteGraph::new();
    graph.expect_search().times(1).returning(|_| {
        Ok(vec![Entity {
            year: Some(2003),
            people: vec!["Andrew Stanton".into()],
            ..entity("N1", "Finding Nemo", "urn:entity:movie")
        }])
    });
    let (_, learned, _) = run(
        graph,
        "search_entity",
        json!({"query": "Finding Nemo", "type": "movie"}),
        vec![],
    )
    .await;
    assert_eq!(learned[0].people, ["Andrew Stanton"]);
    let mut graph = MockTasteGraph::new();
    graph.expect_insights().times(1).returning(|_| {
        Ok(insights(vec![
            Entity {
                year: Some(2016),
                people: vec!["Andrew Stanton".into()],
                tags: vec![Tag {
                    id: "urn:tag:keyword:media:sequel".into(),
                    name: "Sequel".into(),
                }],
                ..scored("D1", "Finding Dory", 0.99, &[])
            },
            Entity {
                year: Some(2004),
                people: vec!["Marc Forster".into()],
                ..scored("F1", "Finding Neverland", 0.9, &[])
            },
            scored("U1", "Up", 0.8, &[]),
        ]))
    });
    let (value, _, _) = run(
        graph,
        "get_recommendation",
        json!({"entity_ids": "N1", "take": 2}),
        learned,
    )
    .await;
    assert_eq!(recommended(&value), ["Finding Neverland", "Up"]);
    assert_eq!(value["filtered"], 1);
}
