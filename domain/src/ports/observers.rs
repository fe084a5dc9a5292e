//! Observers: [`EventSink`] and what it hears about calls, one closed
//! enum, [`CallEvent`].
//!
//! Events are produced by the call runner and handed to the
//! [`EventSink`] port. They must be cheap to clone:
//! a dashboard may fan one event out to many clients.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::ports::{TextFailure, Usage};
use crate::types::{AudioMs, CallSid, CallerId, ItemId, LegId, RawFrame};

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The phone leg said the stream stopped: the caller hung up or the
    /// stream ended.
    PhoneStopped,
    /// The phone socket closed without `stop`.
    PhoneClosed,
    /// The model socket closed.
    ModelClosed,
    /// The model could not be reached.
    ModelUnavailable,
    /// The stream's audio was not μ-law at 8 kHz mono.
    UnsupportedMediaFormat,
    /// The phone leg never sent `start`.
    NeverStarted,
    /// The server is shutting down.
    Shutdown,
    /// The model refused the call for good: a bad key, no quota, a
    /// rejected session configuration.
    ModelRefused,
    /// The caller's side sent no audio for too long.
    CallerSilent,
    /// The call reached the longest a call may last.
    MaxDuration,
    /// The assistant said goodbye and ended the call (the caller was done).
    AgentEnded,
    /// The assistant handed the caller over to a person.
    Transferred,
    /// The stream started when every line was taken: the call was never
    /// put through.
    LinesBusy,
}

impl EndReason {
    /// Every reason.
    pub const ALL: [Self; 13] = [
        Self::PhoneStopped,
        Self::PhoneClosed,
        Self::ModelClosed,
        Self::ModelUnavailable,
        Self::UnsupportedMediaFormat,
        Self::NeverStarted,
        Self::Shutdown,
        Self::ModelRefused,
        Self::CallerSilent,
        Self::MaxDuration,
        Self::AgentEnded,
        Self::Transferred,
        Self::LinesBusy,
    ];

