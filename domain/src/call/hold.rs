//! The hold sound: what a caller hears while a tool works and nobody
//! speaks, so a slow answer is not silence.
//!
//! The session decides when it plays (see `CallSession`): after a tool has
//! run for [`HoldSound::after`] with no assistant audio queued and the
//! caller quiet, until the tools answer, the assistant speaks or the
//! caller does. It is sent as the phone leg's audio, a piece at a time,
//! a little ahead of playback; it is never assistant audio, so nothing of
//! it is counted when an answer is truncated.

use std::sync::Arc;
use std::time::Duration;

use crate::types::AudioChunk;

/// A sound to play while tools work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldSound {
    /// How long a tool runs before it starts.
    pub after: Duration,
    /// The sound, in pieces played in turn and looped, in the phone leg's
    /// audio (each a whole number of frames).
    pub pieces: Arc<[AudioChunk]>,
}

impl HoldSound {
    /// A hold sound of `pieces`, none of them empty; `None` when there is
    /// nothing to play.
    pub fn new(after: Duration, pieces: Vec<AudioChunk>) -> Option<Self> {
        let pieces: Vec<AudioChunk> = pieces.into_iter().filter(|p| p.byte_len() > 0).collect();
        (!pieces.is_empty()).then(|| Self {
            after,
            pieces: pieces.into(),
        })
    }

    /// The piece at `index`, looping.
    pub(crate) fn piece(&self, index: usize) -> &AudioChunk {
        &self.pieces[index % self.pieces.len()]
    }
}

/// Pieces sent as the sound starts: what playback runs ahead by.
pub(crate) const LEAD: usize = 2;
/// How often a hold waiting for quiet checks again.
pub(crate) const RECHECK: Duration = Duration::from_millis(200);

/// Where the hold sound is in a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Not playing, nothing waited for.
    Idle,
    /// A tool runs: the sound starts when its timer comes, if still quiet.
    Waiting,
    /// Playing; the next piece to send.
    Playing { next: usize },
}
