use bytes::Bytes;
use qloophone_domain::AudioChunk;
use serde_json::{Value, json};

use super::*;

fn decode_str(text: &str) -> Result<Inbound, DecodeError> {
    decode(&Bytes::from(text.to_owned()))
}

fn event(text: &str) -> PhoneEvent {
    match decode_str(text).unwrap() {
        Inbound::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"customParameters":{"token":"abc","n":3},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ1"}"#;

#[test]
fn decodes_every_documented_event() {
    assert_eq!(
        event(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
        PhoneEvent::Connected
    );
    let PhoneEvent::Start(info) = event(START) else {
        panic!("start")
    };
    assert_eq!(info.leg_id.as_str(), "MZ1");
    assert_eq!(info.call_sid.unwrap().as_str(), "CA1");
    assert!(info.audio.is_supported());
    assert!(matches!(info.audio, AudioRoute::Relayed(_)));
    let PhoneEvent::Media {
        timestamp_ms,
        audio,
    } = event(
        r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"//79/Q=="},"streamSid":"MZ1"}"#,
    )
    else {
        panic!("media")
    };
    assert_eq!(timestamp_ms, 5);
    assert_eq!(audio.byte_len(), 4);
    assert_eq!(audio.encoded().as_ref(), b"//79/Q==");
    assert_eq!(
        event(r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"m7"}}"#),
        PhoneEvent::Mark(MarkName::new(7))
    );
    assert_eq!(
        event(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"responsePart"}}"#),
        PhoneEvent::ForeignMark
    );
    assert_eq!(
        event(
            r##"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"#"}}"##
        ),
        PhoneEvent::Dtmf('#')
    );
    assert_eq!(
        event(
            r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC0","callSid":"CA1"},"streamSid":"MZ1"}"#
        ),
        PhoneEvent::Stop
    );
}

#[test]
fn timestamps_may_be_numbers_and_escaped_payloads_are_read() {
    let PhoneEvent::Media {
        timestamp_ms,
        audio,
    } = event(
        r#"{"event":"media","media":{"timestamp":120,"payload":"\/\/79"},"streamSid":"MZ1"}"#,
    )
    else {
        panic!("media")
    };
    assert_eq!(timestamp_ms, 120);
    assert_eq!(audio.encoded().as_ref(), b"//79");
}

