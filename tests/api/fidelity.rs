//! The simulated models speak OpenAI's published shapes: their events,
//! and the server's events to them, are checked against JSON Schemas
//! generated from OpenAI's official Python SDK types, for the Realtime API
//! and for GPT-Live (`tests/fixtures/openai-realtime/`,
//! `tests/fixtures/openai-live/`, written by
//! `tests/fixtures/generate_openai_schemas.py`).

use std::collections::HashMap;
use std::sync::OnceLock;

use futures_util::{SinkExt, StreamExt};
use qloophone_sandbox::SANDBOX_KEY;
use qloophone_sandbox::realtime::{RealtimeOptions, RealtimeSim, Session};
use qloophone_sandbox::script::{ModelScript, Turn};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const REALTIME: &str = include_str!("../fixtures/openai-realtime/schemas.json");
const LIVE: &str = include_str!("../fixtures/openai-live/schemas.json");

/// Which of OpenAI's voice APIs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Api {
    /// The Realtime API.
    Realtime,
    /// GPT-Live.
    Live,
}

/// Which side sent an event.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The service (here, the simulator).
    Server,
    /// The client (here, the server under test).
    Client,
}

struct Shapes {
    realtime: Value,
    live: Value,
    validators: std::sync::Mutex<HashMap<(Api, Side, String), jsonschema::Validator>>,
}

fn shapes() -> &'static Shapes {
    static SHAPES: OnceLock<Shapes> = OnceLock::new();
    SHAPES.get_or_init(|| Shapes {
        realtime: serde_json::from_str(REALTIME).expect("the schemas parse"),
        live: serde_json::from_str(LIVE).expect("the schemas parse"),
        validators: std::sync::Mutex::default(),
    })
}

/// Whether `event` is a valid `side` event of `api` as the SDK types it:
/// an error naming what is wrong, or `Ok`.
pub fn check_api(api: Api, side: Side, event: &Value) -> Result<(), String> {
    let shapes = shapes();
    let kind = event["type"].as_str().ok_or("an event without a type")?;
    let all = match api {
        Api::Realtime => &shapes.realtime,
        Api::Live => &shapes.live,
    };
    let table = match side {
        Side::Server => &all["server"],
        Side::Client => &all["client"],
    };
    let Some(reference) = table["events"].get(kind) else {
        return Err(format!("{kind:?} is not an event type the SDK knows"));
    };
    let mut validators = shapes.validators.lock().unwrap();
    let validator = validators
        .entry((api, side, kind.to_owned()))
        .or_insert_with(|| {
            let schema = json!({"$defs": table["$defs"], "$ref": reference});
            jsonschema::validator_for(&schema).expect("a valid schema")
        });
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{kind}: {}", errors.join("; ")))
    }
}

/// [`check_api`] for the Realtime API.
pub fn check(side: Side, event: &Value) -> Result<(), String> {
    check_api(Api::Realtime, side, event)
}

/// Every event the Realtime sessions sent and received has the SDK's
/// shape.
pub fn assert_sessions_match_the_sdk(sessions: &[Session]) {
    assert_sessions_match(Api::Realtime, sessions);
}

