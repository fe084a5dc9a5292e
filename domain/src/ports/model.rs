//! The voice-model leg: a [`VoiceModel`] opens a [`ModelSession`]
//! configured by a [`SessionSetup`]; the session speaks [`ModelEvent`]s and
//! takes [`ModelCommand`]s. What differs between voice models that matters
//! to a call (who stops the assistant when the caller speaks, whether its
//! speech comes in responses it confirms) is a [`ModelTraits`]; every
//! vendor setting (voices, turn detection, formats) belongs to its adapter.

use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use serde_json::Value;

use super::LegError;
use super::phone::CallInfo;
use crate::types::{AudioChunk, ItemId, RawFrame, ResponseId, ToolCallId};

/// Opening a model session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The model service could not be reached or refused the connection.
    #[error("could not connect to the model: {0}")]
    Connect(String),
    /// Connecting took longer than allowed.
    #[error("connecting to the model timed out")]
    Timeout,
    /// The model service refused this session for good (a bad key, an
    /// unknown model, no quota): trying again would not help.
    #[error("the model refused the session: {0}")]
    Rejected(String),
}

impl ModelError {
    /// Whether trying again cannot help.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Rejected(_))
    }
}

/// A tool's description for the model: name, purpose, JSON Schema of its
/// arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
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
    /// The session confirmed its configuration; `tools` counts the tools
    /// it holds.
    Ready {
        /// How many tools the session has.
        tools: usize,
    },
    /// The caller started speaking (as the model heard it).
    SpeechStarted,
    /// The assistant began an utterance. A model whose audio streams on,
    /// silence included, between utterances says so (its audio does not
    /// tell); a model whose audio is its speech need not.
    AssistantSpeaking,
    /// The caller stopped speaking.
    SpeechStopped,
    /// The model's side stopped playing the assistant's audio to the
    /// caller: all of it was heard, or the caller spoke over it. Only a
    /// model that plays its audio to the caller itself, none of it
    /// passing through the bridge, says so; it said
    /// [`AssistantSpeaking`](Self::AssistantSpeaking) when it began.
    PlayedOut,
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
        /// The tokens it used, when the model said.
        usage: Option<Usage>,
    },
    /// Assistant audio.
    AudioDelta {
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
    /// What the caller said in a turn, as the model transcribed it.
    CallerTranscript {
        /// The words.
        text: Arc<str>,
    },
    /// What the assistant said in a response, as far as it was generated.
    AssistantTranscript {
        /// The words.
        text: Arc<str>,
    },
    /// Billed use reported apart from any response (a model billed by
    /// the minute reports its session time so far this way, as an
    /// increment).
    Usage(Usage),
    /// The model reported an error; the session goes on.
    Error {
        /// What kind of error, as far as the call cares.
        kind: ModelErrorKind,
        /// The model's own code, if any: shown to observers, never matched.
        code: Option<String>,
        /// The message.
        message: String,
    },
    /// Anything else.
    Other,
}

/// The model errors the call reacts to; the adapter maps the model's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelErrorKind {
    /// A response was asked for while one was already active.
    ResponseAlreadyActive,
    /// A passing condition (rate limit, server error): asking again later
    /// may succeed.
    Transient,
    /// The session cannot go on (no quota, a bad key, a session expired).
    Fatal,
    /// Anything else: reported, nothing more.
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
    /// Speak now on the model's own initiative, as `prompt` says (the
    /// greeting, or answering again after a reconnect), to a model that
    /// does not confirm responses; one that does is sent
    /// [`CreateResponse`](Self::CreateResponse) instead.
    Speak {
        /// What to do, in words for the model.
        prompt: Arc<str>,
    },
    /// Start a response: the answer after tool outputs, or, to a model
    /// that confirms responses, the greeting.
    CreateResponse,
    /// Cancel the active response.
    CancelResponse,
    /// Remove an assistant item the caller never heard from the
    /// conversation.
    DeleteItem {
        /// The item.
        item_id: ItemId,
    },
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

