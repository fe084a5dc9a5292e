//! The call state machine: `on(input) -> commands`.
//!
//! It owns everything a call must remember: ids, the phone's media clock,
//! the assistant audio items being played and how much of each was sent
//! and heard, the marks not yet echoed, the active response, the tool calls in flight,
//! the entities found in this call and the recent turns. It performs no I/O
//! and reads no clock: time is the phone's media clock, which arrives with
//! the audio, and delays are asked of the runner as [`Timer`]s.
//!
//! A model session that is lost (closed, dropped, stalled, expired) is
//! reopened with backoff while the caller's audio is buffered; the new one
//! gets a system message with the recent turns and the entities found (so
//! their ids still work), then the buffered audio. A model error that says
//! the call cannot go on ends it at once.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::control::{self, CallControl};
use super::hold::{self, Hold, HoldSound};
use super::memory::{self, MemoryOp, MemoryOutcome};
use super::texting::{self, Refusal, Texting};
use crate::ports::{Activity, CallEvent, EndReason, HoldStop, Prices, Speaker, Usage};
use crate::ports::{
    AudioRoute, CallInfo, Interruption, ModelCommand, ModelErrorKind, ModelEvent, ModelTraits,
    PhoneCommand, PhoneEvent, ResponseStatus,
};
use crate::ports::{MemoryError, MemoryEvent, Remembered};
use crate::ports::{TextFailure, TextMessage, TextReceipt};
use crate::tools::{Known, KnownEntity, Pick, ToolInvocation, ToolOutcome};
use crate::types::{
    AudioChunk, AudioMs, ItemId, LegId, MarkName, PhoneNumber, ResponseId, ToolCallId,
};

/// Conversation policy knobs that change the session's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// How the voice model runs a call: who stops it when the caller
    /// speaks, whether it confirms its responses.
    pub traits: ModelTraits,
    /// Caller audio kept while the model connects, in 20 ms frames.
    pub max_buffered_frames: usize,
    /// Whether to greet the caller first.
    pub greet: bool,
    /// How many tools the session is configured with. The greeting waits
    /// until the model confirms a session holding them (any, when some
    /// were offered), so the first answer can already use them.
    pub tools_offered: usize,
    /// Times in a row a lost model session is reopened before the call
    /// gives up.
    pub reconnect_attempts: u32,
    /// How long a new model session may take to confirm its configuration
    /// before it is given up and reopened.
    pub ready_timeout: Duration,
    /// How long a requested response may take to start before it is asked
    /// for again.
    pub response_timeout: Duration,
    /// Age at which a model session is replaced at the next quiet moment,
    /// before the service's own cap (some close sessions at 60 minutes).
    pub rollover_after: Duration,
    /// What the model's tokens cost, for the call's estimate; `None` when
    /// the model's prices are not known (the cost is then unknown, never
    /// guessed).
    pub prices: Option<Prices>,
    /// The most characters the context told to a new model session may
    /// take (the recent turns are cut to fit), so it stays well inside the
    /// model's context window.
    pub context_chars: usize,
    /// The call-control tools offered (end the call, hand over to a
    /// person).
    pub control: CallControl,
    /// How much assistant audio is sent between two marks (an item's end
    /// is always marked): what the caller has heard is known at each
    /// echo, and between echoes from the media clock. Zero marks every
    /// piece.
    pub mark_every: AudioMs,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            traits: ModelTraits::default(),
            max_buffered_frames: 100,
            greet: true,
            tools_offered: 1,
            reconnect_attempts: 4,
            ready_timeout: Duration::from_secs(3),
            response_timeout: Duration::from_secs(8),
            rollover_after: Duration::from_secs(55 * 60),
            prices: None,
            context_chars: 16_000,
            control: CallControl::default(),
            mark_every: AudioMs::new(0),
        }
    }
}

/// A delay the session asked for; it comes back as [`Input::Timer`].
/// Timers carry the model session they were set for, so one that fires
/// after that session was replaced is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The model session has not confirmed its configuration yet.
    SessionReady(u32),
    /// A requested response has not started yet.
    ResponseStart(u32),
    /// Ask again for a response a passing error refused.
    RetryResponse(u32),
    /// The model session is old enough to be replaced.
    Rollover(u32),
    /// The call's last line has had long enough to play.
    Closing,
    /// The hold sound may start, or its next piece is due (timers of an
    /// earlier hold are recognised by its number and ignored).
    Hold(u32),
    /// A returning caller's likes took too long: the model opens without.
    Recall,
}

/// Turns kept for the context a new model session is told.
const CONTEXT_TURNS: usize = 12;
/// Characters kept of each turn in that context.
const CONTEXT_TURN_CHARS: usize = 400;
/// Times a response refused by a passing error is asked for again.
const RESPONSE_RETRIES: u32 = 3;
/// What a model that speaks on its own is asked to do first.
const GREET_PROMPT: &str = "Greet the caller now, as your instructions say.";
/// What it is asked after taking over mid-answer.
const RESUME_PROMPT: &str = "Answer the caller's last request again, briefly.";

/// A finished tool run, fed back to the session.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDone {
    /// The invocation.
    pub call_id: ToolCallId,
    /// The tool's name.
    pub name: Arc<str>,
    /// The arguments it was given.
    pub arguments: Arc<str>,
    /// What it produced.
    pub outcome: ToolOutcome,
    /// How long it took.
    pub latency: Duration,
    /// Requests it sent to the taste graph's service (cache hits send none).
    pub upstream_requests: u32,
}

/// A text of the caller's picks, sent or not, fed back to the session.
#[derive(Debug, Clone, PartialEq)]
pub struct TextDone {
    /// The invocation that asked for it.
    pub call_id: ToolCallId,
    /// Its arguments.
    pub arguments: Arc<str>,
    /// What the text service said.
    pub result: Result<TextReceipt, TextFailure>,
    /// How long it took.
    pub latency: Duration,
}

/// One tool call's answer, as [`CallSession::answer_tool`] gives it.
struct ToolAnswer {
    call_id: ToolCallId,
    name: Arc<str>,
    arguments: Arc<str>,
    output: Arc<str>,
    is_error: bool,
    latency: Duration,
    upstream_requests: u32,
}

impl ToolAnswer {
    /// An answer the session gives at once, with no tool run behind it.
    fn at_once(
        call_id: ToolCallId,
        name: Arc<str>,
        arguments: Arc<str>,
        output: Arc<str>,
        is_error: bool,
    ) -> Self {
        Self {
            call_id,
            name,
            arguments,
            output,
            is_error,
            latency: Duration::ZERO,
            upstream_requests: 0,
        }
    }
}

/// A caller memory operation finished.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryDone {
    /// The invocation that asked for it.
    pub call_id: ToolCallId,
    /// The tool's name.
    pub name: Arc<str>,
    /// Its arguments.
    pub arguments: Arc<str>,
    /// What the store did.
    pub result: Result<MemoryOutcome, MemoryError>,
    /// How long it took.
    pub latency: Duration,
}

impl MemoryDone {
    /// What observers are told of it.
    pub fn event(&self) -> CallEvent {
        CallEvent::Memory {
            what: match &self.result {
                Ok(MemoryOutcome::Stored(n)) => {
                    MemoryEvent::Stored(u32::try_from(*n).unwrap_or(u32::MAX))
                }
                Ok(MemoryOutcome::Forgotten(existed)) => MemoryEvent::Forgotten(*existed),
                Err(_) => MemoryEvent::Failed,
            },
        }
    }
}

/// Everything that can happen to a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// An event from the caller's side.
    Phone(PhoneEvent),
    /// The phone leg closed.
    PhoneClosed,
    /// The phone leg did not send `start` in time.
    StartTimeout,
    /// The model session is open.
    ModelOpened,
    /// The model session could not be opened; `fatal` when trying again
    /// cannot help.
    ModelFailed {
        /// Whether the model refused for good.
        fatal: bool,
    },
    /// An event from the model.
    Model(ModelEvent),
    /// The model session closed.
    ModelClosed,
    /// A tool finished.
    Tool(ToolDone),
    /// The caller's text was sent, or not.
    Texted(TextDone),
    /// What the caller memory holds for this caller (`None`: nothing, or
    /// it could not answer).
    Recalled(Option<Remembered>),
    /// A `remember_me` or `forget_me` finished.
    Memory(MemoryDone),
    /// A delay asked for with [`Command::Schedule`] is over.
    Timer(Timer),
    /// The caller's side sent no audio for too long.
    CallerSilent,
    /// The call has lasted as long as a call may.
    MaxDuration,
    /// The server is shutting down.
    Shutdown,
}