    /// The reason named `name` (as [`Self::as_str`] names it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == name)
    }

    /// A short, stable name for logs and observers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PhoneStopped => "phone_stopped",
            Self::PhoneClosed => "phone_closed",
            Self::ModelClosed => "model_closed",
            Self::ModelUnavailable => "model_unavailable",
            Self::UnsupportedMediaFormat => "unsupported_media_format",
            Self::NeverStarted => "never_started",
            Self::Shutdown => "shutdown",
            Self::ModelRefused => "model_refused",
            Self::CallerSilent => "caller_silent",
            Self::MaxDuration => "max_duration",
            Self::AgentEnded => "agent_ended",
            Self::Transferred => "transferred",
            Self::LinesBusy => "lines_busy",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that happened in a call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The phone leg sent `start`.
    Started {
        /// The phone network's call id.
        call_sid: Option<CallSid>,
        /// Who is calling, masked.
        caller: Option<CallerId>,
        /// The voice model answering it.
        model: Arc<str>,
        /// The API that model speaks (a label for observers).
        api: Arc<str>,
    },
    /// What the call is doing changed.
    Activity {
        /// What it is doing now.
        activity: Activity,
    },
    /// Someone finished saying something (the model's transcript of it).
    Turn {
        /// Who.
        speaker: Speaker,
        /// What, as transcribed.
        text: Arc<str>,
    },
    /// An event from the model, exactly as it sent it.
    Model {
        /// Whether it carries output audio (most of the bytes; observers
        /// usually skip these).
        audio: bool,
        /// The event as received.
        raw: RawFrame,
    },
    /// A tool ran.
    ToolCalled {
        /// The tool's name.
        name: Arc<str>,
        /// The arguments as the model sent them.
        arguments: Arc<str>,
        /// The result as sent back to the model.
        result: Arc<str>,
        /// Whether the result is an error result.
        is_error: bool,
        /// How long it took.
        latency: Duration,
        /// Requests it sent to the taste graph's service (cache hits send
        /// none).
        upstream_requests: u32,
    },
    /// The caller spoke over the assistant.
    BargeIn {
        /// The assistant item cut short.
        item_id: ItemId,
        /// How much of it the caller heard.
        audio_end: AudioMs,
        /// Items of the answer queued after it that the caller never
        /// heard: none of them reaches the caller, and each is removed
        /// from the conversation.
        unheard: u32,
    },
    /// The hold sound started playing while a tool works (`stopped_by`
    /// `None`), or stopped.
    Hold {
        /// What stopped it.
        stopped_by: Option<HoldStop>,
    },
    /// The caller memory recalled, kept or forgot this caller's likes.
    Memory {
        /// What it did.
        what: MemoryEvent,
    },
    /// The caller pressed a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// Something went wrong that did not end the call.
    Error {
        /// What happened.
        message: Arc<str>,
    },
    /// The model session was lost and is being reopened.
    ModelReconnecting {
        /// Which attempt this is, from 1.
        attempt: u32,
    },
    /// A new model session took over, told what was said so far.
    ModelReconnected {
        /// How long the caller's audio went without a model, on the
        /// phone's media clock.
        gap: AudioMs,
    },
    /// Audio frames taken in from one leg for the other, told every
    /// [`RELAY_SAMPLE`] frames and once more at the end for the rest; with
    /// how long the server held the last of them: from the call receiving
    /// it, decoded, to its write being flushed to the other leg.
    Relayed {
        /// Which way.
        direction: RelayDirection,
        /// Frames since the last report.
        frames: u32,
        /// How long the last one was held, when it was written at once
        /// (not for caller audio buffered while the model reconnects, nor
        /// at the end).
        latency: Option<Duration>,
    },
    /// A model session opened (the first, or one taking over).
    ModelConnected {
        /// From asking for it to its socket being ready.
        took: Duration,
    },
    /// The first assistant audio of an answer went to the caller.
    FirstAudio {
        /// How long after the model heard the caller stop speaking, on the
        /// phone's media clock (20 ms steps).
        after: AudioMs,
    },
    /// A response's tokens, and the call's so far.
    Usage {
        /// This response's.
        response: Usage,
        /// The call's, this response included.
        total: Usage,
        /// What the call's tokens cost so far at the model's prices, in
        /// millionths of a dollar (an estimate); `None` when the model's
        /// prices are not known.
        cost_micros: Option<u64>,
    },
    /// The call is over.
    Ended {
        /// Why.
        reason: EndReason,
    },
    /// A caller handed over to a person was taken, or not (told after
    /// the call's own end).
    Handoff {
        /// How it went.
        outcome: HandoffOutcome,
    },
    /// The phone network says the call's stream failed (before or
    /// outside the call's own leg: a refused handshake, a bad URL).
    StreamFailed {
        /// The network's words for it.
        error: Arc<str>,
    },
    /// The caller's picks were texted to them, or that failed (once a
    /// call at most).
    Texted {
        /// `None` when it was sent, else why not.
        failure: Option<TextFailure>,
        /// Picks it listed.
        picks: u32,
        /// Parts it is billed as, when the service said.
        segments: Option<u32>,
    },
    /// The call's report to the operator was delivered, not taken yet
    /// (it will be sent again), or given up (told after the call's end).
    Reported {
        /// Attempts so far.
        attempts: u32,
        /// Where its delivery stands.
        state: ReportState,
    },
}

/// Where the delivery of a call's report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportState {
    /// The operator's endpoint took it.
    Delivered,
    /// Not taken yet: it will be sent again.
    Retrying,
    /// Given up (retries exhausted, or the endpoint is gone).
    GivenUp,
}

impl ReportState {
    /// A short, stable name for observers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::GivenUp => "given_up",
        }
    }
}

/// How a transfer to a person went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffOutcome {
    /// The person answered and the caller was put through.
    Answered,
    /// The line was busy.
    Busy,
    /// Nobody answered in time.
    NoAnswer,
    /// The transfer could not be made (or was cancelled).
    Failed,
}

impl HandoffOutcome {
    /// A short, stable name for observers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Failed => "failed",
        }
    }
}

