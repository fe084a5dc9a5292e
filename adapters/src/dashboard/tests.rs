use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::time::SystemClock;
use bytes::Bytes;
use qloophone_domain::{AudioMs, CallSid, EndReason, ItemId, LegId, RawFrame};
use serde_json::{Value, json};
use warp::Filter;

use super::*;
use history::Role;

fn record(event: CallEvent) -> CallEventRecord {
    CallEventRecord {
        call: LegId::parse("MZ1").unwrap(),
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_738_231_200_000),
        event,
    }
}

fn model(text: &str, audio: bool) -> CallEventRecord {
    record(CallEvent::Model {
        audio,
        raw: RawFrame::new(Bytes::from(text.to_owned())),
    })
}

fn rendered(record: &CallEventRecord, options: LogsOptions) -> Vec<Value> {
    let mut out = Vec::new();
    render(record, options, &mut out);
    out.iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect()
}

const RAW: LogsOptions = LogsOptions {
    format: Format::Raw,
    audio: false,
};
const ENVELOPE: LogsOptions = LogsOptions {
    format: Format::Envelope,
    audio: false,
};

#[test]
fn raw_form_adds_the_beta_copies_the_monitor_reads() {
    let added = model(
        r#"{"type":"conversation.item.added","item":{"id":"i1"}}"#,
        false,
    );
    let out = rendered(&added, RAW);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1]["type"], "conversation.item.created");
    assert_eq!(out[1]["item"]["id"], "i1");
    let delta = model(
        r#"{"type":"response.output_audio_transcript.delta","delta":"hi","output_index":0}"#,
        false,
    );
    let out = rendered(&delta, RAW);
    assert_eq!(out[1]["type"], "response.audio_transcript.delta");
    assert_eq!(out[1]["delta"], "hi");
    let done = model(r#"{"type":"conversation.item.done","item":{}}"#, false);
    assert_eq!(rendered(&done, RAW).len(), 1, "never renamed");
}

#[test]
fn audio_is_left_out_unless_asked_for() {
    let audio = model(
        r#"{"type":"response.output_audio.delta","delta":"AAAA"}"#,
        true,
    );
    assert!(rendered(&audio, RAW).is_empty());
    assert!(rendered(&audio, ENVELOPE).is_empty());
    let with_audio = LogsOptions {
        format: Format::Raw,
        audio: true,
    };
    assert_eq!(rendered(&audio, with_audio).len(), 1);
}

