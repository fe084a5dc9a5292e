//! `qloophone load` against a sandbox server.

use std::time::Duration;

use qloophone_sandbox::load::{LoadSettings, run};
use qloophone_sandbox::scenario::Scenario;

use crate::helpers::{AppOptions, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_runs_calls_and_reports_percentiles_and_server_usage() {
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await;
    let settings = LoadSettings {
        url: app.url(""),
        calls: 6,
        ramp: Duration::from_millis(60),
        scenario: Scenario::find("two-films-to-a-film").unwrap(),
        speed: 4.0,
        // This process hosts the server: its usage is measured.
        server_pid: Some(std::process::id()),
        auth_token: None,
    };
    let report = run(&settings).await;
    assert_eq!(report.completed, 6, "{}", report.summary());
    assert!(report.failures.is_empty());
    assert_eq!(report.first_audio_ms.count, 6);
    assert_eq!(report.turn_latency_ms.count, 6, "one turn each");
    assert!(report.turn_latency_ms.p50 <= report.turn_latency_ms.max);
    assert!(report.peak_concurrent_calls >= 1);
    let server = report.server.expect("read from /proc");
    assert!(server.rss_mib > 0.0 && server.peak_rss_mib >= server.rss_mib);
    let summary = report.summary();
    assert!(summary.starts_with("6 of 6 calls completed"), "{summary}");
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["turn_latency_ms"]["count"], 6);
    app.idle().await;

    let busy = LoadSettings {
        url: "http://127.0.0.1:9".into(),
        calls: 1,
        server_pid: None,
        ..settings
    };
    let report = run(&busy).await;
    assert_eq!(report.completed, 0);
    assert!(
        report.failures[0].contains("webhook"),
        "{:?}",
        report.failures
    );
    app.stop().await;
}
