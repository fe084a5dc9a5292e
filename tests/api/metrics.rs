//! `/metrics` scraped while a simulated call runs and after it ends, parsed
//! as Prometheus text by a parser of its own (`prometheus-parse`), not by
//! string matching.

use prometheus_parse::{Scrape, Value};
use qloophone_sandbox::caller::{CallReport, Step, place_call};
use qloophone_sandbox::script::ModelScript;
use tokio::task::JoinHandle;

use crate::helpers::{AppOptions, TestApp, film_search, spawn_app_with};

async fn scrape(app: &TestApp) -> Scrape {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text")
}

/// The value of the sample `name` whose labels include `labels`, or 0 when
/// there is none yet.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            other => panic!("{name} is not a single value: {other:?}"),
        })
        .sum()
}

/// The buckets of histogram `name` with `labels`, checked to be cumulative.
fn buckets(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let sample = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == name
                && matches!(s.value, Value::Histogram(_))
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no histogram {name} {labels:?}"));
    let Value::Histogram(counts) = &sample.value else {
        unreachable!()
    };
    let pairs: Vec<(f64, f64)> = counts.iter().map(|c| (c.less_than, c.count)).collect();
    assert!(
        pairs
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
        "{name}: buckets rise: {pairs:?}"
    );
    assert!(pairs.last().is_some_and(|(le, _)| le.is_infinite()));
    pairs
}

fn observed(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    buckets(scrape, name, labels).last().unwrap().1
}

fn script() -> ModelScript {
    film_search(
        "Then try Ghost in the Shell, Dark City, eXistenZ, Equilibrium, Gattaca, \
         Minority Report, Inception, Twelve Monkeys, Brazil, Blade Runner, Strange \
         Days, The Thirteenth Floor, Primer, Moon, Ex Machina and Arrival.",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_a_call_runs_and_ends() {
    let app = spawn_app_with(AppOptions {
        script: script(),
        tools: None, // the sandbox's Qloo, through the real client and cache
        ..AppOptions::default()
    })
    .await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "qloophone_active_calls", &[]), 0.0);
    assert_eq!(value(&before, "qloophone_calls_started_total", &[]), 0.0);
    // Every metric of ours says what it is.
    for sample in &before.samples {
        if let Some(family) = sample.metric.strip_prefix("qloophone_") {
            let base = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| family.strip_suffix(suffix))
                .unwrap_or(family);
            assert!(
                before.docs.contains_key(&format!("qloophone_{base}"))
                    || before.docs.contains_key(&sample.metric),
                "no HELP for {}",
                sample.metric
            );
        }
    }

    let caller = app.caller(5);
    let call: JoinHandle<CallReport> = tokio::spawn(async move {
        place_call(
            caller,
            &[
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Speak { ms: 800 },
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Dtmf { digit: '4' },
                Step::Silence { ms: 4_000 },
                Step::Hangup,
            ],
        )
        .await
        .expect("call placed")
    });
    // During the call: in progress, relaying, its model connected.
    let during = 'during: {
        for _ in 0..200 {
            let now = scrape(&app).await;
            if value(&now, "qloophone_active_calls", &[]) == 1.0
                && value(
                    &now,
                    "qloophone_frames_relayed_total",
                    &[("direction", "uplink")],
                ) > 0.0
            {
                break 'during now;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the call never showed on /metrics");
    };
    assert_eq!(value(&during, "qloophone_calls_started_total", &[]), 1.0);
    assert_eq!(
        observed(&during, "qloophone_model_connect_seconds", &[]),
        1.0
    );
    let uplink_during = value(
        &during,
        "qloophone_frames_relayed_total",
        &[("direction", "uplink")],
    );

    call.await.unwrap();
    app.idle().await;
    let after = scrape(&app).await;
    assert_eq!(value(&after, "qloophone_active_calls", &[]), 0.0);
    assert_eq!(
        value(
            &after,
            "qloophone_calls_ended_total",
            &[("reason", "phone_stopped")]
        ),
        1.0
    );
    let up = value(
        &after,
        "qloophone_frames_relayed_total",
        &[("direction", "uplink")],
    );
    let down = value(
        &after,
        "qloophone_frames_relayed_total",
        &[("direction", "downlink")],
    );
    assert!(
        up > uplink_during,
        "uplink frames grew: {uplink_during} → {up}"
    );
    assert!(down > 0.0);
    // One frame in sixteen each way is timed.
    for (direction, frames) in [("uplink", up), ("downlink", down)] {
        let timed = observed(
            &after,
            "qloophone_relay_latency_seconds",
            &[("direction", direction)],
        );
        assert!(
            timed >= 1.0 && timed <= (frames / 16.0).floor(),
            "{direction}: {timed} timed of {frames}"
        );
    }
    assert_eq!(observed(&after, "qloophone_first_audio_seconds", &[]), 1.0);
    assert_eq!(
        value(
            &after,
            "qloophone_tool_calls_total",
            &[("tool", "search_entity"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        observed(
            &after,
            "qloophone_tool_latency_seconds",
            &[("tool", "search_entity")]
        ),
        1.0
    );
    let searches = value(
        &after,
        "qloophone_qloo_requests_total",
        &[("endpoint", "/search"), ("status", "2xx")],
    );
    assert!(searches >= 1.0, "{searches} searches");
    assert_eq!(
        observed(
            &after,
            "qloophone_qloo_request_latency_seconds",
            &[("endpoint", "/search")]
        ),
        searches
    );
    assert_eq!(value(&after, "qloophone_cache_misses_total", &[]), 1.0);
    assert_eq!(value(&after, "qloophone_key_presses_total", &[]), 1.0);
    for kind in ["input_text", "input_audio", "output_audio"] {
        assert!(
            value(&after, "qloophone_model_tokens_total", &[("kind", kind)]) > 0.0,
            "{kind} tokens"
        );
    }
    assert_eq!(
        value(&after, "qloophone_dashboard_dropped_messages_total", &[]),
        0.0
    );
    app.stop().await;
}
