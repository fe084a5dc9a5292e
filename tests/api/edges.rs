//! A call's edges on Twilio's side: what Twilio is told when a stream
//! ends (`<Connect action>`), how a transfer went (`<Dial action>`), and
//! the stream status callbacks, each asked as Twilio asks, over real
//! sockets. The agent ending a call and handing it over are played whole
//! by the shipped scenarios (`goodbye-and-hang-up`, `transfer-answered`,
//! `transfer-no-answer`) on every model; these tests cover the rest.

use futures_util::SinkExt;
use qloophone::config::{Config, Secret};
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_adapters::twilio::twiml;
use qloophone_sandbox::caller::Step;
use qloophone_sandbox::phone::{parse_twiml, place};
use qloophone_sandbox::scenario::Scenario;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{AppOptions, TestApp, dashboard, read_until, spawn_app_with};

const TOKEN: &str = "twilio-edges-token";

/// Twilio asking `path` (with `query`) about `form`, signed with `token`
/// when given; the status and body.
async fn ask(
    app: &TestApp,
    url: &str,
    form: &[(&str, &str)],
    token: Option<&str>,
) -> (u16, String) {
    let mut request = app.http.post(url).form(form);
    if let Some(token) = token {
        let params: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request = request.header(
            "x-twilio-signature",
            SignatureValidator::new(token).sign(url, &params),
        );
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn after_stream(app: &TestApp, call_sid: &str, status: &str) -> String {
    let url = app.url(twiml::AFTER_STREAM_PATH);
    let (code, body) = ask(
        app,
        &url,
        &[("CallSid", call_sid), ("CallStatus", status)],
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    body
}

/// A stream that starts as Twilio's would for `call_sid`, then sends
/// nothing.
async fn quiet_stream(app: &TestApp, call_sid: &str) -> crate::helpers::Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url("/call"))
        .await
        .unwrap();
    let start = json!({
        "event": "start",
        "streamSid": "MZquiet",
        "start": {
            "streamSid": "MZquiet",
            "callSid": call_sid,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    });
    socket.send(Message::text(start.to_string())).await.unwrap();
    socket
}

/// The silence watchdog and the longest-call limit each end with their
/// own goodbye; a caller who hung up, or a call the server knows nothing
/// of, get a hang-up and an apology.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_is_told_what_follows_by_why_the_stream_ended() {
    let mut config = Config::default();
    config.limits.caller_silence_timeout_ms = 1_500;
    // Clear of the silence check, which ticks each second (the quiet
    // stream is found silent at its 2 s tick).
    config.limits.max_call_duration_secs = 3;
    let app = spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await;
    let _quiet = quiet_stream(&app, "CAquiet").await;
    // Talks (silence frames) past the longest a call may last.
    let long = app
        .call(5, &[Step::Silence { ms: 20_000 }, Step::Hangup])
        .await;
    assert!(long.closed_by_server);
    app.idle().await;

    let silent = parse_twiml(&after_stream(&app, "CAquiet", "in-progress").await).unwrap();
    assert_eq!(silent.says, [twiml::SILENCE_GOODBYE]);
    assert!(silent.hangup);
    let long_sid = app.caller(5).call_sid;
    let limit = parse_twiml(&after_stream(&app, &long_sid, "in-progress").await).unwrap();
    assert_eq!(limit.says, [twiml::TIME_UP_GOODBYE]);
    // Asked again: the same answer.
    assert_eq!(
        parse_twiml(&after_stream(&app, &long_sid, "in-progress").await).unwrap(),
        limit
    );
    // The caller already gone: nothing to say.
    let gone = parse_twiml(&after_stream(&app, &long_sid, "completed").await).unwrap();
    assert_eq!((gone.next(), gone.hangup), ("hangup", true));
    // A call never seen here: an apology, never silence.
    let unknown = parse_twiml(&after_stream(&app, "CAnever", "in-progress").await).unwrap();
    assert_eq!(unknown.says, [twiml::APOLOGY]);

    let metrics = app.get_text("/metrics").await;
    for line in [
        "qloophone_after_stream_total{next=\"goodbye\"} 3",
        "qloophone_after_stream_total{next=\"hangup\"} 1",
        "qloophone_after_stream_total{next=\"apology\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    app.stop().await;
}

/// With Twilio's token set, the action and status callbacks are refused
/// unsigned; an action also needs its call's token, for that call and
/// that purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_foreign_callbacks_are_refused() {
    let mut config = Config::default();
    config.twilio.auth_token = Some(Secret::new(TOKEN));
    let app = spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await;
    let webhook = app.url("/twiml");
    let (_, answer) = ask(&app, &webhook, &[("CallSid", "CA1")], Some(TOKEN)).await;
    let answer = parse_twiml(&answer).unwrap();
    let action = answer.action.expect("an action");
    assert!(action.contains("/twilio/after-stream?t="), "{action}");
    let status = answer.status_callback.expect("a status callback");

    let form = [("CallSid", "CA1"), ("CallStatus", "in-progress")];
    let (code, body) = ask(&app, &action, &form, Some(TOKEN)).await;
    assert_eq!(code, 200, "signed, with its call's token");
    assert!(body.contains(twiml::APOLOGY), "no record yet: {body}");
    assert_eq!(ask(&app, &action, &form, None).await.0, 403, "unsigned");
    let other = [("CallSid", "CA2"), ("CallStatus", "in-progress")];
    assert_eq!(
        ask(&app, &action, &other, Some(TOKEN)).await.0,
        403,
        "signed, but the token is another call's"
    );
    let bare = app.url(twiml::AFTER_STREAM_PATH);
    assert_eq!(
        ask(&app, &bare, &form, Some(TOKEN)).await.0,
        403,
        "no token"
    );
    let dial = action.replace("after-stream", "dial-result");
    assert_eq!(
        ask(&app, &dial, &[("CallSid", "CA1")], Some(TOKEN)).await.0,
        403,
        "an action token is not a dial-result token"
    );
    let event = [("CallSid", "CA1"), ("StreamEvent", "stream-started")];
    assert_eq!(ask(&app, &status, &event, None).await.0, 403);
    assert_eq!(ask(&app, &status, &event, Some(TOKEN)).await.0, 204);
    app.stop().await;
}

/// Status callbacks are counted; a stream that failed before reaching
/// `/call` shows on the dashboards with Twilio's words (numbers masked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_status_callbacks_are_counted_and_failures_shown() {
    let app = spawn_app_with(AppOptions::default()).await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let url = app.url(twiml::STREAM_STATUS_PATH);
    for event in ["stream-started", "stream-stopped", "stream-whatever"] {
        let (code, _) = ask(&app, &url, &[("StreamEvent", event)], None).await;
        assert_eq!(code, 204);
    }
    let (code, _) = ask(
        &app,
        &url,
        &[
            ("AccountSid", "AC1"),
            ("CallSid", "CA9"),
            ("StreamSid", "MZfailed"),
            ("StreamEvent", "stream-error"),
            ("StreamError", "Handshake failed calling +15551234567"),
            ("Timestamp", "2026-12-05T10:15:00Z"),
        ],
        None,
    )
    .await;
    assert_eq!(code, 204);
    let events = read_until(&mut observer, |e| e["event"]["type"] == "stream.failed").await;
    let failed = events.last().unwrap();
    assert_eq!(failed["call"], "MZfailed");
    let error = failed["event"]["error"].as_str().unwrap();
    assert!(error.starts_with("Handshake failed"), "{error}");
    assert!(!error.contains("1234567"), "numbers masked: {error}");
    let metrics = app.get_text("/metrics").await;
    for event in ["stream-started", "stream-stopped", "stream-error", "other"] {
        let line = format!("qloophone_stream_status_callbacks_total{{event=\"{event}\"}} 1");
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
    app.stop().await;
}

/// A transfer nobody answers: the dial's outcome reaches the dashboards
/// and `/metrics`, and the caller hears the fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_nobody_answers_is_shown_and_counted() {
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let settings =
        crate::helpers::call_settings(app.url(""), Scenario::find("transfer-no-answer").unwrap());
    let mut transcript = Vec::new();
    let outcome = place(&settings, &mut transcript).await.unwrap();
    let transcript = String::from_utf8(transcript).unwrap();
    assert!(outcome.passed(), "{transcript}");
    assert!(
        transcript.contains("Twilio dials +15550100999"),
        "{transcript}"
    );
    assert!(transcript.contains(twiml::NOBODY_THERE), "{transcript}");
    let events = read_until(&mut observer, |e| e["event"]["type"] == "handoff").await;
    let handoff: &Value = &events.last().unwrap()["event"];
    assert_eq!(handoff["outcome"], "no_answer");
    let ended = events
        .iter()
        .find(|e| e["event"]["type"] == "call.ended")
        .unwrap();
    assert_eq!(ended["event"]["reason"], "transferred");
    assert_eq!(ended["call"], events.last().unwrap()["call"]);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("qloophone_handoffs_total{outcome=\"no_answer\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("qloophone_after_stream_total{next=\"dial\"} 1"));
    // The simulated Twilio told the stream's start and its end.
    for event in ["stream-started", "stream-stopped"] {
        assert!(
            metrics.contains(&format!(
                "qloophone_stream_status_callbacks_total{{event=\"{event}\"}} 1"
            )),
            "{event}: {metrics}"
        );
    }
    app.stop().await;
}
