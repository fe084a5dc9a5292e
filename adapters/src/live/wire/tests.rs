//! GPT-Live events decoded and encoded as `gpt-live.md` says.

use bytes::{Bytes, BytesMut};
use qloophone_domain::AudioChunk;
use qloophone_domain::ports::{ModelCommand, ModelErrorKind, ModelEvent, ResponseStatus, Usage};
use qloophone_domain::tools::ToolSpec;
use qloophone_domain::{ItemId, ToolCallId};
use serde_json::{Value, json};

use super::*;

fn frame(value: &Value) -> Bytes {
    Bytes::from(value.to_string())
}

/// Decodes `value`, then every event it left pending, in order.
fn all(decoder: &mut Decoder, value: Value) -> Vec<ModelEvent> {
    let mut events = vec![decoder.decode(&frame(&value)).unwrap()];
    while let Some(event) = decoder.pending() {
        events.push(event);
    }
    events.retain(|event| *event != ModelEvent::Other);
    events
}

fn setup() -> SessionSetup {
    SessionSetup {
        instructions: "Be a concierge.".into(),
        tools: vec![ToolSpec {
            name: "search_entity".into(),
            description: "Find".into(),
            parameters: json!({"type": "object"}),
        }],
    }
}

#[test]
fn session_start_carries_the_model_the_format_the_voice_and_the_tools() {
    let settings = LiveSettings::default();
    let start: Value =
        serde_json::from_str(&session_start("gpt-live-1", &setup(), &settings, None)).unwrap();
    assert_eq!(start["type"], "session.start");
    let session = &start["session"];
    assert_eq!(session["model"], "gpt-live-1");
    assert_eq!(session["instructions"], "Be a concierge.");
    assert_eq!(
        session["audio"],
        json!({"format": {"type": "audio/pcmu", "rate": 8000}, "output": {"voice": "marin"}})
    );
    let responses = &session["delegation"]["responses"];
    assert_eq!(session["delegation"]["type"], "responses");
    assert_eq!(responses["model"], settings.delegation_model);
    assert_eq!(responses["tools"][0]["name"], "search_entity");
    assert_eq!(responses["tools"][0]["type"], "function");
    assert!(responses.get("reasoning").is_none());
    assert!(session.get("input").is_none());
    // Only fields GPT-Live takes: no Realtime vocabulary.
    let keys: Vec<&String> = session.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["audio", "delegation", "instructions", "model"]);

    let with_context: Value = serde_json::from_str(&session_start(
        "gpt-live-1",
        &setup(),
        &LiveSettings {
            delegation_reasoning_effort: Some(crate::openai::ReasoningEffort::Low),
            ..settings
        },
        Some("The call so far."),
    ))
    .unwrap();
    assert_eq!(
        with_context["session"]["input"],
        json!([{"type": "message", "role": "developer",
                "content": [{"type": "input_text", "text": "The call so far."}]}])
    );
    assert_eq!(
        with_context["session"]["delegation"]["responses"]["reasoning"],
        json!({"effort": "low"})
    );
}

#[test]
fn the_session_is_ready_when_started_with_its_tools() {
    let mut decoder = Decoder::default();
    let started = json!({"type": "session.started", "event_id": "e1", "session": {"id": "live_1",
        "delegation": {"type": "responses", "responses": {"tools": [{"type": "function"}, {"type": "function"}]}}}});
    assert_eq!(all(&mut decoder, started), [ModelEvent::Ready { tools: 2 }]);
}

#[test]
fn audio_shares_its_frame_and_belongs_to_the_utterance_being_spoken() {
    let mut decoder = Decoder::default();
    let delta = json!({"type": "session.output_audio.delta", "delta": "//79"});
    let ModelEvent::AudioDelta { item_id, audio } = decoder.decode(&frame(&delta)).unwrap() else {
        panic!()
    };
    assert_eq!(item_id, ItemId::parse("live_utterance_0").unwrap());
    assert_eq!(audio.byte_len(), 3);
    // After the caller speaks, the assistant's audio is another utterance.
    all(
        &mut decoder,
        json!({"type": "session.input_transcript.delta", "delta": "hi"}),
    );
    let ModelEvent::AudioDelta { item_id, .. } = decoder.decode(&frame(&delta)).unwrap() else {
        panic!()
    };
    assert_eq!(item_id, ItemId::parse("live_utterance_1").unwrap());
    assert!(
        decoder
            .decode(&frame(&json!({"type": "session.output_audio.delta"})))
            .is_err()
    );
}

