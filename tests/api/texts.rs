//! The caller's picks by text (`text_recommendations`), played whole
//! through the simulated phone, model, Qloo and Twilio REST API: sent once,
//! only after a yes, only to the number calling, with a body built from
//! what the call's tools returned; a refusal by Twilio is spoken and not
//! retried; an offer answered in the same breath is refused.

use qloophone::sandbox::SANDBOX_OPTED_OUT_NUMBER;
use qloophone_sandbox::phone::{CALLER_NUMBER, place};
use qloophone_sandbox::scenario::{Expectations, Scenario};
use qloophone_sandbox::twilio_api::TwilioApiOptions;
use serde_json::Value;

use crate::helpers::{AppOptions, TestApp, dashboard, read_until, spawn_app_with};

/// Plays `scenario` and returns its transcript, whether its expectations
/// held, and the call's events as the dashboard saw them.
async fn play(app: &TestApp, scenario: Scenario) -> (String, bool, Vec<Value>) {
    let mut observer = dashboard(app, "?format=envelope").await;
    let settings = crate::helpers::call_settings(app.url(""), scenario);
    let mut transcript = Vec::new();
    let outcome = place(&settings, &mut transcript).await.unwrap();
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    (
        String::from_utf8(transcript).unwrap(),
        outcome.passed(),
        events.into_iter().map(|e| e["event"].clone()).collect(),
    )
}

async fn app() -> TestApp {
    spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await
}

fn tool_results<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == "tool.called" && e["name"] == name)
        .map(|e| &e["result"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_picks_are_texted_once_to_the_number_calling_after_a_yes() {
    let app = app().await;
    let (transcript, passed, events) =
        play(&app, Scenario::find("text-me-the-list").unwrap()).await;
    assert!(passed, "{transcript}");

    let sent = app.twilio.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = &sent[0];
    assert_eq!(text.to, CALLER_NUMBER);
    // From the number the caller dialled (no TWILIO_SMS_FROM here).
    assert_eq!(text.from, "+15550199999");
    // The body is the recommendations this call returned, in order.
    let results = tool_results(&events, "get_recommendation");
    let names: Vec<&str> = results[0]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!names.is_empty());
    let lines: Vec<&str> = text.body.lines().collect();
    assert_eq!(lines[0], "Your picks from the call:");
    assert_eq!(lines.len(), names.len() + 1, "{}", text.body);
    for (n, (line, name)) in lines[1..].iter().zip(&names).enumerate() {
        assert!(
            line.starts_with(&format!("{}. {name} (film", n + 1)),
            "{line} / {name}"
        );
    }
    let texted = events.iter().find(|e| e["type"] == "texted").unwrap();
    assert_eq!(texted["sent"], true);
    assert_eq!(texted["picks"], names.len());
    // The whole number reached Twilio and nothing else.
    let shown = serde_json::to_string(&events).unwrap();
    assert!(!shown.contains(CALLER_NUMBER), "{shown}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("qloophone_texts_total{outcome=\"sent\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_twilio_refuses_is_spoken_and_never_tried_again() {
    let app = app().await;
    let mut scenario = Scenario::find("text-me-the-list").unwrap();
    scenario.caller_number = Some(SANDBOX_OPTED_OUT_NUMBER.to_owned());
    scenario.expect = Expectations {
        tool_errors: 1,
        ..Expectations::default()
    };
    let (transcript, passed, events) = play(&app, scenario).await;
    assert!(passed, "{transcript}");
    assert!(app.twilio.sent().is_empty());
    let attempts = app.twilio.attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].code, Some(21610));
    let results = tool_results(&events, "text_recommendations");
    assert_eq!(results.len(), 1);
    assert!(
        results[0]["error"].as_str().unwrap().contains("opted out"),
        "{results:?}"
    );
    let texted = events.iter().find(|e| e["type"] == "texted").unwrap();
    assert_eq!(texted["sent"], false);
    assert_eq!(texted["failure"], "opted_out");
    app.stop().await;
}

/// A model that texts in the same breath as its picks, or without a yes,
/// or a second time, is refused by the server whatever it claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_without_the_callers_answer_is_refused() {
    let app = app().await;
    let scenario = Scenario::parse(
        r#"
name = "text-too-early"
caller = [
  { do = "wait_for_answer", max_ms = 30000 },
  { do = "speak", ms = 1200 },
  { do = "wait_for_answer", max_ms = 30000 },
  { do = "speak", ms = 900 },
  { do = "wait_for_answer", max_ms = 30000 },
  { do = "hangup" },
]

[[turns]]
heard = "I love The Matrix, what should I watch?"
answer = "You should watch {tool_output}."
tool_calls = [
  { name = "search_entity", arguments = { query = "The Matrix", type = "movie" } },
  { name = "get_recommendation", round = 1, arguments = { entity_ids = "{entity_id:The Matrix}", output_type = "movie" } },
  { name = "text_recommendations", round = 2, arguments = { caller_said_yes = true } },
]

[[turns]]
heard = "Hmm, maybe."
answer = "Okay."
tool_calls = [
  { name = "text_recommendations", arguments = { caller_said_yes = false } },
]

[expect]
tool_errors = 2
"#,
    )
    .unwrap();
    let (transcript, passed, events) = play(&app, scenario).await;
    assert!(passed, "{transcript}");
    assert!(app.twilio.attempts().is_empty());
    let results = tool_results(&events, "text_recommendations");
    assert_eq!(results.len(), 2, "{events:?}");
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap()
            .contains("not answered")
    );
    assert!(results[1]["error"].as_str().unwrap().contains("not agreed"));
    assert!(!events.iter().any(|e| e["type"] == "texted"));
    app.stop().await;
}

/// Twilio too busy at first (429, tried again) and refusing in its RFC
/// 9457 shape: the refusal is still read for what it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_twilio_is_asked_again_and_either_error_shape_is_read() {
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        twilio_api: TwilioApiOptions {
            busy_first: 1,
            rfc9457: true,
            ..qloophone::sandbox::Sandbox::twilio_options()
        },
        ..AppOptions::default()
    })
    .await;
    let mut scenario = Scenario::find("text-me-the-list").unwrap();
    scenario.caller_number = Some(SANDBOX_OPTED_OUT_NUMBER.to_owned());
    scenario.expect = Expectations {
        tool_errors: 1,
        ..Expectations::default()
    };
    let (transcript, passed, events) = play(&app, scenario).await;
    assert!(passed, "{transcript}");
    let attempts = app.twilio.attempts();
    let codes: Vec<Option<u32>> = attempts.iter().map(|a| a.code).collect();
    assert_eq!(codes, [Some(20429), Some(21610)]);
    let texted = events.iter().find(|e| e["type"] == "texted").unwrap();
    assert_eq!(texted["failure"], "opted_out");

    // Then a number that can take texts: sent, once.
    let (transcript, passed, _) = play(&app, Scenario::find("text-me-the-list").unwrap()).await;
    assert!(passed, "{transcript}");
    assert_eq!(app.twilio.sent().len(), 1);
    app.stop().await;
}
