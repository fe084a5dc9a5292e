//! The report of every call, posted to a simulated operator endpoint that
//! checks each delivery with the Standard Webhooks library: retried with
//! the same id after failures, kept on disk across a restart.

use std::time::Duration;

use qloophone::config::{Config, Secret};
use qloophone_sandbox::caller::Step;
use qloophone_sandbox::report_sink::{ReportSink, holds_a_phone_number};
use tokio::net::TcpListener;

use crate::helpers::{AppOptions, TestApp, film_search, spawn_app_with, wait_until};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn sink(statuses: Vec<u16>) -> ReportSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ReportSink::spawn(listener, SECRET, statuses).unwrap()
}

async fn reporting_app(sink: &ReportSink, queue: &std::path::Path) -> TestApp {
    let mut config = Config::default();
    config.report.url = Some(sink.url());
    config.report.secret = Some(Secret::new(SECRET));
    config.report.queue_dir = queue.display().to_string();
    spawn_app_with(AppOptions {
        script: film_search("You should watch {tool_output}."),
        config,
        ..AppOptions::default()
    })
    .await
}

fn one_turn() -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Speak { ms: 600 },
        Step::WaitForAnswer { max_ms: 15_000 },
        Step::Hangup,
    ]
}

fn queued(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default()
}

/// One signed report per call, taken on the third attempt: the same
/// webhook-id each time, a fresh timestamp and signature, and what the
/// call did in its body, with no whole phone number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_delivered_after_two_failed_attempts() {
    let queue = tempfile::tempdir().unwrap();
    let sink = sink(vec![500, 503]).await;
    let app = reporting_app(&sink, queue.path()).await;
    let report = app.call(41, &one_turn()).await;
    assert!(report.bytes_heard > 0);
    wait_until("three attempts", || sink.deliveries().len() >= 3).await;
    // Nothing more once taken.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deliveries = sink.deliveries();
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert_eq!(
        deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    for delivery in &deliveries {
        assert_eq!(delivery.verified, Ok(()), "signed per Standard Webhooks");
        assert_eq!(delivery.id, deliveries[0].id, "one id on every retry");
        assert!(delivery.id.as_deref().unwrap().starts_with("msg_"));
    }
    assert_ne!(
        deliveries[0].timestamp, deliveries[2].timestamp,
        "each attempt signed afresh"
    );
    let body = &deliveries[2].body;
    assert_eq!(body["type"], "call.ended");
    let data = &body["data"];
    assert_eq!(data["ended_reason"], "caller_hung_up");
    assert_eq!(data["call_sid"], app.caller(41).call_sid);
    assert_eq!(data["stream_sid"], app.caller(41).stream_sid);
    assert_eq!(data["model"], "gpt-realtime-2.1");
    assert_eq!(data["tools"][0]["name"], "search_entity");
    assert_eq!(data["tools"][0]["ok"], true);
    assert!(data["duration_s"].as_f64().unwrap() > 0.5, "{data}");
    assert!(
        data["usage"]["output_audio"].as_u64().unwrap() > 0,
        "{data}"
    );
    assert!(data.get("turns").is_none(), "no transcript unless asked");
    assert!(!holds_a_phone_number(&body.to_string()));
    assert!(queued(queue.path()).is_empty(), "delivered: off the queue");
    let metrics = app.get_text("/metrics").await;
    for line in [
        "qloophone_reports_delivered_total 1",
        "qloophone_report_failed_attempts_total 2",
        "qloophone_reports_queued 0",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    app.stop().await;
}

/// A report the endpoint does not take before the server stops stays on
/// disk, and the next start delivers it, with the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_not_yet_taken_survives_a_restart() {
    let queue = tempfile::tempdir().unwrap();
    let down = sink(vec![503; 50]).await;
    let app = reporting_app(&down, queue.path()).await;
    app.call(42, &one_turn()).await;
    wait_until("a first attempt", || !down.deliveries().is_empty()).await;
    app.stop().await;
    let waiting = queued(queue.path());
    assert_eq!(waiting.len(), 1, "kept on disk: {waiting:?}");
    let id = down.deliveries()[0].id.clone().unwrap();
    assert_eq!(waiting[0], format!("{id}.json"));

    let up = sink(Vec::new()).await;
    let again = reporting_app(&up, queue.path()).await;
    wait_until("the report delivered", || !up.deliveries().is_empty()).await;
    let delivery = &up.deliveries()[0];
    assert_eq!(delivery.id.as_deref(), Some(id.as_str()), "the same report");
    assert_eq!(delivery.verified, Ok(()));
    assert_eq!(
        delivery.body["data"]["stream_sid"],
        again.caller(42).stream_sid
    );
    wait_until("off the queue", || queued(queue.path()).is_empty()).await;
    again.stop().await;
}

/// With `report.include_transcript` on, the report carries the call's
/// turns (caller and assistant, in order); its text of the picks is in
/// `sms` either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_and_the_text_are_in_the_report_when_there() {
    let queue = tempfile::tempdir().unwrap();
    let sink = sink(Vec::new()).await;
    let mut config = Config::default();
    config.report.url = Some(sink.url());
    config.report.secret = Some(Secret::new(SECRET));
    config.report.queue_dir = queue.path().display().to_string();
    config.report.include_transcript = true;
    let app = spawn_app_with(AppOptions {
        config,
        tools: None,
        scenarios: qloophone_sandbox::scenario::Scenario::registry(),
        ..AppOptions::default()
    })
    .await;
    let settings = crate::helpers::call_settings(
        app.url(""),
        qloophone_sandbox::scenario::Scenario::find("text-me-the-list").unwrap(),
    );
    let mut transcript = Vec::new();
    let outcome = qloophone_sandbox::phone::place(&settings, &mut transcript)
        .await
        .unwrap();
    assert!(outcome.passed(), "{}", String::from_utf8_lossy(&transcript));
    wait_until("the report", || !sink.deliveries().is_empty()).await;
    let delivery = &sink.deliveries()[0];
    assert_eq!(delivery.verified, Ok(()));
    let data = &delivery.body["data"];
    let turns = data["turns"].as_array().expect("turns when asked");
    let said: Vec<(&str, &str)> = turns
        .iter()
        .map(|t| (t["role"].as_str().unwrap(), t["text"].as_str().unwrap()))
        .collect();
    assert!(
        said.iter()
            .any(|(role, text)| *role == "caller" && text.contains("Yes please")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|(role, text)| *role == "assistant" && text.contains("on their way")),
        "{said:?}"
    );
    assert_eq!(data["sms"]["sent"], true, "{data}");
    assert!(data["sms"]["picks"].as_u64().unwrap() > 0);
    assert!(!holds_a_phone_number(&delivery.body.to_string()));
    app.stop().await;
}