#[test]
fn server_events_appear_only_in_the_envelope_form() {
    let started = record(CallEvent::Started {
        call_sid: Some(CallSid::parse("CA1").unwrap()),
        caller: Some(qloophone_domain::CallerId::parse("+1******4567").unwrap()),
        model: "gpt-realtime-2.1".into(),
        api: "realtime".into(),
    });
    assert!(rendered(&started, RAW).is_empty());
    let out = rendered(&started, ENVELOPE);
    assert_eq!(out[0]["call"], "MZ1");
    assert_eq!(out[0]["at"], "2025-01-30T10:00:00.000Z");
    assert_eq!(out[0]["event"]["type"], "call.started");
    assert_eq!(out[0]["event"]["call_sid"], "CA1");
    assert_eq!(out[0]["event"]["caller"], "+1******4567");
    assert_eq!(out[0]["event"]["model"], "gpt-realtime-2.1");

    let cases = [
        (
            CallEvent::ToolCalled {
                name: "search_entity".into(),
                arguments: r#"{"query":"x"}"#.into(),
                result: "not json".into(),
                is_error: true,
                latency: Duration::from_millis(250),
                upstream_requests: 2,
            },
            r#"{"arguments":{"query":"x"},"is_error":true,"latency_ms":250.0,"name":"search_entity","qloo_requests":2,"result":"not json","type":"tool.called"}"#,
        ),
        (
            CallEvent::BargeIn {
                item_id: ItemId::parse("item_1").unwrap(),
                audio_end: AudioMs::new(1840),
                unheard: 1,
            },
            r#"{"audio_end_ms":1840,"item_id":"item_1","type":"barge_in","unheard_items":1}"#,
        ),
        (
            CallEvent::Activity {
                activity: qloophone_domain::ports::Activity::ToolRunning,
            },
            r#"{"state":"tool_running","type":"call.state"}"#,
        ),
        (
            CallEvent::Turn {
                speaker: qloophone_domain::ports::Speaker::Caller,
                text: "I love \"The Matrix\"".into(),
            },
            r#"{"speaker":"caller","text":"I love \"The Matrix\"","type":"turn"}"#,
        ),
        (
            CallEvent::Dtmf { digit: '#' },
            r##"{"digit":"#","type":"dtmf"}"##,
        ),
        (
            CallEvent::Error {
                message: "oops".into(),
            },
            r#"{"message":"oops","type":"error"}"#,
        ),
        (
            CallEvent::Ended {
                reason: EndReason::ModelClosed,
            },
            r#"{"reason":"model_closed","type":"call.ended"}"#,
        ),
    ];
    for (event, expected) in cases {
        let out = rendered(&record(event), ENVELOPE);
        assert_eq!(out[0]["event"].to_string(), expected);
    }
    let enveloped = rendered(&model(r#"{"type":"session.created"}"#, false), ENVELOPE);
    assert_eq!(enveloped[0]["event"]["type"], "session.created");
    assert_eq!(enveloped[0]["call"], "MZ1");
}

#[tokio::test]
async fn query_options_are_read_leniently() {
    async fn parse(query: &str) -> LogsOptions {
        let filter = warp::query::<LogsOptions>();
        warp::test::request()
            .path(&format!("/?{query}"))
            .filter(&filter)
            .await
            .unwrap()
    }
    assert_eq!(parse("").await, RAW);
    assert_eq!(parse("format=envelope").await, ENVELOPE);
    assert_eq!(
        parse("format=ENVELOPE&audio=1").await,
        LogsOptions {
            format: Format::Envelope,
            audio: true
        }
    );
    assert_eq!(parse("format=other&audio=no").await, RAW);
}

#[tokio::test]
async fn a_lagging_dashboard_is_told_and_skips_ahead() {
    let hub = DashboardHub::new(&DashboardSettings {
        buffer: 4,
        ..DashboardSettings::default()
    });
    let clock = Arc::new(SystemClock);
    let events = Arc::new(std::sync::Mutex::new(Some(Subscription {
        events: hub.subscribe(),
        past: Vec::new(),
        instance: None,
        dropped: Arc::default(),
    })));
    for n in 0..10 {
        hub.emit(model(&format!(r#"{{"type":"n{n}"}}"#), false));
    }
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let route =
        crate::http::websocket::upgrade().map(move |upgrade: crate::http::websocket::Upgrade| {
            let events = events.lock().unwrap().take().expect("one dashboard");
            let clock = clock.clone();
            let shutdown = shutdown.clone();
            upgrade.accept(
                crate::http::websocket::config(1024),
                move |socket| async move {
                    serve_client(socket, events, RAW, &*clock, shutdown).await;
                },
            )
        });
    let mut client = warp::test::ws().handshake(route).await.unwrap();
    let text =
        |m: warp::ws::Message| -> Value { serde_json::from_str(m.to_str().unwrap()).unwrap() };
    assert_eq!(
        text(client.recv().await.unwrap())["type"],
        "connection.established"
    );
    let lagged = text(client.recv().await.unwrap());
    assert_eq!(lagged["type"], "connection.lagged");
    assert_eq!(lagged["skipped"], 6);
    for n in 6..10 {
        assert_eq!(text(client.recv().await.unwrap())["type"], format!("n{n}"));
    }
    assert_eq!(hub.clients(), 1);
    stop.send_replace(true);
    let goodbye = client.recv_closed().await;
    assert!(goodbye.is_ok(), "the dashboard is closed at shutdown");
}

#[test]
fn usage_reaches_the_envelope_stream_and_not_the_raw_one() {
    let response = Usage {
        input_text: 600,
        input_audio: 10,
        cached_audio: 4,
        output_text: 20,
        output_audio: 40,
        ..Usage::default()
    };
    let mut total = response;
    total.add(&response);
    let usage = record(CallEvent::Usage {
        response,
        total,
        cost_micros: Some(12_345),
    });
    assert!(
        rendered(&usage, RAW).is_empty(),
        "the original monitor never saw it"
    );
    let out = rendered(&usage, ENVELOPE);
    assert_eq!(out[0]["event"]["type"], "usage");
    assert_eq!(out[0]["event"]["response"]["total_tokens"], 670);
    assert_eq!(out[0]["event"]["total"]["input_text_tokens"], 1200);
    assert_eq!(out[0]["event"]["total"]["output_audio_tokens"], 80);
    assert_eq!(out[0]["event"]["total"]["cached_input_tokens"], 8);
    assert_eq!(out[0]["event"]["total"]["cached_audio_tokens"], 8);
    assert_eq!(out[0]["event"]["cost_usd"], 0.012345);
    // A model whose prices are not known: the cost is null, not a guess.
    let unknown = record(CallEvent::Usage {
        response,
        total,
        cost_micros: None,
    });
    assert!(rendered(&unknown, ENVELOPE)[0]["event"]["cost_usd"].is_null());
}

fn remote(role: Role, envelope: Value, raw: Option<&str>) -> RemoteEvent {
    RemoteEvent {
        instance: "b".into(),
        call: "MZ9".into(),
        role,
        envelope: envelope.to_string(),
        raw: raw.map(str::to_owned),
    }
}

#[test]
fn another_instances_events_reach_both_forms_and_its_lost_calls_are_ended() {
    let hub = DashboardHub::new(&DashboardSettings::default()).with_instance("a".into());
    let mut events = hub.subscribe();
    let started =
        json!({"instance": "b", "call": "MZ9", "at": "t", "event": {"type": "call.started"}});
    hub.emit_remote(remote(Role::Start, started.clone(), None));
    let delta = r#"{"type":"response.output_audio_transcript.delta","delta":"hi"}"#;
    hub.emit_remote(remote(Role::Skip, json!({"instance": "b"}), Some(delta)));
    let render_all = |item: &Item, options| {
        let mut out = Vec::new();
        render_item(item, options, hub.instance().map(AsRef::as_ref), &mut out);
        out
    };
    let first = events.try_recv().unwrap();
    assert_eq!(render_all(&first, ENVELOPE), [started.to_string()]);
    assert!(
        render_all(&first, RAW).is_empty(),
        "server events are envelope-only"
    );
    let second = events.try_recv().unwrap();
    let raw = render_all(&second, RAW);
    assert_eq!(raw.len(), 2, "with its beta copy: {raw:?}");
    // This instance's own envelopes say so.
    let mut out = Vec::new();
    render_item(
        &Item::Local(record(CallEvent::Dtmf { digit: '5' })),
        ENVELOPE,
        Some("a"),
        &mut out,
    );
    let own: Value = serde_json::from_str(&out[0]).unwrap();
    assert_eq!(own["instance"], "a");

    // B crashed: its call still in progress is ended for the dashboards.
    assert_eq!(hub.forget_instance("b", SystemTime::UNIX_EPOCH), 1);
    let ended = events.try_recv().unwrap();
    let ended: Value = serde_json::from_str(&render_all(&ended, ENVELOPE)[0]).unwrap();
    assert_eq!(ended["event"]["reason"], "instance_lost");
    assert_eq!(ended["call"], "MZ9");
    assert_eq!(hub.forget_instance("b", SystemTime::UNIX_EPOCH), 0, "once");
    let past = hub.subscribe_with_history().past;
    assert_eq!(past.len(), 2, "its story: start and end");
}
