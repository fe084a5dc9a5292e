//! Calls OpenAI answers over SIP, through the simulated control plane
//! (`qloophone_sandbox::sip`): the signed webhook, accept and reject,
//! tools over the sideband, hanging up and referring over REST, capacity,
//! a dropped sideband, and what observers and reports see.

use std::time::Duration;

use qloophone::config::{Config, Secret};
use qloophone_sandbox::report_sink::{ReportSink, holds_a_phone_number};
use qloophone_sandbox::script::{ModelScript, Turn};
use qloophone_sandbox::sip::{CallStatus, PlaceCall, ReferOutcome, SipCall, Tamper};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::helpers::{
    AppOptions, TestApp, dashboard, film_search, read_until, scripted_call, spawn_app_with,
    wait_until,
};

fn place(app: &TestApp, script: ModelScript) -> PlaceCall {
    PlaceCall {
        webhook_url: app.url("/openai/webhook"),
        script,
        from: "+15550123456".into(),
        to: "+15550100000".into(),
        redeliver: 0,
        tamper: None,
        also_to: Vec::new(),
        drop_sideband_after_turn: None,
        interrupt_turn: None,
    }
}

/// An app with the real taste tools over the simulated Qloo.
async fn sip_app(config: Config) -> TestApp {
    spawn_app_with(AppOptions {
        config,
        tools: None,
        ..AppOptions::default()
    })
    .await
}

