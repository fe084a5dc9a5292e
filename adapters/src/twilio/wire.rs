//! Twilio Media Streams frames (`protocols.md` §1.3–1.4).
//!
//! Decoding is lenient: numbers may come as strings or numbers, unknown
//! events and unknown fields are tolerated. One flat struct reads every
//! frame in a single pass, borrowing the audio payload from the frame.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use qloophone_domain::ports::{AudioEncoding, AudioRoute, CallInfo, MediaFormat};
use qloophone_domain::ports::{PhoneCommand, PhoneEvent};
use qloophone_domain::{CallSid, CallerId, LegId, MarkName};
use serde::{Deserialize, Deserializer};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::audio::{PayloadError, chunk_from_base64, optional_borrowed};

/// Why a frame was not understood.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or fields of the wrong type.
    #[error("malformed frame: {0}")]
    Json(#[from] serde_json::Error),
    /// A known event without a field it needs.
    #[error("{event} frame without {field}")]
    Missing {
        /// The event.
        event: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A bad identifier.
    #[error("bad identifier: {0}")]
    Id(#[from] qloophone_domain::IdError),
    /// A bad audio payload.
    #[error("bad media payload: {0}")]
    Payload(#[from] PayloadError),
}

/// A decoded frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A frame the call acts on.
    Event(PhoneEvent),
    /// An event this version does not know (counted, ignored).
    Unknown(String),
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    // Borrowed: every media frame carries it and the audio path allocates nothing.
    #[serde(
        rename = "streamSid",
        borrow,
        default,
        deserialize_with = "optional_borrowed"
    )]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    media: Option<Media<'a>>,
    #[serde(default)]
    start: Option<Start>,
    #[serde(borrow, default)]
    mark: Option<Mark<'a>>,
    #[serde(default)]
    dtmf: Option<Dtmf>,
}

#[derive(Deserialize)]
struct Media<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(default, deserialize_with = "lenient_u64")]
    timestamp: Option<u64>,
    #[serde(borrow, default, deserialize_with = "optional_borrowed")]
    track: Option<Cow<'a, str>>,
}

/// The stream token among a `start` frame's `customParameters`, if any.
/// Read once a call, apart from [`decode`]: the domain never sees it.
pub fn stream_token(frame: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Frame {
        start: Option<StartParameters>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct StartParameters {
        #[serde(default)]
        custom_parameters: serde_json::Map<String, serde_json::Value>,
    }
    let frame: Frame = serde_json::from_slice(frame).ok()?;
    frame
        .start?
        .custom_parameters
        .get(super::stream_token::PARAMETER)?
        .as_str()
        .map(str::to_owned)
}

/// The encoding name Twilio gives G.711 μ-law.
const MULAW: &str = "audio/x-mulaw";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    #[serde(default)]
    stream_sid: Option<String>,
    #[serde(default)]
    call_sid: Option<String>,
    #[serde(default)]
    media_format: Option<Format>,
    #[serde(default)]
    custom_parameters: Option<CustomParameters>,
}

/// The `<Parameter>`s our TwiML set that the domain hears of.
#[derive(Deserialize)]
struct CustomParameters {
    /// [`CALLER_PARAMETER`]; anything but text is ignored.
    #[serde(default)]
    caller: Option<serde_json::Value>,
}

/// The `<Parameter>` name the caller (masked by `/twiml`) travels under.
pub const CALLER_PARAMETER: &str = "caller";

/// The caller a `start` names, masked again (whoever wrote the TwiML), or
/// `None` when it names none usable: never a reason to refuse the call.
fn caller(parameters: Option<&CustomParameters>) -> Option<CallerId> {
    let text = parameters?.caller.as_ref()?.as_str()?;
    let masked = crate::privacy::mask_phone_numbers(text);
    // A number written without its `+` is not masked: not shown at all.
    let longest_digits = masked
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    if longest_digits > 4 {
        return None;
    }
    CallerId::parse(&masked).ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Format {
    encoding: String,
    #[serde(deserialize_with = "lenient_u32")]
    sample_rate: u32,
    #[serde(deserialize_with = "lenient_u32")]
    channels: u32,
}

#[derive(Deserialize)]
struct Mark<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Dtmf {
    digit: String,
}

/// Twilio sends numbers as strings (`"timestamp":"5"`); accept both. A
/// visitor, not an untagged enum: serde tries an untagged enum's variants
/// in turn and builds an error message for each miss, three heap
/// allocations on every media frame.
struct LenientU64;

impl<'de> serde::de::Visitor<'de> for LenientU64 {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number, or a string of one")
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<u64, E> {
        text.trim().parse().map_err(E::custom)
    }
}

struct OptionalLenientU64;

impl<'de> serde::de::Visitor<'de> for OptionalLenientU64 {
    type Value = Option<u64>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number, a string of one, or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<u64>, D::Error> {
        deserializer.deserialize_any(LenientU64).map(Some)
    }
}

fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    deserializer.deserialize_option(OptionalLenientU64)
}

fn lenient_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = lenient_u64(deserializer)?.ok_or_else(|| serde::de::Error::custom("missing"))?;
    u32::try_from(value).map_err(serde::de::Error::custom)
}

