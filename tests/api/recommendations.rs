//! Recommendations end to end: a simulated call, the real tools, the Qloo
//! adapter and cache, the simulated Qloo.

use qloophone_sandbox::caller::Step;
use qloophone_sandbox::script::{ModelScript, Turn};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, dashboard, read_until, spawn_app_with};

use crate::helpers::scripted_call as call;

fn script() -> ModelScript {
    ModelScript {
        greeting: "Hi, this is QlooPhone!".into(),
        turns: vec![
            Turn {
                heard: "I love The Matrix and Khruangbin".into(),
                tool_calls: vec![
                    call(
                        "search_entity",
                        json!({"query": "The Matrix", "type": "movie"}),
                        0,
                    ),
                    call(
                        "search_entity",
                        json!({"query": "Khruangbin", "type": "artist"}),
                        0,
                    ),
                    call(
                        "get_recommendation",
                        json!({"entity_ids": "{entity_id:The Matrix},{entity_id:Khruangbin}", "output_type": "movie"}),
                        1,
                    ),
                ],
                answer: "You should watch {tool_output}.".into(),
            },
            Turn {
                heard: "Any bars in Austin where Khruangbin fans go?".into(),
                tool_calls: vec![
                    call(
                        "search_entity",
                        json!({"query": "Khruangbin", "type": "artist"}),
                        0,
                    ),
                    call(
                        "get_fan_venues",
                        json!({"entity_ids": "{entity_id:Khruangbin}", "location": "Austin", "venue_type": "bar"}),
                        1,
                    ),
                ],
                answer: "Try {tool_output}.".into(),
            },
        ],
        ..ModelScript::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_gets_bridged_films_and_fan_bars_without_sequels() {
    let app = spawn_app_with(AppOptions {
        script: script(),
        tools: None,
        ..AppOptions::default()
    })
    .await;
    let (_, tools) = app.get_json("/tools").await;
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "search_entity",
            "search_tags",
            "get_recommendation",
            "search_locality",
            "get_fan_venues",
            "end_call",
            "transfer_to_human",
            "text_recommendations",
            "remember_me",
            "forget_me"
        ]
    );

    let mut observer = dashboard(&app, "?format=envelope").await;
    let report = app
        .call(
            1,
            &[
                Step::WaitForAnswer { max_ms: 20_000 },
                Step::Speak { ms: 800 },
                Step::WaitForAnswer { max_ms: 20_000 },
                Step::Speak { ms: 800 },
                Step::WaitForAnswer { max_ms: 20_000 },
                Step::Hangup,
            ],
        )
        .await;
    assert!(report.bytes_heard > 0);
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let tool_calls: Vec<&Value> = events
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "tool.called")
        .collect();
    let names: Vec<&str> = tool_calls
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "search_entity").count(),
        3,
        "{names:?}"
    );
    assert!(
        tool_calls.iter().all(|t| t["is_error"] == false),
        "{tool_calls:#?}"
    );

    let recommendation = &tool_calls
        .iter()
        .find(|t| t["name"] == "get_recommendation")
        .unwrap()["result"];
    let picks: Vec<&str> = recommendation["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(picks.len(), 3, "{recommendation}");
    assert!(
        picks.iter().all(|name| !name.contains("Matrix")),
        "no sequels: {picks:?}"
    );
    assert!(
        recommendation["taste_bridge"]
            .as_str()
            .is_some_and(|b| b.contains("The Matrix")),
        "{recommendation}"
    );

    let venues = &tool_calls
        .iter()
        .find(|t| t["name"] == "get_fan_venues")
        .unwrap()["result"];
    assert_eq!(venues["location_searched"], "Austin");
    let bars = venues["venues"].as_array().unwrap();
    assert!(!bars.is_empty(), "{venues}");
    assert!(
        bars.iter()
            .all(|b| b["address"].as_str().unwrap().contains("Austin, TX"))
    );

    let spoken = crate::helpers::answers(events.iter().map(|e| &e["event"]));
    let watch = spoken
        .iter()
        .find(|t| t.starts_with("You should watch"))
        .expect("the pick was spoken");
    assert!(watch.contains(picks[0]), "{watch}");
    assert!(
        spoken
            .iter()
            .any(|t| t.starts_with("Try ") && t.contains(bars[0]["name"].as_str().unwrap()))
    );

    // Every response's tokens, with the call's running total (three
    // tool-calling responses and at least the greeting and two answers).
    let totals: Vec<u64> = events
        .iter()
        .filter(|e| e["event"]["type"] == "usage")
        .map(|e| e["event"]["total"]["total_tokens"].as_u64().unwrap())
        .collect();
    assert!(totals.len() >= 5, "{totals:?}");
    assert!(totals.windows(2).all(|w| w[0] < w[1]), "{totals:?}");
    let last = &events
        .iter()
        .rev()
        .find(|e| e["event"]["type"] == "usage")
        .unwrap()["event"]["total"];
    assert!(last["output_audio_tokens"].as_u64().unwrap() > 0, "{last}");
    assert!(last["cached_input_tokens"].as_u64().unwrap() > 0, "{last}");
    // Priced at the default model's (gpt-realtime-2.1) prices: a few
    // cents at most.
    let costs: Vec<f64> = events
        .iter()
        .filter(|e| e["event"]["type"] == "usage")
        .map(|e| e["event"]["cost_usd"].as_f64().unwrap())
        .collect();
    assert!(
        costs[0] > 0.0 && costs.windows(2).all(|w| w[0] <= w[1]),
        "{costs:?}"
    );
    assert!(*costs.last().unwrap() < 1.0, "{costs:?}");
    let metrics = app.get_text("/metrics").await;
    let billed: u64 = metrics
        .lines()
        .filter(|line| {
            line.starts_with("qloophone_model_tokens_total{") && !line.contains("cached_")
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        billed,
        *totals.last().unwrap(),
        "/metrics counts what the call used"
    );

    let (_, stats) = app.get_json("/cache-stats").await;
    assert_eq!(stats["misses"], 2, "{stats}");
    assert!(
        stats["hits"].as_u64().unwrap() >= 1,
        "the repeated search was a hit: {stats}"
    );
    assert_eq!(stats["size"], 2);
    let searches = app
        .qloo
        .requests()
        .iter()
        .filter(|r| r.path == "/search")
        .count();
    assert_eq!(searches, 2, "three searches, two upstream");
    app.stop().await;
}

/// The model session is lost between two turns; the new one is told the
/// entities found, and the second turn's recommendation uses the first
/// turn's id without searching again: the tools still accept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_model_reconnect_the_ids_found_before_still_work() {
    let script = ModelScript {
        greeting: "Hi, this is QlooPhone!".into(),
        turns: vec![
            Turn {
                heard: "I love The Matrix".into(),
                tool_calls: vec![call(
                    "search_entity",
                    json!({"query": "The Matrix", "type": "movie"}),
                    0,
                )],
                answer: "Found it.".into(),
            },
            Turn {
                heard: "Something like it, please".into(),
                tool_calls: vec![call(
                    "get_recommendation",
                    json!({"entity_ids": "{entity_id:The Matrix}", "output_type": "movie"}),
                    0,
                )],
                answer: "Try {tool_output}.".into(),
            },
        ],
        ..ModelScript::default()
    };
    let app = spawn_app_with(AppOptions {
        script,
        tools: None,
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call = app.spawn_call(
        2,
        vec![
            Step::WaitForAnswer { max_ms: 20_000 },
            Step::Speak { ms: 800 },
            Step::WaitForAnswer { max_ms: 20_000 },
            Step::Silence { ms: 1_500 },
            Step::Speak { ms: 800 },
            Step::WaitForAnswer { max_ms: 20_000 },
            Step::Hangup,
        ],
    );
    // Once the first turn's answer has been asked for, drop the session.
    crate::helpers::wait_until("the first turn to be answered", || {
        app.model
            .sessions()
            .first()
            .is_some_and(|s| s.of_type("response.create").len() >= 2)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    app.model.drop_all();
    let report = call.await.unwrap();
    assert!(!report.closed_by_server);
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event"]["type"].as_str())
        .collect();
    assert!(kinds.contains(&"model_reconnecting"), "{kinds:?}");
    assert!(kinds.contains(&"model_reconnected"), "{kinds:?}");
    let tools: Vec<&Value> = events
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "tool.called")
        .collect();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["search_entity", "get_recommendation"], "{tools:#?}");
    let recommendation = tools[1];
    assert_eq!(recommendation["is_error"], false, "{recommendation:#}");
    let sessions = app.model.sessions();
    assert_eq!(sessions.len(), 2);
    let told = sessions[1].of_type("conversation.item.create");
    let context = told
        .iter()
        .find(|e| e["item"]["role"] == "system")
        .and_then(|e| e["item"]["content"][0]["text"].as_str())
        .expect("context");
    assert!(context.contains("Caller: I love The Matrix"), "{context}");
    assert!(context.contains("- The Matrix: "), "{context}");
    app.stop().await;
}