/// Waits for the call to end at the control plane, then for the server
/// to let it go.
async fn ended(app: &TestApp, call_id: &str) -> SipCall {
    for _ in 0..200 {
        let call = app.sip.call(call_id).unwrap();
        if matches!(call.status, CallStatus::Ended | CallStatus::Rejected) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = app.sip.call(call_id).unwrap();
    assert!(
        matches!(call.status, CallStatus::Ended | CallStatus::Rejected),
        "the call goes on: {:?} {:?} hangups {} refers {:?}, said {:?}, outputs {:?}, events {:?}",
        call.status,
        call.ended,
        call.hangups,
        call.refers,
        call.transcript,
        call.tool_outputs,
        call.events
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
    );
    app.idle().await;
    app.sip.call(call_id).unwrap()
}

/// Both sides of a call's sidebands have the shapes of OpenAI's published
/// types: what the simulated control plane sent, and what we sent it.
fn assert_sideband_matches_the_sdk(call: &SipCall) {
    let mut wrong = Vec::new();
    for (side, events) in [
        (crate::fidelity::Side::Server, &call.sent),
        (crate::fidelity::Side::Client, &call.events),
    ] {
        for event in events {
            if let Err(why) = crate::fidelity::check(side, event) {
                wrong.push(format!("{}: {why}", event["type"]));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(call.sent.len() > 10 && call.events.len() > 3);
}

/// A film search, then a second turn: the caller says `heard`, the model
/// calls `tool` with `arguments` and says `answer`.
fn then(heard: &str, tool: &str, arguments: Value, answer: &str) -> ModelScript {
    ModelScript {
        turns: vec![
            Turn {
                heard: "I love The Matrix".into(),
                tool_calls: vec![scripted_call(
                    "search_entity",
                    json!({"query": "The Matrix", "type": "movie"}),
                    0,
                )],
                answer: "Found {tool_output}.".into(),
            },
            Turn {
                heard: heard.into(),
                tool_calls: vec![scripted_call(tool, arguments, 0)],
                answer: answer.into(),
            },
        ],
        ..ModelScript::default()
    }
}

fn goodbye_script() -> ModelScript {
    then(
        "Thanks, that's all, bye!",
        "end_call",
        json!({"reason": "caller_done"}),
        "Enjoy the film. Goodbye!",
    )
}

fn transfer_script() -> ModelScript {
    then(
        "Can I talk to a person?",
        "transfer_to_human",
        json!({}),
        "Connecting you now.",
    )
}

/// A signed call is accepted once with the whole session (the same
/// instructions and tools a Media Stream's model gets, no audio format),
/// its tools run over the sideband with one output each, and observers
/// see it start and end like any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_call_is_accepted_with_the_full_session_and_its_tools_run_once() {
    let app = sip_app(Config::default()).await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call_id = app
        .sip
        .place(place(&app, film_search("You should watch {tool_output}.")))
        .await
        .unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.webhook_statuses, [200]);
    assert_eq!(call.accepts.len(), 1, "{:?}", call.accepts);
    let accepted = &call.accepts[0];
    assert_eq!(accepted["type"], "realtime");
    assert_eq!(accepted["model"], Config::default().openai.model);
    assert!(accepted["instructions"].as_str().unwrap().len() > 100);
    let tools: Vec<&str> = accepted["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    for tool in ["search_entity", "get_recommendation", "end_call"] {
        assert!(tools.contains(&tool), "{tool} in {tools:?}");
    }
    assert_eq!(accepted["audio"]["output"]["format"], Value::Null);
    assert_eq!(accepted["audio"]["input"]["format"], Value::Null);
    assert!(accepted["audio"]["output"]["voice"].is_string());
    // The sideband confirmed the same tools, greeted, ran the search once.
    let update = call.of_type("session.update")[0];
    assert_eq!(update["session"]["tools"], accepted["tools"]);
    assert_eq!(call.tool_outputs.len(), 1, "{:?}", call.tool_outputs);
    assert!(call.tool_outputs[0].1.contains("The Matrix"));
    assert!(call.of_type("input_audio_buffer.append").is_empty());
    assert_sideband_matches_the_sdk(&call);
    assert!(
        call.transcript
            .iter()
            .any(|line| line.starts_with("assistant: You should watch")),
        "{:?}",
        call.transcript
    );
    assert_eq!(call.ended.as_deref(), Some("caller_hung_up"));
    assert_eq!(call.hangups, 0, "the caller hung up: nothing to end");
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let event = |kind: &str| {
        events
            .iter()
            .find(|e| e["event"]["type"] == kind)
            .map(|e| e["event"].clone())
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };
    assert_eq!(event("call.started")["caller"], "+1******3456");
    assert_eq!(event("call.ended")["reason"], "phone_stopped");
    assert_eq!(event("tool.called")["name"], "search_entity");
    let shown = serde_json::to_string(&events).unwrap();
    assert!(!shown.contains("5550123456"), "the caller's number, whole");
    assert_eq!(app.registry.active(), 0);
}

/// Unsigned, stale and wrongly signed deliveries are refused and no call
/// is answered; one delivery sent three times is answered three times and
/// accepted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoiled_deliveries_are_refused_and_a_redelivery_accepts_once() {
    let app = sip_app(Config::default()).await;
    for tamper in [Tamper::Unsigned, Tamper::Stale, Tamper::WrongSecret] {
        let call_id = app
            .sip
            .place(PlaceCall {
                tamper: Some(tamper),
                ..place(&app, film_search("Hi."))
            })
            .await
            .unwrap();
        let call = app.sip.call(&call_id).unwrap();
        assert_eq!(call.webhook_statuses, [401], "{tamper:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let call = app.sip.call(&call_id).unwrap();
        assert_eq!(call.status, CallStatus::Ringing, "{tamper:?}");
        assert!(call.accepts.is_empty() && call.rejects.is_empty());
    }
    let call_id = app
        .sip
        .place(PlaceCall {
            redeliver: 2,
            ..place(&app, film_search("You should watch {tool_output}."))
        })
        .await
        .unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.webhook_statuses, [200, 200, 200]);
    assert_eq!(call.accepts.len(), 1, "accepted once");
    assert_eq!(call.sidebands, 1, "one sideband");
    assert_eq!(call.tool_outputs.len(), 1, "each tool output once");
    let (_, metrics) = app.get_json("/health").await;
    assert_eq!(metrics["activeCalls"], 0);
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains(r#"qloophone_sip_webhooks_total{outcome="duplicate"} 2"#),
        "{text}"
    );
}

/// `end_call` plays the goodbye, then hangs up over REST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_call_hangs_up_over_rest_after_the_goodbye_played() {
    let app = sip_app(Config::default()).await;
    let mut observer = dashboard(&app, "?format=envelope").await;
    let call_id = app.sip.place(place(&app, goodbye_script())).await.unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.ended.as_deref(), Some("hangup"), "{call:?}");
    assert_eq!(call.hangups, 1);
    assert!(call.refers.is_empty());
    let said = call.transcript.last().unwrap();
    assert_eq!(said, "assistant: Enjoy the film. Goodbye!");
    // Hung up once the goodbye had played, not when it was generated.
    assert_eq!(call.cut_off, 0, "the goodbye was cut short");
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let end = events.last().unwrap();
    assert_eq!(end["event"]["reason"], "agent_ended");
}

/// A transfer refers the caller to the configured number, and only to
/// it; a refer that fails hangs up rather than leave the call unsteered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_refers_to_the_configured_number_only() {
    let mut config = Config::default();
    config.twilio.transfer_number = Some("+15550100777".into());
    let app = sip_app(config).await;
    let call_id = app.sip.place(place(&app, transfer_script())).await.unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.refers, ["tel:+15550100777"]);
    assert_eq!(call.ended.as_deref(), Some("referred"));
    assert_eq!(call.hangups, 0);
    assert_eq!(call.cut_off, 0, "\"connecting you now\" was cut short");

    app.sip.set_refer(ReferOutcome::Fails);
    let call_id = app.sip.place(place(&app, transfer_script())).await.unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.refers, ["tel:+15550100777"]);
    assert_eq!(call.hangups, 1, "a failed refer hangs up");
    assert_eq!(call.ended.as_deref(), Some("hangup"));
}