/// Everything the session can ask for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send to the caller's side.
    Phone(PhoneCommand),
    /// Send to the model.
    Model(ModelCommand),
    /// Open a model session for this call, after waiting `after`.
    OpenModel {
        /// The call.
        info: CallInfo,
        /// How long to wait first (backoff on a reconnect).
        after: Duration,
        /// What a session taking over from a lost one must know of the
        /// call: the recent turns and the entities found.
        context: Option<Arc<str>>,
    },
    /// Close the model session (it is being replaced).
    CloseModel,
    /// Run a tool.
    RunTool(ToolInvocation),
    /// Drop every tool still running (their answers would go to a model
    /// session that is gone).
    AbortTools,
    /// Send the caller a text (its result comes back as
    /// [`Input::Texted`]); never dropped with the tools.
    SendText {
        /// The invocation that asked for it.
        call_id: ToolCallId,
        /// Its arguments.
        arguments: Arc<str>,
        /// The text.
        message: TextMessage,
    },
    /// Ask the caller memory what it holds for `caller` (the answer comes
    /// back as [`Input::Recalled`]).
    Recall {
        /// The number calling.
        caller: PhoneNumber,
    },
    /// Keep or forget the caller's likes (the result comes back as
    /// [`Input::Memory`]); never dropped with the tools.
    Memory {
        /// The invocation that asked for it.
        call_id: ToolCallId,
        /// The tool's name.
        name: Arc<str>,
        /// Its arguments.
        arguments: Arc<str>,
        /// The number calling.
        caller: PhoneNumber,
        /// What to do.
        op: MemoryOp,
    },
    /// Feed [`Input::Timer`] back after `after`.
    Schedule {
        /// Which.
        timer: Timer,
        /// When.
        after: Duration,
    },
    /// Tell observers.
    Emit(CallEvent),
    /// End the call: close both legs, drop pending work.
    End(EndReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingStart,
    Connecting,
    Live,
    /// The model session was lost; a new one is being opened.
    Reconnecting,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Response {
    /// No response is being generated.
    Idle,
    /// We asked for one and the model has not confirmed it yet.
    Requested,
    /// One is being generated.
    Active { id: ResponseId, cancelled: bool },
}

/// One assistant audio item on its way to the caller: the ledger barge-in
/// reads. A response can hold several (a preamble, then the answer), whose
/// audio plays one after the other.
#[derive(Debug)]
struct ItemPlay {
    item_id: ItemId,
    /// Audio bytes of this item sent.
    bytes_sent: u64,
    /// Bytes of this item known heard and the media clock then: from its
    /// last mark echoed, or `(0, t)` once the audio before it has played.
    /// `None` while the audio queued before it is still playing.
    heard: Option<(u64, u64)>,
}

#[derive(Debug)]
struct PendingMark {
    name: MarkName,
    /// Bytes of its item sent before this mark.
    item_bytes: u64,
    item_id: ItemId,
}

/// The state of one call. See the module docs.
#[derive(Debug)]
pub struct CallSession {
    policy: SessionPolicy,
    phase: Phase,
    info: Option<CallInfo>,
    latest_media_ms: u64,
    buffered: VecDeque<AudioChunk>,
    dropped_frames: u64,
    usage: Usage,
    upstream_requests: u64,
    greeted: bool,
    /// Whether the caller has started speaking at least once.
    heard_caller: bool,
    /// What observers were last told the call is doing.
    activity: Option<Activity>,
    /// Audio items with audio sent whose marks may not all be echoed, in
    /// the order the caller hears them.
    playing: VecDeque<ItemPlay>,
    marks: VecDeque<PendingMark>,
    next_mark: u64,
    /// The item whose latest audio no mark follows yet (always the last
    /// item played), and how many of its bytes the last mark covered.
    tail: Option<(ItemId, u64)>,
    /// Set by a barge-in to the item it truncated, until the model starts
    /// another response: what is left of the interrupted answer never
    /// reaches the caller.
    interrupted: Option<ItemId>,
    /// Items the caller never heard, removed from the conversation once no
    /// response is being generated.
    unheard: Vec<ItemId>,
    /// Whether the model said it began an utterance it has not finished.
    assistant_speaking: bool,
    /// The voice model's name and its API, for observers.
    model: Arc<str>,
    api: Arc<str>,
    response: Response,
    needs_response: bool,
    caller_speaking: bool,
    /// The media clock when the model last heard the caller stop, until
    /// the answer's first audio goes out.
    caller_stopped_at_ms: Option<u64>,
    tools_in_flight: HashSet<ToolCallId>,
    tools_seen: HashSet<ToolCallId>,
    known: Known,
    known_shared: Arc<Known>,
    /// The recent turns, oldest first, for a new model session.
    turns: VecDeque<(Speaker, Arc<str>)>,
    /// Model sessions opened so far (timers name theirs).
    generation: u32,
    /// Reopen attempts since the last session that worked.
    attempts: u32,
    /// Media clock when the model session was lost.
    lost_at_ms: Option<u64>,
    /// Whether the current session has confirmed its configuration.
    ready: bool,
    /// Whether any session of this call has confirmed its configuration.
    ever_ready: bool,
    /// Whether a response should follow once a new session is ready
    /// (one was owed, playing or waiting on a tool when the old one went).
    resume: bool,
    /// Speech owed by a model that speaks on its own (the greeting, or
    /// answering again), with its prompt.
    speech_owed: Option<&'static str>,
    /// Retries of the response now owed.
    response_retries: u32,
    /// The current session is old and is replaced at the next quiet moment.
    rollover_due: bool,
    /// The model asked to close the call: its last line is being said.
    closing: Option<Closing>,
    /// What this call's tools recommended, the first [`texting::MAX_PICKS`].
    picks: Vec<Pick>,
    /// Times the caller began speaking.
    caller_turns: u32,
    /// The caller's turns when the first picks were given.
    caller_turns_at_picks: Option<u32>,
    /// Whether the caller's picks were texted (once a call at most).
    texting: Texting,
    /// The sound played while tools work, if any.
    hold_sound: Option<HoldSound>,
    /// Where it is.
    hold: Hold,
    /// The current hold's number, which its timers carry.
    hold_generation: u32,
    /// While the hold sound plays for a model whose audio streams on
    /// between utterances: that audio's last moments, held back (not
    /// played over the hold sound), in case an utterance began in them.
    held_back: VecDeque<(ItemId, AudioChunk)>,
    /// A returning caller's likes, once recalled.
    remembered: Option<Remembered>,
    /// Waiting for them before the model opens.
    recalling: bool,
}

/// The most of a streaming model's audio held back while the hold sound
/// plays: longer than its words can lag its audio.
const HELD_BACK_MS: u64 = 300;

/// A call the model asked to close, waiting for its last line to play.
#[derive(Debug, Clone, Copy)]
struct Closing {
    /// How the call ends.
    reason: EndReason,
    /// A response began after the model was told to say its last line.
    responding: bool,
    /// The assistant began speaking after that.
    speaking: bool,
    /// The last line has been said (its audio may still be playing).
    said: bool,
    /// Once said: the first mark after its audio. The call closes when
    /// every mark before it has been echoed (the audio after it, a model
    /// streaming silence, need not play).
    played_through: Option<u64>,
    /// For a model that speaks on its own: the media clock when its last
    /// line had played and it was quiet (it may say more in a moment).
    quiet_since_ms: Option<u64>,
}

/// How long a model that speaks on its own must stay quiet after its last
/// line has played before the call closes (it may speak in several
/// utterances).
const CLOSING_QUIET_MS: u64 = 600;

impl CallSession {
    /// A call that has not started yet, answered by the voice model named
    /// `model`, speaking `api` (labels for observers).
    pub fn new(policy: SessionPolicy, model: Arc<str>, api: Arc<str>) -> Self {
        Self {
            policy,
            phase: Phase::AwaitingStart,
            info: None,
            latest_media_ms: 0,
            buffered: VecDeque::new(),
            dropped_frames: 0,
            usage: Usage::default(),
            upstream_requests: 0,
            greeted: false,
            heard_caller: false,
            activity: None,
            playing: VecDeque::new(),
            marks: VecDeque::new(),
            next_mark: 0,
            tail: None,
            interrupted: None,
            unheard: Vec::new(),
            assistant_speaking: false,
            model,
            api,
            response: Response::Idle,
            needs_response: false,
            caller_speaking: false,
            caller_stopped_at_ms: None,
            tools_in_flight: HashSet::new(),
            tools_seen: HashSet::new(),
            known: Known::default(),
            known_shared: Arc::default(),
            turns: VecDeque::new(),
            generation: 0,
            attempts: 0,
            lost_at_ms: None,
            ready: false,
            ever_ready: false,
            resume: false,
            speech_owed: None,
            response_retries: 0,
            rollover_due: false,
            closing: None,
            picks: Vec::new(),
            caller_turns: 0,
            caller_turns_at_picks: None,
            texting: Texting::NotYet,
            hold_sound: None,
            hold: Hold::Idle,
            hold_generation: 0,
            held_back: VecDeque::new(),
            remembered: None,
            recalling: false,
        }
    }

    /// The call, playing `sound` while tools work (none: silence).
    #[must_use]
    pub fn with_hold_sound(mut self, sound: Option<HoldSound>) -> Self {
        self.hold_sound = sound;
        self
    }

    /// The call's phone leg id, once started.
    pub fn leg_id(&self) -> Option<&LegId> {
        self.info.as_ref().map(|info| &info.leg_id)
    }

    /// Whether `start` has arrived.
    pub fn started(&self) -> bool {
        self.phase != Phase::AwaitingStart
    }

    /// Whether the caller's audio passes through the call (after `start`,
    /// on a leg that relays it).
    pub fn relays_audio(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|info| matches!(info.audio, AudioRoute::Relayed(_)))
    }

    /// Whether the caller and the model hear each other without the call:
    /// nothing is played, marked or cleared on the phone leg.
    fn direct(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|info| info.audio == AudioRoute::Direct)
    }

    /// Whether the call is over.
    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Entities found by searches in this call.
    pub fn known_entities(&self) -> &[KnownEntity] {
        &self.known.entities
    }

    /// Caller frames dropped because they came before the model was ready
    /// and the buffer was full, or before `start`.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// The model's tokens so far in this call, summed over its responses.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// What those tokens cost at the policy's prices, in millionths of a
    /// dollar; `None` when the prices are not known.
    pub fn cost_micros(&self) -> Option<u64> {
        self.policy
            .prices
            .and_then(|prices| self.usage.cost_micros(&prices))
    }

    /// Requests the call's tools sent to the taste graph's service so far.
    pub fn upstream_requests(&self) -> u64 {
        self.upstream_requests
    }

    /// Whether the assistant is being heard: its audio is queued or
    /// playing at the caller (for a model whose audio streams on between
    /// utterances, whether it is in the middle of one).
    pub fn assistant_audible(&self) -> bool {
        match self.policy.traits.interruption {
            Interruption::BridgeTruncates { .. } => !self.nothing_queued(),
            Interruption::ModelStops { .. } => self.assistant_speaking,
        }
    }

    /// Applies one input, appending the resulting commands to `out`.
    ///
    /// `out` is not cleared, so the caller can reuse one buffer for the
    /// whole call and the audio path allocates nothing here.
    pub fn on(&mut self, input: Input, out: &mut Vec<Command>) {
        if self.phase == Phase::Ended {
            return;
        }
        match input {
            Input::Phone(event) => self.on_phone(event, out),
            Input::PhoneClosed => {
                let reason = if self.started() {
                    EndReason::PhoneClosed
                } else {
                    EndReason::NeverStarted
                };
                self.end(reason, out);
            }
            Input::StartTimeout => {
                if !self.started() {
                    self.end(EndReason::NeverStarted, out);
                }
            }
            Input::ModelOpened => self.on_model_opened(out),
            Input::ModelFailed { fatal } => {
                if fatal {
                    self.end(EndReason::ModelRefused, out);
                } else if self.attempts >= self.policy.reconnect_attempts {
                    let reason = if self.phase == Phase::Reconnecting {
                        EndReason::ModelClosed
                    } else {
                        EndReason::ModelUnavailable
                    };
                    self.end(reason, out);
                } else {
                    // A passing failure, on the first connection or a
                    // later one: tried again with backoff, the caller's
                    // audio buffered meanwhile.
                    self.reconnect(out);
                }
            }
            Input::ModelClosed => {
                if matches!(self.phase, Phase::Live | Phase::Reconnecting) {
                    self.lose_model(out);
                } else {
                    self.end(EndReason::ModelClosed, out);
                }
            }
            Input::Model(event) => self.on_model(event, out),
            Input::Tool(done) => self.on_tool_done(done, out),
            Input::Texted(done) => self.on_texted(done, out),
            Input::Recalled(remembered) => self.on_recalled(remembered, out),
            Input::Memory(done) => self.on_memory_done(done, out),
            Input::Timer(timer) => self.on_timer(timer, out),
            Input::CallerSilent => self.end(EndReason::CallerSilent, out),
            Input::MaxDuration => self.end(EndReason::MaxDuration, out),
            Input::Shutdown => self.end(EndReason::Shutdown, out),
        }
        self.maybe_close(out);
        self.maybe_roll_over(out);
        self.report_activity(out);
    }

    /// What the call is doing now (`None` before `start` and after the end).
    pub fn activity(&self) -> Option<Activity> {
        Some(match self.phase {
            Phase::AwaitingStart | Phase::Ended => return None,
            Phase::Connecting => Activity::Connecting,
            Phase::Reconnecting => Activity::Reconnecting,
            // A new session that has not confirmed its configuration yet.
            Phase::Live if !self.ready && self.generation > 1 => Activity::Reconnecting,
            Phase::Live if !self.ready => Activity::Connecting,
            Phase::Live if self.caller_speaking => Activity::Listening,
            Phase::Live if !self.tools_in_flight.is_empty() => Activity::ToolRunning,
            Phase::Live => {
                let audible = self.assistant_audible();
                let answering = audible || self.response != Response::Idle || self.needs_response;
                if !answering {
                    Activity::Listening
                } else if self.greeted && !self.heard_caller {
                    Activity::Greeting
                } else if audible {
                    Activity::Speaking
                } else {
                    Activity::Thinking
                }
            }
        })
    }

    /// Tells observers when what the call is doing changed (a few
    /// comparisons an input: no event unless it did).
    fn report_activity(&mut self, out: &mut Vec<Command>) {
        let now = self.activity();
        if now != self.activity {
            self.activity = now;
            if let Some(activity) = now {
                out.push(Command::Emit(CallEvent::Activity { activity }));
            }
        }
    }

    fn on_model_opened(&mut self, out: &mut Vec<Command>) {
        let reconnecting = match self.phase {
            Phase::Connecting => false,
            Phase::Reconnecting => true,
            _ => return,
        };
        self.phase = Phase::Live;
        self.generation += 1;
        self.ready = false;
        out.push(Command::Schedule {
            timer: Timer::SessionReady(self.generation),
            after: self.policy.ready_timeout,
        });
        out.push(Command::Schedule {
            timer: Timer::Rollover(self.generation),
            after: self.policy.rollover_after,
        });
        let _ = reconnecting;
        for audio in self.buffered.drain(..) {
            out.push(Command::Model(ModelCommand::AppendAudio(audio)));
        }
        if let Some(lost_at) = self.lost_at_ms.take() {
            out.push(Command::Emit(CallEvent::ModelReconnected {
                gap: AudioMs::new(self.latest_media_ms.saturating_sub(lost_at)),
            }));
        }
    }

    /// The model session is gone (or is being replaced): buffer the
    /// caller, forget what that session was doing, and open another.
    fn lose_model(&mut self, out: &mut Vec<Command>) {
        if self.phase == Phase::Live {
            self.lost_at_ms = Some(self.latest_media_ms);
            // A model that speaks on its own says nothing of an answer
            // in progress but its words: a caller's turn with no answer
            // after it is one still owed.
            let unanswered = !self.policy.traits.confirms_responses
                && self
                    .turns
                    .back()
                    .is_some_and(|(speaker, _)| *speaker == Speaker::Caller);
            self.resume = self.needs_response
                || self.response != Response::Idle
                || !self.tools_in_flight.is_empty()
                || unanswered;
            if !self.tools_in_flight.is_empty() {
                // Their answers would name calls the new session never made.
                self.tools_in_flight.clear();
                out.push(Command::AbortTools);
            }
            self.stop_hold(HoldStop::Call, out);
            self.response = Response::Idle;
            self.needs_response = false;
            self.resume |= self.speech_owed.take().is_some();
            self.caller_speaking = false;
            self.ready = false;
            // The new session never had them, and answers afresh.
            self.unheard.clear();
            self.interrupted = None;
            self.phase = Phase::Reconnecting;
        }
        self.reconnect(out);
    }

    /// One more attempt at a new model session, or the end of the call.
    fn reconnect(&mut self, out: &mut Vec<Command>) {
        if self.attempts >= self.policy.reconnect_attempts {
            self.end(EndReason::ModelClosed, out);
            return;
        }
        self.attempts += 1;
        let Some(info) = self.info.clone() else {
            self.end(EndReason::ModelClosed, out);
            return;
        };
        // 0, 250 ms, 500 ms, 1 s, 2 s, …: the first try is at once, since
        // most drops are one socket, not the service.
        let after = match self.attempts {
            1 => Duration::ZERO,
            n => Duration::from_millis(250 << (n - 2).min(4)),
        };
        out.push(Command::Emit(CallEvent::ModelReconnecting {
            attempt: self.attempts,
        }));
        // Told afresh each attempt, and only to a session taking over
        // from one that worked (a first connection has nothing to tell).
        let context = (self.phase == Phase::Reconnecting).then(|| self.context().into());
        out.push(Command::OpenModel {
            info,
            after,
            context,
        });
    }

    /// What a new model session is told: the recent turns and the
    /// entities found, with their ids, so the tools still accept them.
    fn context(&self) -> String {
        const OPENING: &str = "The connection to you was lost for a moment and restored; this is the same phone call. Carry on from where it was without greeting the caller again.";
        const RESUME: &str = "\n\nYou were in the middle of answering when the connection dropped; answer the caller's last request again, briefly.";
        const TURNS: &str = "\n\nThe conversation so far:";
        const ENTITIES: &str = "\n\nEntities and tags already found in this call (use these ids):";
        let budget = self.policy.context_chars;
        let mut used = OPENING.len() + if self.resume { RESUME.len() } else { 0 };
        // The ids keep the tools working, so they come first (entities
        // before tags, the newest when not all fit); the turns fill what
        // is left, newest first.
        let entities: Vec<String> = self
            .known
            .entities
            .iter()
            .rev()
            .map(|entity| format!("\n- {}: {}", entity.name, entity.id.as_str()))
            .chain(
                self.known
                    .tags
                    .iter()
                    .rev()
                    .map(|tag| format!("\n- {} (tag): {}", tag.name, tag.id.as_str())),
            )
            .take_while(|line| {
                let fits = used + ENTITIES.len() + line.len() <= budget;
                if fits {
                    used += line.len();
                }
                fits
            })
            .collect();
        if !entities.is_empty() {
            used += ENTITIES.len();
        }
        let turns: Vec<String> = self
            .turns
            .iter()
            .rev()
            .map(|(speaker, words)| {
                let who = match speaker {
                    Speaker::Caller => "Caller",
                    Speaker::Assistant => "You",
                };
                format!("\n{who}: {words}")
            })
            .take_while(|line| {
                let fits = used + TURNS.len() + line.len() <= budget;
                if fits {
                    used += line.len();
                }
                fits
            })
            .collect();
        let mut text = String::with_capacity(used + TURNS.len());
        text.push_str(OPENING);
        if !turns.is_empty() {
            text.push_str(TURNS);
            turns.iter().rev().for_each(|line| text.push_str(line));
        }
        if !entities.is_empty() {
            text.push_str(ENTITIES);
            entities.iter().rev().for_each(|line| text.push_str(line));
        }
        if self.resume {
            text.push_str(RESUME);
        }
        text
    }

    fn remember(&mut self, speaker: Speaker, text: &str, out: &mut Vec<Command>) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        out.push(Command::Emit(CallEvent::Turn {
            speaker,
            text: text.into(),
        }));
        let kept: String = text.chars().take(CONTEXT_TURN_CHARS).collect();
        if self.turns.len() >= CONTEXT_TURNS {
            self.turns.pop_front();
        }
        self.turns.push_back((speaker, kept.into()));
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Vec<Command>) {
        match timer {
            Timer::SessionReady(generation) => {
                if generation == self.generation && self.phase == Phase::Live && !self.ready {
                    // A model that takes the call and says nothing twice
                    // from the start will not: the caller hears the
                    // apology in seconds, not after every reconnect.
                    if !self.ever_ready && self.attempts >= 1 {
                        tracing::warn!(
                            "the model accepted the call twice and never confirmed a session; ending the call"
                        );
                        out.push(Command::CloseModel);
                        self.end(EndReason::ModelUnavailable, out);
                        return;
                    }
                    tracing::warn!("the model did not confirm its session in time; reopening it");
                    out.push(Command::CloseModel);
                    self.lose_model(out);
                }
            }
            Timer::ResponseStart(generation) => {
                if generation == self.generation && self.response == Response::Requested {
                    tracing::warn!("a requested response did not start in time");
                    self.response = Response::Idle;
                    self.retry_response(out);
                }
            }
            Timer::RetryResponse(generation) => {
                if generation == self.generation {
                    self.maybe_create_response(out);
                }
            }
            Timer::Rollover(generation) => {
                if generation == self.generation {
                    self.rollover_due = true;
                }
            }
            Timer::Closing => {
                if let Some(closing) = self.closing {
                    tracing::debug!("the last line did not finish in time; closing anyway");
                    self.end(closing.reason, out);
                }
            }
            Timer::Recall => {
                if self.recalling {
                    tracing::warn!(
                        "the caller memory did not answer in time; the call goes on without it"
                    );
                    self.on_recalled(None, out);
                }
            }
            Timer::Hold(generation) => {
                if generation == self.hold_generation {
                    self.on_hold_timer(out);
                }
            }
        }
    }

    /// A tool started: the hold sound is due after a while, unless it is
    /// already waited for or playing.
    fn wait_to_hold(&mut self, out: &mut Vec<Command>) {
        let Some(sound) = &self.hold_sound else {
            return;
        };
        // Nothing can be played into a call whose audio does not pass here.
        if self.direct() {
            return;
        }
        if self.hold == Hold::Idle {
            self.hold = Hold::Waiting;
            self.hold_generation = self.hold_generation.wrapping_add(1);
            out.push(Command::Schedule {
                timer: Timer::Hold(self.hold_generation),
                after: sound.after,
            });
        }
    }

    fn on_hold_timer(&mut self, out: &mut Vec<Command>) {
        let Some(sound) = &self.hold_sound else {
            return;
        };
        if self.tools_in_flight.is_empty() || self.phase != Phase::Live || self.closing.is_some() {
            self.stop_hold(HoldStop::Call, out);
            return;
        }
        let (from, count) = match self.hold {
            Hold::Idle => return,
            Hold::Waiting => {
                // Never over the assistant or the caller: ask again soon.
                if self.assistant_audible() || self.caller_speaking {
                    out.push(Command::Schedule {
                        timer: Timer::Hold(self.hold_generation),
                        after: hold::RECHECK,
                    });
                    return;
                }
                out.push(Command::Emit(CallEvent::Hold { stopped_by: None }));
                (0, hold::LEAD)
            }
            Hold::Playing { next } => (next, 1),
        };
        // A piece (and a mark after it) each time one has played: the
        // caller's side stays `LEAD` pieces ahead.
        let mut last = None;
        for index in from..from + count {
            let piece = sound.piece(index).clone();
            last = Some(piece.duration());
            out.push(Command::Phone(PhoneCommand::Media(piece)));
            out.push(Command::Phone(PhoneCommand::Mark(MarkName::new(
                self.next_mark,
            ))));
            self.next_mark += 1;
        }
        self.hold = Hold::Playing {
            next: (from + count) % sound.pieces.len(),
        };
        if let Some(played) = last {
            out.push(Command::Schedule {
                timer: Timer::Hold(self.hold_generation),
                after: Duration::from_millis(played.get()),
            });
        }
    }

    /// Stops the hold sound (clearing what of it is queued at the caller)
    /// or the wait for it, for `by`.
    fn stop_hold(&mut self, by: HoldStop, out: &mut Vec<Command>) {
        match self.hold {
            Hold::Idle => return,
            Hold::Waiting => {}
            Hold::Playing { .. } => {
                out.push(Command::Phone(PhoneCommand::Clear));
                out.push(Command::Emit(CallEvent::Hold {
                    stopped_by: Some(by),
                }));
            }
        }
        self.hold = Hold::Idle;
        self.hold_generation = self.hold_generation.wrapping_add(1);
        let held_back = std::mem::take(&mut self.held_back);
        // An utterance that began while the sound played: what of it was
        // held back plays now, after the clear.
        if by == HoldStop::Model {
            for (item_id, audio) in held_back {
                self.play(item_id, audio, out);
            }
        }
        // The tools still work after the assistant or the caller has had
        // their say: the sound may come back once the line is quiet again.
        if matches!(by, HoldStop::Model | HoldStop::Caller) && !self.tools_in_flight.is_empty() {
            self.wait_to_hold(out);
        }
    }

    /// A response we asked for was refused or never started: ask again a
    /// little later, a few times, then leave it to the caller's next turn.
    fn retry_response(&mut self, out: &mut Vec<Command>) {
        if self.response_retries >= RESPONSE_RETRIES {
            self.response_retries = 0;
            out.push(Command::Emit(CallEvent::Error {
                message: "the model would not start a response; waiting for the caller".into(),
            }));
            return;
        }
        self.response_retries += 1;
        self.needs_response = true;
        out.push(Command::Schedule {
            timer: Timer::RetryResponse(self.generation),
            after: Duration::from_millis(500 << (self.response_retries - 1)),
        });
    }

    /// Replaces an old model session when nothing is going on.
    fn maybe_roll_over(&mut self, out: &mut Vec<Command>) {
        if self.rollover_due
            && self.phase == Phase::Live
            && self.ready
            && self.response == Response::Idle
            && !self.needs_response
            && !self.caller_speaking
            && self.tools_in_flight.is_empty()
            && !self.assistant_audible()
        {
            self.rollover_due = false;
            self.attempts = 0;
            out.push(Command::CloseModel);
            self.lose_model(out);
        }
    }

    fn on_phone(&mut self, event: PhoneEvent, out: &mut Vec<Command>) {
        match event {
            PhoneEvent::Connected | PhoneEvent::ForeignMark => {}
            PhoneEvent::Start(info) => {
                if self.started() {
                    return;
                }
                let supported = info.audio.is_supported();
                self.info = Some(info.clone());
                self.phase = Phase::Connecting;
                out.push(Command::Emit(CallEvent::Started {
                    call_sid: info.call_sid.clone(),
                    caller: info.caller.clone(),
                    model: self.model.clone(),
                    api: self.api.clone(),
                }));
                let returning = self
                    .policy
                    .control
                    .memory
                    .then(|| info.caller_number.clone())
                    .flatten();
                if supported && let Some(caller) = returning {
                    // The model is told a returning caller's likes before
                    // it greets: opened once they are recalled, or not
                    // found, or taking too long.
                    self.recalling = true;
                    out.push(Command::Recall { caller });
                    out.push(Command::Schedule {
                        timer: Timer::Recall,
                        after: memory::RECALL_WAIT,
                    });
                } else if supported {
                    out.push(Command::OpenModel {
                        info,
                        after: Duration::ZERO,
                        context: None,
                    });
                } else if let AudioRoute::Relayed(format) = &info.audio {
                    out.push(Command::Emit(CallEvent::Error {
                        message: format!(
                            "unsupported media format {} at {} Hz, {} channel(s): only G.711 μ-law at 8000 Hz mono is relayed",
                            format.encoding, format.sample_rate, format.channels
                        )
                        .into(),
                    }));
                    self.end(EndReason::UnsupportedMediaFormat, out);
                }
            }
            PhoneEvent::Media {
                timestamp_ms,
                audio,
            } => {
                self.latest_media_ms = self.latest_media_ms.max(timestamp_ms);
                match self.phase {
                    Phase::Live => out.push(Command::Model(ModelCommand::AppendAudio(audio))),
                    Phase::Connecting | Phase::Reconnecting => {
                        if self.buffered.len() >= self.policy.max_buffered_frames {
                            self.buffered.pop_front();
                            self.dropped_frames += 1;
                        }
                        self.buffered.push_back(audio);
                    }
                    Phase::AwaitingStart | Phase::Ended => self.dropped_frames += 1,
                }
            }
            PhoneEvent::Mark(name) => self.on_mark(name),
            PhoneEvent::Dtmf(digit) => out.push(Command::Emit(CallEvent::Dtmf { digit })),
            PhoneEvent::Stop => self.end(EndReason::PhoneStopped, out),
        }
    }

    /// The phone leg echoes marks in order once the audio before them has played
    /// (or was cleared), so every mark up to the echoed one is done: each
    /// tells its own item how much of it was heard.
    fn on_mark(&mut self, name: MarkName) {
        if !self.marks.iter().any(|mark| mark.name == name) {
            return; // cleared by a barge-in, or never ours
        }
        let now = self.latest_media_ms;
        while let Some(mark) = self.marks.pop_front() {
            if let Some(item) = self.item_mut(&mark.item_id) {
                item.heard = Some((mark.item_bytes, now));
            }
            if mark.name == name {
                break;
            }
        }
        // The audio after the echoed mark plays from now: an item whose
        // first audio was queued behind another's starts here.
        let next = self
            .marks
            .front()
            .map(|mark| &mark.item_id)
            .or(self.tail.as_ref().map(|(item_id, _)| item_id))
            .cloned();
        if let Some(next) = next
            && let Some(item) = self.item_mut(&next)
            && item.heard.is_none()
        {
            item.heard = Some((0, now));
        }
    }

    /// Whether no assistant audio can be queued or playing at the caller:
    /// every mark echoed and none owed.
    fn nothing_queued(&self) -> bool {
        self.marks.is_empty() && self.tail.is_none()
    }

    /// Marks the end of the audio sent so far of the tail's item.
    fn mark_tail(&mut self, out: &mut Vec<Command>) {
        let Some((item_id, _)) = self.tail.take() else {
            return;
        };
        let item_bytes = self.bytes_sent(&item_id);
        let name = MarkName::new(self.next_mark);
        self.next_mark += 1;
        self.marks.push_back(PendingMark {
            name,
            item_bytes,
            item_id,
        });
        out.push(Command::Phone(PhoneCommand::Mark(name)));
    }

    /// The bytes of an item sent so far (0 for one not playing).
    fn bytes_sent(&self, item_id: &ItemId) -> u64 {
        self.playing
            .iter()
            .rev()
            .find(|item| item.item_id == *item_id)
            .map_or(0, |item| item.bytes_sent)
    }

    fn item_mut(&mut self, item_id: &ItemId) -> Option<&mut ItemPlay> {
        self.playing
            .iter_mut()
            .rev()
            .find(|item| item.item_id == *item_id)
    }

    fn on_model(&mut self, event: ModelEvent, out: &mut Vec<Command>) {
        match event {
            ModelEvent::Other => {}
            ModelEvent::Ready { tools } => {
                if !self.ready {
                    self.ready = true;
                    self.ever_ready = true;
                    // This session works: a later loss starts counting anew.
                    self.attempts = 0;
                    if std::mem::take(&mut self.resume) {
                        self.owe_speech(RESUME_PROMPT);
                    }
                }
                if self.policy.greet && !self.greeted && tools >= self.policy.tools_offered.min(1) {
                    self.greeted = true;
                    self.owe_speech(GREET_PROMPT);
                }
                self.maybe_create_response(out);
            }
            ModelEvent::Usage(usage) => self.add_usage(usage, out),
            ModelEvent::CallerTranscript { text } => self.remember(Speaker::Caller, &text, out),
            ModelEvent::AssistantTranscript { text } => {
                // The utterance was generated; where the model's side plays
                // it, it is heard until that side says it stopped.
                if !self.direct() {
                    self.assistant_speaking = false;
                }
                if let Some(closing) = &mut self.closing
                    && !self.policy.traits.confirms_responses
                {
                    closing.said |= closing.speaking;
                }
                self.remember(Speaker::Assistant, &text, out);
            }
            ModelEvent::AssistantSpeaking => {
                self.assistant_speaking = true;
                self.stop_hold(HoldStop::Model, out);
                if let Some(closing) = &mut self.closing {
                    closing.speaking = true;
                    // More to say: its last line is this one.
                    if !self.policy.traits.confirms_responses {
                        closing.said = false;
                        closing.played_through = None;
                        closing.quiet_since_ms = None;
                    }
                }
            }
            ModelEvent::SpeechStarted => {
                self.stop_hold(HoldStop::Caller, out);
                self.caller_speaking = true;
                self.heard_caller = true;
                self.caller_turns = self.caller_turns.saturating_add(1);
                self.caller_stopped_at_ms = None;
                self.barge_in(out);
            }
            ModelEvent::PlayedOut => {
                self.assistant_speaking = false;
                self.maybe_close(out);
            }
            ModelEvent::SpeechStopped => {
                self.caller_speaking = false;
                self.caller_stopped_at_ms = Some(self.latest_media_ms);
            }
            ModelEvent::ResponseCreated { response_id } => {
                // A response the server started by itself (its turn detection
                // answering the caller) sees every tool output sent so far, so
                // nothing is owed any more. One we asked for was queued before
                // any output sent since, so those are still owed.
                if self.response == Response::Idle {
                    self.needs_response = false;
                }
                // A new answer: the interrupted one is over.
                self.interrupted = None;
                if let Some(closing) = &mut self.closing {
                    closing.responding = true;
                }
                self.response = Response::Active {
                    id: response_id,
                    cancelled: false,
                };
            }
            ModelEvent::ResponseDone {
                response_id,
                status,
                usage,
            } => {
                if let Some(usage) = usage {
                    self.add_usage(usage, out);
                }
                let ours = match &self.response {
                    Response::Active { id, .. } => *id == response_id,
                    Response::Requested => true,
                    Response::Idle => false,
                };
                if ours {
                    self.response = Response::Idle;
                    self.response_retries = 0;
                }
                // A model that confirms its responses speaks within them;
                // one that does not speaks after its backend answered.
                if let Some(closing) = &mut self.closing
                    && self.policy.traits.confirms_responses
                {
                    closing.said |= closing.responding;
                }
                if status != ResponseStatus::Completed {
                    tracing::debug!(?status, "response ended early");
                }
                // The answer's audio is all sent: its end is marked.
                self.mark_tail(out);
                // Before any new response, so it is generated without them.
                self.forget_unheard(out);
                self.maybe_create_response(out);
            }
            ModelEvent::AudioDelta { item_id, audio } => self.play(item_id, audio, out),
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                if !self.tools_seen.insert(call_id.clone()) {
                    return; // announced twice (arguments.done, then output_item.done)
                }
                if let Some(reason) = self.policy.control.closes_with(&name) {
                    self.close_call(reason, call_id, name, arguments, out);
                    return;
                }
                if self.policy.control.text_picks && &*name == texting::TEXT_PICKS {
                    self.text_picks(call_id, name, arguments, out);
                    return;
                }
                if self.policy.control.memory && matches!(&*name, memory::REMEMBER | memory::FORGET)
                {
                    self.memory_tool(call_id, name, arguments, out);
                    return;
                }
                self.tools_in_flight.insert(call_id.clone());
                out.push(Command::RunTool(ToolInvocation {
                    call_id,
                    name,
                    arguments,
                    known: self.known_shared.clone(),
                }));
                self.wait_to_hold(out);
            }
            ModelEvent::Error {
                kind,
                code,
                message,
            } => {
                let text = match &code {
                    Some(code) => format!("model error {code}: {message}"),
                    None => format!("model error: {message}"),
                };
                out.push(Command::Emit(CallEvent::Error {
                    message: text.into(),
                }));
                match kind {
                    ModelErrorKind::ResponseAlreadyActive => {
                        if self.response == Response::Requested {
                            self.response = Response::Idle;
                        }
                    }
                    ModelErrorKind::Fatal => self.end(EndReason::ModelRefused, out),
                    // Before the session is ready, an error refuses the
                    // configuration (the audio format, the tools): going on
                    // with the service's defaults would garble the call.
                    ModelErrorKind::Other if !self.ready && self.phase == Phase::Live => {
                        self.end(EndReason::ModelRefused, out);
                    }
                    ModelErrorKind::Transient if self.response == Response::Requested => {
                        self.response = Response::Idle;
                        self.retry_response(out);
                    }
                    ModelErrorKind::Transient | ModelErrorKind::Other => {}
                }
            }
        }
    }

    fn play(&mut self, item_id: ItemId, audio: AudioChunk, out: &mut Vec<Command>) {
        // On a direct route the model's side plays its own audio: any that
        // reaches the call anyway is not the caller's to hear twice.
        if self.phase != Phase::Live || self.direct() {
            return;
        }
        if let Some(truncated) = &self.interrupted {
            // The rest of an interrupted answer: never played, so the
            // model must not believe it was said (the item cut short is
            // truncated already).
            if *truncated != item_id && !self.unheard.contains(&item_id) {
                self.unheard.push(item_id);
            }
            return;
        }
        if matches!(self.hold, Hold::Playing { .. }) {
            let speech_only = matches!(
                self.policy.traits.interruption,
                Interruption::BridgeTruncates { .. }
            );
            if self.assistant_speaking || speech_only {
                // The assistant speaks: the hold sound stops first.
                self.stop_hold(HoldStop::Model, out);
            } else {
                // A streaming model's audio between utterances: kept back,
                // its last moments only, not played over the hold sound.
                let limit = HELD_BACK_MS * 8;
                let mut kept: u64 = self
                    .held_back
                    .iter()
                    .map(|(_, a)| u64::from(a.byte_len()))
                    .sum();
                kept += u64::from(audio.byte_len());
                self.held_back.push_back((item_id, audio));
                while kept > limit && self.held_back.len() > 1 {
                    if let Some((_, dropped)) = self.held_back.pop_front() {
                        kept -= u64::from(dropped.byte_len());
                    }
                }
                return;
            }
        }
        let now = self.latest_media_ms;
        // An item's end is marked before the next item's audio.
        if self.tail.as_ref().is_some_and(|(tail, _)| *tail != item_id) {
            self.mark_tail(out);
        }
        // With nothing queued at the caller, this audio plays at once.
        let idle = self.nothing_queued();
        let item = match self
            .playing
            .iter()
            .rposition(|item| item.item_id == item_id)
        {
            Some(index) => &mut self.playing[index],
            None => {
                // Items before it whose audio has all been heard are done.
                let marks = &self.marks;
                self.playing
                    .retain(|item| marks.iter().any(|mark| mark.item_id == item.item_id));
                self.playing.push_back(ItemPlay {
                    item_id: item_id.clone(),
                    bytes_sent: 0,
                    heard: None,
                });
                self.playing.back_mut().expect("just pushed")
            }
        };
        if idle {
            item.heard = Some((item.bytes_sent, now));
        }
        let marked = self.tail.as_ref().map_or(item.bytes_sent, |(_, at)| *at);
        item.bytes_sent += u64::from(audio.byte_len());
        let unmarked = AudioMs::of_mulaw_bytes(item.bytes_sent - marked);
        self.tail = Some((item_id, marked));
        out.push(Command::Phone(PhoneCommand::Media(audio)));
        if unmarked.get() >= self.policy.mark_every.get() {
            self.mark_tail(out);
        }
        if let Some(stopped) = self.caller_stopped_at_ms.take() {
            out.push(Command::Emit(CallEvent::FirstAudio {
                after: AudioMs::new(now.saturating_sub(stopped)),
            }));
        }
    }

    /// The caller spoke while assistant audio may still be playing.
    ///
    /// The item being heard is the one the first unechoed mark belongs to:
    /// it is truncated at what the caller heard of it (its last echo, plus
    /// the media clock since, never past that unechoed mark). Items queued
    /// after it were never heard: they are deleted from the conversation
    /// once no response is being generated, and what is left of the answer
    /// is muted until the model starts another.
    fn barge_in(&mut self, out: &mut Vec<Command>) {
        // The first audio not known heard: up to the first mark not echoed,
        // or the unmarked audio of the last item.
        let front = match (self.marks.front(), &self.tail) {
            (Some(mark), _) => Some((mark.item_id.clone(), mark.item_bytes)),
            (None, Some((item_id, _))) => Some((item_id.clone(), self.bytes_sent(item_id))),
            (None, None) => None,
        };
        let Some((heard_id, ceiling_bytes)) = front else {
            return; // the assistant is silent: nothing to interrupt
        };
        let now = self.latest_media_ms;
        let ceiling_ms = AudioMs::of_mulaw_bytes(ceiling_bytes).get();
        let index = self
            .playing
            .iter()
            .position(|item| item.item_id == heard_id);
        let played_ms = index
            .and_then(|index| self.playing[index].heard)
            .map_or(0, |(bytes, at_ms)| {
                AudioMs::of_mulaw_bytes(bytes).get() + now.saturating_sub(at_ms)
            });
        let audio_end_ms = played_ms.min(ceiling_ms);
        let later = index.map_or(0, |index| index + 1);
        if let Interruption::ModelStops { clear_above_ms } = self.policy.traits.interruption {
            // The model stops itself and knows what it said; only audio
            // queued far ahead of the caller is the bridge's to drop.
            if !std::mem::take(&mut self.assistant_speaking) {
                return; // it streams silence: nothing to interrupt
            }
            let sent_ms = |item: &ItemPlay| AudioMs::of_mulaw_bytes(item.bytes_sent).get();
            let ahead_ms = index.map_or(0, |index| {
                sent_ms(&self.playing[index]).saturating_sub(audio_end_ms)
            }) + self.playing.iter().skip(later).map(sent_ms).sum::<u64>();
            if ahead_ms > clear_above_ms {
                self.marks.clear();
                self.tail = None;
                self.playing.clear();
                out.push(Command::Phone(PhoneCommand::Clear));
            }
            out.push(Command::Emit(CallEvent::BargeIn {
                item_id: heard_id,
                audio_end: AudioMs::new(audio_end_ms),
                unheard: 0,
            }));
            return;
        }
        let unheard_before = self.unheard.len();
        for item in self.playing.drain(..).skip(later) {
            if !self.unheard.contains(&item.item_id) {
                self.unheard.push(item.item_id);
            }
        }
        let unheard = u32::try_from(self.unheard.len() - unheard_before).unwrap_or(u32::MAX);
        self.marks.clear();
        self.tail = None;
        self.interrupted = Some(heard_id.clone());
        out.push(Command::Phone(PhoneCommand::Clear));
        out.push(Command::Model(ModelCommand::Truncate {
            item_id: heard_id.clone(),
            audio_end_ms,
        }));
        if let Response::Active { cancelled, .. } = &mut self.response
            && !*cancelled
            && self.policy.traits.interruption == (Interruption::BridgeTruncates { cancels: true })
        {
            *cancelled = true;
            out.push(Command::Model(ModelCommand::CancelResponse));
        }
        out.push(Command::Emit(CallEvent::BargeIn {
            item_id: heard_id,
            audio_end: AudioMs::new(audio_end_ms),
            unheard,
        }));
        self.forget_unheard(out);
    }

    /// Deletes the items the caller never heard, once no response is
    /// being generated (an item of a response in progress may still be
    /// written to).
    fn forget_unheard(&mut self, out: &mut Vec<Command>) {
        if self.response != Response::Idle || self.unheard.is_empty() {
            return;
        }
        for item_id in self.unheard.drain(..) {
            out.push(Command::Model(ModelCommand::DeleteItem { item_id }));
        }
    }

    fn on_tool_done(&mut self, done: ToolDone, out: &mut Vec<Command>) {
        if !self.tools_in_flight.remove(&done.call_id) {
            return;
        }
        if self.tools_in_flight.is_empty() {
            self.stop_hold(HoldStop::Tool, out);
        }
        if !done.outcome.learned.is_empty() {
            self.known.learn(&done.outcome.learned);
            self.known_shared = Arc::new(self.known.clone());
        }
        if !done.outcome.picks.is_empty() {
            self.caller_turns_at_picks.get_or_insert(self.caller_turns);
            for pick in &done.outcome.picks {
                if self.picks.len() < texting::MAX_PICKS
                    && !self.picks.iter().any(|known| known.name == pick.name)
                {
                    self.picks.push(pick.clone());
                }
            }
        }
        self.upstream_requests += u64::from(done.upstream_requests);
        self.answer_tool(
            ToolAnswer {
                call_id: done.call_id,
                name: done.name,
                arguments: done.arguments,
                output: done.outcome.output,
                is_error: done.outcome.is_error,
                latency: done.latency,
                upstream_requests: done.upstream_requests,
            },
            out,
        );
    }

    /// The model asked to text the caller their picks: sent when the
    /// caller agreed after the picks were given, to the number calling,
    /// once a call; refused with a reason the model can speak otherwise.
    fn text_picks(
        &mut self,
        call_id: ToolCallId,
        name: Arc<str>,
        arguments: Arc<str>,
        out: &mut Vec<Command>,
    ) {
        let number = self.caller_number();
        let refusal = if self.texting != Texting::NotYet {
            Some(Refusal::AlreadyTried)
        } else if !texting::caller_said_yes(&arguments) {
            Some(Refusal::NoConsent)
        } else if self.picks.is_empty() {
            Some(Refusal::NothingToSend)
        } else if self
            .caller_turns_at_picks
            .is_none_or(|at| self.caller_turns <= at)
        {
            Some(Refusal::NotAsked)
        } else if number.is_none() {
            Some(Refusal::NoNumber)
        } else {
            None
        };
        match (refusal, number) {
            (None, Some(to)) => {
                self.texting = Texting::Sending;
                self.tools_in_flight.insert(call_id.clone());
                let from = self
                    .info
                    .as_ref()
                    .and_then(|info| info.called_number.clone());
                out.push(Command::SendText {
                    call_id,
                    arguments,
                    message: TextMessage {
                        to,
                        from,
                        body: texting::body(&self.picks),
                    },
                });
            }
            (refusal, _) => {
                let refusal = refusal.unwrap_or(Refusal::NoNumber);
                tracing::debug!(refusal = refusal.as_str(), "text refused");
                let output: Arc<str> = refusal.output().into();
                self.answer_tool(
                    ToolAnswer::at_once(call_id, name, arguments, output, true),
                    out,
                );
            }
        }
    }

    /// A returning caller's likes came (or did not): their ids join what
    /// the call knows, and the model opens knowing them.
    fn on_recalled(&mut self, remembered: Option<Remembered>, out: &mut Vec<Command>) {
        if !std::mem::take(&mut self.recalling) || self.phase != Phase::Connecting {
            return;
        }
        let remembered = remembered.filter(|r| !r.likes.is_empty());
        let context = remembered.as_ref().map(|r| {
            let learned: Vec<KnownEntity> = r
                .likes
                .iter()
                .map(|like| KnownEntity::new(like.id.clone(), like.name.clone(), None))
                .collect();
            self.known.learn(&Known::of_entities(learned));
            self.known_shared = Arc::new(self.known.clone());
            out.push(Command::Emit(CallEvent::Memory {
                what: MemoryEvent::Recalled(u32::try_from(r.likes.len()).unwrap_or(u32::MAX)),
            }));
            memory::context(r).into()
        });
        self.remembered = remembered;
        if let Some(info) = self.info.clone() {
            out.push(Command::OpenModel {
                info,
                after: Duration::ZERO,
                context,
            });
        }
    }

    /// The whole number calling, when the phone leg gave it.
    fn caller_number(&self) -> Option<PhoneNumber> {
        self.info
            .as_ref()
            .and_then(|info| info.caller_number.clone())
    }

    /// `remember_me` or `forget_me`: refused, or sent to the store.
    fn memory_tool(
        &mut self,
        call_id: ToolCallId,
        name: Arc<str>,
        arguments: Arc<str>,
        out: &mut Vec<Command>,
    ) {
        let caller = self.caller_number();
        let op = if &*name == memory::FORGET {
            caller
                .as_ref()
                .map(|_| MemoryOp::Forget)
                .ok_or(memory::Refusal::NoNumber)
        } else if !memory::caller_said_yes(&arguments) {
            Err(memory::Refusal::NoConsent)
        } else if self
            .caller_turns_at_picks
            .is_none_or(|at| self.caller_turns <= at)
        {
            Err(memory::Refusal::NotAsked)
        } else if caller.is_none() {
            Err(memory::Refusal::NoNumber)
        } else {
            let likes = memory::likes(&self.known.entities, self.remembered.as_ref());
            if likes.likes.is_empty() {
                Err(memory::Refusal::NothingToRemember)
            } else {
                Ok(MemoryOp::Remember(likes))
            }
        };
        match (op, caller) {
            (Ok(op), Some(caller)) => {
                self.tools_in_flight.insert(call_id.clone());
                out.push(Command::Memory {
                    call_id,
                    name,
                    arguments,
                    caller,
                    op,
                });
            }
            (refused, _) => {
                let refusal = refused.err().unwrap_or(memory::Refusal::NoNumber);
                let output: Arc<str> = refusal.output().into();
                self.answer_tool(
                    ToolAnswer::at_once(call_id, name, arguments, output, true),
                    out,
                );
            }
        }
    }

    /// The store kept or forgot the caller: observers are told, and the
    /// model, when the session that asked is still the one answering.
    fn on_memory_done(&mut self, done: MemoryDone, out: &mut Vec<Command>) {
        out.push(Command::Emit(done.event()));
        if matches!(done.result, Ok(MemoryOutcome::Forgotten(_))) {
            self.remembered = None;
        }
        if !self.tools_in_flight.remove(&done.call_id) {
            return;
        }
        let output: Arc<str> = memory::result_output(&done.result).into();
        self.answer_tool(
            ToolAnswer {
                call_id: done.call_id,
                name: done.name,
                arguments: done.arguments,
                output,
                is_error: done.result.is_err(),
                latency: done.latency,
                upstream_requests: 0,
            },
            out,
        );
    }

    /// A text was sent, or not: observers are told, and the model, when
    /// the session that asked is still the one answering.
    fn on_texted(&mut self, done: TextDone, out: &mut Vec<Command>) {
        if let Some(event) = self.texted(&done) {
            out.push(Command::Emit(event));
        }
        if !self.tools_in_flight.remove(&done.call_id) {
            return;
        }
        let output: Arc<str> = texting::result_output(&done.result, self.picks.len()).into();
        self.answer_tool(
            ToolAnswer {
                call_id: done.call_id,
                name: texting::TEXT_PICKS.into(),
                arguments: done.arguments,
                output,
                is_error: done.result.is_err(),
                latency: done.latency,
                upstream_requests: 0,
            },
            out,
        );
    }

    /// The event that tells observers of a text sent or not (the call may
    /// have ended while it was being sent); `None` for one not asked for.
    pub fn texted(&mut self, done: &TextDone) -> Option<CallEvent> {
        if self.texting != Texting::Sending {
            return None;
        }
        self.texting = Texting::Tried;
        Some(CallEvent::Texted {
            failure: done.result.as_ref().err().copied(),
            picks: u32::try_from(self.picks.len()).unwrap_or(u32::MAX),
            segments: done
                .result
                .as_ref()
                .ok()
                .and_then(|receipt| receipt.segments),
        })
    }

    /// Adds the use a model session reported as it closed, after the call
    /// ended; the event that tells observers.
    pub fn add_final_usage(&mut self, usage: Usage) -> Option<CallEvent> {
        if usage == Usage::default() {
            return None;
        }
        self.usage.add(&usage);
        Some(CallEvent::Usage {
            response: usage,
            total: self.usage,
            cost_micros: self.cost_micros(),
        })
    }

    /// Adds billed use to the call's and tells observers.
    fn add_usage(&mut self, usage: Usage, out: &mut Vec<Command>) {
        self.usage.add(&usage);
        out.push(Command::Emit(CallEvent::Usage {
            response: usage,
            total: self.usage,
            cost_micros: self.cost_micros(),
        }));
    }

    /// The model should speak on its own initiative (`prompt` says why):
    /// a response, for a model that confirms them, else a prompt.
    fn owe_speech(&mut self, prompt: &'static str) {
        if self.policy.traits.confirms_responses {
            self.needs_response = true;
        } else {
            self.speech_owed = Some(prompt);
        }
    }

    /// Asks for a response when one is owed, no tool is still running,
    /// no response is active and the caller is not talking.
    fn maybe_create_response(&mut self, out: &mut Vec<Command>) {
        if self.phase == Phase::Live
            && self.ready
            && !self.caller_speaking
            && let Some(prompt) = self.speech_owed.take()
        {
            out.push(Command::Model(ModelCommand::Speak {
                prompt: prompt.into(),
            }));
        }
        if self.phase == Phase::Live
            && self.ready
            && self.needs_response
            && self.tools_in_flight.is_empty()
            && self.response == Response::Idle
            && !self.caller_speaking
        {
            self.needs_response = false;
            self.response = Response::Requested;
            out.push(Command::Model(ModelCommand::CreateResponse));
            out.push(Command::Schedule {
                timer: Timer::ResponseStart(self.generation),
                after: self.policy.response_timeout,
            });
        }
    }

    /// The model asked to end the call or hand the caller over: it is
    /// told to say its last line, which plays to its end before the call
    /// ends (see [`Self::maybe_close`]), within the policy's deadline.
    /// Refused before the caller has said anything (the greeting cannot
    /// end a call).
    fn close_call(
        &mut self,
        reason: EndReason,
        call_id: ToolCallId,
        name: Arc<str>,
        arguments: Arc<str>,
        out: &mut Vec<Command>,
    ) {
        let refused = !self.heard_caller || self.closing.is_some();
        let output: Arc<str> = if refused {
            control::TOO_EARLY.into()
        } else {
            control::closing_output(reason).into()
        };
        if !refused {
            self.closing = Some(Closing {
                reason,
                responding: false,
                speaking: false,
                said: false,
                played_through: None,
                quiet_since_ms: None,
            });
            out.push(Command::Schedule {
                timer: Timer::Closing,
                after: self.policy.control.goodbye_deadline,
            });
        }
        self.answer_tool(
            ToolAnswer::at_once(call_id, name, arguments, output, refused),
            out,
        );
    }

    /// Answers a tool call the session ran or refused itself, or a tool's
    /// finished run: the output to the model, the call to observers, and
    /// a response owed for the model to speak of it.
    fn answer_tool(&mut self, answer: ToolAnswer, out: &mut Vec<Command>) {
        out.push(Command::Model(ModelCommand::ToolOutput {
            call_id: answer.call_id,
            output: answer.output.clone(),
        }));
        out.push(Command::Emit(CallEvent::ToolCalled {
            name: answer.name,
            arguments: answer.arguments,
            result: answer.output,
            is_error: answer.is_error,
            latency: answer.latency,
            upstream_requests: answer.upstream_requests,
        }));
        self.needs_response = true;
        self.maybe_create_response(out);
    }

    /// Ends a call the model asked to close once its last line has been
    /// said and has finished playing at the caller: every mark sent
    /// before it was said has been echoed.
    fn maybe_close(&mut self, out: &mut Vec<Command>) {
        let Some(closing) = self.closing.as_ref() else {
            return;
        };
        if !closing.said {
            return;
        }
        // The last line's audio must end in a mark for its echo to say
        // it has played.
        if closing.played_through.is_none() {
            self.mark_tail(out);
        }
        let next_mark = self.next_mark;
        let direct_playing = self.direct() && self.assistant_speaking;
        let Some(closing) = self.closing.as_mut() else {
            return;
        };
        let through = *closing.played_through.get_or_insert(next_mark);
        let played = self
            .marks
            .front()
            .is_none_or(|mark| mark.name.seq() >= through);
        if !played || self.phase != Phase::Live || self.response != Response::Idle {
            return;
        }
        // A model that plays to the caller itself says when it is done.
        if direct_playing {
            return;
        }
        // A model that speaks on its own may say more after a pause.
        if !self.policy.traits.confirms_responses {
            if self.assistant_speaking {
                return;
            }
            let since = *closing.quiet_since_ms.get_or_insert(self.latest_media_ms);
            if self.latest_media_ms.saturating_sub(since) < CLOSING_QUIET_MS {
                return;
            }
        }
        let reason = closing.reason;
        self.end(reason, out);
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Command>) {
        self.closing = None;
        self.phase = Phase::Ended;
        self.buffered.clear();
        self.tools_in_flight.clear();
        if self.info.is_some() {
            out.push(Command::Emit(CallEvent::Ended { reason }));
        }
        out.push(Command::End(reason));
    }
}

#[cfg(test)]
mod tests;
