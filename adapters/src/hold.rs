//! The hold sound as the phone leg plays it: a WAV file of 8 kHz mono
//! G.711 μ-law (QlooPhone's own, `assets/hold.wav`, written by
//! `assets/hold.py`, or an operator's), checked when the server starts and
//! cut into pieces of whole 20 ms frames, each base64-encoded once.

use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use qloophone_domain::AudioChunk;
use qloophone_domain::call::HoldSound;
use serde::{Deserialize, Serialize};
use symphonia::core::codecs::CODEC_TYPE_PCM_MULAW;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::default::formats::WavReader;

/// QlooPhone's own hold sound: one second, looped.
pub const SHIPPED: &[u8] = include_bytes!("../assets/hold.wav");

/// The largest hold sound file taken: 30 s of audio and its header.
pub const MAX_FILE_BYTES: u64 = 30 * 8000 + 4096;

/// One piece sent at a time: 100 ms (five frames).
const PIECE_BYTES: usize = 800;
/// One 20 ms frame of 8 kHz μ-law.
const FRAME_BYTES: usize = 160;

/// `[hold]`: what a caller hears while a tool works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HoldSettings {
    /// Whether to play it at all.
    pub enabled: bool,
    /// How long a tool runs before it starts, in ms.
    pub after_ms: u64,
    /// A WAV file of 8 kHz mono μ-law to play instead of QlooPhone's own;
    /// empty for QlooPhone's.
    pub file: String,
}

impl Default for HoldSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            after_ms: 700,
            file: String::new(),
        }
    }
}

/// Why a hold sound file cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum HoldFileError {
    /// It cannot be read.
    #[error("cannot read the hold sound {path}: {source}")]
    Read {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is larger than [`MAX_FILE_BYTES`].
    #[error(
        "the hold sound {path} is {bytes} bytes; at most {MAX_FILE_BYTES} (30 s of 8 kHz μ-law) are taken"
    )]
    TooLarge {
        /// Where.
        path: String,
        /// Its size.
        bytes: u64,
    },
    /// It is not a WAV file of 8 kHz mono μ-law, or holds no audio.
    #[error(
        "the hold sound {path} is not playable: {reason} (it must be a WAV file of 8 kHz mono G.711 μ-law, e.g. `ffmpeg -i in.wav -ar 8000 -ac 1 -c:a pcm_mulaw hold.wav`)"
    )]
    Format {
        /// Where.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl HoldSettings {
    /// The hold sound these settings name, checked: `None` when it is off.
    ///
    /// # Errors
    /// [`HoldFileError`] when the operator's file cannot be read or played.
    pub fn sound(&self) -> Result<Option<HoldSound>, HoldFileError> {
        Ok(self
            .samples()?
            .and_then(|audio| HoldSound::new(Duration::from_millis(self.after_ms), pieces(&audio))))
    }

    /// The hold sound's μ-law samples, checked: `None` when it is off (a
    /// simulated caller tells hold audio from the assistant's by them).
    ///
    /// # Errors
    /// As [`HoldSettings::sound`].
    pub fn samples(&self) -> Result<Option<Vec<u8>>, HoldFileError> {
        if !self.enabled {
            return Ok(None);
        }
        let (path, bytes) = if self.file.is_empty() {
            ("(shipped)".to_owned(), SHIPPED.to_vec())
        } else {
            (self.file.clone(), read_bounded(&self.file)?)
        };
        mulaw_samples(&bytes)
            .map(Some)
            .map_err(|reason| HoldFileError::Format { path, reason })
    }
}

fn read_bounded(path: &str) -> Result<Vec<u8>, HoldFileError> {
    use std::io::Read;
    let read = |source| HoldFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let size = file.metadata().map_err(read)?.len();
    if size > MAX_FILE_BYTES {
        return Err(HoldFileError::TooLarge {
            path: path.to_owned(),
            bytes: size,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    Ok(bytes)
}

/// The μ-law samples of a WAV file, as stored: `Err` with the reason when
/// it is not 8 kHz mono μ-law, or holds less than one 20 ms frame.
pub fn mulaw_samples(wav: &[u8]) -> Result<Vec<u8>, String> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(wav.to_vec())), Default::default());
    let mut reader = WavReader::try_new(source, &FormatOptions::default())
        .map_err(|err| format!("not a WAV file ({err})"))?;
    let params = reader
        .default_track()
        .ok_or("no audio track")?
        .codec_params
        .clone();
    if params.codec != CODEC_TYPE_PCM_MULAW {
        return Err("its audio is not G.711 μ-law".to_owned());
    }
    if params.sample_rate != Some(8000) {
        return Err(format!(
            "its sample rate is {} Hz, not 8000",
            params.sample_rate.unwrap_or(0)
        ));
    }
    if params.channels.map(|c| c.count()) != Some(1) {
        return Err("it is not mono".to_owned());
    }
    let mut samples = Vec::new();
    while let Ok(packet) = reader.next_packet() {
        samples.extend_from_slice(&packet.data);
    }
    // Whole frames only: a trailing part of one is dropped.
    samples.truncate(samples.len() / FRAME_BYTES * FRAME_BYTES);
    if samples.is_empty() {
        return Err("it holds less than 20 ms of audio".to_owned());
    }
    Ok(samples)
}

