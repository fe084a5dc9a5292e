//! Trust, round two (issue 28): one stream per call, no line held by a
//! bare signature, a second `start` or a duplicate stream id refused
//! without touching the running call. Every guard on (Twilio token,
//! dashboard key), as an attacker holding captured signatures would meet
//! them.

use qloophone::config::{Config, Secret};
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_sandbox::caller::{CallReport, CallerOptions, Step, place_call};
use qloophone_sandbox::scenario::Scenario;

use crate::helpers::{AppOptions, TestApp, one_turn, spawn_app_with, wait_until};

const TOKEN: &str = "twilio-trust-token";
const DASHBOARD_KEY: &str = "dashboard-trust-key";

async fn guarded_app(limits: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.twilio.auth_token = Some(Secret::new(TOKEN));
    config.dashboard.token = Some(Secret::new(DASHBOARD_KEY));
    limits(&mut config);
    spawn_app_with(AppOptions {
        config,
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await
}

/// A caller for `call_sid` as Twilio would place it: the signed webhook
/// asked (a replay is the same request again), then the stream opened
/// with the signature and the parameters its answer carried.
async fn signed_caller(app: &TestApp, call_sid: &str, tag: u16) -> CallerOptions {
    let (stream_url, parameters) =
        qloophone_sandbox::phone::ask_for_stream(&app.url(""), call_sid, Some(TOKEN))
            .await
            .unwrap();
    let mut options = CallerOptions::new(stream_url.clone(), tag);
    options.speed = 4.0;
    options.call_sid = call_sid.to_owned();
    options.parameters = parameters;
    options.signature = Some(SignatureValidator::new(TOKEN).sign(&stream_url, &[]));
    options
}

fn token_of(options: &CallerOptions) -> String {
    options
        .parameters
        .iter()
        .find(|(name, _)| name == "token")
        .map(|(_, token)| token.clone())
        .expect("the TwiML carries a stream token")
}

/// A call that was put through: it heard the model and was not cut off.
fn put_through(report: &CallReport) -> bool {
    report.media_received > 0 && !report.closed_by_server
}

/// A stream turned away before any call: closed by the server, nothing
/// heard.
fn turned_away(report: &CallReport) -> bool {
    report.media_received == 0 && report.closed_by_server
}

/// `qloophone_streams_refused_total{outcome}`.
async fn refused(app: &TestApp, outcome: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(DASHBOARD_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!("qloophone_streams_refused_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Finding 1: the same signed webhook posted six times (some a second
/// apart, so with different tokens), and six streams opened with them
/// together, make one call with one
/// model session; a seventh after the call is over opens nothing either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_replayed_six_times_opens_one_stream() {
    let app = guarded_app(|_| {}).await;
    let mut callers = Vec::new();
    for tag in 0..6 {
        // Tokens carry their expiry in whole seconds: replays a second
        // apart are answered with different tokens, as the finding saw.
        if tag % 2 == 1 {
            tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
        }
        callers.push(signed_caller(&app, "CA100", 100 + tag).await);
    }
    let tokens: std::collections::HashSet<String> = callers.iter().map(token_of).collect();
    assert!(tokens.len() >= 3, "replays get fresh tokens: {tokens:?}");
    let calls: Vec<_> = callers
        .into_iter()
        .map(|options| tokio::spawn(async move { place_call(options, &one_turn()).await }))
        .collect();
    let mut reports = Vec::new();
    for call in calls {
        reports.push(call.await.unwrap().unwrap());
    }
    assert_eq!(
        reports.iter().filter(|r| put_through(r)).count(),
        1,
        "{reports:?}"
    );
    assert_eq!(reports.iter().filter(|r| turned_away(r)).count(), 5);
    app.idle().await;
    assert_eq!(app.model.sessions().len(), 1, "one billed model session");

    let late = place_call(signed_caller(&app, "CA100", 107).await, &one_turn())
        .await
        .unwrap();
    assert!(turned_away(&late), "{late:?}");
    assert_eq!(app.model.sessions().len(), 1);
    assert_eq!(
        refused(&app, "duplicate").await + refused(&app, "token").await,
        6
    );
    app.stop().await;
}

/// Finding 2: hundreds of signed sockets that never send `start` take no
/// call place and never keep a caller out: with one line and a waiting
/// room of 16, 200 silent sockets sit there, and a caller who came
/// through the webhook gets through; the silent ones are closed (the
/// oldest for newcomers, the rest when their time is up) and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_signed_sockets_never_keep_a_caller_out() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    const SILENT: u64 = 200;
    let app = guarded_app(|config| {
        config.limits.max_calls = 1;
        config.limits.max_waiting_streams = 16;
        config.limits.start_timeout_ms = 1_500;
    })
    .await;
    let stream_url = app.ws_url("/call");
    let signature = SignatureValidator::new(TOKEN).sign(&stream_url, &[]);
    let mut silent = Vec::new();
    for _ in 0..SILENT {
        let mut request = stream_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-twilio-signature", signature.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        silent.push(socket);
    }
    assert_eq!(app.registry.active(), 0, "no silent socket holds a line");
    assert!(refused(&app, "evicted").await >= SILENT - 16);

    let report = place_call(signed_caller(&app, "CA200", 200).await, &one_turn())
        .await
        .unwrap();
    assert!(put_through(&report), "{report:?}");
    assert_eq!(app.model.sessions().len(), 1);

    // Every silent socket is closed in the end, each counted once.
    for _ in 0..100 {
        if refused(&app, "evicted").await + refused(&app, "timed_out").await == SILENT {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        refused(&app, "evicted").await + refused(&app, "timed_out").await,
        SILENT
    );
    drop(silent);
    app.idle().await;
    app.stop().await;
}

/// Finding 8: a second `start` mid-call, with another call's token or
/// with none, is ignored: the running call goes on, its frames keep its
/// stream id, and the other call's token is not spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_mid_call_is_ignored_and_spends_nothing() {
    let app = guarded_app(|_| {}).await;
    let running = signed_caller(&app, "CA300", 30).await;
    let other = signed_caller(&app, "CA301", 31).await;
    let steps = [
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::StartAgain {
            call_sid: "CA301".into(),
            stream_sid: "MZ301".into(),
            token: Some(token_of(&other)),
        },
        Step::StartAgain {
            call_sid: "CA302".into(),
            stream_sid: "MZ302".into(),
            token: None,
        },
        Step::Speak { ms: 600 },
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Hangup,
    ];
    let report = place_call(running, &steps).await.unwrap();
    assert!(!report.closed_by_server, "the call went on: {report:?}");
    assert_eq!(
        report.bad_frames, 0,
        "every frame kept the call's stream id"
    );
    assert_eq!(
        report.turn_latencies.len(),
        1,
        "answered after both: {report:?}"
    );
    assert_eq!(app.model.sessions().len(), 1);

    let later = place_call(other, &one_turn()).await.unwrap();
    assert!(
        put_through(&later),
        "CA301's token was not spent: {later:?}"
    );
    app.idle().await;
    app.stop().await;
}

/// Finding 9: a stream naming a live stream's `streamSid` is refused (the
/// dashboards would merge the two), the live call goes on, and the
/// refused stream's token is not spent: its own call can still start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_stream_sid_is_refused_and_the_live_call_goes_on() {
    let app = guarded_app(|_| {}).await;
    let mut first = signed_caller(&app, "CA400", 40).await;
    first.stream_sid = "MZshared".into();
    let mut second = signed_caller(&app, "CA401", 41).await;
    let own_stream = second.stream_sid.clone();
    second.stream_sid = "MZshared".into();
    let steps = vec![
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Silence { ms: 1_000 },
        Step::Speak { ms: 600 },
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Hangup,
    ];
    let live = tokio::spawn(async move { place_call(first, &steps).await });
    wait_until("the first call", || app.registry.active() == 1).await;
    let duplicate = place_call(second.clone(), &one_turn()).await.unwrap();
    assert!(turned_away(&duplicate), "{duplicate:?}");
    let live = live.await.unwrap().unwrap();
    assert!(put_through(&live), "{live:?}");
    assert_eq!(live.turn_latencies.len(), 1);
    assert_eq!(refused(&app, "duplicate").await, 1);

    second.stream_sid = own_stream;
    let own = place_call(second, &one_turn()).await.unwrap();
    assert!(put_through(&own), "CA401's token was not spent: {own:?}");
    app.idle().await;
    assert_eq!(app.model.sessions().len(), 2);
    app.stop().await;
}

/// Finding 7: a Qloo request cut off because its caller hung up is still
/// logged in `api_calls.log` and counted (`cancelled`): every request that
/// reached Qloo is in both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qloo_request_cut_off_by_a_hang_up_is_logged_and_counted() {
    use qloophone_sandbox::qloo::Fault;
    use qloophone_sandbox::script::{ModelScript, ScriptedCall, Turn};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api_calls.log");
    let mut config = Config::default();
    config.qloo.api_log = log.display().to_string();
    let call = |name: &str, arguments, round| ScriptedCall {
        name: name.into(),
        arguments,
        round,
    };
    let app = spawn_app_with(AppOptions {
        config,
        script: ModelScript {
            greeting: "Hi!".into(),
            turns: vec![Turn {
                heard: "I love The Matrix".into(),
                tool_calls: vec![
                    call(
                        "search_entity",
                        json!({"query": "The Matrix", "type": "movie"}),
                        0,
                    ),
                    call(
                        "get_recommendation",
                        json!({"entity_ids": "{entity_id:The Matrix}", "output_type": "movie"}),
                        1,
                    ),
                ],
                answer: "Try {tool_output}.".into(),
            }],
            ..ModelScript::default()
        },
        tools: None,
        ..AppOptions::default()
    })
    .await;
    // The search answers at once; the insights request is held upstream.
    app.qloo.inject(Fault::Latency(std::time::Duration::ZERO));
    app.qloo
        .inject(Fault::Latency(std::time::Duration::from_secs(3)));
    let caller = app.caller(70);
    let hung_up = tokio::spawn(async move {
        place_call(
            caller,
            &[
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Speak { ms: 600 },
                Step::Silence { ms: 60_000 },
            ],
        )
        .await
    });
    let qloo = app.qloo.clone();
    wait_until("the insights request to reach Qloo", || {
        qloo.requests().iter().any(|r| r.path.contains("insights"))
    })
    .await;
    hung_up.abort();
    let _ = hung_up.await;
    app.idle().await;

    let reached = app.qloo.requests().len();
    assert_eq!(reached, 2, "a search and the insights request");
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines.len() == reached {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), reached, "every request logged: {lines:?}");
    let cut: Vec<_> = lines.iter().filter(|l| l.contains("cancelled")).collect();
    assert_eq!(cut.len(), 1, "{lines:?}");
    assert!(cut[0].contains("insights"), "{cut:?}");
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("qloophone_qloo_requests_total")
                && l.contains("insights")
                && l.contains("status=\"cancelled\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    app.stop().await;
}
