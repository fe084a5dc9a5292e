//! Domain newtypes: identifiers and audio, parsed once at the edge.
//!
//! Constructors validate and return `Result`; fields stay private so an
//! invalid value cannot be built elsewhere ("parse, don't validate").

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value was empty or only whitespace.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The value was longer than any real identifier.
    #[error("{kind} is longer than {max} characters")]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The limit.
        max: usize,
    },
    /// The value held a control character or white space.
    #[error("{kind} contains a control or space character")]
    BadCharacter {
        /// Which identifier.
        kind: &'static str,
    },
}

/// Longest identifier accepted from a peer; real ones are far shorter.
const MAX_ID_LEN: usize = 256;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses an identifier received from a peer.
            ///
            /// # Errors
            /// Empty, over-long, or containing spaces or control characters.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                parse_id(value, $kind).map(|v| Self(Arc::from(v)))
            }

            /// Parses like [`parse`](Self::parse), sharing `previous`
            /// instead of allocating when the text is the same (a model
            /// names the same item in every audio delta of a response).
            ///
            /// # Errors
            /// As [`parse`](Self::parse).
            pub fn parse_reusing(value: &str, previous: Option<&Self>) -> Result<Self, IdError> {
                match previous {
                    Some(previous) if &*previous.0 == value => Ok(previous.clone()),
                    _ => Self::parse(value),
                }
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.0)
            }
        }
    };
}

fn parse_id<'a>(value: &'a str, kind: &'static str) -> Result<&'a str, IdError> {
    if value.trim().is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            max: MAX_ID_LEN,
        });
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(IdError::BadCharacter { kind });
    }
    Ok(value)
}

id_type!(
    /// The phone leg's id: the key of a call here (a media stream's id, or
    /// the id the model's side gave a call it answered).
    LegId,
    "leg id"
);
id_type!(
    /// The phone network's id of the call.
    CallSid,
    "call sid"
);
id_type!(
    /// Who is calling, as the phone leg shows it: a number masked to its
    /// first and last digits (`+1******4567`), or a name such as
    /// `anonymous`. Never a whole number.
    CallerId,
    "caller id"
);
id_type!(
    /// A Qloo entity id (a UUID, or a URN for localities).
    EntityId,
    "entity id"
);
id_type!(
    /// A tag of the taste graph: a genre, a style, a kind of place
    /// ("Italian", "Cozy"), as its tag search or its entities name it.
    TagId,
    "tag id"
);
id_type!(
    /// The voice model's id of one item of its conversation (an answer's
    /// audio item, say).
    ItemId,
    "item id"
);
id_type!(
    /// The voice model's id of one response.
    ResponseId,
    "response id"
);
id_type!(
    /// The model's id for one tool invocation (`call_…`).
    ToolCallId,
    "tool call id"
);

/// A duration of audio in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AudioMs(u64);

impl AudioMs {
    /// Wraps a millisecond count.
    pub const fn new(ms: u64) -> Self {
        Self(ms)
    }

    /// The duration of `bytes` of G.711 audio at 8 kHz (8 bytes a millisecond).
    pub const fn of_mulaw_bytes(bytes: u64) -> Self {
        Self(bytes / 8)
    }

    /// The millisecond count.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for AudioMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

/// One piece of G.711 μ-law audio, kept in the encoding it arrived in.
///
/// The domain never decodes audio: `encoded` is opaque (the adapters know
/// it is base64) and is relayed as is. `bytes` is the decoded length, which
/// the playback arithmetic needs (8 bytes = 1 ms). Cloning is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioChunk {
    encoded: Bytes,
    bytes: u32,
}

impl AudioChunk {
    /// Wraps encoded audio whose decoded length is `bytes`.
    pub fn new(encoded: Bytes, bytes: u32) -> Self {
        Self { encoded, bytes }
    }

    /// The encoded audio, exactly as received.
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// Decoded length in bytes.
    pub fn byte_len(&self) -> u32 {
        self.bytes
    }

    /// How long this audio plays.
    pub fn duration(&self) -> AudioMs {
        AudioMs::of_mulaw_bytes(u64::from(self.bytes))
    }
}

impl fmt::Debug for AudioChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AudioChunk({} bytes)", self.bytes)
    }
}

/// The name of a playback mark sent to the phone leg and echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MarkName(u64);

impl MarkName {
    /// Wraps a sequence number.
    pub const fn new(seq: u64) -> Self {
        Self(seq)
    }