#[test]
fn unknown_events_are_reported_not_failed() {
    assert_eq!(
        decode_str(r#"{"event":"close"}"#).unwrap(),
        Inbound::Unknown("close".into())
    );
    assert_eq!(
        decode_str(r#"{"event":"media","media":{"track":"outbound","payload":""}}"#).unwrap(),
        Inbound::Unknown("media.outbound".into())
    );
}

#[test]
fn malformed_frames_are_errors() {
    for (frame, expected) in [
        ("not json", "malformed frame"),
        (r#"{"no_event":1}"#, "malformed frame"),
        (r#"{"event":"start"}"#, "start frame without start"),
        (
            r#"{"event":"start","start":{}}"#,
            "start frame without streamSid",
        ),
        (
            r#"{"event":"start","start":{"streamSid":""}}"#,
            "bad identifier",
        ),
        (r#"{"event":"media"}"#, "media frame without media"),
        (
            r#"{"event":"media","media":{"payload":"abc"}}"#,
            "bad media payload",
        ),
        (
            r#"{"event":"media","media":{"payload":"AAAA","timestamp":"soon"}}"#,
            "malformed frame",
        ),
        (r#"{"event":"mark"}"#, "mark frame without mark.name"),
        (
            r#"{"event":"dtmf","dtmf":{"digit":""}}"#,
            "dtmf frame without dtmf.digit",
        ),
    ] {
        let err = decode_str(frame).expect_err(frame).to_string();
        assert!(err.contains(expected), "{frame}: {err}");
    }
}

#[test]
fn the_caller_parameter_reaches_the_domain_masked_or_not_at_all() {
    let caller = |value: &str| {
        let frame = START.replace(r#""n":3"#, &format!(r#""caller":{value}"#));
        let PhoneEvent::Start(info) = event(&frame) else {
            panic!("start")
        };
        info.caller.map(|caller| caller.as_str().to_owned())
    };
    assert_eq!(caller(r#""+1******4567""#).as_deref(), Some("+1******4567"));
    // Whoever wrote the TwiML, a whole number is masked here.
    assert_eq!(caller(r#""+15551234567""#).as_deref(), Some("+1******4567"));
    assert_eq!(caller(r#""anonymous""#).as_deref(), Some("anonymous"));
    // A number without its `+` cannot be masked reliably: not shown.
    assert_eq!(caller(r#""15551234567""#), None);
    // Not text, empty, or with spaces: the call goes on without it.
    for bad in ["42", "null", r#""""#, r#""a b""#, "{}"] {
        assert_eq!(caller(bad), None, "{bad}");
    }
    let PhoneEvent::Start(info) = event(START) else {
        panic!("start")
    };
    assert_eq!(info.caller, None);
}

#[test]
fn other_media_formats_are_decoded_for_the_domain_to_refuse() {
    let frame = START.replace(
        r#""encoding":"audio/x-mulaw","sampleRate":8000"#,
        r#""encoding":"audio/x-l16","sampleRate":"16000""#,
    );
    let PhoneEvent::Start(info) = event(&frame) else {
        panic!("start")
    };
    let AudioRoute::Relayed(format) = &info.audio else {
        panic!("a media stream's audio is relayed")
    };
    assert!(!format.is_relayable());
    assert_eq!(format.sample_rate, 16000);
}

#[test]
fn encodes_media_mark_and_clear_with_the_stream_id() {
    let encoder = Encoder::new(&LegId::parse("MZ1").unwrap());
    let media = encoder.encode(&PhoneCommand::Media(AudioChunk::new(
        Bytes::from_static(b"//79"),
        3,
    )));
    assert_eq!(
        serde_json::from_str::<Value>(&media).unwrap(),
        json!({"event":"media","streamSid":"MZ1","media":{"payload":"//79"}})
    );
    let mark = encoder.encode(&PhoneCommand::Mark(MarkName::new(3)));
    assert_eq!(
        serde_json::from_str::<Value>(&mark).unwrap(),
        json!({"event":"mark","streamSid":"MZ1","mark":{"name":"m3"}})
    );
    let clear = encoder.encode(&PhoneCommand::Clear);
    assert_eq!(
        serde_json::from_str::<Value>(&clear).unwrap(),
        json!({"event":"clear","streamSid":"MZ1"})
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::test_support::any_json;

    fn event_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("connected".to_owned()),
            Just("start".to_owned()),
            Just("media".to_owned()),
            Just("mark".to_owned()),
            Just("dtmf".to_owned()),
            Just("stop".to_owned()),
            "[a-z_]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&Bytes::from(bytes));
        }

        #[test]
        fn frames_with_any_fields_decode_or_fail_cleanly(
            name in event_name(),
            stream in any_json(),
            body in any_json(),
        ) {
            let frame = json!({
                "event": name,
                "streamSid": stream,
                "start": body.clone(),
                "media": body.clone(),
                "mark": body.clone(),
                "dtmf": body,
            });
            let _ = decode(&Bytes::from(frame.to_string()));
        }

        #[test]
        fn unknown_events_are_reported_never_failed(name in "[a-z]{1,12}") {
            prop_assume!(!["connected", "start", "media", "mark", "dtmf", "stop"].contains(&name.as_str()));
            let frame = json!({"event": name, "streamSid": "MZ1"}).to_string();
            prop_assert!(matches!(decode(&Bytes::from(frame)), Ok(Inbound::Unknown(_))));
        }
    }
}
