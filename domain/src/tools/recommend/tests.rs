//! The taste tools against a mockall `TasteGraph`.

use std::sync::Mutex;

use serde_json::{Value, json};

use super::recommendation::FALLBACK_NOTE;
use super::*;
use crate::ports::MockTasteGraph;
use crate::ports::{
    EntityKind, Explanation, FoundTag, Insights, InsightsQuery, Location, SortBy, Tag, TasteError,
};
use crate::tools::vocabulary::OUTPUT_TYPES;
use crate::tools::{Known, ToolExecutor, ToolInvocation};
use crate::types::{TagId, ToolCallId};

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

/// The graph's own kinds of place, as a stand-in: sushi, coffee, bars.
fn place_kind(words: &str) -> Option<FoundTag> {
    ["sushi", "coffee", "bar"].iter().find_map(|kind| {
        words
            .split_whitespace()
            .any(|w| w.trim_end_matches('s') == *kind)
            .then(|| FoundTag {
                id: TagId::parse(&format!("tag:{kind}")).unwrap(),
                name: (*kind).to_owned(),
            })
    })
}

async fn run(
    graph: MockTasteGraph,
    tool: &str,
    args: Value,
    known: Vec<KnownEntity>,
) -> (Value, Vec<KnownEntity>, bool) {
    let (value, learned, is_error) =
        run_knowing(graph, tool, args, Known::of_entities(known)).await;
    (value, learned.entities, is_error)
}