/// Decodes one text frame. `frame` is the frame's buffer; the audio
/// payload shares it.
///
/// # Errors
/// [`DecodeError`] for frames that are malformed or miss what they need.
pub fn decode(frame: &Bytes) -> Result<Inbound, DecodeError> {
    let parsed: Frame<'_> = serde_json::from_slice(frame)?;
    let event = match parsed.event.as_ref() {
        "connected" => PhoneEvent::Connected,
        "start" => {
            let start = parsed.start.ok_or(DecodeError::Missing {
                event: "start",
                field: "start",
            })?;
            let stream = start
                .stream_sid
                .or(parsed.stream_sid.map(Cow::into_owned))
                .ok_or(DecodeError::Missing {
                    event: "start",
                    field: "streamSid",
                })?;
            let media_format = start
                .media_format
                .map_or_else(MediaFormat::mulaw_8k_mono, |f| MediaFormat {
                    encoding: if f.encoding.eq_ignore_ascii_case(MULAW) {
                        AudioEncoding::MuLaw
                    } else {
                        AudioEncoding::Other(f.encoding)
                    },
                    sample_rate: f.sample_rate,
                    channels: f.channels,
                });
            PhoneEvent::Start(CallInfo {
                leg_id: LegId::parse(&stream)?,
                call_sid: start.call_sid.as_deref().map(CallSid::parse).transpose()?,
                caller: caller(start.custom_parameters.as_ref()),
                caller_number: None,
                called_number: None,
                audio: AudioRoute::Relayed(media_format),
            })
        }
        "media" => {
            let media = parsed.media.ok_or(DecodeError::Missing {
                event: "media",
                field: "media",
            })?;
            if media
                .track
                .as_deref()
                .is_some_and(|track| track == "outbound")
            {
                return Ok(Inbound::Unknown("media.outbound".to_owned()));
            }
            PhoneEvent::Media {
                timestamp_ms: media.timestamp.unwrap_or(0),
                audio: chunk_from_base64(frame, media.payload)?,
            }
        }
        "mark" => {
            let mark = parsed.mark.ok_or(DecodeError::Missing {
                event: "mark",
                field: "mark.name",
            })?;
            MarkName::parse(&mark.name).map_or(PhoneEvent::ForeignMark, PhoneEvent::Mark)
        }
        "dtmf" => {
            let digit = parsed
                .dtmf
                .and_then(|dtmf| dtmf.digit.chars().next())
                .ok_or(DecodeError::Missing {
                    event: "dtmf",
                    field: "dtmf.digit",
                })?;
            PhoneEvent::Dtmf(digit)
        }
        "stop" => PhoneEvent::Stop,
        other => return Ok(Inbound::Unknown(other.to_owned())),
    };
    Ok(Inbound::Event(event))
}

/// Encodes commands for one stream. Holds the stream id, JSON-escaped once.
#[derive(Debug, Clone)]
pub struct Encoder {
    stream_sid: String,
}

impl Encoder {
    /// An encoder for `stream`.
    pub fn new(stream: &LegId) -> Self {
        let quoted = serde_json::to_string(stream.as_str()).expect("strings always encode");
        Self { stream_sid: quoted }
    }

    /// The frame for `command`.
    pub fn encode(&self, command: &PhoneCommand) -> String {
        let mut out = BytesMut::new();
        self.encode_text(command, &mut out).as_str().to_owned()
    }

    /// The frame for `command`, written in `out` and split off it as a
    /// text message. Once the socket has copied the previous message out
    /// (and dropped it), `out` is the only owner of its buffer again and
    /// the next frame reuses it: no allocation a frame.
    pub fn encode_text(&self, command: &PhoneCommand, out: &mut BytesMut) -> Utf8Bytes {
        use std::fmt::Write as _;
        match command {
            PhoneCommand::Media(audio) => {
                let payload = audio.encoded();
                out.reserve(payload.len() + self.stream_sid.len() + 56);
                out.extend_from_slice(br#"{"event":"media","streamSid":"#);
                out.extend_from_slice(self.stream_sid.as_bytes());
                out.extend_from_slice(br#","media":{"payload":""#);
                // Checked base64 on the way in: nothing to escape.
                out.extend_from_slice(std::str::from_utf8(payload).unwrap_or_default().as_bytes());
                out.extend_from_slice(b"\"}}");
            }
            PhoneCommand::Mark(name) => {
                out.reserve(self.stream_sid.len() + 56);
                let _ = write!(
                    out,
                    r#"{{"event":"mark","streamSid":{},"mark":{{"name":"{name}"}}}}"#,
                    self.stream_sid
                );
            }
            PhoneCommand::Clear => {
                let _ = write!(
                    out,
                    r#"{{"event":"clear","streamSid":{}}}"#,
                    self.stream_sid
                );
            }
        }
        // SAFETY: everything written above is `str` text (the payload was
        // checked as UTF-8 on the line that wrote it), so it is UTF-8.
        unsafe { Utf8Bytes::from_bytes_unchecked(out.split().freeze()) }
    }
}

#[cfg(test)]
mod tests;
