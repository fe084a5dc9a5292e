//! Vibes end to end: a simulated call, the real tools, the Qloo adapter
//! and cache, the simulated Qloo's `/v2/tags` and `/v2/insights`.

use qloophone_sandbox::caller::Step;
use qloophone_sandbox::script::{ModelScript, Turn};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, dashboard, read_until, spawn_app_with};

use crate::helpers::scripted_call as call;

/// A vibe alone, then a vibe with an artist: "cozy and Italian in
/// Williamsburg"; "somewhere cozy in Paris that Khruangbin fans like".
fn script() -> ModelScript {
    ModelScript {
        greeting: "Hi, this is QlooPhone!".into(),
        turns: vec![
            Turn {
                heard: "Somewhere cozy and Italian in Williamsburg?".into(),
                tool_calls: vec![
                    call(
                        "search_tags",
                        json!({"query": "cozy and Italian", "type": "place"}),
                        0,
                    ),
                    call(
                        "get_recommendation",
                        json!({"tag_ids": "{tag_ids}", "location": "Williamsburg", "output_type": "place"}),
                        1,
                    ),
                ],
                answer: "Try {tool_output}.".into(),
            },
            Turn {
                heard: "And a cozy bar in Paris that Khruangbin fans like?".into(),
                tool_calls: vec![
                    call(
                        "search_entity",
                        json!({"query": "Khruangbin", "type": "artist"}),
                        0,
                    ),
                    call("search_tags", json!({"query": "cozy", "type": "place"}), 0),
                    call(
                        "get_fan_venues",
                        json!({"entity_ids": "{entity_id:Khruangbin}", "tag_ids": "{tag_id:Cozy}", "location": "Paris", "venue_type": "bar"}),
                        1,
                    ),
                ],
                answer: "Khruangbin fans like {tool_output}.".into(),
            },
        ],
        ..ModelScript::default()
    }
}

fn steps() -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Speak { ms: 800 },
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Speak { ms: 800 },
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Hangup,
    ]
}

/// The simulated Qloo's requests to `path`, as decoded parameters.
fn requests(app: &TestApp, path: &str) -> Vec<Vec<(String, String)>> {
    app.qloo
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.params())
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vibe_becomes_tags_and_one_well_formed_insights_request() {
    let app = spawn_app_with(AppOptions {
        script: script(),
        tools: None,
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    app.call(1, &steps()).await;
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let tools: Vec<&Value> = events
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "tool.called")
        .collect();
    assert!(tools.iter().all(|t| t["is_error"] == false), "{tools:#?}");

    // The tag search: the caller's words, by meaning, for places.
    let tag_searches = requests(&app, "/v2/tags");
    assert_eq!(tag_searches.len(), 2, "{tag_searches:?}");
    let first = &tag_searches[0];
    assert_eq!(param(first, "filter.query"), Some("cozy and Italian"));
    assert_eq!(param(first, "feature.semantic_search"), Some("true"));
    assert_eq!(
        param(first, "filter.parents.types"),
        Some("urn:entity:place")
    );

    // One insights request per answer, and the first carries both tags
    // as filter (every one) and as signal (any one), with no entity.
    let insights = requests(&app, "/v2/insights");
    assert_eq!(insights.len(), 2, "{insights:?}");
    let vibe = &insights[0];
    let mut tags: Vec<&str> = param(vibe, "filter.tags").unwrap().split(',').collect();
    tags.sort_unstable();
    assert_eq!(
        tags,
        [
            "urn:tag:genre:place:restaurant:italian",
            "urn:tag:keyword:qloo:cozy"
        ]
    );
    assert_eq!(param(vibe, "operator.filter.tags"), Some("intersection"));
    assert_eq!(
        param(vibe, "signal.interests.tags"),
        param(vibe, "filter.tags")
    );
    assert_eq!(param(vibe, "operator.signal.interests.tags"), Some("union"));
    assert_eq!(param(vibe, "signal.interests.entities"), None);
    assert_eq!(param(vibe, "filter.type"), Some("urn:entity:place"));
    let recommended = &tools
        .iter()
        .find(|t| t["name"] == "get_recommendation")
        .unwrap()["result"];
    let picks: Vec<&str> = recommended["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(picks, ["Lilia"], "cozy and Italian, not cozy or Italian");
    assert_eq!(recommended["vibe"], "Italian and Cozy");

    // With an artist: the artist is the signal, the tags (the vibe and the
    // kind of venue) the filter.
    let fans = &insights[1];
    let khruangbin = app.qloo.id_of("urn:entity:artist", "Khruangbin").unwrap();
    assert_eq!(
        param(fans, "signal.interests.entities"),
        Some(khruangbin.as_str())
    );
    assert_eq!(
        param(fans, "filter.tags"),
        Some("urn:tag:keyword:qloo:cozy,urn:tag:category:place:bar")
    );
    assert_eq!(param(fans, "signal.interests.tags"), None);
    let venues = &tools
        .iter()
        .find(|t| t["name"] == "get_fan_venues")
        .unwrap()["result"];
    assert_eq!(venues["venues"][0]["name"], "Le Baron Rouge", "{venues}");
    let spoken = crate::helpers::answers(events.iter().map(|e| &e["event"]));
    assert!(spoken.iter().any(|t| t == "Try Lilia."), "{spoken:?}");

    // A second call with the same words: the tags come from the cache.
    app.call(2, &steps()).await;
    assert_eq!(requests(&app, "/v2/tags").len(), 2, "no new tag search");
    assert_eq!(requests(&app, "/v2/insights").len(), 4);
    let (_, stats) = app.get_json("/cache-stats").await;
    assert!(stats["hits"].as_u64().unwrap() >= 3, "{stats}");
}
