//! GPT-Live end to end: the server speaks to the simulated GPT-Live server
//! as it would to OpenAI's, and what crosses the wire is checked against
//! `gpt-live.md`: the connection, `session.start`, audio relayed verbatim
//! both ways, a delegated tool call answered once, a session taking over
//! with the call's context in its start-up history, and closing.

use qloophone::config::Config;
use qloophone_sandbox::caller::Step;
use serde_json::Value;

use crate::fidelity::{Api, assert_sessions_match};
use crate::helpers::{
    AppOptions, TestApp, dashboard, film_search, read_until, spawn_app_with, wait_until,
};

async fn live_app() -> TestApp {
    let mut config = Config::default();
    config.openai.model = "gpt-live-1".to_owned();
    spawn_app_with(AppOptions {
        script: film_search("Great pick. You should watch {tool_output}."),
        tools: None,
        config,
        ..AppOptions::default()
    })
    .await
}

fn one_turn_steps() -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Speak { ms: 600 },
        Step::WaitForAnswer { max_ms: 15_000 },
        Step::Hangup,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpt_live_call_speaks_the_wire_as_documented() {
    let app = live_app().await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let report = app.call(80, &one_turn_steps()).await;
    app.idle().await;
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let sessions = app.model.sessions();
    assert_eq!(sessions.len(), 1);
    let session = &sessions[0];

    // The first frame is session.start: the model, μ-law at 8 kHz both
    // ways, the voice, the four tools under Responses delegation.
    let first = &session.events[0];
    assert_eq!(first["type"], "session.start", "{first}");
    let start = &first["session"];
    assert_eq!(start["model"], "gpt-live-1");
    assert_eq!(
        start["audio"]["format"],
        serde_json::json!({"type": "audio/pcmu", "rate": 8000})
    );
    assert_eq!(start["audio"]["output"]["voice"], "marin");
    assert_eq!(start["delegation"]["type"], "responses");
    let tools = start["delegation"]["responses"]["tools"]
        .as_array()
        .unwrap();
    assert_eq!(
        tools.len(),
        10,
        "the taste tools and the call's own: {tools:?}"
    );
    assert_eq!(tools[5]["name"], "end_call");
    assert_eq!(tools[6]["name"], "transfer_to_human");
    assert!(start.get("turn_detection").is_none() && start.get("tools").is_none());
    assert!(
        start.get("input").is_none(),
        "a first session has no history"
    );
    // Nothing but audio before session.started: the simulator refuses it.
    assert!(
        session
            .sent_of_type("error")
            .iter()
            .all(|e| e["error"]["code"] != "session_not_started"),
        "{:?}",
        session.sent_of_type("error")
    );

    // Audio verbatim both ways: every caller frame reached the model, and
    // the caller got the model's stream as sent.
    assert_eq!(session.audio_in, report.media_sent * 160, "{report:?}");
    let sent: u64 = session
        .sent_of_type("session.output_audio.delta")
        .iter()
        .map(|d| d["delta_bytes"].as_u64().unwrap())
        .sum();
    assert!(
        report.bytes_received as u64 <= sent && report.bytes_received as u64 + 2_400 >= sent,
        "relayed {} of the {sent} bytes sent (the last few after the hang-up)",
        report.bytes_received
    );
    assert_eq!(report.tags_heard.len(), 1, "{:?}", report.tags_heard);
    assert!(
        report.voiced_bytes_heard > 0,
        "the greeting and the answer were heard"
    );

    // The delegated tool call is answered once, then one response.create.
    let calls: Vec<&Value> = session
        .sent_of_type("response.event")
        .into_iter()
        .filter(|e| e["event"]["item"]["type"] == "function_call")
        .collect();
    assert_eq!(calls.len(), 1);
    let call_id = calls[0]["event"]["item"]["call_id"].as_str().unwrap();
    let outputs = session.of_type("response.item.create");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(outputs[0]["item"]["call_id"], call_id);
    assert_eq!(outputs[0]["item"]["type"], "function_call_output");
    assert_eq!(session.of_type("response.create").len(), 1);
    // Greeted with a prompt, not a response; nothing the model stops itself
    // for is sent.
    let greeting = &session.of_type("session.commentary.append")[0];
    assert!(greeting["delegation_id"].is_null() && greeting["content"].is_string());
    for kind in [
        "conversation.item.truncate",
        "response.cancel",
        "input_audio_buffer.append",
    ] {
        assert!(session.of_type(kind).is_empty(), "{kind}");
    }

    // Closed with session.close; session.closed came.
    assert_eq!(session.of_type("session.close").len(), 1);
    assert_eq!(session.sent_of_type("session.closed").len(), 1);
    assert!(session.closed);

    // Observers: the model and its API, the turns, the tool, the usage.
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["event"]["type"] == kind)
            .map(|e| e["event"].clone())
            .collect::<Vec<_>>()
    };
    let started = &of("call.started")[0];
    assert_eq!(started["model"], "gpt-live-1");
    assert_eq!(started["api"], "live");
    let turns = of("turn");
    assert!(
        turns.iter().any(|t| t["speaker"] == "caller"
            && t["text"].as_str().unwrap().contains("I love The Matrix"))
    );
    assert!(
        turns.iter().any(|t| t["speaker"] == "assistant"
            && t["text"].as_str().unwrap().contains("You should watch"))
    );
    assert_eq!(of("tool.called").len(), 1);
    let usage = of("usage");
    assert!(
        usage.last().unwrap()["total"]["session_ms"]
            .as_u64()
            .unwrap()
            > 0,
        "the session's final time was billed: {usage:?}"
    );
    assert_sessions_match(Api::Live, &sessions);
    app.stop().await;
}

