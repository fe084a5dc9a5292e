//! Graceful drain: on shutdown, new calls are turned away while the calls
//! in progress finish, up to the drain timeout.

use qloophone::config::Config;
use qloophone_sandbox::caller::Step;

use crate::helpers::{AppOptions, dashboard, next_json, read_until, spawn_app_with, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_progress_finish_while_new_ones_are_turned_away() {
    let mut app = spawn_app_with(AppOptions::default()).await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call = app.spawn_call(
        21,
        vec![
            Step::WaitForAnswer { max_ms: 10_000 },
            Step::Silence { ms: 2_000 },
            Step::Hangup,
        ],
    );
    wait_until("the call", || app.registry.active() == 1).await;
    app.begin_stop();
    wait_until("the drain", || app.registry.is_draining()).await;

    let (status, health) = app.get_json("/health").await;
    assert_eq!((status, health["status"].as_str()), (503, Some("draining")));
    assert_eq!(health["activeCalls"], 1);
    let twiml = app.twiml(&[]).await;
    assert!(
        twiml.contains("busy") && !twiml.contains("<Stream"),
        "{twiml}"
    );
    app.assert_upgrade_refused("/call", 503).await;

    let report = call.await.unwrap();
    assert!(!report.closed_by_server, "the caller hung up by itself");
    assert!(report.bytes_heard > 0);
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    assert_eq!(events.last().unwrap()["event"]["reason"], "phone_stopped");
    app.stop().await;
    assert!(
        next_json(&mut observer).await.is_none(),
        "dashboards are closed at shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_running_at_the_drain_timeout_are_ended() {
    calls_still_running_at_the_drain_timeout_are_ended_on("gpt-realtime-2.1").await;
}

/// The same on GPT-Live, whose session is closed as documented: its
/// final time is billed before the call's end is told.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpt_live_calls_still_running_at_the_drain_timeout_are_ended() {
    calls_still_running_at_the_drain_timeout_are_ended_on("gpt-live-1").await;
}

async fn calls_still_running_at_the_drain_timeout_are_ended_on(model: &str) {
    let mut config = Config::default();
    config.server.drain_timeout_secs = 1;
    config.openai.model = model.to_owned();
    let mut app = spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call = app.spawn_call(22, vec![Step::Silence { ms: 600_000 }]);
    wait_until("the call", || app.registry.active() == 1).await;
    app.begin_stop();
    let report = call.await.unwrap();
    assert!(report.closed_by_server);
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    assert_eq!(events.last().unwrap()["event"]["reason"], "shutdown");
    if model.starts_with("gpt-live") {
        let usage: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["event"]["type"] == "usage")
            .collect();
        assert!(
            usage
                .last()
                .is_some_and(|u| u["event"]["total"]["session_ms"].as_u64() > Some(0)),
            "the closed session's time, before the end: {events:?}"
        );
        let session = &app.model.sessions()[0];
        assert_eq!(session.of_type("session.close").len(), 1);
    }
    app.stop().await;
}
