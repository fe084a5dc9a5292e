//! Whole calls through the server, with the simulated caller and model.

use qloophone_sandbox::caller::Step;
use qloophone_sandbox::script::{ModelScript, ScriptedCall, Turn};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, dashboard, one_turn, read_until, spawn_app_with, wait_until};

fn matrix_script() -> ModelScript {
    ModelScript {
        greeting: "Hi, this is QlooPhone! What do you love?".into(),
        turns: vec![Turn {
            heard: "I love The Matrix".into(),
            tool_calls: vec![ScriptedCall {
                name: "search_entity".into(),
                arguments: json!({"query": "The Matrix"}),
                round: 0,
            }],
            answer: "Great pick, I found {tool_output}.".into(),
        }],
        ..ModelScript::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_call_greets_searches_answers_and_hangs_up() {
    let app = spawn_app_with(AppOptions {
        script: matrix_script(),
        ..AppOptions::default()
    })
    .await;
    let report = app
        .call(
            1,
            &[
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Speak { ms: 800 },
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Hangup,
            ],
        )
        .await;
    app.idle().await;
    let sessions = app.model.sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];
    assert_eq!(session.model.as_deref(), Some("gpt-realtime-2.1"));
    let kinds: Vec<&str> = session
        .events
        .iter()
        .filter(|e| e["type"] != "input_audio_buffer.append")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "session.update",
            "response.create",
            "conversation.item.create",
            "response.create"
        ],
        "greeting once, one tool output, one response for it"
    );
    let output = &session.of_type("conversation.item.create")[0]["item"];
    assert_eq!(output["type"], "function_call_output");
    let result: Value = serde_json::from_str(output["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        result["name"], "The Matrix",
        "encoded once: the output parses to an object"
    );
    assert!(session.audio_in > 0);
    // Caller heard the greeting and the answer, each with marks echoed.
    assert!(report.bytes_heard > 0);
    assert!(report.marks_received > 0);
    assert_eq!(report.marks_received, report.marks_echoed);
    assert_eq!(report.clears, 0);
    assert_eq!(report.bad_frames, 0);
    assert!(report.closed_by_server || report.bytes_heard > 0);

    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = response.text().await.unwrap();
    for line in [
        "qloophone_calls_started_total 1",
        "qloophone_calls_ended_total{reason=\"phone_stopped\"} 1",
        "qloophone_tool_calls_total{tool=\"search_entity\",outcome=\"ok\"} 1",
        "qloophone_active_calls 0",
        "qloophone_barge_ins_total 0",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
    app.stop().await;
}

fn long_greeting() -> ModelScript {
    ModelScript {
        greeting: "Hi there, this is QlooPhone, the friend who always knows what to suggest next. \
                   Tell me two things you love, a film and a band maybe, and I will find the perfect \
                   thing that bridges them both for you tonight."
            .into(),
        ..ModelScript::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_clears_the_caller_and_truncates_at_what_was_heard() {
    let app = spawn_app_with(AppOptions {
        script: long_greeting(),
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let report = app
        .call(
            2,
            &[
                Step::WaitForAudio { max_ms: 10_000 },
                Step::Silence { ms: 1000 },
                Step::Dtmf { digit: '7' },
                Step::Speak { ms: 400 },
                Step::Hangup,
            ],
        )
        .await;
    app.idle().await;
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let server_event = |kind: &str| {
        events
            .iter()
            .find(|e| e["event"]["type"] == kind)
            .map(|e| e["event"].clone())
    };
    let barge_in = server_event("barge_in").expect("observers hear the barge-in");
    assert_eq!(server_event("dtmf").unwrap()["digit"], "7");
    assert_eq!(report.clears, 1, "{report:?}");
    let heard_at_clear = report.clear_positions_ms[0];
    assert_eq!(
        report.bytes_heard as u64,
        heard_at_clear * 8,
        "nothing more is heard after the clear"
    );
    let session = &app.model.sessions()[0];
    let truncates = session.of_type("conversation.item.truncate");
    assert_eq!(truncates.len(), 1);
    let truncate = truncates[0];
    assert_eq!(truncate["content_index"], 0);
    let end = truncate["audio_end_ms"].as_u64().unwrap();
    assert!(
        end.abs_diff(heard_at_clear) <= 300,
        "truncated at {end} ms, caller had heard {heard_at_clear} ms"
    );
    assert!(
        end >= 800,
        "about a second of greeting was heard, truncated at {end}"
    );
    assert_eq!(barge_in["audio_end_ms"], end);
    assert_eq!(barge_in["item_id"], truncate["item_id"]);
    assert!(
        session.of_type("response.cancel").is_empty(),
        "the server's VAD cancels by itself"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_dropping_mid_greeting_is_reopened_and_the_call_goes_on() {
    let app = spawn_app_with(AppOptions {
        script: long_greeting(),
        ..AppOptions::default()
    })
    .await;
    let call = app.spawn_call(
        3,
        vec![
            Step::WaitForAudio { max_ms: 10_000 },
            Step::Silence { ms: 3_000 },
            Step::Hangup,
        ],
    );
    wait_until("the greeting to start", || {
        app.model
            .sessions()
            .first()
            .is_some_and(|s| !s.of_type("response.create").is_empty())
    })
    .await;
    app.model.drop_all();
    wait_until("a second session", || app.model.sessions().len() == 2).await;
    let report = call.await.unwrap();
    assert!(
        !report.closed_by_server,
        "the call went on until the caller hung up"
    );
    let second = &app.model.sessions()[1];
    let context = second.of_type("conversation.item.create");
    let context = context
        .iter()
        .find(|e| e["item"]["role"] == "system")
        .expect("the new session was told the context");
    let text = context["item"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("same phone call"), "{text}");
    assert!(
        !second.of_type("response.create").is_empty(),
        "the interrupted greeting is answered again"
    );
    assert!(
        second.audio_in > 0,
        "the caller's audio reaches the new session"
    );
    app.idle().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_vanishing_without_stop_ends_the_call() {
    let app = spawn_app_with(AppOptions::default()).await;
    let report = app
        .call(4, &[Step::WaitForAnswer { max_ms: 10_000 }, Step::Drop])
        .await;
    assert!(report.bytes_heard > 0);
    app.idle().await;
    assert!(app.model.sessions()[0].closed);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_keep_their_audio_apart() {
    let app = spawn_app_with(AppOptions::default()).await;
    let mut calls = Vec::new();
    for tag in 0..50u16 {
        let caller = app.caller(tag);
        calls.push(tokio::spawn(async move {
            let report = qloophone_sandbox::caller::place_call(
                caller,
                &[
                    Step::WaitForAnswer { max_ms: 20_000 },
                    Step::Speak { ms: 200 },
                    Step::Hangup,
                ],
            )
            .await
            .unwrap();
            (tag, report)
        }));
    }
    let mut heard_by = std::collections::BTreeMap::new();
    for call in calls {
        let (tag, report) = call.await.unwrap();
        assert_eq!(
            report.tags_heard.len(),
            1,
            "caller {tag} heard {:?}",
            report.tags_heard
        );
        assert_eq!(report.bad_frames, 0);
        heard_by.insert(tag, *report.tags_heard.first().unwrap());
    }
    app.idle().await;
    let sessions = app.model.sessions();
    assert_eq!(sessions.len(), 50);
    for session in &sessions {
        assert_eq!(
            session.tags_in.len(),
            1,
            "session {} got audio from {:?}",
            session.id,
            session.tags_in
        );
        let caller = *session.tags_in.first().unwrap();
        let session_tag = u16::try_from(session.id).unwrap();
        assert_eq!(
            heard_by[&caller], session_tag,
            "caller {caller} must hear the session its audio went to"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_audio_formats_are_refused_before_the_model_is_called() {
    let app = spawn_app_with(AppOptions::default()).await;
    let mut caller = app.caller(5);
    caller.media_format = ("audio/x-l16".into(), 16000, 1);
    let report = qloophone_sandbox::caller::place_call(caller, &[Step::Silence { ms: 10_000 }])
        .await
        .unwrap();
    assert!(report.closed_by_server);
    app.idle().await;
    assert!(app.model.sessions().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_call_limit_callers_hear_busy_and_streams_are_refused() {
    let app = app_with(|config| config.limits.max_calls = 1).await;
    let first = app.spawn_call(6, vec![Step::Silence { ms: 2_000 }, Step::Hangup]);
    wait_until("the first call", || app.registry.active() == 1).await;
    let body = app.twiml(&[]).await;
    assert!(
        body.contains("<Say>") && body.contains("busy") && !body.contains("<Stream"),
        "{body}"
    );
    // A stream that starts anyway is closed, and Twilio told "busy".
    app.assert_started_stream_busy("CA77").await;
    first.await.unwrap();
    app.idle().await;
    let body = app.twiml(&[]).await;
    assert!(body.contains("<Stream"), "a line is free again");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_are_ignored_and_the_call_goes_on() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app_with(AppOptions::default()).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url("/call"))
        .await
        .unwrap();
    let silence = qloophone_sandbox::audio::encode(&[0xFF; 160]);
    for frame in [
        Message::text("not json"),
        Message::text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
        Message::binary(vec![1u8, 2, 3]),
        Message::text(
            r#"{"event":"start","start":{"streamSid":"MZabc","callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZabc"}"#,
        ),
        Message::text(r#"{"event":"media","media":{"payload":"@@@@"}}"#),
        Message::text(r#"{"event":"surprise"}"#),
        Message::text(format!(
            r#"{{"event":"media","streamSid":"MZabc","media":{{"timestamp":20,"payload":"{silence}"}}}}"#
        )),
        Message::text(
            r#"{"event":"media","streamSid":"MZabc","media":{"timestamp":"40","payload":"/w=="}}"#,
        ),
    ] {
        socket.send(frame).await.unwrap();
    }
    wait_until("audio to reach the model", || {
        app.model
            .sessions()
            .first()
            .is_some_and(|s| s.audio_in >= 161)
    })
    .await;
    socket
        .send(Message::text(
            r#"{"event":"stop","streamSid":"MZabc","stop":{}}"#,
        ))
        .await
        .unwrap();
    // The server closes its side after stop.
    while let Some(Ok(message)) = socket.next().await {
        if message.is_close() {
            break;
        }
    }
    app.idle().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_return_to_their_idle_level_after_calls() {
    let app = spawn_app_with(AppOptions {
        script: matrix_script(),
        ..AppOptions::default()
    })
    .await;
    // Once it answers, the server has started all of its own tasks.
    assert_eq!(app.get_json("/health").await.0, 200);
    let metrics = tokio::runtime::Handle::current().metrics();
    let idle_tasks = metrics.num_alive_tasks();
    let mut calls = Vec::new();
    for tag in 0..5u16 {
        calls.push(app.spawn_call(tag, one_turn()));
    }
    wait_until("calls to run", || app.registry.active() > 0).await;
    assert!(metrics.num_alive_tasks() > idle_tasks);
    for call in calls {
        call.await.unwrap();
    }
    app.idle().await;
    wait_until("tasks to end", || metrics.num_alive_tasks() <= idle_tasks).await;
    assert_eq!(app.registry.active(), 0);
    app.stop().await;
}

/// A raw `/call` socket that has sent `start` for `stream`.
async fn rogue_call(app: &crate::helpers::TestApp, stream: &str) -> crate::helpers::Socket {
    crate::helpers::started_stream(&app.ws_url("/call"), stream).await
}

/// Whether the server hangs up on `socket` within five seconds.
async fn hung_up<S>(socket: &mut S) -> bool
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;

    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(message)) if !message.is_close() => {}
                _ => break,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_ends_only_its_own_call() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app_with(AppOptions::default()).await;
    let healthy = app.healthy_call();
    let mut rogue = rogue_call(&app, "MZrogue").await;
    let huge = format!(
        r#"{{"event":"media","streamSid":"MZrogue","media":{{"payload":"{}"}}}}"#,
        "A".repeat(200 * 1024)
    );
    let _ = rogue.send(Message::text(huge)).await;
    // The server drops the connection that broke the limit.
    assert!(hung_up(&mut rogue).await, "the oversized call was closed");
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the other call went on");
    assert_eq!(report.bad_frames, 0);
    app.idle().await;
    app.stop().await;
}

/// Twilio sends 50 media frames a second; a caller sending thousands as
/// fast as it can is cut off, and a call beside it goes on untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_flood_ends_only_its_own_call() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app_with(AppOptions::default()).await;
    let healthy = app.healthy_call();
    let (mut sink, mut stream) = rogue_call(&app, "MZflood").await.split();
    let frame =
        r#"{"event":"media","streamSid":"MZflood","media":{"timestamp":0,"payload":"/w=="}}"#;
    let flood = tokio::spawn(async move {
        for _ in 0..20_000 {
            if sink.send(Message::text(frame)).await.is_err() {
                return true; // the server hung up
            }
        }
        false
    });
    assert!(hung_up(&mut stream).await, "the flooding call was closed");
    flood.abort();
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the other call went on");
    assert_eq!(report.bad_frames, 0);
    // The healthy caller tags its audio with 8; the flood's one-byte frames
    // carry no tag. About the burst (500 frames, plus the little that
    // refills while the flood runs) reached the model, of up to 20,000 sent.
    let relayed: usize = app
        .model
        .sessions()
        .iter()
        .filter(|s| !s.tags_in.contains(&8))
        .map(|s| s.audio_in)
        .sum();
    assert!(
        relayed <= 1_000,
        "the flood was cut off ({relayed} bytes relayed)"
    );
    app.idle().await;
    app.stop().await;
}

/// Pings count with the data frames (issue 28, finding 4): a socket
/// flooding pings, before its `start` even, is cut off like a media
/// flood, having been answered a bounded number of pongs, and a call
/// beside it goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_is_cut_off_before_start() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let app = spawn_app_with(AppOptions::default()).await;
    let healthy = app.healthy_call();
    let (socket, _) = tokio_tungstenite::connect_async(app.ws_url("/call"))
        .await
        .unwrap();
    let (mut sink, mut stream) = socket.split();
    let flood = tokio::spawn(async move {
        for _ in 0..200_000 {
            if sink
                .send(Message::Ping(vec![1, 2, 3].into()))
                .await
                .is_err()
            {
                return true; // the server hung up
            }
        }
        false
    });
    let mut pongs = 0usize;
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(message) = stream.next().await {
            match message {
                Ok(Message::Pong(_)) => pongs += 1,
                Ok(Message::Close(_)) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    flood.abort();
    assert!(closed, "the pinging socket was closed");
    // The burst (500) and what refilled meanwhile, not 200,000.
    assert!(pongs <= 1_000, "{pongs} pongs answered");
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the other call went on");
    app.idle().await;
    app.stop().await;
}

/// A sandbox server with `configure` applied to its settings.
async fn app_with(
    configure: impl FnOnce(&mut qloophone::config::Config),
) -> crate::helpers::TestApp {
    let mut config = qloophone::config::Config::default();
    configure(&mut config);
    spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await
}

/// A call against a model misbehaving as `faults` say (its first session
/// only), with `configure` applied to the server: the caller waits for the
/// greeting and hangs up.
async fn call_with_faults(
    faults: qloophone_sandbox::realtime::ModelFaults,
    configure: impl FnOnce(&mut qloophone::config::Config),
) -> (
    crate::helpers::TestApp,
    qloophone_sandbox::caller::CallReport,
) {
    let mut config = qloophone::config::Config::default();
    configure(&mut config);
    let app = spawn_app_with(AppOptions {
        model_faults: faults,
        config,
        ..AppOptions::default()
    })
    .await;
    let report = app
        .call(
            4,
            &[
                Step::WaitForAnswer { max_ms: 15_000 },
                Step::Silence { ms: 200 },
                Step::Hangup,
            ],
        )
        .await;
    (app, report)
}

fn first_session() -> std::ops::Range<usize> {
    0..1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_accepts_and_says_nothing_is_replaced_and_the_caller_is_greeted() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: first_session(),
            stall: true,
            ..Default::default()
        },
        |config| config.model.ready_timeout_ms = 500,
    )
    .await;
    assert!(
        report.bytes_heard > 0,
        "the greeting came from the second session"
    );
    assert!(!report.closed_by_server);
    assert_eq!(app.model.sessions().len(), 2);
    app.idle().await;
    app.stop().await;
}

/// A model that takes every session and says nothing (issue 28, finding
/// 10): replaced once, then the call ends with the model unavailable (the
/// caller hears the apology) instead of after every reconnect's ready
/// timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_never_speaks_ends_the_call_after_one_replacement() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: 0..100,
            stall: true,
            ..Default::default()
        },
        |config| config.model.ready_timeout_ms = 500,
    )
    .await;
    assert!(report.closed_by_server, "the call was ended");
    assert_eq!(report.bytes_heard, 0);
    app.idle().await;
    assert_eq!(app.model.sessions().len(), 2, "one replacement, not four");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greeting_refused_with_a_rate_limit_is_asked_for_again() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: first_session(),
            refuse_responses: 1,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    assert!(report.bytes_heard > 0, "the caller was greeted");
    let session = &app.model.sessions()[0];
    assert_eq!(session.of_type("response.create").len(), 2, "asked twice");
    app.idle().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_session_configuration_ends_the_call_at_once() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: first_session(),
            reject_session_update: true,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    assert!(report.closed_by_server, "the call was ended");
    assert_eq!(
        report.bytes_heard, 0,
        "nothing played with the wrong format"
    );
    assert_eq!(app.model.sessions().len(), 1, "not retried");
    app.idle().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closed_at_its_maximum_duration_is_replaced() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: first_session(),
            // OpenAI's 60-minute cap, early.
            close_after: Some((std::time::Duration::from_millis(100), 1001)),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    assert!(!report.closed_by_server);
    assert!(report.bytes_heard > 0);
    assert_eq!(app.model.sessions().len(), 2);
    app.idle().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_model_frames_are_skipped_and_the_call_goes_on() {
    let (app, report) = call_with_faults(
        qloophone_sandbox::realtime::ModelFaults {
            sessions: first_session(),
            malformed_every: Some(3),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    assert!(!report.closed_by_server);
    assert!(report.bytes_heard > 0);
    assert_eq!(app.model.sessions().len(), 1);
    app.idle().await;
    app.stop().await;
}

/// A stream that starts and then sends nothing (no media, no stop) is
/// hung up on once the caller-silence limit passes, freeing its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_goes_quiet_after_start_is_hung_up() {
    let app = app_with(|config| config.limits.caller_silence_timeout_ms = 1_500).await;
    let healthy = app.healthy_call();
    let mut quiet = rogue_call(&app, "MZquiet").await;
    assert!(hung_up(&mut quiet).await, "the quiet stream was closed");
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the call beside it went on");
    app.idle().await;
    assert_eq!(app.registry.active(), 0);
    app.stop().await;
}

/// A Twilio socket that stops reading while the model talks: the server
/// keeps reading the model, holds what the caller has not taken in a
/// bounded queue, and ends that call alone once the queue is full or the
/// socket has taken nothing for the write timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_reading_ends_only_its_own_call() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    // A long greeting sent fast: megabytes of base64 audio in a second or
    // two, far more than the queue and the kernel's buffers (up to 4 MiB
    // here) hold.
    let app = spawn_app_with(AppOptions {
        ms_per_char: 10_000,
        pace: 500.0,
        ..AppOptions::default()
    })
    .await;
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(app.addr).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(app.ws_url("/call"), tcp)
        .await
        .unwrap();
    let start = json!({
        "event": "start",
        "streamSid": "MZstuck",
        "start": {
            "streamSid": "MZstuck",
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    });
    stuck.send(Message::text(start.to_string())).await.unwrap();
    // It keeps sending its audio (so only its reading is wrong) and never
    // reads a byte.
    let talking = tokio::spawn(async move {
        let frame =
            r#"{"event":"media","streamSid":"MZstuck","media":{"timestamp":0,"payload":"/w=="}}"#;
        loop {
            if stuck.send(Message::text(frame)).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    wait_until("the stuck call to start", || app.registry.active() == 1).await;
    let healthy = app.healthy_call();
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the call beside it went on");
    assert_eq!(report.bad_frames, 0);
    // The stuck call ends although its caller never hangs up or goes quiet.
    wait_until("the stuck call to end", || app.registry.active() == 0).await;
    talking.abort();
    app.idle().await;
    app.stop().await;
}

/// Before OpenAI's 60-minute cap, the session is replaced at a quiet
/// moment: here after one second, while the caller listens in silence. The
/// new session is told the conversation, and the call goes on to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_session_is_rolled_over_at_a_quiet_moment() {
    let app = app_with(|config| config.model.session_rollover_secs = 1).await;
    let report = app
        .call(
            4,
            &[
                Step::WaitForAnswer { max_ms: 15_000 },
                Step::Silence { ms: 8_000 },
                Step::Hangup,
            ],
        )
        .await;
    assert!(!report.closed_by_server);
    assert!(report.bytes_heard > 0);
    let sessions = app.model.sessions();
    assert!(
        sessions.len() >= 2,
        "rolled over: {} sessions",
        sessions.len()
    );
    let told = sessions[1].events.iter().any(|event| {
        event["item"]["role"] == "system"
            && event["item"]["content"][0]["text"]
                .as_str()
                .is_some_and(|text| text.contains("same phone call"))
    });
    assert!(told, "the new session is told it carries on the call");
    app.idle().await;
    app.stop().await;
}

/// In sandbox mode, an `OPENAI_REALTIME_URL` of the operator's own (a
/// stand-alone `sim realtime`, say) is used instead of the built-in
/// simulator, as the README says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_mode_honours_a_model_url_of_its_own() {
    use qloophone_sandbox::realtime::{RealtimeOptions, RealtimeSim};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let standalone = RealtimeSim::spawn(
        listener,
        RealtimeOptions {
            pace: 4.0,
            ms_per_char: 20,
            ..RealtimeOptions::default()
        },
    )
    .unwrap();
    let url = standalone.url();
    let app = app_with(|config| config.openai.realtime_url = url).await;
    let report = app.healthy_call().await.unwrap();
    assert!(report.bytes_heard > 0);
    wait_until("the stand-alone model to see the call", || {
        standalone.recorder().sessions().len() == 1
    })
    .await;
    assert!(
        app.model.sessions().is_empty(),
        "the built-in simulator is not used"
    );
    app.stop().await;
}