/// Everything a model session is configured with that the call decides;
/// the rest (voice, audio format, turn detection) is the adapter's.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSetup {
    /// The system instructions.
    pub instructions: String,
    /// The tools offered.
    pub tools: Vec<ToolSpec>,
}

/// Who stops the assistant when the caller speaks over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// The bridge: it clears the caller's queued audio and truncates the
    /// item being heard where the caller was, since the model cannot know
    /// what played. `cancels` when the bridge must also cancel the
    /// response (the model does not cancel its own).
    BridgeTruncates {
        /// Whether the bridge cancels the response itself.
        cancels: bool,
    },
    /// The model stops itself and keeps track of what was said; the bridge
    /// truncates nothing. It clears the caller's queue only when more than
    /// this much audio is queued ahead of the caller (a model that paces
    /// its audio in real time leaves next to none).
    ModelStops {
        /// Audio queued ahead of the caller past which a clear is sent.
        clear_above_ms: u64,
    },
}

/// What differs between voice models that changes how a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelTraits {
    /// Who stops the assistant when the caller speaks.
    pub interruption: Interruption,
    /// Whether everything the model says comes in responses the bridge
    /// asks for and the model confirms (created, then done), the greeting
    /// included. A model that speaks on its own (its responses carry only
    /// the work after tool calls) is asked to greet with
    /// [`ModelCommand::Speak`], which nothing confirms.
    pub confirms_responses: bool,
}

impl Default for ModelTraits {
    fn default() -> Self {
        Self {
            interruption: Interruption::BridgeTruncates { cancels: false },
            confirms_responses: true,
        }
    }
}

/// The voice model: opens one model session per call.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait VoiceModel: Send + Sync {
    /// How this model runs a call.
    fn traits(&self) -> ModelTraits;

    /// Opens a session for `call`, configured by `setup`. `context`, for a
    /// session taking over from a lost one, is what it must know of the
    /// call so far (given before any audio).
    ///
    /// # Errors
    /// [`ModelError`] when the model cannot be reached.
    async fn open(
        &self,
        call: &CallInfo,
        setup: &SessionSetup,
        context: Option<Arc<str>>,
    ) -> Result<Box<dyn ModelSession>, ModelError>;
}

/// One open session with the voice model.
///
/// As on [`AudioInbound`](super::AudioInbound), the per-frame methods are
/// plain functions and `poll_recv` has a stream's shape, so relaying an
/// audio frame boxes no future; only `close` is `async`.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ModelSession: Send {
    /// The model's next event: `Ready(None)` once the session has closed;
    /// `Pending` until there is one, with `cx`'s task woken then.
    ///
    /// Polling it also carries on writing what was queued. Nothing is lost
    /// when the runner stops polling it for another of its inputs.
    // The lifetime is named, not `'_`, for mockall's sake.
    fn poll_recv<'a>(&mut self, cx: &mut Context<'a>) -> Poll<Option<ModelFrame>>;

    /// Queues a command for the model. It goes out at the next
    /// [`flush`](Self::flush), or while [`poll_recv`](Self::poll_recv) is
    /// polled; queueing never waits for the model.
    ///
    /// # Errors
    /// [`LegError::Backlogged`] when the model has stopped taking what was
    /// sent and the session's bounded queue is full; another [`LegError`]
    /// when the session can no longer be written to.
    fn send(&mut self, command: ModelCommand) -> Result<(), LegError>;

    /// Starts writing what [`send`](Self::send) queued without waiting for
    /// the model to take it; the rest goes out while `poll_recv` is polled.
    /// A session whose peer takes nothing for its write timeout closes
    /// (`poll_recv` answers `None`).
    ///
    /// # Errors
    /// [`LegError`] when the session can no longer be written to.
    fn flush<'a>(&mut self, cx: &mut Context<'a>) -> Result<(), LegError> {
        let _ = cx;
        Ok(())
    }

    /// Closes the session; the billed use it reported while closing (a
    /// model billed by the minute reports its final session time then),
    /// not yet given as an event.
    async fn close(&mut self) -> Option<Usage>;
}