/// Every event the sessions of `api` sent and received has the SDK's
/// shape.
pub fn assert_sessions_match(api: Api, sessions: &[Session]) {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for session in sessions {
        for (side, events) in [
            (Side::Server, &session.sent),
            (Side::Client, &session.events),
        ] {
            for event in events {
                checked += 1;
                if let Err(problem) = check_api(api, side, event) {
                    wrong.push(format!("session {}: {problem}\n  {event}", session.id));
                }
            }
        }
    }
    assert!(checked > 0, "no events to check");
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "{} of {checked} events do not match OpenAI's published types:\n{}",
        wrong.len(),
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The checker itself refuses what the SDK refuses.
#[test]
fn the_checker_refuses_what_the_sdk_types_refuse() {
    assert!(
        check(
            Side::Server,
            &json!({"type": "error", "event_id": "e1",
                    "error": {"type": "invalid_request_error", "message": "m", "event_id": null}}),
        )
        .is_ok()
    );
    let without_id = check(
        Side::Server,
        &json!({"type": "error", "error": {"type": "x", "message": "m"}}),
    );
    assert!(without_id.unwrap_err().contains("event_id"));
    let transcription = json!({"type": "conversation.item.input_audio_transcription.completed",
        "event_id": "e2", "item_id": "i", "content_index": 0, "transcript": "hi"});
    assert!(
        check(Side::Server, &transcription)
            .unwrap_err()
            .contains("usage")
    );
    assert!(
        check(Side::Server, &json!({"type": "made.up", "event_id": "e"}))
            .unwrap_err()
            .contains("not an event type")
    );
    assert!(check(Side::Client, &json!({"type": "response.create"})).is_ok());
}

/// A simulated model session over a real socket, driven by hand.
struct Raw {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Raw {
    async fn open(sim: &RealtimeSim, model: &str) -> Self {
        let mut request = format!("{}?model={model}", sim.url())
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {SANDBOX_KEY}").parse().unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { socket }
    }

    async fn send(&mut self, event: Value) {
        self.socket
            .send(Message::text(event.to_string()))
            .await
            .unwrap();
    }

    /// Events until one of type `kind` (which is returned last).
    async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind} in {seen:#?}"));
            match next {
                Some(Ok(Message::Text(text))) => {
                    let event: Value = serde_json::from_str(&text).unwrap();
                    let done = event["type"] == kind;
                    seen.push(event);
                    if done {
                        return seen;
                    }
                }
                Some(Ok(Message::Close(_))) | None => panic!("closed before {kind}: {seen:#?}"),
                _ => {}
            }
        }
    }

    /// `ms` of loud or quiet μ-law, as 20 ms appends.
    async fn audio(&mut self, ms: u64, loud: bool) {
        for n in 0..ms / 20 {
            let bytes = if loud {
                qloophone_sandbox::audio::voice(160, (n * 160) as usize, 210.0, 0.4)
            } else {
                qloophone_sandbox::audio::silence(160)
            };
            self.send(json!({"type": "input_audio_buffer.append",
                             "audio": qloophone_sandbox::audio::encode(&bytes)}))
                .await;
        }
    }
}

fn sim_options() -> RealtimeOptions {
    RealtimeOptions {
        script: std::sync::Arc::new(ModelScript {
            greeting: "Hello there. How are you?".into(),
            turns: vec![Turn {
                heard: "I love jazz".into(),
                answer: "Then try Kind of Blue.".into(),
                ..Turn::default()
            }],
            ..ModelScript::default()
        }),
        pace: 20.0,
        ms_per_char: 10,
        api_key: Some(SANDBOX_KEY.to_owned()),
        ..RealtimeOptions::default()
    }
}