/// A lost GPT-Live session is replaced by one told the call so far in its
/// start-up history (GPT-Live takes no context once started); the call
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_gpt_live_session_is_replaced_with_the_call_so_far() {
    let app = live_app().await;
    let call = app.spawn_call(
        81,
        vec![
            Step::WaitForAnswer { max_ms: 10_000 },
            Step::Speak { ms: 600 },
            Step::WaitForAnswer { max_ms: 15_000 },
            Step::Silence { ms: 3_000 },
            Step::Hangup,
        ],
    );
    wait_until("the tool's answer", || {
        app.model
            .sessions()
            .first()
            .is_some_and(|s| !s.of_type("response.create").is_empty())
    })
    .await;
    app.model.drop_all();
    wait_until("a second session", || app.model.sessions().len() == 2).await;
    let report = call.await.unwrap();
    assert!(!report.closed_by_server, "the call went on");
    app.idle().await;
    let second = &app.model.sessions()[1];
    let start = &second.of_type("session.start")[0]["session"];
    let context = start["input"][0]["content"][0]["text"].as_str().unwrap();
    assert_eq!(start["input"][0]["role"], "developer");
    assert!(context.contains("same phone call"), "{context}");
    assert!(context.contains("Caller: I love The Matrix"), "{context}");
    assert!(
        context.contains("The Matrix: "),
        "the entity and its id: {context}"
    );
    assert!(
        second.audio_in > 0,
        "the caller's audio reaches the new session"
    );
    app.stop().await;
}

/// A session the service ends itself (`session.closed` with `expired`,
/// at a maximum length gpt-live.md leaves unknown) is replaced like a lost
/// one, and the call is billed for both sessions' time, the first one's
/// final usage included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpt_live_session_the_service_expires_is_replaced_and_billed() {
    let mut config = Config::default();
    config.openai.model = "gpt-live-1".to_owned();
    let app = spawn_app_with(AppOptions {
        script: film_search("Great pick. You should watch {tool_output}."),
        tools: None,
        config,
        live_faults: qloophone_sandbox::live::LiveFaults {
            sessions: 0..1,
            close_in_turn: Some((1, 1000)),
            closed_reason: Some("expired".to_owned()),
            ..Default::default()
        },
        ..AppOptions::default()
    })
    .await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call = app.spawn_call(
        82,
        vec![
            Step::WaitForAnswer { max_ms: 10_000 },
            Step::Speak { ms: 600 },
            Step::WaitForAnswer { max_ms: 15_000 },
            Step::WaitForAnswer { max_ms: 8_000 },
            Step::Hangup,
        ],
    );
    let report = call.await.unwrap();
    assert!(!report.closed_by_server, "the call went on");
    app.idle().await;
    let sessions = app.model.sessions();
    assert_eq!(sessions.len(), 2, "the expired session was replaced");
    let closed_ms = |i: usize| -> u64 {
        let closed = sessions[i].sent_of_type("session.closed");
        let seconds = closed.last().unwrap()["usage"]["seconds"].as_f64().unwrap();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = (seconds * 1000.0).round() as u64;
        ms
    };
    assert_eq!(
        sessions[0].sent_of_type("session.closed")[0]["reason"],
        "expired"
    );
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let usage: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["type"] == "usage")
        .map(|e| &e["event"])
        .collect();
    let billed = usage.last().unwrap()["total"]["session_ms"]
        .as_u64()
        .unwrap();
    assert_eq!(
        billed,
        closed_ms(0) + closed_ms(1),
        "both sessions' time: {usage:?}"
    );
    assert!(
        sessions[1].audio_in > 0,
        "the caller's audio reaches the new session"
    );
    app.stop().await;
}
