//! The phone leg: [`AudioInbound`] and what it speaks, the caller's
//! [`PhoneEvent`]s and the [`PhoneCommand`]s sent back.

use std::task::{Context, Poll};

use async_trait::async_trait;

use super::{EndReason, LegError};
use crate::types::{AudioChunk, CallSid, CallerId, LegId, MarkName, PhoneNumber};

/// How audio samples are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioEncoding {
    /// G.711 μ-law: what phones send and the model takes.
    MuLaw,
    /// Any other encoding, by the name the phone leg gave it.
    Other(String),
}

impl std::fmt::Display for AudioEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MuLaw => f.write_str("G.711 μ-law"),
            Self::Other(name) => f.write_str(name),
        }
    }
}

/// The audio format the phone leg announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFormat {
    /// The encoding.
    pub encoding: AudioEncoding,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
}

impl MediaFormat {
    /// G.711 μ-law, 8 kHz, mono: what phones send and the model takes.
    pub fn mulaw_8k_mono() -> Self {
        Self {
            encoding: AudioEncoding::MuLaw,
            sample_rate: 8000,
            channels: 1,
        }
    }

    /// Whether audio in this format can be relayed without transcoding.
    pub fn is_relayable(&self) -> bool {
        self.encoding == AudioEncoding::MuLaw && self.sample_rate == 8000 && self.channels == 1
    }
}

/// Where the caller's audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioRoute {
    /// Through this leg, in this format: the bridge relays it both ways,
    /// places marks and clears the caller's queue.
    Relayed(MediaFormat),
    /// Straight between the caller and the model's side, which plays its
    /// own audio and stops it when the caller speaks: the leg carries the
    /// call's control only (who is calling, ending it, handing it over),
    /// and no audio, mark or clear passes through it.
    Direct,
}

impl AudioRoute {
    /// Whether the call can go on this route: direct audio always can,
    /// relayed audio when it needs no transcoding.
    pub fn is_supported(&self) -> bool {
        match self {
            Self::Relayed(format) => format.is_relayable(),
            Self::Direct => true,
        }
    }
}

/// The phone leg's `start`: who is calling, and where their audio goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The leg's id: the call's key (a media stream's id, or the id the
    /// model's side gave a call it answered).
    pub leg_id: LegId,
    /// The phone network's call id, when sent.
    pub call_sid: Option<CallSid>,
    /// Who is calling, masked, when the leg was told.
    pub caller: Option<CallerId>,
    /// The caller's whole number, when the leg knows it (and texting is
    /// on): kept in the call's memory for a text the caller asks for,
    /// never shown.
    pub caller_number: Option<PhoneNumber>,
    /// The number the caller dialled, when the leg knows it.
    pub called_number: Option<PhoneNumber>,
    /// Where the caller's audio goes.
    pub audio: AudioRoute,
}

/// An event from the caller's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The leg is up (its first event).
    Connected,
    /// The stream started.
    Start(CallInfo),
    /// Caller audio.
    Media {
        /// Milliseconds since the stream started, on the phone's clock.
        timestamp_ms: u64,
        /// The audio.
        audio: AudioChunk,
    },
    /// A mark we placed has been reached (or cleared).
    Mark(MarkName),
    /// A mark name we never placed (ignored).
    ForeignMark,
    /// A key press.
    Dtmf(char),
    /// The stream ended.
    Stop,
}

/// A command to the caller's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneCommand {
    /// Play this audio.
    Media(AudioChunk),
    /// Tell us when playback reaches this point.
    Mark(MarkName),
    /// Drop all queued audio now.
    Clear,
}

/// The phone leg of one call: caller events in; audio, marks and clears out.
///
/// The per-frame methods are plain functions, `poll_recv` in the shape of
/// a stream's `poll_next`: 50 frames a second each way on every call go
/// through them, and an `async fn` here would box a future on every call
/// of it. Only `close`, once a call, is `async`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AudioInbound: Send {
    /// The caller's next event: `Ready(None)` once the leg has closed;
    /// `Pending` until there is one, with `cx`'s task woken then.
    ///
    /// Polling it also carries on writing what was queued. Nothing is lost
    /// when the runner stops polling it for another of its inputs: the leg
    /// holds whatever it was in the middle of.
    // The lifetime is named, not `'_`, for mockall's sake.
    fn poll_recv<'a>(&mut self, cx: &mut Context<'a>) -> Poll<Option<PhoneEvent>>;

    /// Queues audio to play, a mark, or a clear of queued audio. It goes
    /// out at the next [`flush`](Self::flush), or while
    /// [`poll_recv`](Self::poll_recv) is polled; queueing never waits for
    /// the caller's side.
    ///
    /// # Errors
    /// [`LegError::Backlogged`] when the caller's side has stopped taking
    /// what was sent and the leg's bounded queue is full; another
    /// [`LegError`] when the leg can no longer be written to.
    fn send(&mut self, command: PhoneCommand) -> Result<(), LegError>;

    /// Starts writing what [`send`](Self::send) queued, all of it at once,
    /// without waiting for the caller's side to take it: what the socket
    /// does not take now goes out while `poll_recv` is polled, `cx`'s task
    /// woken to go on. A leg whose peer takes nothing for its write
    /// timeout closes (`poll_recv` answers `None`).
    ///
    /// # Errors
    /// [`LegError`] when the leg can no longer be written to.
    fn flush<'a>(&mut self, cx: &mut Context<'a>) -> Result<(), LegError> {
        let _ = cx;
        Ok(())
    }

    /// Closes the leg; later sends fail. `reason` says why the call ended,
    /// so the phone side can do what follows (hang up, say goodbye or
    /// sorry, hand the caller over to a person).
    async fn close(&mut self, reason: EndReason);
}
