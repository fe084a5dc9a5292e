use bytes::Bytes;
use qloophone_domain::AudioChunk;
use qloophone_domain::ports::ModelErrorKind;
use qloophone_domain::tools::ToolSpec;
use serde_json::{Value, json};

use super::*;

fn ev(value: Value) -> ModelEvent {
    decode(&Bytes::from(value.to_string())).unwrap()
}

#[test]
fn decodes_the_events_the_call_acts_on() {
    assert_eq!(
        ev(json!({"type":"session.created","session":{}})),
        ModelEvent::Other
    );
    assert_eq!(
        ev(
            json!({"type":"session.updated","session":{"tools":[{"type":"function"},{"type":"function"}]}})
        ),
        ModelEvent::Ready { tools: 2 }
    );
    assert_eq!(
        ev(
            json!({"type":"input_audio_buffer.speech_started","audio_start_ms":1234,"item_id":"item_U1"})
        ),
        ModelEvent::SpeechStarted
    );
    assert_eq!(
        ev(
            json!({"type":"input_audio_buffer.speech_stopped","audio_end_ms":2000,"item_id":"item_U1"})
        ),
        ModelEvent::SpeechStopped
    );
    assert_eq!(
        ev(json!({"type":"response.created","response":{"id":"resp_1","status":"in_progress"}})),
        ModelEvent::ResponseCreated {
            response_id: ResponseId::parse("resp_1").unwrap()
        }
    );
    for (status, expected) in [
        ("completed", ResponseStatus::Completed),
        ("cancelled", ResponseStatus::Cancelled),
        ("failed", ResponseStatus::Failed),
        ("incomplete", ResponseStatus::Incomplete),
        ("weird", ResponseStatus::Other),
    ] {
        assert_eq!(
            ev(json!({"type":"response.done","response":{"id":"resp_1","status":status}})),
            ModelEvent::ResponseDone {
                response_id: ResponseId::parse("resp_1").unwrap(),
                status: expected,
                usage: None,
            }
        );
    }
    // The usage, as the GA server reports it: input split into text and
    // audio with the cached share, output split the same way.
    let done = ev(
        json!({"type":"response.done","response":{"id":"resp_2","status":"completed",
        "usage":{"total_tokens":1346,"input_tokens":1070,"output_tokens":276,
                 "input_token_details":{"text_tokens":1000,"audio_tokens":70,"cached_tokens":960,
                                        "cached_tokens_details":{"text_tokens":900,"audio_tokens":60}},
                 "output_token_details":{"text_tokens":60,"audio_tokens":216}}}}),
    );
    let ModelEvent::ResponseDone { usage, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        usage,
        Some(Usage {
            input_text: 1000,
            input_audio: 70,
            cached_text: 900,
            cached_audio: 60,
            output_text: 60,
            output_audio: 216,
            ..Usage::default()
        })
    );
    // Cached tokens without their split count as text first, then audio.
    let done = ev(
        json!({"type":"response.done","response":{"id":"resp_2b","status":"completed",
        "usage":{"input_tokens":130,"output_tokens":0,
                 "input_token_details":{"text_tokens":100,"audio_tokens":20,"image_tokens":10,"cached_tokens":125}}}}),
    );
    let ModelEvent::ResponseDone { usage, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        usage.map(|u| (u.cached_text, u.cached_audio, u.cached_image, u.input_image)),
        Some((100, 20, 5, 10))
    );
    // Without details (as in older samples), the totals count as text.
    let done = ev(
        json!({"type":"response.done","response":{"id":"resp_3","status":"completed",
        "usage":{"total_tokens":512,"input_tokens":500,"output_tokens":12}}}),
    );
    let ModelEvent::ResponseDone { usage, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(
        usage.map(|u| (u.input_text, u.output_text, u.total())),
        Some((500, 12, 512))
    );
    // Usage the model gets wrong is dropped; the response still ends.
    let done = ev(
        json!({"type":"response.done","response":{"id":"resp_4","status":"completed",
        "usage":{"input_tokens":"many","output_tokens":-1}}}),
    );
    assert_eq!(
        done,
        ModelEvent::ResponseDone {
            response_id: ResponseId::parse("resp_4").unwrap(),
            status: ResponseStatus::Completed,
            usage: None,
        }
    );
    assert_eq!(
        ev(
            json!({"type":"error","error":{"type":"invalid_request_error","code":"x","message":"bad"}})
        ),
        ModelEvent::Error {
            kind: ModelErrorKind::Other,
            code: Some("x".into()),
            message: "bad".into()
        }
    );
    assert!(matches!(
        ev(
            json!({"type":"error","error":{"code":"conversation_already_has_active_response","message":"busy"}})
        ),
        ModelEvent::Error {
            kind: ModelErrorKind::ResponseAlreadyActive,
            ..
        }
    ));
    assert_eq!(ev(json!({"type":"rate_limits.updated"})), ModelEvent::Other);
}

#[test]
fn a_sessions_deltas_of_one_item_share_its_id_and_a_new_item_gets_its_own() {
    let delta = |item: &str| {
        Bytes::from(
            json!({"type": "response.output_audio.delta", "item_id": item, "delta": "//79"})
                .to_string(),
        )
    };
    let mut decoder = Decoder::default();
    let item = |event| match event {
        Ok(ModelEvent::AudioDelta { item_id, .. }) => item_id,
        other => panic!("{other:?}"),
    };
    let first = item(decoder.decode(&delta("item_1")));
    let again = item(decoder.decode(&delta("item_1")));
    let next = item(decoder.decode(&delta("item_2")));
    assert_eq!(first, again);
    assert!(
        std::ptr::eq(first.as_str(), again.as_str()),
        "shared, not copied"
    );
    assert_eq!(next.as_str(), "item_2");
}

#[test]
fn an_append_written_in_a_reused_buffer_is_the_event_encode_builds() {
    let mut scratch = BytesMut::new();
    let append = ModelCommand::AppendAudio(AudioChunk::new(Bytes::from_static(b"//79"), 3));
    for _ in 0..3 {
        let text = encode_text(&append, &mut scratch);
        assert_eq!(text.as_str(), encode(&append));
    }
    let create = ModelCommand::CreateResponse;
    assert_eq!(encode_text(&create, &mut scratch).as_str(), encode(&create));
}

#[test]
fn audio_deltas_under_either_name_share_the_frame() {
    for name in ["response.output_audio.delta", "response.audio.delta"] {
        let frame = Bytes::from(
            json!({"type":name,"response_id":"resp_1","item_id":"item_A","output_index":0,"content_index":0,"delta":"//79/Q=="})
                .to_string(),
        );
        let ModelEvent::AudioDelta { item_id, audio } = decode(&frame).unwrap() else {
            panic!("audio delta");
        };
        assert_eq!(item_id.as_str(), "item_A");
        assert_eq!(audio.byte_len(), 4);
        let start = audio.encoded().as_ptr() as usize - frame.as_ptr() as usize;
        assert!(start < frame.len(), "the payload is a slice of the frame");
    }
}

#[test]
fn function_calls_come_from_either_announcement() {
    let expected = ModelEvent::FunctionCall {
        call_id: ToolCallId::parse("call_1").unwrap(),
        name: "search_entity".into(),
        arguments: r#"{"query":"Khruangbin"}"#.into(),
    };
    assert_eq!(
        ev(
            json!({"type":"response.function_call_arguments.done","call_id":"call_1","name":"search_entity","arguments":"{\"query\":\"Khruangbin\"}","item_id":"item_F"})
        ),
        expected
    );
    assert_eq!(
        ev(
            json!({"type":"response.output_item.done","item":{"id":"item_F","type":"function_call","call_id":"call_1","name":"search_entity","arguments":"{\"query\":\"Khruangbin\"}","status":"completed"}})
        ),
        expected
    );
    assert_eq!(
        ev(
            json!({"type":"response.function_call_arguments.done","call_id":"call_1","arguments":"{}"})
        ),
        ModelEvent::Other,
        "without a name, wait for the item"
    );
    assert_eq!(
        ev(json!({"type":"response.output_item.done","item":{"type":"message","id":"item_M"}})),
        ModelEvent::Other
    );
}

#[test]
fn malformed_events_are_errors() {
    for (text, expected) in [
        ("{", "malformed event"),
        (r#"{"no_type":1}"#, "malformed event"),
        (
            r#"{"type":"response.created"}"#,
            "response.created without response.id",
        ),
        (
            r#"{"type":"response.output_audio.delta","item_id":"i"}"#,
            "audio delta without delta",
        ),
        (
            r#"{"type":"response.output_audio.delta","delta":"AAAA"}"#,
            "audio delta without item_id",
        ),
        (
            r#"{"type":"response.output_audio.delta","item_id":"i","delta":"A"}"#,
            "bad audio delta",
        ),
        (
            r#"{"type":"response.output_audio.delta","item_id":"","delta":"AAAA"}"#,
            "bad identifier",
        ),
    ] {
        let err = decode(&Bytes::from(text)).expect_err(text).to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}

#[test]
fn session_update_is_the_ga_shape() {
    let settings = OpenAiSettings::default();
    let setup = SessionSetup {
        instructions: "Be nice".into(),
        tools: vec![ToolSpec {
            name: "search_entity".into(),
            description: "Find".into(),
            parameters: json!({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}),
        }],
    };
    let value: Value = serde_json::from_str(&session_update(
        &setup,
        &settings,
        &SessionExtras::default(),
    ))
    .unwrap();
    assert_eq!(value["type"], "session.update");
    let session = &value["session"];
    assert_eq!(session["type"], "realtime");
    assert_eq!(session["output_modalities"], json!(["audio"]));
    assert_eq!(
        session["audio"]["input"]["format"],
        json!({"type":"audio/pcmu"})
    );
    assert_eq!(
        session["audio"]["output"]["format"],
        json!({"type":"audio/pcmu"})
    );
    assert_eq!(session["audio"]["output"]["voice"], "marin");
    assert_eq!(
        session["audio"]["input"]["turn_detection"]["type"],
        "server_vad"
    );
    assert_eq!(
        session["audio"]["input"]["turn_detection"]["silence_duration_ms"],
        500
    );
    assert_eq!(
        session["audio"]["input"]["noise_reduction"]["type"],
        "near_field"
    );
    assert_eq!(
        session["audio"]["input"]["transcription"]["model"],
        "gpt-4o-mini-transcribe"
    );
    assert_eq!(session["tools"][0]["type"], "function");
    assert_eq!(session["tools"][0]["name"], "search_entity");
    assert_eq!(
        session["tools"][0]["parameters"]["required"],
        json!(["query"])
    );
    assert!(
        session.get("temperature").is_none(),
        "GA has no temperature"
    );
    assert!(
        value.to_string().find("g711_ulaw").is_none(),
        "no beta fields"
    );
    assert!(
        session.get("reasoning").is_none() && session.get("truncation").is_none(),
        "nothing only some models take unless asked"
    );
    let extras = SessionExtras {
        reasoning_effort: Some("low"),
        truncation: Some(Truncation {
            retention_ratio: 0.8,
            max_tokens: Some(20_000),
        }),
    };
    let value: Value = serde_json::from_str(&session_update(&setup, &settings, &extras)).unwrap();
    assert_eq!(value["session"]["reasoning"], json!({"effort": "low"}));
    assert_eq!(
        value["session"]["truncation"],
        json!({"type": "retention_ratio", "retention_ratio": 0.8,
               "token_limits": {"post_instructions": 20_000}})
    );

    let semantic = OpenAiSettings {
        turn_detection: super::super::TurnDetection {
            kind: TurnDetectionKind::SemanticVad,
            eagerness: "high".into(),
            ..Default::default()
        },
        noise_reduction: String::new(),
        ..settings
    };
    let value: Value = serde_json::from_str(&session_update(
        &setup,
        &semantic,
        &SessionExtras::default(),
    ))
    .unwrap();
    let detection = &value["session"]["audio"]["input"]["turn_detection"];
    assert_eq!(detection["type"], "semantic_vad");
    assert_eq!(detection["eagerness"], "high");
    assert!(
        value["session"]["audio"]["input"]
            .get("noise_reduction")
            .is_none()
    );
}

#[test]
fn commands_encode_to_client_events() {
    let check = |command: ModelCommand, expected: Value| {
        assert_eq!(
            serde_json::from_str::<Value>(&encode(&command)).unwrap(),
            expected
        );
    };
    check(
        ModelCommand::AppendAudio(AudioChunk::new(Bytes::from_static(b"//79"), 3)),
        json!({"type":"input_audio_buffer.append","audio":"//79"}),
    );
    check(
        ModelCommand::CreateResponse,
        json!({"type":"response.create"}),
    );
    check(
        ModelCommand::CancelResponse,
        json!({"type":"response.cancel"}),
    );
    check(
        ModelCommand::Truncate {
            item_id: ItemId::parse("item_A").unwrap(),
            audio_end_ms: 1840,
        },
        json!({"type":"conversation.item.truncate","item_id":"item_A","content_index":0,"audio_end_ms":1840}),
    );
    check(
        ModelCommand::DeleteItem {
            item_id: ItemId::parse("item_B").unwrap(),
        },
        json!({"type":"conversation.item.delete","item_id":"item_B"}),
    );
    check(
        ModelCommand::ToolOutput {
            call_id: ToolCallId::parse("call_1").unwrap(),
            output: r#"{"name":"Khruangbin"}"#.into(),
        },
        json!({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"call_1","output":"{\"name\":\"Khruangbin\"}"}}),
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::test_support::any_json;

    fn event_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("session.created".to_owned()),
            Just("session.updated".to_owned()),
            Just("input_audio_buffer.speech_started".to_owned()),
            Just("response.created".to_owned()),
            Just("response.done".to_owned()),
            Just("response.output_audio.delta".to_owned()),
            Just("response.output_item.done".to_owned()),
            Just("error".to_owned()),
            "[a-z_.]{0,24}",
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&Bytes::from(bytes));
        }

        #[test]
        fn events_with_any_fields_decode_or_fail_cleanly(
            kind in event_type(),
            value in any_json(),
        ) {
            let event = json!({
                "type": kind,
                "delta": value.clone(),
                "item_id": value.clone(),
                "response": value.clone(),
                "session": value.clone(),
                "item": value.clone(),
                "error": value,
            });
            let _ = decode(&Bytes::from(event.to_string()));
        }
    }
}