async fn run_knowing(
    mut graph: MockTasteGraph,
    tool: &str,
    args: Value,
    known: Known,
) -> (Value, Known, bool) {
    graph.expect_place_kind().returning(place_kind);
    let toolbox = taste_tools(Arc::new(graph));
    let outcome = toolbox
        .execute(ToolInvocation {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: tool.into(),
            arguments: args.to_string().into(),
            known: Arc::new(known),
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
async fn the_five_tools_are_offered_with_schemas() {
    let toolbox = taste_tools(Arc::new(MockTasteGraph::new()));
    let names: Vec<String> = toolbox.specs().into_iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "search_entity",
            "search_tags",
            "get_recommendation",
            "search_locality",
            "get_fan_venues"
        ]
    );
    for spec in toolbox.specs() {
        assert_eq!(spec.parameters["type"], "object");
        let required = &spec.parameters["required"];
        // Recommendations start from entities, tags or both: neither alone
        // is required by the schema, and the tool says when both are missing.
        let from_either = ["get_recommendation", "get_fan_venues"].contains(&spec.name.as_str());
        assert_eq!(required.is_null(), from_either, "{}", spec.name);
        for name in required.as_array().into_iter().flatten() {
            assert!(
                spec.parameters["properties"][name.as_str().unwrap()].is_object(),
                "{}: {name} is described",
                spec.name
            );
        }
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
                vec![TagId::parse("tag:sushi").unwrap()],
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
                vec![TagId::parse("tag:coffee").unwrap()],
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
                && q.tags == [TagId::parse("tag:bar").unwrap()]
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

fn tag(id_text: &str, name: &str) -> FoundTag {
    FoundTag {
        id: TagId::parse(id_text).unwrap(),
        name: name.into(),
    }
}

fn known_tag(id_text: &str, name: &str, kind: Option<EntityKind>) -> KnownTag {
    KnownTag {
        id: TagId::parse(id_text).unwrap(),
        name: name.into(),
        kind,
    }
}

fn cozy_italian() -> Known {
    Known::of_tags(vec![
        known_tag("tag:cozy", "Cozy", Some(EntityKind::Place)),
        known_tag("tag:italian", "Italian", Some(EntityKind::Place)),
    ])
}

#[tokio::test]
async fn search_tags_says_which_tags_it_took_by_meaning() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search_tags()
        .withf(|q| {
            q.text == "somewhere snug and Italian"
                && q.parent == Some(EntityKind::Place)
                && q.take == 5
        })
        .times(1)
        .returning(|_| Ok(vec![tag("tag:italian", "Italian"), tag("tag:cozy", "Cozy")]));
    let (value, learned, is_error) = run_knowing(
        graph,
        "search_tags",
        json!({"query": "somewhere snug and Italian", "type": "restaurant"}),
        Known::default(),
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(
        value["tags"][0],
        json!({"tag_id": "tag:italian", "name": "Italian", "matched": "by name"})
    );
    assert_eq!(value["tags"][1]["matched"], "by meaning");
    assert_eq!(value["understood_as"], "Italian and Cozy");
    assert!(
        value["say_back"]
            .as_str()
            .unwrap()
            .contains("I took that as Italian and Cozy")
    );
    assert_eq!(
        learned.tags,
        [
            known_tag("tag:italian", "Italian", Some(EntityKind::Place)),
            known_tag("tag:cozy", "Cozy", Some(EntityKind::Place)),
        ]
    );
    assert!(learned.entities.is_empty());

    // Every tag in the caller's own words: nothing to say back.
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search_tags()
        .withf(|q| q.parent.is_none())
        .returning(|_| {
            Ok(vec![
                tag("tag:comedies", "Comedies"),
                tag("tag:dark", "Dark"),
            ])
        });
    let (value, _, _) = run_knowing(
        graph,
        "search_tags",
        json!({"query": "a dark comedy"}),
        Known::default(),
    )
    .await;
    assert!(value.get("say_back").is_none(), "{value}");
    assert!(value.get("type").is_none());
}

#[tokio::test]
async fn a_vibe_the_graph_cannot_place_is_a_speakable_no_match() {
    for answer in [
        Ok(vec![]),
        Err(TasteError::BadRequest("filter.query is invalid".into())),
    ] {
        let mut graph = MockTasteGraph::new();
        graph
            .expect_search_tags()
            .times(1)
            .return_once(move |_| answer);
        let (value, learned, is_error) = run_knowing(
            graph,
            "search_tags",
            json!({"query": "zxqv flurble"}),
            Known::default(),
        )
        .await;
        assert!(is_error);
        assert_eq!(value["error"], "No tags match \"zxqv flurble\"");
        assert!(
            value["suggestion"]
                .as_str()
                .unwrap()
                .contains("another way")
        );
        assert!(learned.is_empty());
        assert!(
            !value.to_string().contains("invalid"),
            "Qloo's refusal is not read out"
        );
    }
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search_tags()
        .returning(|_| Err(TasteError::Timeout));
    let (value, _, is_error) = run_knowing(
        graph,
        "search_tags",
        json!({"query": "cozy"}),
        Known::default(),
    )
    .await;
    assert!(is_error);
    assert_eq!(value["error"], "Tag search failed");
    let (value, _, _) = run_knowing(
        MockTasteGraph::new(),
        "search_tags",
        json!({"query": "cozy", "type": "neighborhood"}),
        Known::default(),
    )
    .await;
    assert_eq!(
        value["error"],
        "Invalid argument \"type\": cannot look for \"neighborhood\""
    );
}

#[tokio::test]
async fn a_kind_of_place_named_outright_answers_without_the_search() {
    // The search is down, but "sushi bars" is a place word the graph's
    // edge knows: the caller still gets their tag.
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search_tags()
        .returning(|_| Err(TasteError::Unavailable));
    let (value, learned, is_error) = run_knowing(
        graph,
        "search_tags",
        json!({"query": "sushi", "type": "place"}),
        Known::default(),
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(value["tags"][0]["tag_id"], "tag:sushi");
    assert_eq!(learned.tags.len(), 1);
    // And with the search up, it comes first and only once.
    let mut graph = MockTasteGraph::new();
    graph
        .expect_search_tags()
        .returning(|_| Ok(vec![tag("tag:cozy", "Cozy"), tag("tag:sushi", "sushi")]));
    let (value, _, _) = run_knowing(
        graph,
        "search_tags",
        json!({"query": "cozy sushi", "type": "place"}),
        Known::default(),
    )
    .await;
    let ids: Vec<&str> = value["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tag:sushi", "tag:cozy"]);
}

#[tokio::test]
async fn tags_alone_are_the_signal_and_the_filter() {
    let mut graph = MockTasteGraph::new();
    let cozy_and_italian = [
        TagId::parse("tag:cozy").unwrap(),
        TagId::parse("tag:italian").unwrap(),
    ];
    let wanted = cozy_and_italian.clone();
    graph
        .expect_insights()
        .withf(move |q| {
            q.filter_type == EntityKind::Place
                && q.interest_entities.is_empty()
                && q.tags == wanted
                && q.interest_tags == wanted
                && !q.any_tag
                && q.location == Some(Location::Named("New York".into()))
        })
        .times(1)
        .returning(|_| {
            Ok(insights(vec![
                scored("P1", "Lilia", 0.91, &[]),
                scored("P2", "Via Carota", 0.84, &[]),
            ]))
        });
    let (value, _, is_error) = run_knowing(
        graph,
        "get_recommendation",
        json!({"tag_ids": "tag:cozy,tag:italian", "location": "New York"}),
        cozy_italian(),
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(value["vibe"], "Cozy and Italian");
    assert_eq!(value["output_type"], json!(EntityKind::Place));
    assert_eq!(value["top_pick"]["name"], "Lilia");
    assert!(value.get("tag_note").is_none());
    assert!(value.get("taste_bridge").is_none(), "no entity to bridge");
}

#[tokio::test]
async fn tags_with_entities_narrow_what_the_fans_like() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_insights()
        .withf(|q| {
            q.interest_entities == [id("K1")]
                && q.tags
                    == [
                        TagId::parse("tag:cozy").unwrap(),
                        TagId::parse("tag:italian").unwrap(),
                    ]
                && q.interest_tags.is_empty()
        })
        .times(1)
        .returning(|_| Ok(insights(vec![scored("P1", "Lilia", 0.91, &[("K1", 0.9)])])));
    let mut known = cozy_italian();
    known.entities.push(khruangbin());
    let (value, _, is_error) = run_knowing(
        graph,
        "get_recommendation",
        json!({"entity_ids": "K1", "tag_ids": ["tag:cozy", "tag:italian"], "location": "Austin", "output_type": "place"}),
        known,
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(
        value["taste_bridge"],
        "Strong match for Khruangbin fans (90% affinity)"
    );
}

#[tokio::test]
async fn no_place_with_every_tag_widens_to_any_and_says_so() {
    let mut graph = MockTasteGraph::new();
    let mut seq = mockall::Sequence::new();
    graph
        .expect_insights()
        .withf(|q| !q.any_tag)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(insights(vec![])));
    graph
        .expect_insights()
        .withf(|q| q.any_tag && q.tags.len() == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(insights(vec![scored("P3", "Rolo's", 0.7, &[])])));
    let (value, _, is_error) = run_knowing(
        graph,
        "get_recommendation",
        json!({"tag_ids": "tag:cozy,tag:italian", "location": "New York"}),
        cozy_italian(),
    )
    .await;
    assert!(!is_error, "{value}");
    assert!(
        value["tag_note"]
            .as_str()
            .unwrap()
            .starts_with("Nothing was all of those")
    );
}

#[tokio::test]
async fn an_inert_tag_signal_is_said_to_be_popularity() {
    let mut graph = MockTasteGraph::new();
    graph.expect_insights().times(1).returning(|_| {
        Ok(insights(vec![
            scored("M7", "Paddington 2", 0.765, &[]),
            scored("M8", "Amélie", 0.765, &[]),
        ]))
    });
    let known = Known::of_tags(vec![known_tag("tag:cozy", "Cozy", None)]);
    let (value, _, is_error) = run_knowing(
        graph,
        "get_recommendation",
        json!({"tag_ids": "tag:cozy", "output_type": "movie"}),
        known,
    )
    .await;
    assert!(!is_error, "{value}");
    assert!(
        value["tag_note"]
            .as_str()
            .unwrap()
            .starts_with("These are popular picks")
    );
}

#[tokio::test]
async fn tag_ids_must_come_from_a_tag_search_in_this_call() {
    let mut known = cozy_italian();
    known.entities.push(khruangbin());
    let (value, _, is_error) = run_knowing(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"tag_ids": "tag:invented"}),
        known.clone(),
    )
    .await;
    assert!(is_error);
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .starts_with("Unknown tag id \"tag:invented\"")
    );
    assert_eq!(value["known_tag_ids"], json!(["tag:cozy", "tag:italian"]));
    let (value, _, _) = run_knowing(
        MockTasteGraph::new(),
        "get_fan_venues",
        json!({"entity_ids": "tag:cozy", "location": "Austin"}),
        known.clone(),
    )
    .await;
    assert_eq!(
        value["error"],
        "\"tag:cozy\" is a tag, not an entity: pass it in tag_ids"
    );
    let (value, _, _) = run_knowing(
        MockTasteGraph::new(),
        "get_recommendation",
        json!({"location": "Austin"}),
        known,
    )
    .await;
    assert_eq!(value["error"], "Missing required argument \"entity_ids\"");
    assert!(
        value["suggestion"]
            .as_str()
            .unwrap()
            .contains("search_tags")
    );
}

#[tokio::test]
async fn fan_venues_by_vibe_alone() {
    let mut graph = MockTasteGraph::new();
    graph
        .expect_insights()
        .withf(|q| {
            q.interest_entities.is_empty()
                && q.tags
                    == [
                        TagId::parse("tag:cozy").unwrap(),
                        TagId::parse("tag:bar").unwrap(),
                    ]
                && q.interest_tags == q.tags
        })
        .times(1)
        .returning(|_| Ok(insights(vec![scored("P4", "Le Baron Rouge", 0.8, &[])])));
    let known = Known::of_tags(vec![known_tag("tag:cozy", "Cozy", Some(EntityKind::Place))]);
    let (value, _, is_error) = run_knowing(
        graph,
        "get_fan_venues",
        json!({"tag_ids": "tag:cozy", "location": "Paris", "venue_type": "bars"}),
        known,
    )
    .await;
    assert!(!is_error, "{value}");
    assert_eq!(value["summary"], "Found 1 bars in Paris: Cozy");
    assert_eq!(value["vibe"], "Cozy");
}