/// The events the SDK names that the simulator used to answer as unknown,
/// errors that name the client event that caused them, transcriptions
/// with their usage, and turn detection turned off: the client commits.
#[tokio::test]
async fn the_simulator_answers_every_client_event_as_the_service_does() {
    let sim = RealtimeSim::spawn(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        sim_options(),
    )
    .unwrap();
    let mut raw = Raw::open(&sim, "gpt-realtime-2.1").await;
    raw.until("session.created").await;
    raw.send(json!({"type": "session.update", "event_id": "c_update", "session": {
        "type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}, "turn_detection": null}}}}))
        .await;
    raw.until("session.updated").await;

    // Errors name the event that caused them.
    raw.send(json!({"type": "input_audio_buffer.commit", "event_id": "c_empty"}))
        .await;
    let error = raw.until("error").await.pop().unwrap();
    assert_eq!(error["error"]["event_id"], "c_empty", "{error}");

    // Loud audio with turn detection off: no speech events, no answer.
    raw.audio(600, true).await;
    raw.audio(800, false).await;
    raw.send(json!({"type": "input_audio_buffer.commit", "event_id": "c_commit"}))
        .await;
    let events = raw
        .until("conversation.item.input_audio_transcription.completed")
        .await;
    assert!(
        !events
            .iter()
            .any(|e| e["type"] == "input_audio_buffer.speech_started"),
        "{events:#?}"
    );
    let committed = events
        .iter()
        .find(|e| e["type"] == "input_audio_buffer.committed")
        .expect("committed");
    let user_item = committed["item_id"].as_str().unwrap().to_owned();
    let transcription = events.last().unwrap();
    assert_eq!(transcription["transcript"], "I love jazz");
    assert_eq!(transcription["usage"]["type"], "duration");

    raw.send(json!({"type": "input_audio_buffer.clear"})).await;
    raw.until("input_audio_buffer.cleared").await;
    raw.send(json!({"type": "conversation.item.retrieve", "item_id": user_item}))
        .await;
    let retrieved = raw
        .until("conversation.item.retrieved")
        .await
        .pop()
        .unwrap();
    assert_eq!(retrieved["item"]["id"], user_item.as_str());

    // The committed turn is answered when the client asks.
    raw.send(json!({"type": "response.create"})).await;
    let answer = raw.until("response.done").await;
    assert!(
        answer
            .iter()
            .any(|e| e["type"] == "response.output_audio_transcript.done"
                && e["transcript"] == "Then try Kind of Blue."),
        "{answer:#?}"
    );
    let assistant_item = answer.last().unwrap()["response"]["output"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    raw.send(json!({"type": "conversation.item.delete", "item_id": assistant_item}))
        .await;
    let deleted = raw.until("conversation.item.deleted").await.pop().unwrap();
    assert_eq!(deleted["item_id"], assistant_item.as_str());
    raw.send(json!({"type": "conversation.item.delete", "event_id": "c_again", "item_id": assistant_item}))
        .await;
    let error = raw.until("error").await.pop().unwrap();
    assert_eq!(error["error"]["event_id"], "c_again");

    drop(raw);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_sessions_match_the_sdk(&sim.recorder().sessions());
}

/// A greeting of two sentences on a `gpt-realtime-2` model comes as two
/// audio items, interleaved as those models send them: item B's first
/// delta before item A's `response.output_audio.done`, every done event
/// just before `response.done`. The 2025 model says it in one.
#[tokio::test]
async fn a_current_model_answers_in_several_items_interleaved() {
    let sim = RealtimeSim::spawn(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        sim_options(),
    )
    .unwrap();
    for (model, items) in [("gpt-realtime-2.1", 2), ("gpt-realtime", 1)] {
        let mut raw = Raw::open(&sim, model).await;
        raw.until("session.created").await;
        raw.send(json!({"type": "session.update", "session": {"type": "realtime"}}))
            .await;
        raw.until("session.updated").await;
        raw.send(json!({"type": "response.create"})).await;
        let events = raw.until("response.done").await;
        let kinds: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| {
                ["response.output_audio.delta", "response.output_audio.done"]
                    .contains(&e["type"].as_str().unwrap())
            })
            .map(|e| (e["type"].as_str().unwrap(), e["item_id"].as_str().unwrap()))
            .collect();
        let output = events.last().unwrap()["response"]["output"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(output.len(), items, "{model}: {output:#?}");
        let first_done = kinds
            .iter()
            .position(|(kind, _)| *kind == "response.output_audio.done")
            .unwrap();
        let last_delta = kinds
            .iter()
            .rposition(|(kind, _)| *kind == "response.output_audio.delta")
            .unwrap();
        assert!(
            first_done > last_delta,
            "{model}: every done after every delta"
        );
        if items == 2 {
            let a = output[0]["id"].as_str().unwrap();
            let b = output[1]["id"].as_str().unwrap();
            let b_first = kinds.iter().position(|(_, item)| *item == b).unwrap();
            let a_done = kinds
                .iter()
                .position(|(kind, item)| *kind == "response.output_audio.done" && *item == a)
                .unwrap();
            assert!(b_first < a_done, "B starts before A is done");
            assert_eq!(
                output[0]["content"][0]["transcript"], "Hello there.",
                "a preamble, then the rest"
            );
        }
    }
    assert_sessions_match_the_sdk(&sim.recorder().sessions());
}

/// A model that does not reason refuses a session sent `reasoning`, and
/// ends it (protocols-2026.md §2.2): the reason the server never sends it
/// to one.
#[tokio::test]
async fn reasoning_sent_to_a_model_that_does_not_reason_ends_the_session() {
    let sim = RealtimeSim::spawn(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        sim_options(),
    )
    .unwrap();
    let mut raw = Raw::open(&sim, "gpt-realtime-1.5").await;
    raw.until("session.created").await;
    raw.send(
        json!({"type": "session.update", "event_id": "c_r", "session": {
        "type": "realtime", "reasoning": {"effort": "low"}}}),
    )
    .await;
    let error = raw.until("error").await.pop().unwrap();
    assert_eq!(error["error"]["event_id"], "c_r");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match raw.socket.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the session is ended");
}
