//! The call state machine: `on(input) -> commands`.
//!
//! It owns everything a call must remember: ids, the phone's media clock,
//! the assistant item being played and how much of it was sent and heard,
//! the marks not yet echoed, the active response, the tool calls in flight
//! and the entities found in this call. It performs no I/O and reads no
//! clock: time is the phone's media clock, which arrives with the audio.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::ports::{CallEvent, EndReason};
use crate::ports::{
    CallInfo, ModelCommand, ModelErrorKind, ModelEvent, PhoneCommand, PhoneEvent, ResponseStatus,
};
use crate::tools::{KnownEntity, ToolInvocation, ToolOutcome};
use crate::types::{AudioChunk, AudioMs, ItemId, MarkName, ResponseId, StreamSid, ToolCallId};

/// Conversation policy knobs that change the session's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// The model cancels its own response when the caller speaks
    /// (server VAD with `interrupt_response`); we then never send
    /// `response.cancel` ourselves.
    pub server_interrupts: bool,
    /// Caller audio kept while the model connects, in 20 ms frames.
    pub max_buffered_frames: usize,
    /// Whether to greet the caller first.
    pub greet: bool,
    /// How many tools the session is configured with. The greeting waits
    /// until the model confirms a session holding them (any, when some
    /// were offered), so the first answer can already use them.
    pub tools_offered: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            server_interrupts: true,
            max_buffered_frames: 100,
            greet: true,
            tools_offered: 1,
        }
    }
}

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
    /// The model session could not be opened.
    ModelFailed,
    /// An event from the model.
    Model(ModelEvent),
    /// The model session closed.
    ModelClosed,
    /// A tool finished.
    Tool(ToolDone),
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
    /// Open the model session for this call.
    OpenModel(CallInfo),
    /// Run a tool.
    RunTool(ToolInvocation),
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

/// The assistant item being played to the caller.
#[derive(Debug)]
struct Playback {
    item_id: ItemId,
    /// Phone media clock when its first audio was sent.
    started_at_ms: u64,
    /// Audio bytes sent for this item.
    bytes_sent: u64,
    /// Bytes known heard (from a mark echo) and the media clock then.
    heard: Option<(u64, u64)>,
}

#[derive(Debug)]
struct PendingMark {
    name: MarkName,
    /// Bytes of the current item sent before this mark.
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
    greeted: bool,
    playback: Option<Playback>,
    marks: VecDeque<PendingMark>,
    next_mark: u64,
    muted_item: Option<ItemId>,
    response: Response,
    needs_response: bool,
    caller_speaking: bool,
    tools_in_flight: HashSet<ToolCallId>,
    tools_seen: HashSet<ToolCallId>,
    known: Vec<KnownEntity>,
    known_shared: Arc<[KnownEntity]>,
}

impl CallSession {
    /// A call that has not started yet.
    pub fn new(policy: SessionPolicy) -> Self {
        Self {
            policy,
            phase: Phase::AwaitingStart,
            info: None,
            latest_media_ms: 0,
            buffered: VecDeque::new(),
            dropped_frames: 0,
            greeted: false,
            playback: None,
            marks: VecDeque::new(),
            next_mark: 0,
            muted_item: None,
            response: Response::Idle,
            needs_response: false,
            caller_speaking: false,
            tools_in_flight: HashSet::new(),
            tools_seen: HashSet::new(),
            known: Vec::new(),
            known_shared: Arc::from(Vec::new()),
        }
    }

    /// The call's stream id, once started.
    pub fn stream_sid(&self) -> Option<&StreamSid> {
        self.info.as_ref().map(|info| &info.stream_sid)
    }

    /// Whether `start` has arrived.
    pub fn started(&self) -> bool {
        self.phase != Phase::AwaitingStart
    }

    /// Whether the call is over.
    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Entities found by searches in this call.
    pub fn known_entities(&self) -> &[KnownEntity] {
        &self.known
    }

    /// Caller frames dropped because they came before the model was ready
    /// and the buffer was full, or before `start`.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }

    /// Whether assistant audio is still queued or playing at the caller.
    pub fn assistant_audible(&self) -> bool {
        !self.marks.is_empty()
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
            Input::ModelOpened => {
                if self.phase == Phase::Connecting {
                    self.phase = Phase::Live;
                    for audio in self.buffered.drain(..) {
                        out.push(Command::Model(ModelCommand::AppendAudio(audio)));
                    }
                }
            }
            Input::ModelFailed => self.end(EndReason::ModelUnavailable, out),
            Input::ModelClosed => self.end(EndReason::ModelClosed, out),
            Input::Model(event) => self.on_model(event, out),
            Input::Tool(done) => self.on_tool_done(done, out),
            Input::Shutdown => self.end(EndReason::Shutdown, out),
        }
    }

    fn on_phone(&mut self, event: PhoneEvent, out: &mut Vec<Command>) {
        match event {
            PhoneEvent::Connected | PhoneEvent::ForeignMark => {}
            PhoneEvent::Start(info) => {
                if self.started() {
                    return;
                }
                let supported = info.media_format.is_relayable();
                self.info = Some(info.clone());
                self.phase = Phase::Connecting;
                out.push(Command::Emit(CallEvent::Started {
                    call_sid: info.call_sid.clone(),
                }));
                if supported {
                    out.push(Command::OpenModel(info));
                } else {
                    let format = &info.media_format;
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
                    Phase::Connecting => {
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

    /// Twilio echoes marks in order once the audio before them has played
    /// (or was cleared), so every mark up to the echoed one is done.
    fn on_mark(&mut self, name: MarkName) {
        if !self.marks.iter().any(|mark| mark.name == name) {
            return; // cleared by a barge-in, or never ours
        }
        while let Some(mark) = self.marks.pop_front() {
            if let Some(playback) = self.playback.as_mut()
                && playback.item_id == mark.item_id
            {
                playback.heard = Some((mark.item_bytes, self.latest_media_ms));
            }
            if mark.name == name {
                break;
            }
        }
    }

    fn on_model(&mut self, event: ModelEvent, out: &mut Vec<Command>) {
        match event {
            ModelEvent::SessionCreated | ModelEvent::Other => {}
            ModelEvent::SessionUpdated { tools } => {
                if self.policy.greet && !self.greeted && tools >= self.policy.tools_offered.min(1) {
                    self.greeted = true;
                    self.needs_response = true;
                    self.maybe_create_response(out);
                }
            }
            ModelEvent::SpeechStarted => {
                self.caller_speaking = true;
                self.barge_in(out);
            }
            ModelEvent::SpeechStopped => self.caller_speaking = false,
            ModelEvent::ResponseCreated { response_id } => {
                // A response the server started by itself (its turn detection
                // answering the caller) sees every tool output sent so far, so
                // nothing is owed any more. One we asked for was queued before
                // any output sent since, so those are still owed.
                if self.response == Response::Idle {
                    self.needs_response = false;
                }
                self.response = Response::Active {
                    id: response_id,
                    cancelled: false,
                };
            }
            ModelEvent::ResponseDone {
                response_id,
                status,
            } => {
                let ours = match &self.response {
                    Response::Active { id, .. } => *id == response_id,
                    Response::Requested => true,
                    Response::Idle => false,
                };
                if ours {
                    self.response = Response::Idle;
                }
                if status != ResponseStatus::Completed {
                    tracing::debug!(?status, "response ended early");
                }
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
                self.tools_in_flight.insert(call_id.clone());
                out.push(Command::RunTool(ToolInvocation {
                    call_id,
                    name,
                    arguments,
                    known: self.known_shared.clone(),
                }));
            }
            ModelEvent::Error {
                kind,
                code,
                message,
            } => {
                if kind == ModelErrorKind::ResponseAlreadyActive
                    && self.response == Response::Requested
                {
                    self.response = Response::Idle;
                }
                let text = match code {
                    Some(code) => format!("model error {code}: {message}"),
                    None => format!("model error: {message}"),
                };
                out.push(Command::Emit(CallEvent::Error {
                    message: text.into(),
                }));
            }
        }
    }

    fn play(&mut self, item_id: ItemId, audio: AudioChunk, out: &mut Vec<Command>) {
        if self.phase != Phase::Live || self.muted_item.as_ref() == Some(&item_id) {
            return;
        }
        let playback = match &mut self.playback {
            Some(playback) if playback.item_id == item_id => playback,
            slot => slot.insert(Playback {
                item_id: item_id.clone(),
                started_at_ms: self.latest_media_ms,
                bytes_sent: 0,
                heard: None,
            }),
        };
        playback.bytes_sent += u64::from(audio.byte_len());
        let item_bytes = playback.bytes_sent;
        let name = MarkName::new(self.next_mark);
        self.next_mark += 1;
        self.marks.push_back(PendingMark {
            name,
            item_bytes,
            item_id,
        });
        out.push(Command::Phone(PhoneCommand::Media(audio)));
        out.push(Command::Phone(PhoneCommand::Mark(name)));
    }

    /// The caller spoke while assistant audio may still be playing.
    fn barge_in(&mut self, out: &mut Vec<Command>) {
        if self.marks.is_empty() {
            return; // the assistant is silent: nothing to interrupt
        }
        let Some(playback) = self.playback.take() else {
            self.marks.clear();
            return;
        };
        let sent_ms = AudioMs::of_mulaw_bytes(playback.bytes_sent).get();
        let played_ms = match playback.heard {
            Some((bytes, at_ms)) => {
                AudioMs::of_mulaw_bytes(bytes).get() + self.latest_media_ms.saturating_sub(at_ms)
            }
            None => self.latest_media_ms.saturating_sub(playback.started_at_ms),
        };
        let audio_end_ms = played_ms.min(sent_ms);
        self.marks.clear();
        self.muted_item = Some(playback.item_id.clone());
        out.push(Command::Phone(PhoneCommand::Clear));
        out.push(Command::Model(ModelCommand::Truncate {
            item_id: playback.item_id.clone(),
            audio_end_ms,
        }));
        if let Response::Active { cancelled, .. } = &mut self.response
            && !*cancelled
            && !self.policy.server_interrupts
        {
            *cancelled = true;
            out.push(Command::Model(ModelCommand::CancelResponse));
        }
        out.push(Command::Emit(CallEvent::BargeIn {
            item_id: playback.item_id,
            audio_end: AudioMs::new(audio_end_ms),
        }));
    }

    fn on_tool_done(&mut self, done: ToolDone, out: &mut Vec<Command>) {
        if !self.tools_in_flight.remove(&done.call_id) {
            return;
        }
        if !done.outcome.learned.is_empty() {
            for entity in &done.outcome.learned {
                self.known.retain(|known| known.id != entity.id);
                self.known.push(entity.clone());
            }
            self.known_shared = Arc::from(self.known.clone());
        }
        out.push(Command::Model(ModelCommand::ToolOutput {
            call_id: done.call_id,
            output: done.outcome.output.clone(),
        }));
        out.push(Command::Emit(CallEvent::ToolCalled {
            name: done.name,
            arguments: done.arguments,
            result: done.outcome.output,
            is_error: done.outcome.is_error,
            latency: done.latency,
        }));
        self.needs_response = true;
        self.maybe_create_response(out);
    }

    /// Asks for a response when one is owed, no tool is still running,
    /// no response is active and the caller is not talking.
    fn maybe_create_response(&mut self, out: &mut Vec<Command>) {
        if self.phase == Phase::Live
            && self.needs_response
            && self.tools_in_flight.is_empty()
            && self.response == Response::Idle
            && !self.caller_speaking
        {
            self.needs_response = false;
            self.response = Response::Requested;
            out.push(Command::Model(ModelCommand::CreateResponse));
        }
    }

    fn end(&mut self, reason: EndReason, out: &mut Vec<Command>) {
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
