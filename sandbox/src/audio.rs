//! Audio for the simulators: μ-law tones and silence, and loudness.
//!
//! G.711 itself comes from `audio-codec-algorithms`; this module only
//! shapes signals with it.

use std::f64::consts::TAU;

use audio_codec_algorithms::{decode_ulaw, encode_ulaw};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// μ-law bytes a millisecond.
pub const BYTES_PER_MS: usize = 8;
/// One 20 ms frame.
pub const FRAME_BYTES: usize = 160;
/// μ-law digital silence.
pub const SILENCE: u8 = 0xFF;

/// Mean absolute amplitude (0 to 32767) of μ-law audio.
pub fn loudness(mulaw: &[u8]) -> f64 {
    if mulaw.is_empty() {
        return 0.0;
    }
    let sum: f64 = mulaw.iter().map(|&b| f64::from(decode_ulaw(b)).abs()).sum();
    #[allow(clippy::cast_precision_loss)]
    let len = mulaw.len() as f64;
    sum / len
}

/// A speech-like signal: two tones with a slow swell, starting at `offset`
/// samples so consecutive pieces join up. `level` is 0 to 1 of full scale.
pub fn voice(samples: usize, offset: usize, pitch_hz: f64, level: f64) -> Vec<u8> {
    (0..samples)
        .map(|i| {
            #[allow(clippy::cast_precision_loss)]
            let t = (offset + i) as f64 / 8000.0;
            let swell = 0.75 + 0.25 * (TAU * 3.0 * t).sin();
            let wave = 0.7 * (TAU * pitch_hz * t).sin() + 0.3 * (TAU * pitch_hz * 2.5 * t).sin();
            #[allow(clippy::cast_possible_truncation)]
            let sample = (wave * swell * level * 32767.0).round() as i16;
            encode_ulaw(sample)
        })
        .collect()
}

/// Silence of `samples` samples.
pub fn silence(samples: usize) -> Vec<u8> {
    vec![SILENCE; samples]
}

/// Writes `id` into the first four samples of `frame` as quiet μ-law
/// values (0xF0 to 0xFF: at most 120 of 32767), so a test can tell whose
/// audio arrived where without changing how loud it is.
pub fn tag(frame: &mut [u8], id: u16) {
    if let Some(samples) = frame.get_mut(..4) {
        write_nibbles(samples, id);
    }
}

/// Reads a [`tag`], if the frame starts with one.
pub fn read_tag(frame: &[u8]) -> Option<u16> {
    read_nibbles(frame.get(..4)?)
}

/// Writes `value` into four samples, a nibble each (least significant
/// first), as quiet μ-law values.
pub(crate) fn write_nibbles(samples: &mut [u8], value: u16) {
    for (i, byte) in samples.iter_mut().take(4).enumerate() {
        #[allow(clippy::cast_possible_truncation)]
        let nibble = ((value >> (4 * i)) & 0xF) as u8;
        *byte = 0xF0 | nibble;
    }
}

/// Reads what [`write_nibbles`] wrote into up to four samples, if each is
/// a quiet nibble value.
pub(crate) fn read_nibbles(samples: &[u8]) -> Option<u16> {
    if samples.iter().any(|&b| b & 0xF0 != 0xF0) {
        return None;
    }
    Some(
        samples
            .iter()
            .enumerate()
            .map(|(i, &b)| u16::from(b & 0x0F) << (4 * i))
            .sum(),
    )
}

/// FNV-1a folded to 16 bits: scenario tags and carried-script checksums.
pub(crate) fn fnv16(bytes: &[u8]) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    #[allow(clippy::cast_possible_truncation)]
    let folded = ((hash >> 16) ^ hash) as u16;
    folded
}

/// base64 text of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Bytes of base64 `text`.
///
/// # Errors
/// When the text is not base64.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_quiet_and_voice_is_loud() {
        assert!(loudness(&silence(160)) < 1.0);
        let speech = voice(160, 0, 200.0, 0.5);
        assert!(loudness(&speech) > 3000.0, "{}", loudness(&speech));
        assert!(loudness(&voice(160, 0, 200.0, 0.01)) < 500.0);
        assert!(loudness(&[]) < f64::EPSILON);
    }

    #[test]
    fn the_1khz_reference_tone_matches_the_protocol_notes() {
        // protocols.md §4.1: 1 kHz at 0.5 FS from phase 0.
        let bytes: Vec<u8> = (0..8)
            .map(|n| {
                let s = (0.5 * 32767.0 * (TAU * 1000.0 * f64::from(n) / 8000.0).sin()).round();
                #[allow(clippy::cast_possible_truncation)]
                encode_ulaw(s as i16)
            })
            .collect();
        assert_eq!(bytes, [0xff, 0x99, 0x8f, 0x99, 0xff, 0x19, 0x0f, 0x19]);
    }

    #[test]
    fn tags_round_trip_and_stay_quiet() {
        let mut frame = silence(160);
        tag(&mut frame, 0xBEEF);
        assert_eq!(read_tag(&frame), Some(0xBEEF));
        assert!(loudness(&frame) < 5.0);
        assert_eq!(read_tag(&voice(160, 10, 200.0, 0.5)), None);
        assert_eq!(read_tag(&[0xF0]), None);
    }

    #[test]
    fn base64_round_trips() {
        let bytes = voice(160, 0, 300.0, 0.4);
        let text = encode(&bytes);
        assert_eq!(text.len(), 216);
        assert_eq!(decode(&text).unwrap(), bytes);
        assert!(decode("@@@").is_err());
    }
}
