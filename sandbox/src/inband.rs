//! A scenario's model side carried in the caller's own audio.
//!
//! A scenario file read by `qloophone call` brings model turns the
//! simulated model behind a running server has never seen. The server
//! relays the caller's μ-law untouched, so the caller sends them in band:
//! the script, as JSON, cut into chunks written into its quiet frames
//! after the scenario tag (see [`audio::tag`]), over and over, the way a
//! carousel broadcasts. The simulated model puts the chunks back together
//! and plays the script. No server change, no side channel to configure,
//! and it works against the stand-alone simulators as well as the
//! sandbox's own.
//!
//! Every sample is a quiet μ-law value (`0xF0` to `0xFF`, at most 120 of
//! 32767), so a carried frame is still silence to voice detection. A
//! 160-byte frame holds the 4-sample tag, then a chunk: its index, the
//! chunk count, a checksum of the whole script (each 4 nibbles), the
//! chunk's length (2 nibbles) and up to [`CHUNK_BYTES`] bytes, one nibble
//! a sample. Plain silence (`0xFF` throughout) reads as index 0xFFFF of
//! 0xFFFF chunks, which is no chunk.
//!
//! [`audio::tag`]: crate::audio::tag

use crate::audio::{self, FRAME_BYTES, SILENCE, read_nibbles};

/// Script bytes in one frame.
pub const CHUNK_BYTES: usize = 70;
/// The most chunks a script may take (about 70 KB).
pub const MAX_CHUNKS: usize = 1024;

const TAG_SAMPLES: usize = 4;
const HEADER_SAMPLES: usize = 14;
const DATA_START: usize = TAG_SAMPLES + HEADER_SAMPLES;
const _: () = assert!(DATA_START + 2 * CHUNK_BYTES <= FRAME_BYTES);

/// Why a payload cannot be carried.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("{len} bytes is more than the {max} a scenario's model side may take in band")]
pub struct TooLarge {
    /// The payload's size.
    pub len: usize,
    /// The most that fits.
    pub max: usize,
}

/// The chunks of `payload`, each to be written into a frame with
/// [`write_chunk`] (none for an empty payload).
///
/// # Errors
/// [`TooLarge`] past [`MAX_CHUNKS`] chunks.
pub fn chunks(payload: &[u8]) -> Result<Vec<Vec<u8>>, TooLarge> {
    let parts: Vec<&[u8]> = payload.chunks(CHUNK_BYTES).collect();
    if parts.len() > MAX_CHUNKS {
        return Err(TooLarge {
            len: payload.len(),
            max: MAX_CHUNKS * CHUNK_BYTES,
        });
    }
    let count = parts.len() as u16;
    let sum = audio::fnv16(payload);
    Ok(parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            let mut samples = Vec::with_capacity(FRAME_BYTES - TAG_SAMPLES);
            #[allow(clippy::cast_possible_truncation)]
            push_u16(&mut samples, index as u16);
            push_u16(&mut samples, count);
            push_u16(&mut samples, sum);
            #[allow(clippy::cast_possible_truncation)]
            let len = part.len() as u8;
            samples.extend([0xF0 | (len & 0x0F), 0xF0 | (len >> 4)]);
            for byte in *part {
                samples.push(0xF0 | (byte & 0x0F));
                samples.push(0xF0 | (byte >> 4));
            }
            samples.resize(FRAME_BYTES - TAG_SAMPLES, SILENCE);
            samples
        })
        .collect())
}

/// Writes `chunk` into a tagged frame, after its tag.
pub fn write_chunk(frame: &mut [u8], chunk: &[u8]) {
    if let Some(rest) = frame.get_mut(TAG_SAMPLES..) {
        let len = rest.len().min(chunk.len());
        rest[..len].copy_from_slice(&chunk[..len]);
    }
}

fn push_u16(samples: &mut Vec<u8>, value: u16) {
    let at = samples.len();
    samples.resize(at + 4, SILENCE);
    audio::write_nibbles(&mut samples[at..], value);
}

struct Chunk {
    index: usize,
    count: usize,
    sum: u16,
    data: Vec<u8>,
}

fn parse(frame: &[u8]) -> Option<Chunk> {
    let header = frame.get(TAG_SAMPLES..DATA_START)?;
    let index = usize::from(read_nibbles(&header[0..4])?);
    let count = usize::from(read_nibbles(&header[4..8])?);
    let sum = read_nibbles(&header[8..12])?;
    let len = usize::from(read_nibbles(&header[12..14])?);
    if count == 0 || count > MAX_CHUNKS || index >= count || len == 0 || len > CHUNK_BYTES {
        return None;
    }
    let samples = frame.get(DATA_START..DATA_START + 2 * len)?;
    if samples.iter().any(|&b| b & 0xF0 != 0xF0) {
        return None;
    }
    let data = samples
        .chunks(2)
        .map(|pair| (pair[0] & 0x0F) | ((pair[1] & 0x0F) << 4))
        .collect();
    Some(Chunk {
        index,
        count,
        sum,
        data,
    })
}

