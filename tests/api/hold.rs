//! The hold sound end to end: the real tools against a slow simulated
//! Qloo, the simulated models, and a simulated caller that tells the hold
//! sound from the assistant's audio and counts any overlap.

use std::time::Duration;

use qloophone::config::Config;
use qloophone_sandbox::caller::{CallReport, Step};
use qloophone_sandbox::live::LiveFaults;
use qloophone_sandbox::script::{ModelScript, Turn};
use serde_json::json;

use crate::helpers::{AppOptions, TestApp, dashboard, read_until, spawn_app_with};

use crate::helpers::scripted_call as call;

/// A slow recommendation, then a fast search.
fn script() -> ModelScript {
    ModelScript {
        greeting: "Hi, this is QlooPhone.".into(),
        turns: vec![
            Turn {
                heard: "I loved Arrival. What should I read?".into(),
                tool_calls: vec![
                    call(
                        "search_entity",
                        json!({"query": "Arrival", "type": "movie"}),
                        0,
                    ),
                    call(
                        "get_recommendation",
                        json!({"entity_ids": "{entity_id:Arrival}", "output_type": "book"}),
                        1,
                    ),
                ],
                answer: "Try {tool_output}.".into(),
            },
            Turn {
                heard: "And is Dune a film too?".into(),
                tool_calls: vec![call(
                    "search_entity",
                    json!({"query": "Dune", "type": "movie"}),
                    0,
                )],
                answer: "Yes: {tool_output}.".into(),
            },
        ],
        ..ModelScript::default()
    }
}

fn two_turns() -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Speak { ms: 800 },
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Speak { ms: 800 },
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Hangup,
    ]
}

/// `config` with the simulated Qloo answering searches at once and
/// recommendations after `insights`.
async fn app(config: Config, insights: Duration) -> TestApp {
    spawn_app_with(AppOptions {
        script: script(),
        tools: None,
        config,
        qloo_insights_latency: Some(insights),
        ..AppOptions::default()
    })
    .await
}

/// The call's hold events (`start`, or what stopped it) and tool calls,
/// in order, and the caller's report.
async fn run(app: &TestApp, steps: &[Step]) -> (Vec<String>, CallReport) {
    let mut observer = dashboard(app, "?format=envelope").await;
    let report = app.call(1, steps).await;
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let story = events
        .iter()
        .map(|e| &e["event"])
        .filter_map(|e| match e["type"].as_str() {
            Some("hold") if e["playing"] == true => Some("start".to_owned()),
            Some("hold") => Some(format!("stop:{}", e["stopped_by"].as_str().unwrap())),
            Some("tool.called") => Some(e["name"].as_str().unwrap().to_owned()),
            _ => None,
        })
        .collect();
    (story, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_recommendation_plays_the_hold_sound_and_a_fast_search_none() {
    let app = app(Config::default(), Duration::from_millis(1500)).await;
    let (story, report) = run(&app, &two_turns()).await;
    assert_eq!(
        story,
        [
            "search_entity",
            "start",
            "stop:tool",
            "get_recommendation",
            "search_entity"
        ],
        "once, for the slow tool only, stopped as it answered"
    );
    assert!(report.hold_bytes_heard >= 1600, "{report:?}");
    assert_eq!(report.hold_overlaps, 0);
    assert_eq!(report.hold_clears, 1);
    assert_eq!(report.clears, 0, "no barge-in: the hold's clear is its own");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("qloophone_hold_sounds_total{outcome=\"tool\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_threshold_is_a_setting_and_off_is_off() {
    let mut late = Config::default();
    late.hold.after_ms = 6000;
    let mut off = Config::default();
    off.hold.enabled = false;
    for config in [late, off] {
        let app = app(config, Duration::from_millis(1500)).await;
        let (story, report) = run(&app, &two_turns()).await;
        assert!(!story.iter().any(|s| s == "start"), "{story:?}");
        assert_eq!(report.hold_bytes_received, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gpt_live_the_model_speaking_stops_it_and_it_comes_back() {
    let mut config = Config::default();
    config.openai.model = "gpt-live-1".to_owned();
    let app = spawn_app_with(AppOptions {
        script: script(),
        tools: None,
        config,
        qloo_insights_latency: Some(Duration::from_millis(4000)),
        live_faults: LiveFaults {
            sessions: 0..1,
            // 1.5 s into the tools, at the caller's four times real speed.
            speak_while_tools: Some(("Still looking, one moment.".to_owned(), 6000)),
            ..LiveFaults::default()
        },
        ..AppOptions::default()
    })
    .await;
    let steps = [
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Speak { ms: 800 },
        Step::WaitForAnswer { max_ms: 20_000 },
        // Its interjection is an answer too: wait for the recommendation.
        Step::WaitForAnswer { max_ms: 20_000 },
        Step::Hangup,
    ];
    let (story, report) = run(&app, &steps).await;
    assert_eq!(
        story,
        [
            "search_entity",
            "start",
            "stop:model",
            "start",
            "stop:tool",
            "get_recommendation"
        ],
        "{report:?}"
    );
    assert_eq!(report.hold_overlaps, 0);
    assert!(report.hold_bytes_heard >= 3200, "{report:?}");
}
