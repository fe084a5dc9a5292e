//! `qloophone load` against a sandbox server.

use std::path::PathBuf;
use std::time::Duration;

use qloophone_adapters::http::Shards;
use qloophone_sandbox::duplex::DuplexReport;
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

/// A short full-duplex run: the server in live mode pointed at the load
/// generator's own model side, three calls streaming both ways for two
/// seconds. Every frame sent is received on its own call, in order (times
/// are reported, never asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_duplex_run_counts_every_frame_both_ways() {
    let report = duplex_run(&DuplexTls::default()).await;
    assert_every_frame_relayed(&report, 3);
}

/// TLS for a full-duplex run: the model side's certificate and key, and
/// the server's own with the CA its callers trust.
#[derive(Debug, Default)]
pub struct DuplexTls {
    /// The model side serves `wss://` with these (certificate, key).
    pub model: Option<(PathBuf, PathBuf)>,
    /// The server serves HTTPS and `wss://` with these (certificate, key).
    pub server: Option<(PathBuf, PathBuf)>,
    /// What the server trusts beside the built-in roots (`tls.ca_file`),
    /// and what the callers trust on `wss://`.
    pub ca_file: Option<PathBuf>,
}

/// The same run with the server's connections dealt to two threads of
/// their own, a current-thread runtime each (`QLOOPHONE_RUNTIME=per-core`):
/// both threads carry calls while they run, and every frame is relayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_duplex_run_spread_over_threads_counts_every_frame_both_ways() {
    let mut threads = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        handles.push(runtime.handle().clone());
        let (end, ended) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = runtime.block_on(ended);
        });
        threads.push((end, thread));
    }
    let shards = Shards::over(handles.clone());
    let run = tokio::spawn(async move { duplex_run_on(&DuplexTls::default(), shards).await });
    // The calls stream for two seconds from about 30 ms in.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alive: Vec<usize> = handles
        .iter()
        .map(|handle| handle.metrics().num_alive_tasks())
        .collect();
    let report = run.await.unwrap();
    assert_every_frame_relayed(&report, 3);
    assert!(
        alive.iter().all(|&tasks| tasks > 0),
        "tasks on each: {alive:?}"
    );
    for (end, thread) in threads {
        let _ = end.send(());
        thread.join().unwrap();
    }
}

/// Three calls for two seconds through a server in live mode, TLS where
/// `tls` says.
pub async fn duplex_run(tls: &DuplexTls) -> DuplexReport {
    duplex_run_on(tls, Shards::none()).await
}

/// As [`duplex_run`], the server's connections dealt to `shards`.
pub async fn duplex_run_on(tls: &DuplexTls, shards: Shards) -> DuplexReport {
    use qloophone::config::Config;
    use qloophone::startup::Application;
    use qloophone_adapters::secret::Secret;
    use qloophone_sandbox::duplex::{DuplexSettings, run, start_model};
    use qloophone_sandbox::tls::ServerTls;

    let calls = 3;
    let model_tls = tls
        .model
        .as_ref()
        .map(|(cert, key)| ServerTls::from_pem_files(cert, key).unwrap());
    let model = start_model("127.0.0.1:0".parse().unwrap(), calls, model_tls)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.server.is_some() {
        "https"
    } else {
        "http"
    };
    let mut config = Config::default();
    config.openai.api_key = Some(Secret::new("duplex"));
    config.openai.realtime_url = model.url();
    config.qloo.api_key = Some(Secret::new("duplex"));
    config.qloo.api_url = "http://127.0.0.1:9".to_owned();
    config.qloo.api_log = String::new();
    config.cache.snapshot = String::new();
    config.server.public_url = format!("{scheme}://{addr}");
    config.tls.ca_file.clone_from(&tls.ca_file);
    if let Some((cert, key)) = &tls.server {
        config.tls.cert_file = Some(cert.clone());
        config.tls.key_file = Some(key.clone());
    }
    let app = Application::builder(listener, config)
        .build()
        .unwrap()
        .spread_over(shards);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let settings = DuplexSettings {
        url: format!("{scheme}://{addr}"),
        calls,
        ramp: Duration::from_millis(30),
        duration: Duration::from_secs(2),
        server_pid: Some(std::process::id()),
        auth_token: None,
        // The webhook is asked over plain HTTP only; over TLS the stream
        // is opened as the floors' are, directly.
        stream_url: tls.server.as_ref().map(|_| format!("wss://{addr}/call")),
        ca_file: tls.ca_file.clone(),
    };
    let report = run(&settings, model).await.unwrap();
    eprintln!("{}", report.summary());
    let _ = stop.send(());
    server.await.unwrap();
    report
}

/// Every call connected, and every frame sent either way received on its
/// own call, in order.
pub fn assert_every_frame_relayed(report: &DuplexReport, calls: usize) {
    let summary = report.summary();
    assert_eq!(report.connected, calls as u64, "{summary}");
    assert!(report.failures.is_empty(), "{summary}");
    for (name, direction) in [("uplink", &report.uplink), ("downlink", &report.downlink)] {
        // Two seconds at 50 frames a second, for each call.
        assert!(direction.sent >= calls as u64 * 80, "{name}: {summary}");
        assert_eq!(direction.lost, 0, "{name}: {summary}");
        assert_eq!(direction.out_of_order, 0, "{name}: {summary}");
        assert_eq!(direction.misrouted, 0, "{name}: {summary}");
        assert!(direction.received <= direction.sent, "{name}: {summary}");
        assert_eq!(direction.latency_us.count, direction.received, "{name}");
    }
    // The caller stops sending before `stop`, so only the frames still in
    // flight when its call ends go unreceived: at most those sent within
    // the slowest frame's latency (one every 20 ms) and one wake-up more,
    // a call. (A fixed bound of 2 a call held on an idle machine and failed
    // in CI beside the browser tests, when frames took up to 230 ms.)
    let in_flight = report.uplink.latency_us.max.div_ceil(20_000) + 2;
    assert!(
        report.uplink.sent - report.uplink.received <= calls as u64 * in_flight,
        "{summary}"
    );
    assert_eq!(report.start_to_first_append_us.count, calls as u64);
    assert!(report.server_cpu_us_per_frame.is_some());
}