/// Tokens a response used, by modality, as the model bills them.
///
/// Input counts include the cached part; `cached_*` says how much of each
/// modality's input was served from the model's cache (billed lower).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Text input tokens (instructions, transcripts, tool outputs).
    pub input_text: u64,
    /// Audio input tokens.
    pub input_audio: u64,
    /// Image input tokens.
    pub input_image: u64,
    /// The cached part of `input_text`.
    pub cached_text: u64,
    /// The cached part of `input_audio`.
    pub cached_audio: u64,
    /// The cached part of `input_image`.
    pub cached_image: u64,
    /// Text output tokens.
    pub output_text: u64,
    /// Audio output tokens.
    pub output_audio: u64,
    /// Billed session time, in ms, for a model billed by the minute.
    pub session_ms: u64,
}

/// What one modality's tokens cost, in millionths of a dollar per million
/// tokens (so $4.00 a million is 4,000,000); `None` where the price is not
/// known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    /// Fresh input.
    pub input: Option<u64>,
    /// Cached input.
    pub cached_input: Option<u64>,
    /// Output.
    pub output: Option<u64>,
}

/// What a model charges per modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    /// Text tokens.
    pub text: Rates,
    /// Audio tokens.
    pub audio: Rates,
    /// Image tokens.
    pub image: Rates,
    /// A minute of session, for a model billed by the minute (in
    /// millionths of a dollar).
    pub per_minute: Option<u64>,
}

impl Usage {
    /// What these tokens cost at `prices`, in millionths of a dollar
    /// (rounded up): each modality's cached input at its cached rate, the
    /// rest of its input at the fresh rate, its output at the output rate.
    /// `None` when tokens of a kind whose price is not known were used:
    /// an unknown figure, never a made-up one.
    pub fn cost_micros(&self, prices: &Prices) -> Option<u64> {
        let modalities = [
            (
                self.input_text,
                self.cached_text,
                self.output_text,
                prices.text,
            ),
            (
                self.input_audio,
                self.cached_audio,
                self.output_audio,
                prices.audio,
            ),
            (self.input_image, self.cached_image, 0, prices.image),
        ];
        let mut micros_times_million: u128 = 0;
        for (input, cached, output, rates) in modalities {
            // Counts the model got wrong (more cached than read) never
            // underflow: the cached part is at most the input.
            let cached = cached.min(input);
            for (tokens, rate) in [
                (input - cached, rates.input),
                (cached, rates.cached_input),
                (output, rates.output),
            ] {
                if tokens > 0 {
                    micros_times_million += u128::from(tokens) * u128::from(rate?);
                }
            }
        }
        if self.session_ms > 0 {
            // Millionths of a dollar a minute, times ms, is a millionth of
            // a dollar times 60,000.
            micros_times_million +=
                u128::from(self.session_ms) * u128::from(prices.per_minute?) * 1_000_000 / 60_000;
        }
        Some(u64::try_from(micros_times_million.div_ceil(1_000_000)).unwrap_or(u64::MAX))
    }

    /// All cached input tokens.
    pub fn cached_input(&self) -> u64 {
        self.cached_text + self.cached_audio + self.cached_image
    }

    /// All tokens, in and out.
    pub fn total(&self) -> u64 {
        self.input_text + self.input_audio + self.input_image + self.output_text + self.output_audio
    }

    /// Adds another response's tokens (saturating).
    pub fn add(&mut self, other: &Usage) {
        for (mine, theirs) in [
            (&mut self.input_text, other.input_text),
            (&mut self.input_audio, other.input_audio),
            (&mut self.input_image, other.input_image),
            (&mut self.cached_text, other.cached_text),
            (&mut self.cached_audio, other.cached_audio),
            (&mut self.cached_image, other.cached_image),
            (&mut self.output_text, other.output_text),
            (&mut self.output_audio, other.output_audio),
            (&mut self.session_ms, other.session_ms),
        ] {
            *mine = mine.saturating_add(theirs);
        }
    }
}
