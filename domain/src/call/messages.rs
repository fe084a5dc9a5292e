//! The messages the call runner exchanges with the phone and model legs.
//!
//! These are domain types: adapters decode their wire formats into them and
//! encode them back. Nothing here knows JSON field names or base64.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::tools::ToolSpec;
use crate::types::{
    AudioChunk, CallSid, ItemId, MarkName, RawFrame, ResponseId, StreamSid, ToolCallId,
};

/// The audio format the phone leg announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFormat {
    /// Encoding name, e.g. `audio/x-mulaw`.
    pub encoding: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u32,
}

impl MediaFormat {
    /// G.711 μ-law, 8 kHz, mono: what Twilio sends and the model takes.
    pub fn mulaw_8k_mono() -> Self {
        Self {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8000,
            channels: 1,
        }
    }

    /// Whether audio in this format can be relayed without transcoding.
    pub fn is_relayable(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("audio/x-mulaw")
            && self.sample_rate == 8000
            && self.channels == 1
    }
}

/// The phone leg's `start`: who is calling, in what format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    /// The stream id: the call's key.
    pub stream_sid: StreamSid,
    /// Twilio's call id, when sent.
    pub call_sid: Option<CallSid>,
    /// The audio format.
    pub media_format: MediaFormat,
    /// `<Parameter>` values from the TwiML, in order.
    pub custom_parameters: Vec<(String, String)>,
}

/// An event from the caller's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneEvent {
    /// The socket is up (Twilio's first frame).
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

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    /// It finished.
    Completed,
    /// It was cancelled (by the server's turn detection or by us).
    Cancelled,
    /// It failed.
    Failed,
    /// It stopped early (token limit, content filter).
    Incomplete,
    /// A status this version does not know.
    Other,
}

/// An event from the model, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// The session exists.
    SessionCreated,
    /// The session configuration was applied; `tools` counts the tools it holds.
    SessionUpdated {
        /// How many tools the session has.
        tools: usize,
    },
    /// The caller started speaking.
    SpeechStarted {
        /// Position in the input audio.
        audio_start_ms: u64,
        /// The user item that will hold the speech.
        item_id: Option<ItemId>,
    },
    /// The caller stopped speaking.
    SpeechStopped {
        /// Position in the input audio.
        audio_end_ms: u64,
    },
    /// A response began.
    ResponseCreated {
        /// Its id.
        response_id: ResponseId,
    },
    /// A response ended.
    ResponseDone {
        /// Its id.
        response_id: ResponseId,
        /// How.
        status: ResponseStatus,
    },
    /// Assistant audio.
    AudioDelta {
        /// The response it belongs to.
        response_id: Option<ResponseId>,
        /// The assistant item it belongs to.
        item_id: ItemId,
        /// The audio.
        audio: AudioChunk,
    },
    /// The model wants a tool run.
    FunctionCall {
        /// The invocation id to answer with.
        call_id: ToolCallId,
        /// The tool's name.
        name: Arc<str>,
        /// Its arguments, as JSON text (possibly invalid).
        arguments: Arc<str>,
    },
    /// The model reported an error; the session goes on.
    Error {
        /// The error code, if any.
        code: Option<String>,
        /// The message.
        message: String,
    },
    /// Anything else.
    Other,
}

/// A decoded model event together with its original form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFrame {
    /// The decoded event.
    pub event: ModelEvent,
    /// The event as the model sent it, for observers.
    pub raw: RawFrame,
}

impl ModelFrame {
    /// A frame with no original form (tests and synthetic events).
    pub fn bare(event: ModelEvent) -> Self {
        Self {
            event,
            raw: RawFrame::default(),
        }
    }
}

/// A command to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelCommand {
    /// Append caller audio to the input buffer.
    AppendAudio(AudioChunk),
    /// Start a response.
    CreateResponse,
    /// Cancel the active response.
    CancelResponse,
    /// Cut an assistant item at what the caller heard.
    Truncate {
        /// The item.
        item_id: ItemId,
        /// The point heard.
        audio_end_ms: u64,
    },
    /// Answer a tool invocation.
    ToolOutput {
        /// The invocation.
        call_id: ToolCallId,
        /// The result, as JSON text (encoded once).
        output: Arc<str>,
    },
}

/// Kinds of turn detection the model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionKind {
    /// Voice activity by audio energy and silence.
    ServerVad,
    /// Voice activity by meaning.
    SemanticVad,
}

/// Turn detection settings (`[openai.turn_detection]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnDetection {
    /// Which detector: `server_vad` or `semantic_vad`.
    #[serde(rename = "type")]
    pub kind: TurnDetectionKind,
    /// Activation threshold, 0 to 1 (server VAD).
    pub threshold: f32,
    /// Audio kept before speech starts (server VAD).
    pub prefix_padding_ms: u32,
    /// Silence that ends a turn (server VAD).
    pub silence_duration_ms: u32,
    /// Eagerness (semantic VAD): `low`, `medium`, `high` or `auto`.
    pub eagerness: String,
    /// Whether the server cancels its own response when the caller speaks.
    pub interrupt_response: bool,
}

impl Default for TurnDetection {
    fn default() -> Self {
        Self {
            kind: TurnDetectionKind::ServerVad,
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            eagerness: "auto".to_owned(),
            interrupt_response: true,
        }
    }
}

/// Everything the model session is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSetup {
    /// The system instructions.
    pub instructions: String,
    /// The voice.
    pub voice: String,
    /// Turn detection.
    pub turn_detection: TurnDetection,
    /// Noise reduction (`near_field`, `far_field`), if any.
    pub noise_reduction: Option<String>,
    /// The input transcription model.
    pub transcription_model: String,
    /// The tools offered.
    pub tools: Vec<ToolSpec>,
}