/// `audio` in pieces of [`PIECE_BYTES`] (the last may be shorter, still
/// whole frames), each base64-encoded as the phone leg sends audio.
fn pieces(audio: &[u8]) -> Vec<AudioChunk> {
    audio
        .chunks(PIECE_BYTES)
        .map(|piece| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(piece);
            #[allow(clippy::cast_possible_truncation)] // at most PIECE_BYTES
            AudioChunk::new(Bytes::from(encoded), piece.len() as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV header for `data` with these format fields.
    fn wav(format: u16, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&format.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(channels)).to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&8u16.to_le_bytes());
        fmt.extend_from_slice(&0u16.to_le_bytes());
        let mut body = b"WAVEfmt ".to_vec();
        body.extend_from_slice(&u32::try_from(fmt.len()).unwrap().to_le_bytes());
        body.extend_from_slice(&fmt);
        body.extend_from_slice(b"fact");
        body.extend_from_slice(&4u32.to_le_bytes());
        body.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        body.extend_from_slice(b"data");
        body.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        body.extend_from_slice(data);
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn the_shipped_sound_is_a_second_of_quiet_mulaw_in_pieces() {
        let sound = HoldSettings::default().sound().unwrap().unwrap();
        assert_eq!(sound.after, Duration::from_millis(700));
        assert_eq!(sound.pieces.len(), 10);
        assert!(sound.pieces.iter().all(|p| p.byte_len() == 800));
        let audio = mulaw_samples(SHIPPED).unwrap();
        assert_eq!(audio.len(), 8000);
        // Quiet: no sample past 2.5 % of full scale (μ-law codes are
        // stored inverted; 0xFF and 0x7F are silence).
        let loudest = audio
            .iter()
            .map(|&b| decode(b).unsigned_abs())
            .max()
            .unwrap();
        assert!(loudest > 100 && loudest < 820, "{loudest}");
    }

    /// G.711 μ-law decoding, for the test's loudness check.
    fn decode(byte: u8) -> i16 {
        let byte = !byte;
        let sign = byte & 0x80;
        let exponent = (byte >> 4) & 0x07;
        let mantissa = i16::from(byte & 0x0F);
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        if sign == 0 { magnitude } else { -magnitude }
    }

    #[test]
    fn the_shipped_sound_is_what_its_script_writes() {
        let Ok(output) = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/hold.py"))
            .arg("-")
            .output()
        else {
            eprintln!("python3 is not installed: the script was not run");
            return;
        };
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.stdout == SHIPPED,
            "assets/hold.wav is not what assets/hold.py writes: run it"
        );
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let frame = [0xFF_u8; 160];
        assert_eq!(mulaw_samples(&wav(7, 8000, 1, &frame)).unwrap(), frame);
        for (file, reason) in [
            (wav(1, 8000, 1, &frame), "not G.711 μ-law"),
            (wav(7, 16_000, 1, &frame), "16000 Hz"),
            (wav(7, 8000, 2, &frame), "not mono"),
            (wav(7, 8000, 1, &frame[..100]), "less than 20 ms"),
            (b"not a wav".to_vec(), "not a WAV file"),
        ] {
            let err = mulaw_samples(&file).unwrap_err();
            assert!(err.contains(reason), "{err}");
        }
        // A part frame at the end is dropped.
        let odd = [0xFF_u8; 250];
        assert_eq!(mulaw_samples(&wav(7, 8000, 1, &odd)).unwrap().len(), 160);
    }

    #[test]
    fn an_operators_file_is_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.wav");
        std::fs::write(&good, wav(7, 8000, 1, &[0x7F_u8; 2000])).unwrap();
        let sound = HoldSettings {
            file: good.display().to_string(),
            after_ms: 300,
            ..HoldSettings::default()
        }
        .sound()
        .unwrap()
        .unwrap();
        let lengths: Vec<u32> = sound.pieces.iter().map(AudioChunk::byte_len).collect();
        assert_eq!(lengths, [800, 800, 320], "whole frames: 2000 bytes → 1920");
        assert_eq!(sound.after, Duration::from_millis(300));

        let big = dir.path().join("big.wav");
        std::fs::write(
            &big,
            vec![0_u8; usize::try_from(MAX_FILE_BYTES).unwrap() + 1],
        )
        .unwrap();
        let settings = |file: &std::path::Path| HoldSettings {
            file: file.display().to_string(),
            ..HoldSettings::default()
        };
        assert!(matches!(
            settings(&big).sound(),
            Err(HoldFileError::TooLarge { .. })
        ));
        let missing = dir.path().join("missing.wav");
        assert!(matches!(
            settings(&missing).sound(),
            Err(HoldFileError::Read { .. })
        ));
        let pcm = dir.path().join("pcm.wav");
        std::fs::write(&pcm, wav(1, 8000, 1, &[0_u8; 320])).unwrap();
        let err = settings(&pcm).sound().unwrap_err().to_string();
        assert!(err.contains("pcm_mulaw"), "{err}");
        let off = HoldSettings {
            enabled: false,
            ..settings(&missing)
        };
        assert!(
            off.sound().unwrap().is_none(),
            "off: the file is not even read"
        );
    }
}