/// At capacity a call is rejected as busy (486), never accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_capacity_a_call_is_rejected_as_busy() {
    let mut config = Config::default();
    config.limits.max_calls = 1;
    let app = sip_app(config).await;
    let first = app
        .sip
        .place(place(&app, ModelScript::talking(6)))
        .await
        .unwrap();
    let sip = app.sip.clone();
    let id = first.clone();
    wait_until("the first call is accepted", move || {
        sip.call(&id)
            .is_some_and(|call| call.status == CallStatus::Accepted)
    })
    .await;
    let second = app
        .sip
        .place(place(&app, film_search("Hi.")))
        .await
        .unwrap();
    let call = ended(&app, &second).await;
    assert_eq!(call.status, CallStatus::Rejected);
    assert_eq!(call.rejects, [json!({"status_code": 486})]);
    assert!(call.accepts.is_empty());
    app.sip.hang_up(&first);
    ended(&app, &first).await;
}

/// A sideband dropped between turns is attached again to the same call,
/// which goes on: the next turn's tools run over the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sideband_reconnects_while_the_call_goes_on() {
    let app = sip_app(Config::default()).await;
    let script = then(
        "More like it?",
        "get_recommendation",
        json!({"entity_ids": "{entity_id:The Matrix}", "output_type": "movie"}),
        "Try {tool_output}.",
    );
    let call_id = app
        .sip
        .place(PlaceCall {
            drop_sideband_after_turn: Some(1),
            ..place(&app, script)
        })
        .await
        .unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.sidebands, 2, "{call:?}");
    assert_eq!(call.accepts.len(), 1);
    assert_eq!(call.tool_outputs.len(), 2, "{:?}", call.tool_outputs);
    // The new sideband was told the call so far, before anything else.
    let updates = call.of_type("session.update");
    assert_eq!(updates.len(), 2);
    let context = call
        .events
        .iter()
        .find(|e| e["type"] == "conversation.item.create" && e["item"]["role"] == "system")
        .expect("the call so far, told to the new sideband");
    assert!(context.to_string().contains("The Matrix"), "{context}");
    assert_eq!(call.ended.as_deref(), Some("caller_hung_up"));
    assert_sideband_matches_the_sdk(&call);
}

/// A SIP call's report reaches the operator like any call's, signed,
/// with its ended reason, and without the caller's whole number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_call_is_reported_like_any_other() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sink = ReportSink::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SECRET,
        Vec::new(),
    )
    .unwrap();
    let queue = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.report.url = Some(sink.url());
    config.report.secret = Some(Secret::new(SECRET));
    config.report.queue_dir = queue.path().display().to_string();
    let app = sip_app(config).await;
    let call_id = app.sip.place(place(&app, goodbye_script())).await.unwrap();
    ended(&app, &call_id).await;
    wait_until("the report", || !sink.deliveries().is_empty()).await;
    let delivery = &sink.deliveries()[0];
    assert_eq!(delivery.verified, Ok(()));
    let data = &delivery.body["data"];
    assert_eq!(data["ended_reason"], "agent_ended", "{data}");
    assert_eq!(data["stream_sid"], call_id.as_str(), "{data}");
    assert!(data["tools"].as_array().unwrap().len() >= 2, "{data}");
    assert!(!holds_a_phone_number(&delivery.body.to_string()));
}

/// The caller talks over an answer: OpenAI stops its own audio and
/// cancels the response; the bridge truncates and clears nothing (there is
/// nothing of it here), takes the caller's next turn, and the call goes on
/// to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_talking_over_the_agent_is_left_to_openai_and_the_call_goes_on() {
    let app = sip_app(Config::default()).await;
    let script = then(
        "Actually, something darker?",
        "get_recommendation",
        json!({"entity_ids": "{entity_id:The Matrix}", "output_type": "movie"}),
        "Try {tool_output}.",
    );
    let call_id = app
        .sip
        .place(PlaceCall {
            interrupt_turn: Some(1),
            ..place(&app, script)
        })
        .await
        .unwrap();
    let call = ended(&app, &call_id).await;
    assert_eq!(call.ended.as_deref(), Some("caller_hung_up"));
    assert!(
        call.transcript
            .iter()
            .any(|line| line.starts_with("assistant (talked over): Found")),
        "{:?}",
        call.transcript
    );
    assert!(
        call.transcript
            .iter()
            .any(|line| line.starts_with("assistant: Try ")),
        "the next turn answered: {:?}",
        call.transcript
    );
    for bridge_side in [
        "conversation.item.truncate",
        "conversation.item.delete",
        "response.cancel",
        "output_audio_buffer.clear",
    ] {
        assert!(call.of_type(bridge_side).is_empty(), "sent {bridge_side}");
    }
    assert_eq!(call.tool_outputs.len(), 2);
    assert_sideband_matches_the_sdk(&call);
}