/// Puts a carried payload back together, from chunks in any order,
/// repeated or missing for a while.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// The checksum and parts of the payload being received.
    receiving: Option<(u16, Vec<Option<Vec<u8>>>)>,
    done: bool,
}

impl Reassembler {
    /// Takes one tagged frame; returns the payload once every chunk has
    /// come and the checksum holds. A chunk of another payload starts
    /// over; after a payload is returned, later frames are ignored.
    pub fn accept(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let chunk = parse(frame)?;
        let parts = match &mut self.receiving {
            Some((sum, parts)) if *sum == chunk.sum && parts.len() == chunk.count => parts,
            other => &mut other.insert((chunk.sum, vec![None; chunk.count])).1,
        };
        parts[chunk.index] = Some(chunk.data);
        if parts.iter().any(Option::is_none) {
            return None;
        }
        let payload: Vec<u8> = parts.iter().flatten().flatten().copied().collect();
        let sum = chunk.sum;
        self.receiving = None;
        if audio::fnv16(&payload) != sum {
            return None;
        }
        self.done = true;
        Some(payload)
    }

    /// Whether chunks have come but not all of them.
    pub fn in_progress(&self) -> bool {
        self.receiving.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{loudness, read_tag, silence, tag};

    fn frames(payload: &[u8]) -> Vec<Vec<u8>> {
        chunks(payload)
            .unwrap()
            .iter()
            .map(|chunk| {
                let mut frame = silence(FRAME_BYTES);
                tag(&mut frame, 0x9abc);
                write_chunk(&mut frame, chunk);
                frame
            })
            .collect()
    }

    #[test]
    fn a_payload_goes_round_in_any_order_and_stays_quiet_and_tagged() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut sent = frames(&payload);
        assert_eq!(sent.len(), 1000_usize.div_ceil(CHUNK_BYTES));
        for frame in &sent {
            assert_eq!(read_tag(frame), Some(0x9abc));
            assert!(loudness(frame) < 130.0, "{}", loudness(frame));
            assert!(parse(frame).is_some());
        }
        sent.reverse();
        let mut reassembler = Reassembler::default();
        let mut got = None;
        for (i, frame) in sent.iter().enumerate() {
            // A repeated chunk changes nothing.
            assert_eq!(reassembler.accept(&sent[0]), None);
            got = reassembler.accept(frame);
            assert_eq!(got.is_some(), i == sent.len() - 1);
            assert_eq!(reassembler.in_progress(), i < sent.len() - 1);
        }
        assert_eq!(got.unwrap(), payload);
        assert_eq!(
            reassembler.accept(&sent[0]),
            None,
            "done: later frames ignored"
        );
    }

    #[test]
    fn silence_voice_and_stray_frames_carry_nothing() {
        let mut quiet = silence(FRAME_BYTES);
        tag(&mut quiet, 0x8001);
        assert!(
            parse(&quiet).is_none(),
            "plain silence is index 0xFFFF of 0xFFFF"
        );
        assert!(parse(&crate::audio::voice(160, 0, 200.0, 0.5)).is_none());
        assert!(parse(&[0xF0; 10]).is_none());
        let mut reassembler = Reassembler::default();
        assert_eq!(reassembler.accept(&quiet), None);
        assert!(!reassembler.in_progress());
    }

    #[test]
    fn a_corrupted_payload_is_refused_and_a_new_one_starts_over() {
        let first =
            frames(b"{\"turns\": []}, and some more text to need two chunks of seventy bytes each");
        assert_eq!(first.len(), 2);
        let mut reassembler = Reassembler::default();
        assert_eq!(reassembler.accept(&first[0]), None);
        // A chunk of another payload: the first one's part is forgotten.
        let second = frames(b"another");
        assert_eq!(reassembler.accept(&second[0]).unwrap(), b"another");

        let mut reassembler = Reassembler::default();
        let mut bad = first[1].clone();
        // Flip a data nibble: the checksum catches it.
        bad[DATA_START] ^= 0x01;
        assert_eq!(reassembler.accept(&first[0]), None);
        assert_eq!(reassembler.accept(&bad), None);
        assert!(!reassembler.in_progress());
        assert_eq!(
            reassembler.accept(&first[1]),
            None,
            "needs the whole carousel again"
        );
        assert!(reassembler.accept(&first[0]).is_some());
    }

    #[test]
    fn too_large_or_empty_payloads_are_refused() {
        let big = vec![b'x'; MAX_CHUNKS * CHUNK_BYTES + 1];
        assert_eq!(
            chunks(&big).unwrap_err(),
            TooLarge {
                len: big.len(),
                max: MAX_CHUNKS * CHUNK_BYTES
            }
        );
        assert!(chunks(&[]).unwrap().is_empty());
        assert_eq!(
            chunks(&vec![b'x'; MAX_CHUNKS * CHUNK_BYTES]).unwrap().len(),
            MAX_CHUNKS
        );
    }
}