#[test]
fn transcript_fragments_become_turns_and_speech_events() {
    let mut decoder = Decoder::default();
    let said = |words: &str| json!({"type": "session.output_transcript.delta", "delta": words, "start_ms": 0, "end_ms": 100});
    let heard = |words: &str| json!({"type": "session.input_transcript.delta", "delta": words, "start_ms": 0, "end_ms": 100});
    // The greeting begins: the assistant speaks.
    assert_eq!(
        all(&mut decoder, said("Hi, this ")),
        [ModelEvent::AssistantSpeaking]
    );
    assert_eq!(all(&mut decoder, said("is QlooPhone")), []);
    // The caller talks over it: they started speaking, and what the
    // assistant said so far is a turn.
    assert_eq!(
        all(&mut decoder, heard("I love ")),
        [
            ModelEvent::SpeechStarted,
            ModelEvent::AssistantTranscript {
                text: "Hi, this is QlooPhone".into()
            },
        ]
    );
    assert_eq!(all(&mut decoder, heard("The Matrix")), []);
    // The model answers: the caller stopped, their turn, a new utterance;
    // a finished sentence is a turn at once.
    assert_eq!(
        all(&mut decoder, said("Great pick.")),
        [
            ModelEvent::SpeechStopped,
            ModelEvent::CallerTranscript {
                text: "I love The Matrix".into()
            },
            ModelEvent::AssistantSpeaking,
            ModelEvent::AssistantTranscript {
                text: "Great pick.".into()
            },
        ]
    );
    // Words with no full stop are told after a second of audio without
    // words.
    assert_eq!(
        all(&mut decoder, said("Try Dune")),
        [ModelEvent::AssistantSpeaking]
    );
    let silence = json!({"type": "session.output_audio.delta", "delta": "/".repeat(1068)});
    let mut told = Vec::new();
    for _ in 0..10 {
        told.extend(all(&mut decoder, silence.clone()));
    }
    let turns: Vec<&ModelEvent> = told
        .iter()
        .filter(|e| !matches!(e, ModelEvent::AudioDelta { .. }))
        .collect();
    assert_eq!(
        turns,
        [&ModelEvent::AssistantTranscript {
            text: "Try Dune".into()
        }]
    );
}

#[test]
fn delegating_ends_the_callers_turn() {
    let mut decoder = Decoder::default();
    all(
        &mut decoder,
        json!({"type": "session.input_transcript.delta", "delta": "find Dune"}),
    );
    let delegated = json!({"type": "session.delegation.created", "offset_ms": 10,
        "delegation": {"id": "item_delegation_1", "type": "delegation", "target": "responses", "response_id": "resp_1"}});
    assert_eq!(
        all(&mut decoder, delegated),
        [
            ModelEvent::SpeechStopped,
            ModelEvent::CallerTranscript {
                text: "find Dune".into()
            }
        ]
    );
}

#[test]
fn delegated_tool_calls_come_out_of_their_envelopes() {
    let mut decoder = Decoder::default();
    let envelope =
        |event: Value| json!({"type": "response.event", "delegation_id": "d1", "event": event});
    assert_eq!(
        all(
            &mut decoder,
            envelope(json!({"type": "response.created", "response": {"id": "resp_1"}}))
        ),
        [ModelEvent::ResponseCreated {
            response_id: qloophone_domain::ResponseId::parse("resp_1").unwrap()
        }]
    );
    let call = |status: &str| {
        envelope(
            json!({"type": "response.output_item.done", "item": {"type": "function_call",
            "status": status, "call_id": "call_1", "name": "search_entity", "arguments": "{\"query\":\"Dune\"}"}}),
        )
    };
    assert_eq!(
        all(&mut decoder, call("completed")),
        [ModelEvent::FunctionCall {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: "search_entity".into(),
            arguments: "{\"query\":\"Dune\"}".into(),
        }]
    );
    assert_eq!(
        all(&mut decoder, call("in_progress")),
        [],
        "a call cut short is not run"
    );
    let completed = envelope(
        json!({"type": "response.completed", "response": {"id": "resp_1",
        "usage": {"input_tokens": 700, "input_tokens_details": {"cached_tokens": 600}, "output_tokens": 20, "total_tokens": 720}}}),
    );
    assert_eq!(
        all(&mut decoder, completed),
        [ModelEvent::ResponseDone {
            response_id: qloophone_domain::ResponseId::parse("resp_1").unwrap(),
            status: ResponseStatus::Completed,
            usage: Some(Usage {
                input_text: 700,
                cached_text: 600,
                output_text: 20,
                ..Usage::default()
            }),
        }]
    );
    let failed = envelope(json!({"type": "response.failed", "response": {"id": "resp_2"}}));
    assert!(matches!(
        all(&mut decoder, failed)[..],
        [ModelEvent::ResponseDone {
            status: ResponseStatus::Failed,
            usage: None,
            ..
        }]
    ));
    assert!(
        decoder
            .decode(&frame(&envelope(json!({"type": "response.created"}))))
            .is_err()
    );
    assert_eq!(
        all(
            &mut decoder,
            envelope(json!({"type": "response.output_text.delta", "delta": "x"}))
        ),
        []
    );
}