/// Every this-many-th audio frame each way is timed ([`CallEvent::Relayed`]):
/// often enough for percentiles, rare enough to cost nothing per frame.
pub const RELAY_SAMPLE: u32 = 16;

/// The way an audio frame was relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayDirection {
    /// Caller to model.
    Uplink,
    /// Model to caller.
    Downlink,
}

impl RelayDirection {
    /// `uplink` or `downlink`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Uplink => "uplink",
            Self::Downlink => "downlink",
        }
    }
}

/// What the caller memory did for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryEvent {
    /// A returning caller: this many likes recalled.
    Recalled(u32),
    /// Kept, after the caller said yes: this many likes.
    Stored(u32),
    /// Deleted at the caller's request (whether anything was kept).
    Forgotten(bool),
    /// The store could not be reached.
    Failed,
}

/// What stopped the hold sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStop {
    /// The tools answered.
    Tool,
    /// The assistant began to speak.
    Model,
    /// The caller began to speak.
    Caller,
    /// The call moved on otherwise (the model session was lost, the call
    /// is closing).
    Call,
}

impl HoldStop {
    /// `tool`, `model`, `caller` or `call`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Model => "model",
            Self::Caller => "caller",
            Self::Call => "call",
        }
    }
}

/// What a call is doing, as someone watching it would say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// The voice model is being reached.
    Connecting,
    /// The assistant is greeting the caller (before the caller spoke).
    Greeting,
    /// The caller has the floor (speaking, or the assistant waits for them).
    Listening,
    /// A response is being prepared and no audio has been sent yet.
    Thinking,
    /// The assistant's audio is playing to the caller.
    Speaking,
    /// A tool the model called is running.
    ToolRunning,
    /// The model session was lost and is being reopened.
    Reconnecting,
}

impl Activity {
    /// `connecting`, `greeting`, `listening`, `thinking`, `speaking`,
    /// `tool_running` or `reconnecting`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Greeting => "greeting",
            Self::Listening => "listening",
            Self::Thinking => "thinking",
            Self::Speaking => "speaking",
            Self::ToolRunning => "tool_running",
            Self::Reconnecting => "reconnecting",
        }
    }
}

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The person on the phone.
    Caller,
    /// The voice model.
    Assistant,
}

impl Speaker {
    /// `caller` or `assistant`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Assistant => "assistant",
        }
    }
}

impl CallEvent {
    /// The event's name in the dashboard's envelope form.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Started { .. } => "call.started",
            Self::Activity { .. } => "call.state",
            Self::Turn { .. } => "turn",
            Self::Model { .. } => "model.event",
            Self::ToolCalled { .. } => "tool.called",
            Self::BargeIn { .. } => "barge_in",
            Self::Hold { .. } => "hold",
            Self::Memory { .. } => "memory",
            Self::Dtmf { .. } => "dtmf",
            Self::Error { .. } => "error",
            Self::ModelReconnecting { .. } => "model_reconnecting",
            Self::ModelReconnected { .. } => "model_reconnected",
            Self::Relayed { .. } => "relayed",
            Self::ModelConnected { .. } => "model_connected",
            Self::FirstAudio { .. } => "first_audio",
            Self::Usage { .. } => "usage",
            Self::Ended { .. } => "call.ended",
            Self::Handoff { .. } => "handoff",
            Self::StreamFailed { .. } => "stream.failed",
            Self::Texted { .. } => "texted",
            Self::Reported { .. } => "reported",
        }
    }
}

/// A [`CallEvent`] with the call it belongs to and when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEventRecord {
    /// The call (its stream id).
    pub call: LegId,
    /// Wall-clock time of the event.
    pub at: SystemTime,
    /// What happened.
    pub event: CallEvent,
}

/// Observers of calls. Implementations must never block or fail the call.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EventSink: Send + Sync {
    /// Hands an event to the observers; returns at once.
    fn emit(&self, record: CallEventRecord);

    /// Whether an observer wants the model's audio events now (most of a
    /// call's bytes, 50 a second): the call hands them over only then.
    fn wants_audio(&self) -> bool;
}
