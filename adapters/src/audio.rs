//! Base64 audio payloads, shared by the Twilio and OpenAI adapters.
//!
//! Audio is relayed in the encoding it arrives in, so nothing here decodes
//! it. It checks the payload is well-formed base64 text (so it can be put
//! back into JSON unescaped) and works out its decoded length, which the
//! playback arithmetic needs. Where the payload is a slice of the received
//! frame, the frame's buffer is shared, not copied.

use std::borrow::Cow;

use bytes::Bytes;
use qloophone_domain::AudioChunk;

/// A payload that is not base64 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The length is not a multiple of four.
    #[error("base64 payload length {0} is not a multiple of 4")]
    Length(usize),
    /// A character outside the base64 alphabet.
    #[error("base64 payload has an invalid character at {0}")]
    Character(usize),
    /// The last character before the padding has bits set beyond the
    /// data's end (RFC 4648 §3.5: no encoder writes them).
    #[error("base64 payload is not canonical: bits set past its end")]
    TrailingBits,
}

/// Turns a base64 payload taken from `frame` into an [`AudioChunk`].
///
/// # Errors
/// [`PayloadError`] when the text is not padded standard base64.
pub fn chunk_from_base64(frame: &Bytes, payload: Cow<'_, str>) -> Result<AudioChunk, PayloadError> {
    let bytes = decoded_len(payload.as_bytes())?;
    let encoded = match payload {
        Cow::Borrowed(text) if within(frame, text.as_bytes()) => frame.slice_ref(text.as_bytes()),
        Cow::Borrowed(text) => Bytes::copy_from_slice(text.as_bytes()),
        Cow::Owned(text) => Bytes::from(text.into_bytes()),
    };
    Ok(AudioChunk::new(encoded, bytes))
}

/// Whether `part` lies inside `frame` (so it can be shared, not copied).
fn within(frame: &Bytes, part: &[u8]) -> bool {
    let start = frame.as_ptr() as usize;
    let part_start = part.as_ptr() as usize;
    !part.is_empty() && part_start >= start && part_start + part.len() <= start + frame.len()
}

/// Deserializes an optional string, borrowing it from the input when it has
/// no escapes. (serde borrows a `Cow` only when it is the field's own type,
/// not inside an `Option`.)
pub(crate) fn optional_borrowed<'de, D>(deserializer: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    let value: Option<Borrowed<'de>> = serde::Deserialize::deserialize(deserializer)?;
    Ok(value.map(|borrowed| borrowed.0))
}

fn decoded_len(text: &[u8]) -> Result<u32, PayloadError> {
    if !text.len().is_multiple_of(4) {
        return Err(PayloadError::Length(text.len()));
    }
    // Checked with SIMD (a payload is about 216 characters, once a frame
    // each way); only a refused one is looked at again, for where.
    if base64_simd::STANDARD.check(text).is_err() {
        return Err(refusal(text));
    }
    let len = text.len() / 4 * 3 - padding(text);
    u32::try_from(len).map_err(|_| PayloadError::Length(text.len()))
}

/// The `=` at the end of `text`: none, one or two.
fn padding(text: &[u8]) -> usize {
    text.iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count()
}

/// Why `text`, a multiple of four long, is not canonical base64.
fn refusal(text: &[u8]) -> PayloadError {
    let body = &text[..text.len() - padding(text)];
    match body
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
    {
        Some(at) => PayloadError::Character(at),
        None => PayloadError::TrailingBits,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    #[test]
    fn decoded_length_matches_a_real_decoder() {
        for len in [0usize, 1, 2, 3, 4, 159, 160, 161, 800] {
            let raw = vec![0xA5u8; len];
            let text = STANDARD.encode(&raw);
            let frame = Bytes::from(text.clone());
            let chunk = chunk_from_base64(&frame, Cow::Borrowed(&text)).unwrap();
            assert_eq!(chunk.byte_len() as usize, len, "for {len} bytes");
            assert_eq!(chunk.encoded().as_ref(), text.as_bytes());
        }
    }

    #[test]
    fn a_payload_from_elsewhere_is_copied() {
        let frame = Bytes::from_static(b"unrelated");
        let text = String::from("//79");
        let chunk = chunk_from_base64(&frame, Cow::Borrowed(&text)).unwrap();
        assert_eq!(chunk.encoded().as_ref(), b"//79");
    }

    #[test]
    fn a_borrowed_payload_shares_the_frame() {
        let frame = Bytes::from_static(br#"{"payload":"//79"}"#);
        let text = std::str::from_utf8(&frame[12..16]).unwrap();
        let chunk = chunk_from_base64(&frame, Cow::Borrowed(text)).unwrap();
        assert_eq!(chunk.encoded().as_ptr(), frame[12..].as_ptr());
        let owned = chunk_from_base64(&frame, Cow::Owned("//79".into())).unwrap();
        assert_eq!(owned.byte_len(), 3);
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let frame = Bytes::new();
        assert_eq!(
            chunk_from_base64(&frame, Cow::Borrowed("abc")),
            Err(PayloadError::Length(3))
        );
        assert_eq!(
            chunk_from_base64(&frame, Cow::Borrowed("ab\"c")),
            Err(PayloadError::Character(2))
        );
        assert_eq!(
            chunk_from_base64(&frame, Cow::Borrowed("a=bc")),
            Err(PayloadError::Character(1))
        );
        // "//8=" is canonical; "//9=" sets a bit past the second byte.
        assert!(chunk_from_base64(&frame, Cow::Borrowed("//8=")).is_ok());
        assert_eq!(
            chunk_from_base64(&frame, Cow::Borrowed("//9=")),
            Err(PayloadError::TrailingBits)
        );
    }

    proptest::proptest! {
        #[test]
        fn accepts_exactly_what_a_strict_decoder_accepts(
            raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            at in proptest::prelude::any::<usize>(),
            with in proptest::sample::select(b"AQgw/+=9_\\\"-".to_vec()),
            mutate in proptest::prelude::any::<bool>(),
        ) {
            // Real payloads, and each with one character changed.
            let mut text = STANDARD.encode(&raw).into_bytes();
            if mutate && !text.is_empty() {
                let at = at % text.len();
                text[at] = with;
            }
            let text = String::from_utf8(text).unwrap();
            let frame = Bytes::new();
            let ours = chunk_from_base64(&frame, Cow::Borrowed(&text));
            let theirs = STANDARD.decode(&text);
            proptest::prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?} for {:?}", ours, text);
            if let (Ok(chunk), Ok(bytes)) = (ours, theirs) {
                proptest::prop_assert_eq!(chunk.byte_len() as usize, bytes.len());
            }
        }
    }
}