    /// Reads a name echoed by the phone leg: `m<seq>`.
    pub fn parse(text: &str) -> Option<Self> {
        text.strip_prefix('m')?.parse().ok().map(Self)
    }

    /// The sequence number.
    pub const fn seq(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MarkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// A model event in the exact form the model sent it, for observers.
///
/// The domain carries it without looking inside. Cloning is cheap.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawFrame(Bytes);

impl RawFrame {
    /// Wraps a frame.
    pub fn new(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Whether there is no frame (an event the adapter derived, not one
    /// the model sent).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawFrame({} bytes)", self.0.len())
    }
}

/// A whole phone number in E.164 form (`+` and 8 to 15 digits): the
/// caller's, kept in the call's memory only for a text they asked for.
///
/// It never prints whole: `Debug` and `Display` show it masked like a
/// [`CallerId`] (`+1******4567`); only [`expose`](Self::expose) gives the
/// digits, for the one request that needs them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(Arc<str>);

/// Why a phone number was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 phone number (+ and 8 to 15 digits)")]
pub struct NotE164;

impl PhoneNumber {
    /// Parses an E.164 number.
    ///
    /// # Errors
    /// [`NotE164`] for anything else (a name such as `anonymous`, a
    /// short code, a number without its country code).
    pub fn parse(value: &str) -> Result<Self, NotE164> {
        let digits = value.strip_prefix('+').ok_or(NotE164)?;
        if (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
        {
            Ok(Self(Arc::from(value)))
        } else {
            Err(NotE164)
        }
    }

    /// The whole number: for the request that must carry it, never for a
    /// log, an event or a report.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number masked to its first and last digits.
    pub fn masked(&self) -> CallerId {
        let digits = &self.0[1..];
        let masked = format!(
            "+{}{}{}",
            &digits[..1],
            "*".repeat(digits.len() - 5),
            &digits[digits.len() - 4..]
        );
        CallerId::parse(&masked).expect("a masked number is a valid caller id")
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked().as_str())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.masked().as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_empty_long_and_spaced_values() {
        assert_eq!(LegId::parse(""), Err(IdError::Empty { kind: "leg id" }));
        assert_eq!(LegId::parse("  "), Err(IdError::Empty { kind: "leg id" }));
        assert!(matches!(
            CallSid::parse(&"C".repeat(300)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            ItemId::parse("item 1"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            ItemId::parse("item\n1"),
            Err(IdError::BadCharacter { .. })
        ));
        let sid = LegId::parse("MZ123").unwrap();
        assert_eq!(sid.as_str(), "MZ123");
        assert_eq!(sid.to_string(), "MZ123");
        assert_eq!(format!("{sid:?}"), "LegId(MZ123)");
    }

    #[test]
    fn mark_names_round_trip_and_reject_foreign_names() {
        let mark = MarkName::new(42);
        assert_eq!(mark.to_string(), "m42");
        assert_eq!(MarkName::parse("m42"), Some(mark));
        assert_eq!(MarkName::parse("responsePart"), None);
        assert_eq!(MarkName::parse("m"), None);
        assert_eq!(MarkName::parse("m-1"), None);
    }

    #[test]
    fn audio_duration_is_eight_bytes_a_millisecond() {
        let chunk = AudioChunk::new(Bytes::from_static(b"AAAA"), 160);
        assert_eq!(chunk.duration(), AudioMs::new(20));
        assert_eq!(chunk.byte_len(), 160);
        assert_eq!(format!("{chunk:?}"), "AudioChunk(160 bytes)");
        assert_eq!(AudioMs::of_mulaw_bytes(7), AudioMs::new(0));
        assert_eq!(AudioMs::new(5).to_string(), "5 ms");
    }

    #[test]
    fn phone_numbers_are_e164_and_never_print_whole() {
        let number = PhoneNumber::parse("+15550123456").unwrap();
        assert_eq!(number.expose(), "+15550123456");
        assert_eq!(number.to_string(), "+1******3456");
        assert_eq!(format!("{number:?}"), "PhoneNumber(+1******3456)");
        assert_eq!(number.masked().as_str(), "+1******3456");
        for bad in [
            "15550123456",
            "+1555",
            "+1555012345678901",
            "+0555012345",
            "+1555 0123456",
            "anonymous",
            "",
            "+",
        ] {
            assert_eq!(PhoneNumber::parse(bad), Err(NotE164), "{bad:?}");
        }
    }
}