#[test]
fn session_time_is_cumulative_and_told_as_increments() {
    let mut decoder = Decoder::default();
    let usage =
        |seconds: f64| json!({"type": "session.usage.updated", "usage": {"seconds": seconds}});
    let ms = |events: Vec<ModelEvent>| match events[..] {
        [ModelEvent::Usage(usage)] => usage.session_ms,
        _ => panic!("{events:?}"),
    };
    assert_eq!(ms(all(&mut decoder, usage(60.0))), 60_000);
    assert_eq!(ms(all(&mut decoder, usage(120.5))), 60_500);
    assert_eq!(all(&mut decoder, usage(100.0)), [], "never backwards");
    assert!(!decoder.closed());
    let closed = json!({"type": "session.closed", "reason": "close_requested", "session": {}, "usage": {"seconds": 121.0}});
    assert_eq!(ms(all(&mut decoder, closed)), 500);
    assert!(decoder.closed());
}

#[test]
fn errors_keep_their_code_and_say_what_the_call_can_do() {
    let mut decoder = Decoder::default();
    let error = |code: &str| json!({"type": "error", "event_id": "e", "error": {"type": "invalid_request_error", "code": code, "message": "m"}});
    for (code, kind) in [
        ("invalid_model", ModelErrorKind::Fatal),
        ("insufficient_quota", ModelErrorKind::Fatal),
        ("rate_limit_exceeded", ModelErrorKind::Transient),
        ("unknown_parameter", ModelErrorKind::Other),
    ] {
        assert_eq!(
            all(&mut decoder, error(code)),
            [ModelEvent::Error {
                kind,
                code: Some(code.to_owned()),
                message: "m".into()
            }]
        );
    }
    assert!(decoder.decode(&Bytes::from_static(b"not json")).is_err());
}

#[test]
fn commands_encode_to_live_client_events() {
    let mut scratch = BytesMut::new();
    let mut encode = |command: ModelCommand| {
        super::encode(&command, &mut scratch)
            .map(|text| serde_json::from_str::<Value>(text.as_str()).unwrap())
    };
    assert_eq!(
        encode(ModelCommand::AppendAudio(AudioChunk::new(
            Bytes::from_static(b"//79"),
            3
        ))),
        Some(json!({"type": "session.input_audio.append", "audio": "//79"}))
    );
    assert_eq!(
        encode(ModelCommand::Speak {
            prompt: "Greet the caller.".into()
        }),
        Some(
            json!({"type": "session.commentary.append", "delegation_id": null, "content": "Greet the caller."})
        )
    );
    assert_eq!(
        encode(ModelCommand::CreateResponse),
        Some(json!({"type": "response.create"}))
    );
    assert_eq!(
        encode(ModelCommand::ToolOutput {
            call_id: ToolCallId::parse("call_1").unwrap(),
            output: "{\"name\":\"Dune\"}".into()
        }),
        Some(json!({"type": "response.item.create",
                    "item": {"type": "function_call_output", "call_id": "call_1", "output": "{\"name\":\"Dune\"}"}}))
    );
    // GPT-Live stops itself: nothing is cancelled, truncated or deleted.
    assert_eq!(encode(ModelCommand::CancelResponse), None);
    assert_eq!(
        encode(ModelCommand::Truncate {
            item_id: ItemId::parse("live_utterance_0").unwrap(),
            audio_end_ms: 10
        }),
        None
    );
}
