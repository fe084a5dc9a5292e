//! The call runner: one task per call, owning both legs.
//!
//! It waits on whatever comes first (caller, model, a finished tool, the
//! model connecting, shutdown), feeds it to the [`CallSession`], and carries
//! out the commands it returns. Tools run concurrently in a `JoinSet` owned
//! by the call, so ending the call aborts them: nothing outlives its call.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::call::hold::HoldSound;
use crate::call::memory::{MemoryOp, MemoryOutcome};
use crate::call::registry::CallPermit;
use crate::call::session::MemoryDone;
use crate::call::session::{CallSession, Command, Input, SessionPolicy, TextDone, Timer, ToolDone};
use crate::ports::{AudioInbound, Clock, EventSink, LegError, ModelError, ModelSession};
use crate::ports::{CallEvent, CallEventRecord, EndReason, RELAY_SAMPLE, RelayDirection};
use crate::ports::{CallInfo, ModelEvent, ModelFrame, PhoneEvent, SessionSetup, Usage};
use crate::ports::{CallerMemory, MemoryError};
use crate::ports::{TextFailure, TextMessage, TextMessages, VoiceModel, upstream};
use crate::tools::{ToolExecutor, ToolInvocation, ToolOutcome};
use crate::types::PhoneNumber;
use crate::types::ToolCallId;

mod wakes;

use wakes::{Sources, Wakes};

// What a call waits on, each polled with its own waker, in this order.
const SHUTDOWN: usize = 0;
const TOOLS: usize = 1;
const MEMORY: usize = 2;
const TEXTS: usize = 3;
const CLOSING: usize = 4;
const OPENING: usize = 5;
const PHONE: usize = 6;
const MODEL: usize = 7;
const TIMERS: usize = 8;
const DEADLINE: usize = 9;
const _: () = assert!(DEADLINE < wakes::MAX_SOURCES);

/// What every call needs, shared by all calls.
#[derive(Clone)]
pub struct CallServices {
    /// The voice model.
    pub model: Arc<dyn VoiceModel>,
    /// The tools.
    pub tools: Arc<dyn ToolExecutor>,
    /// The observers.
    pub sink: Arc<dyn EventSink>,
    /// Texts to callers, when they can be sent.
    pub texts: Option<Arc<dyn TextMessages>>,
    /// Wall-clock time for events.
    pub clock: Arc<dyn Clock>,
    /// The model session's configuration.
    pub setup: Arc<SessionSetup>,
    /// The voice model's name, for observers and the call's end line.
    pub model_name: Arc<str>,
    /// The API it speaks, likewise.
    pub model_api: Arc<str>,
    /// Conversation policy knobs.
    pub policy: SessionPolicy,
    /// How long the model may take to connect.
    pub connect_timeout: Duration,
    /// How long the phone leg may take to send `start`.
    pub start_timeout: Duration,
    /// Limits that end or repair a call that has stopped moving.
    pub watchdogs: Watchdogs,
    /// What the caller hears while a tool works, if anything.
    pub hold: Option<HoldSound>,
    /// Callers' remembered likes, when kept.
    pub memory: Option<Arc<dyn CallerMemory>>,
}

/// Limits that end or repair a call that has stopped moving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdogs {
    /// No audio from the caller's side for this long ends the call.
    pub caller_silence: Duration,
    /// The longest a call may last.
    pub max_call_duration: Duration,
    /// The longest one tool invocation may take, every request it makes
    /// included; past it the model hears a speakable error.
    pub tool_deadline: Duration,
}

impl Default for Watchdogs {
    fn default() -> Self {
        Self {
            caller_silence: Duration::from_secs(20),
            max_call_duration: Duration::from_secs(60 * 60),
            tool_deadline: Duration::from_secs(8),
        }
    }
}

impl std::fmt::Debug for CallServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallServices")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("start_timeout", &self.start_timeout)
            .field("watchdogs", &self.watchdogs)
            .finish_non_exhaustive()
    }
}

type Opening = Pin<Box<dyn Future<Output = Result<Box<dyn ModelSession>, ModelError>> + Send>>;

/// What woke the runner up.
enum Wake {
    Input(Input),
    Model(Option<ModelFrame>),
    Opened(Result<Box<dyn ModelSession>, ModelError>),
}

/// The delays the session asked for, earliest first out, on one sleep that
/// is re-armed only when the earliest changes.
struct Timers {
    pending: Vec<(Instant, Timer)>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
}

impl Timers {
    fn new() -> Self {
        Self {
            pending: Vec::new(),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
        }
    }

    fn add(&mut self, timer: Timer, after: Duration) {
        // A newer timer of the same kind replaces the older one.
        self.pending
            .retain(|(_, t)| std::mem::discriminant(t) != std::mem::discriminant(&timer));
        self.pending.push((Instant::now() + after, timer));
        self.arm();
    }

    fn arm(&mut self) {
        let earliest = self.pending.iter().map(|(at, _)| *at).min();
        if earliest != self.armed {
            if let Some(at) = earliest {
                self.sleep.as_mut().reset(at);
            }
            self.armed = earliest;
        }
    }

    /// The earliest timer, taken once it is due.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Timer> {
        std::task::ready!(self.sleep.as_mut().poll(cx));
        let earliest = self
            .pending
            .iter()
            .enumerate()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(index, _)| index)
            .expect("armed only with a timer pending");
        let (_, timer) = self.pending.swap_remove(earliest);
        self.armed = None;
        self.arm();
        Poll::Ready(timer)
    }
}

/// The limits that end a call that has stopped moving: no `start` in time,
/// the longest call, a phone leg that went silent. One sleep waits for the
/// earliest; a frame only notes the time, and the sleep, when it wakes
/// early (audio came since it was set), is set again.
struct Deadlines {
    start_by: Instant,
    longest_by: Instant,
    // A phone leg streams audio all the time, silence included: one
    // that sends none for this long is gone.
    silence: Duration,
    last_media: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The stage the sleep was set for.
    set_for: Stage,
}

/// Where a call is, as far as its deadlines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the phone leg's start.
    Starting,
    /// Started, with the caller's audio passing through the call: its
    /// silence is watched.
    Relaying,
    /// Started, with the caller's audio going straight to the model's
    /// side: there is no silence to watch, only the longest call.
    Direct,
}

impl Stage {
    fn of(session: &CallSession) -> Self {
        match (session.started(), session.relays_audio()) {
            (false, _) => Self::Starting,
            (true, true) => Self::Relaying,
            (true, false) => Self::Direct,
        }
    }
}

/// A limit a call reached.
enum Reached {
    Start,
    Silence,
    Longest,
}

impl Deadlines {
    fn new(services: &CallServices) -> Self {
        let now = Instant::now();
        let start_by = now + services.start_timeout;
        Self {
            start_by,
            longest_by: now + services.watchdogs.max_call_duration,
            silence: services.watchdogs.caller_silence,
            last_media: now,
            sleep: Box::pin(tokio::time::sleep_until(start_by)),
            set_for: Stage::Starting,
        }
    }

    /// Once the stream has started, the limits to watch are others: the
    /// sleep is set for them at once.
    fn follow(&mut self, stage: Stage) {
        if stage != self.set_for {
            self.set_for = stage;
            let (at, _) = self.next(stage);
            self.sleep.as_mut().reset(at);
        }
    }

    /// The earliest limit still to watch.
    fn next(&self, stage: Stage) -> (Instant, Reached) {
        let first = match stage {
            Stage::Starting => (self.start_by, Reached::Start),
            Stage::Relaying => (self.last_media + self.silence, Reached::Silence),
            Stage::Direct => return (self.longest_by, Reached::Longest),
        };
        if self.longest_by <= first.0 {
            (self.longest_by, Reached::Longest)
        } else {
            first
        }
    }

    /// After the sleep woke: the limit reached, if one was; otherwise the
    /// sleep is set for the next.
    fn reached(&mut self, stage: Stage) -> Option<Reached> {
        let (at, reached) = self.next(stage);
        if at <= Instant::now() {
            return Some(reached);
        }
        self.sleep.as_mut().reset(at);
        None
    }
}

/// Audio frames relayed each way, one in [`RELAY_SAMPLE`] timed.
#[derive(Default)]
struct Relay {
    up: u32,
    down: u32,
}

impl Relay {
    /// Counts a frame; whether this one is timed.
    fn count(&mut self, direction: RelayDirection) -> bool {
        let count = match direction {
            RelayDirection::Uplink => &mut self.up,
            RelayDirection::Downlink => &mut self.down,
        };
        *count = count.wrapping_add(1);
        count.is_multiple_of(RELAY_SAMPLE)
    }
}

/// One call's task: its legs, its session and everything they wait on.
struct Call<'s, P> {
    services: &'s CallServices,
    phone: P,
    model: Option<Box<dyn ModelSession>>,
    opening: Option<Opening>,
    /// When the model was asked for, for the connect time.
    opening_since: Instant,
    session: CallSession,
    commands: Vec<Command>,
    tools: JoinSet<ToolDone>,
    /// Texts being sent: not dropped with the tools (a caller who said yes
    /// and hung up still gets theirs), waited for as the call ends.
    texts: JoinSet<TextDone>,
    /// Caller memory lookups and writes, answered as inputs.
    memory: JoinSet<Input>,
    /// Replaced model sessions closing, with the use each reports on the
    /// way out: the call's own, so nothing outlives it.
    closing: JoinSet<Option<Usage>>,
    /// The call's end, told observers last (after the model's final use).
    ended: Option<CallEvent>,
    timers: Timers,
    deadlines: Deadlines,
    /// Waits for the registry's stop signal: one future for the call,
    /// not one a wake; `None` once the registry is gone.
    shutdown: Option<ShutdownWatch>,
    shutdown_pending: bool,
    announced: bool,
    phone_unflushed: bool,
    model_unflushed: bool,
    relay: Relay,
    wakes: Wakes,
    /// What the call waited on at the last wake.
    shape: Option<Shape>,
}

/// What a call waits on, as far as which sources have a waker goes: when
/// it changes, every source is polled once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    /// Whether there is a model session. (One is only ever replaced by
    /// way of none: dropped when its socket closes, set when the opening
    /// source is ready, after which every source is polled anyway.)
    model: bool,
    opening: bool,
    tools: usize,
    memory: usize,
    texts: usize,
    closing: usize,
    timer: Option<Instant>,
    deadline: Instant,
    shutdown: bool,
}

impl Shape {
    fn of<P>(call: &Call<'_, P>) -> Self {
        Self {
            model: call.model.is_some(),
            opening: call.opening.is_some(),
            tools: call.tools.len(),
            memory: call.memory.len(),
            texts: call.texts.len(),
            closing: call.closing.len(),
            timer: call.timers.armed,
            deadline: call.deadlines.sleep.deadline(),
            shutdown: call.shutdown.is_some(),
        }
    }
}

/// Resolves when the stop signal changes: to whether to stop, and the
/// receiver to watch on with; to `None` when the registry is gone.
type ShutdownWatch = Pin<Box<dyn Future<Output = Option<(bool, watch::Receiver<bool>)>> + Send>>;

fn watch_shutdown(mut shutdown: watch::Receiver<bool>) -> ShutdownWatch {
    Box::pin(async move {
        shutdown.changed().await.ok()?;
        let stop = *shutdown.borrow_and_update();
        Some((stop, shutdown))
    })
}

/// Runs one call to its end and returns why it ended.
///
/// `permit` holds the call's place in the registry until the call ends
/// (a named binding, so it is dropped on return, not at once).
/// `shutdown` turning `true` ends the call.
pub async fn run_call<P: AudioInbound>(
    phone: P,
    services: &CallServices,
    _permit: CallPermit,
    shutdown: watch::Receiver<bool>,
) -> EndReason {
    let mut call = Call::new(phone, services, shutdown);
    loop {
        let Some(wake) = call.wake().await else {
            continue;
        };
        // One audio frame in RELAY_SAMPLE each way is timed from here to
        // its flush below.
        let (input, timed) = call.take(wake);
        let ended = call.apply(input);
        let written = call.flush();
        call.report_timing(timed, written);
        if let Some(reason) = ended {
            // Once a call, on the heap: the closing futures would otherwise
            // be part of every call's task for its whole life.
            return Box::pin(call.finish(reason)).await;
        }
    }
}

impl<'s, P: AudioInbound> Call<'s, P> {
    fn new(phone: P, services: &'s CallServices, mut shutdown: watch::Receiver<bool>) -> Self {
        let shutdown_pending = *shutdown.borrow_and_update();
        Self {
            services,
            phone,
            model: None,
            opening: None,
            opening_since: Instant::now(),
            session: CallSession::new(
                services.policy,
                services.model_name.clone(),
                services.model_api.clone(),
            )
            .with_hold_sound(services.hold.clone()),
            commands: Vec::with_capacity(8),
            tools: JoinSet::new(),
            texts: JoinSet::new(),
            memory: JoinSet::new(),
            closing: JoinSet::new(),
            ended: None,
            timers: Timers::new(),
            deadlines: Deadlines::new(services),
            shutdown: Some(watch_shutdown(shutdown)),
            shutdown_pending,
            announced: false,
            phone_unflushed: false,
            model_unflushed: false,
            relay: Relay::default(),
            wakes: Wakes::new(),
            shape: None,
        }
    }

    /// Waits for whatever comes first; `None` for a wake that needs
    /// nothing done. The sources are polled in this order, with no coin
    /// tossed each wake: the caller's frames (paced by the phone network,
    /// so they cannot starve the rest) before the model's, which can come
    /// in bursts. Only the sources that may have something are polled
    /// ([`Wakes`]).
    async fn wake(&mut self) -> Option<Wake> {
        if std::mem::take(&mut self.shutdown_pending) {
            return Some(Wake::Input(Input::Shutdown));
        }
        let stage = Stage::of(&self.session);
        self.deadlines.follow(stage);
        // Something added, replaced or re-armed since the last wake has
        // no waker yet: everything is polled once.
        let shape = Some(Shape::of(self));
        if shape != self.shape {
            self.shape = shape;
            self.wakes.owe_all();
        }
        let mut first = true;
        let (source, wake) = poll_fn(|cx| {
            let due = self.wakes.due(cx, std::mem::take(&mut first));
            let ready = self.poll_sources(due, stage);
            if let Poll::Ready((source, _)) = &ready {
                // Those not reached are still due.
                self.wakes.owe(due.after(*source));
            }
            ready
        })
        .await;
        // The source that was ready may hold more; any other's readiness
        // changed what the call waits on.
        if matches!(source, PHONE | MODEL) {
            self.wakes.owe(Sources::one(source));
        } else {
            self.wakes.owe_all();
        }
        wake
    }

    /// Polls the sources in `due`, each with its own waker, in order: the
    /// first ready, and what it woke the call for.
    fn poll_sources(&mut self, due: Sources, stage: Stage) -> Poll<(usize, Option<Wake>)> {
        let services = self.services;
        let wakes = &self.wakes;
        let polled = |source: usize| due.contains(source);
        let context = |source: usize| Context::from_waker(wakes.waker(source));
        if polled(SHUTDOWN)
            && let Some(shutdown) = self.shutdown.as_mut()
            && let Poll::Ready(changed) = shutdown.as_mut().poll(&mut context(SHUTDOWN))
        {
            let wake = match changed {
                Some((stop, shutdown)) => {
                    self.shutdown = Some(watch_shutdown(shutdown));
                    stop.then_some(Wake::Input(Input::Shutdown))
                }
                // The registry is gone: nobody can ask us to stop any more.
                None => {
                    self.shutdown = None;
                    None
                }
            };
            return Poll::Ready((SHUTDOWN, wake));
        }
        if polled(TOOLS)
            && !self.tools.is_empty()
            && let Poll::Ready(Some(joined)) = self.tools.poll_join_next(&mut context(TOOLS))
        {
            let wake = match joined {
                Ok(done) => Some(Wake::Input(Input::Tool(done))),
                Err(err) => {
                    if !err.is_cancelled() {
                        tracing::error!(error = %err, "tool task failed");
                    }
                    None
                }
            };
            return Poll::Ready((TOOLS, wake));
        }
        if polled(MEMORY)
            && !self.memory.is_empty()
            && let Poll::Ready(Some(joined)) = self.memory.poll_join_next(&mut context(MEMORY))
        {
            let wake = match joined {
                Ok(input) => Some(Wake::Input(input)),
                Err(err) => {
                    tracing::error!(error = %err, "caller memory task failed");
                    None
                }
            };
            return Poll::Ready((MEMORY, wake));
        }
        if polled(TEXTS)
            && !self.texts.is_empty()
            && let Poll::Ready(Some(joined)) = self.texts.poll_join_next(&mut context(TEXTS))
        {
            let wake = match joined {
                Ok(done) => Some(Wake::Input(Input::Texted(done))),
                Err(err) => {
                    tracing::error!(error = %err, "text task failed");
                    None
                }
            };
            return Poll::Ready((TEXTS, wake));
        }
        if polled(CLOSING)
            && !self.closing.is_empty()
            && let Poll::Ready(Some(closed)) = self.closing.poll_join_next(&mut context(CLOSING))
        {
            let wake = match closed {
                // What a replaced session billed on its way out still counts.
                Ok(Some(usage)) => Some(Wake::Input(Input::Model(ModelEvent::Usage(usage)))),
                _ => None,
            };
            return Poll::Ready((CLOSING, wake));
        }
        if polled(OPENING)
            && let Some(opening) = self.opening.as_mut()
            && let Poll::Ready(opened) = opening.as_mut().poll(&mut context(OPENING))
        {
            return Poll::Ready((OPENING, Some(Wake::Opened(opened))));
        }
        if polled(PHONE)
            && let Poll::Ready(event) = self.phone.poll_recv(&mut context(PHONE))
        {
            if matches!(event, Some(PhoneEvent::Media { .. })) {
                self.deadlines.last_media = Instant::now();
            }
            let input = event.map_or(Input::PhoneClosed, Input::Phone);
            return Poll::Ready((PHONE, Some(Wake::Input(input))));
        }
        if polled(MODEL)
            && let Some(model) = self.model.as_mut()
            && let Poll::Ready(frame) = model.poll_recv(&mut context(MODEL))
        {
            return Poll::Ready((MODEL, Some(Wake::Model(frame))));
        }
        if polled(TIMERS)
            && self.timers.armed.is_some()
            && let Poll::Ready(timer) = self.timers.poll_next(&mut context(TIMERS))
        {
            return Poll::Ready((TIMERS, Some(Wake::Input(Input::Timer(timer)))));
        }
        if polled(DEADLINE)
            && self
                .deadlines
                .sleep
                .as_mut()
                .poll(&mut context(DEADLINE))
                .is_ready()
        {
            let wake = match self.deadlines.reached(stage) {
                None => None,
                Some(Reached::Start) => Some(Wake::Input(Input::StartTimeout)),
                Some(Reached::Silence) => {
                    tracing::warn!(after = ?services.watchdogs.caller_silence, "no audio from the caller's side; ending the call");
                    Some(Wake::Input(Input::CallerSilent))
                }
                Some(Reached::Longest) => {
                    tracing::info!(after = ?services.watchdogs.max_call_duration, "the call reached its longest duration");
                    Some(Wake::Input(Input::MaxDuration))
                }
            };
            return Poll::Ready((DEADLINE, wake));
        }
        Poll::Pending
    }

    /// What woke the call, as the session's input; and, for a frame
    /// whose relay is timed, its direction and when it came in.
    fn take(&mut self, wake: Wake) -> (Input, Option<(RelayDirection, Instant)>) {
        let mut timed = None;
        let input = match wake {
            Wake::Input(input) => {
                if matches!(input, Input::Phone(PhoneEvent::Media { .. }))
                    && self.relay.count(RelayDirection::Uplink)
                {
                    timed = Some((RelayDirection::Uplink, Instant::now()));
                }
                input
            }
            Wake::Opened(result) => {
                self.opening = None;
                match result {
                    Ok(session) => {
                        self.model = Some(session);
                        let took = self.opening_since.elapsed();
                        self.emit(CallEvent::ModelConnected { took });
                        Input::ModelOpened
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "model unavailable");
                        Input::ModelFailed {
                            fatal: err.is_fatal(),
                        }
                    }
                }
            }
            Wake::Model(None) => {
                self.model = None;
                tracing::info!("model session lost");
                Input::ModelClosed
            }
            Wake::Model(Some(frame)) => {
                let audio = matches!(frame.event, ModelEvent::AudioDelta { .. });
                if audio && self.relay.count(RelayDirection::Downlink) {
                    timed = Some((RelayDirection::Downlink, Instant::now()));
                }
                // Audio (most of the bytes) reaches observers only while one
                // asked for it; an event the adapter derived has no frame
                // of the model's to show.
                if !frame.raw.is_empty() && (!audio || self.services.sink.wants_audio()) {
                    self.emit(CallEvent::Model {
                        audio,
                        raw: frame.raw,
                    });
                }
                Input::Model(frame.event)
            }
        };
        (input, timed)
    }

    /// Feeds `input` to the session and carries out what it asks, and
    /// whatever follows from that; why the call ended, if it did.
    fn apply(&mut self, input: Input) -> Option<EndReason> {
        let mut next = Some(input);
        let mut ended = None;
        while let Some(input) = next.take() {
            self.session.on(input, &mut self.commands);
            let mut commands = std::mem::take(&mut self.commands);
            for command in commands.drain(..) {
                match command {
                    Command::End(reason) => ended = Some(reason),
                    command => {
                        if let Some(follow) = self.execute(command) {
                            next.get_or_insert(follow);
                        }
                    }
                }
            }
            // The buffer goes back, its capacity kept for the next input.
            self.commands = commands;
            if ended.is_some() {
                break;
            }
        }
        ended
    }

    /// Carries out one command; an input that follows from it (a leg that
    /// stopped taking what is sent).
    fn execute(&mut self, command: Command) -> Option<Input> {
        match command {
            Command::Phone(command) => match self.phone.send(command) {
                Ok(()) => self.phone_unflushed = true,
                Err(LegError::Backlogged) => {
                    tracing::warn!("the phone leg is not taking audio; ending the call");
                    return Some(Input::PhoneClosed);
                }
                Err(err) => tracing::debug!(error = %err, "phone leg write failed"),
            },
            Command::Model(command) => {
                let leg = self.model.as_mut()?;
                match leg.send(command) {
                    Ok(()) => self.model_unflushed = true,
                    Err(LegError::Backlogged) => {
                        tracing::warn!("the model leg is not taking events; replacing the session");
                        self.close_model();
                        return Some(Input::ModelClosed);
                    }
                    Err(err) => tracing::debug!(error = %err, "model leg write failed"),
                }
            }
            Command::OpenModel {
                info,
                after,
                context,
            } => {
                if !self.announced {
                    self.announced = true;
                    // The span the caller opened for this call carries its ids.
                    let span = tracing::Span::current();
                    span.record("stream", info.leg_id.as_str());
                    if let Some(call_sid) = &info.call_sid {
                        span.record("call", call_sid.as_str());
                    }
                    tracing::info!("call started");
                }
                self.opening_since = Instant::now() + after;
                self.opening = Some(open_model(self.services, info, after, context));
            }
            Command::CloseModel => self.close_model(),
            Command::RunTool(invocation) => self.run_tool(invocation),
            Command::AbortTools => self.tools.abort_all(),
            Command::SendText {
                call_id,
                arguments,
                message,
            } => self.send_text(call_id, arguments, message),
            Command::Recall { caller } => self.recall(caller),
            Command::Memory {
                call_id,
                name,
                arguments,
                caller,
                op,
            } => self.use_memory(call_id, name, arguments, caller, op),
            Command::Schedule { timer, after } => self.timers.add(timer, after),
            Command::Emit(event) => self.tell(event),
            Command::End(_) => unreachable!("handled by apply"),
        }
        None
    }

    /// Closes the model session being replaced on the call's own task set.
    fn close_model(&mut self) {
        if let Some(mut old) = self.model.take() {
            self.closing.spawn(async move { old.close().await });
        }
    }

    fn run_tool(&mut self, invocation: ToolInvocation) {
        let executor = self.services.tools.clone();
        let deadline = self.services.watchdogs.tool_deadline;
        self.tools.spawn(async move {
            let started = Instant::now();
            let call_id = invocation.call_id.clone();
            let name = invocation.name.clone();
            let arguments = invocation.arguments.clone();
            let upstream = upstream::Requests::default();
            let run = upstream.scope(executor.execute(invocation));
            let outcome = tokio::time::timeout(deadline, run)
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!(tool = %name, ?deadline, "tool gave up at its deadline");
                    ToolOutcome::error(
                        "This lookup took too long. Tell the caller briefly and offer to try again or to look for something else.",
                        None,
                    )
                });
            ToolDone {
                call_id,
                name,
                arguments,
                outcome,
                latency: started.elapsed(),
                upstream_requests: upstream.get(),
            }
        });
    }

    fn recall(&mut self, caller: PhoneNumber) {
        let Some(memory) = self.services.memory.clone() else {
            self.memory.spawn(async { Input::Recalled(None) });
            return;
        };
        self.memory.spawn(async move {
            match memory.recall(&caller).await {
                Ok(remembered) => Input::Recalled(remembered),
                Err(err) => {
                    tracing::warn!(error = %err, "caller memory: recall failed");
                    Input::Recalled(None)
                }
            }
        });
    }

    fn use_memory(
        &mut self,
        call_id: ToolCallId,
        name: Arc<str>,
        arguments: Arc<str>,
        caller: PhoneNumber,
        op: MemoryOp,
    ) {
        let memory = self.services.memory.clone();
        let deadline = self.services.watchdogs.tool_deadline;
        self.memory.spawn(async move {
            let started = Instant::now();
            let work = async {
                let memory =
                    memory.ok_or_else(|| MemoryError("no caller memory configured".into()))?;
                match op {
                    MemoryOp::Remember(what) => memory
                        .remember(&caller, &what)
                        .await
                        .map(|()| MemoryOutcome::Stored(what.likes.len())),
                    MemoryOp::Forget => memory.forget(&caller).await.map(MemoryOutcome::Forgotten),
                }
            };
            let result = tokio::time::timeout(deadline, work)
                .await
                .unwrap_or_else(|_| Err(MemoryError("no answer by the deadline".into())));
            if let Err(err) = &result {
                tracing::warn!(error = %err, tool = %name, "caller memory: not done");
            }
            Input::Memory(MemoryDone {
                call_id,
                name,
                arguments,
                result,
                latency: started.elapsed(),
            })
        });
    }

    fn send_text(&mut self, call_id: ToolCallId, arguments: Arc<str>, message: TextMessage) {
        let Some(texts) = self.services.texts.clone() else {
            // Offered only when texts can be sent; answered all the same.
            self.texts.spawn(async move {
                TextDone {
                    call_id,
                    arguments,
                    result: Err(TextFailure::Unavailable),
                    latency: Duration::ZERO,
                }
            });
            return;
        };
        let deadline = self.services.watchdogs.tool_deadline;
        self.texts.spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout(deadline, texts.send(message))
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!(?deadline, "text not confirmed by its deadline");
                    Err(TextFailure::MaybeSent)
                });
            TextDone {
                call_id,
                arguments,
                result,
                latency: started.elapsed(),
            }
        });
    }

    /// Tells the log and observers what the session reported.
    fn tell(&mut self, event: CallEvent) {
        match &event {
            CallEvent::Error { message } => tracing::warn!(%message, "call error"),
            CallEvent::ModelReconnecting { attempt } => {
                tracing::info!(attempt, "reopening the model session");
            }
            CallEvent::ModelReconnected { gap } => {
                tracing::info!(gap_ms = gap.get(), "model session reopened");
            }
            CallEvent::Ended { .. } => {
                // Told in `finish`, after what closing the model adds.
                self.ended = Some(event);
                return;
            }
            _ => {}
        }
        self.emit(event);
    }

    /// The call's last events: the frames since the last report, then
    /// the end.
    fn tell_end(&mut self) {
        let Some(ended) = self.ended.take() else {
            return;
        };
        for (direction, count) in [
            (RelayDirection::Uplink, self.relay.up),
            (RelayDirection::Downlink, self.relay.down),
        ] {
            let frames = count % RELAY_SAMPLE;
            if frames > 0 {
                self.emit(CallEvent::Relayed {
                    direction,
                    frames,
                    latency: None,
                });
            }
        }
        self.emit(ended);
    }

    /// Hands an event to the observers, once the call has a stream id.
    fn emit(&self, event: CallEvent) {
        if let Some(stream) = self.session.leg_id() {
            self.services.sink.emit(CallEventRecord {
                call: stream.clone(),
                at: self.services.clock.now(),
                event,
            });
        }
    }

    /// Everything one wake-up produced goes out together: one write for an
    /// audio delta's media and mark, not one each. Which legs were written
    /// to: phone, model.
    ///
    /// A write the socket cannot take yet is finished by the leg's own
    /// polling: the flush registers the leg's waker, not the task's.
    fn flush(&mut self) -> (bool, bool) {
        let written = (self.phone_unflushed, self.model_unflushed);
        if std::mem::take(&mut self.phone_unflushed)
            && let Err(err) = self
                .phone
                .flush(&mut Context::from_waker(self.wakes.waker(PHONE)))
        {
            tracing::debug!(error = %err, "phone leg write failed");
        }
        if std::mem::take(&mut self.model_unflushed)
            && let Some(leg) = self.model.as_mut()
            && let Err(err) = leg.flush(&mut Context::from_waker(self.wakes.waker(MODEL)))
        {
            tracing::debug!(error = %err, "model leg write failed");
        }
        written
    }

    /// Reports a timed frame's relay latency: only one that went out to
    /// the other leg is timed (not caller audio buffered while the model
    /// reconnects).
    fn report_timing(
        &self,
        timed: Option<(RelayDirection, Instant)>,
        (phone, model): (bool, bool),
    ) {
        let Some((direction, since)) = timed else {
            return;
        };
        let written = match direction {
            RelayDirection::Uplink => model,
            RelayDirection::Downlink => phone,
        };
        self.emit(CallEvent::Relayed {
            direction,
            frames: RELAY_SAMPLE,
            latency: written.then(|| since.elapsed()),
        });
    }

    /// Ends the call: its tools stop, both legs close, replaced sessions
    /// finish closing (bounded), and the end line is logged.
    async fn finish(mut self, reason: EndReason) -> EndReason {
        self.tools.abort_all();
        let mut last_use = Vec::new();
        if let Some(mut model) = self.model.take() {
            last_use.extend(model.close().await);
        }
        self.phone.close(reason).await;
        // Each close is bounded by its leg; this bounds them all.
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while let Some(closed) = self.closing.join_next().await {
                last_use.extend(closed.ok().flatten());
            }
        })
        .await;
        self.closing.abort_all();
        // A text the caller asked for goes on after the line closes
        // (bounded by its own deadline), and is in the call's report.
        // A caller's yes (or their asking to be forgotten) is kept even
        // when they hang up at once (bounded by the tool deadline).
        while let Some(joined) = self.memory.join_next().await {
            if let Ok(Input::Memory(done)) = joined {
                self.emit(done.event());
            }
        }
        while let Some(joined) = self.texts.join_next().await {
            if let Ok(done) = joined
                && let Some(event) = self.session.texted(&done)
            {
                self.emit(event);
            }
        }
        for usage in last_use {
            if let Some(event) = self.session.add_final_usage(usage) {
                self.emit(event);
            }
        }
        self.tell_end();
        let session = &self.session;
        let usage = session.usage();
        #[allow(clippy::cast_precision_loss)] // an estimate in dollars
        let cost_usd = session.cost_micros().map(|micros| micros as f64 / 1e6);
        tracing::info!(
            reason = %reason,
            model = %self.services.model_name,
            api = %self.services.model_api,
            dropped_frames = session.dropped_frames(),
            input_text_tokens = usage.input_text,
            input_audio_tokens = usage.input_audio,
            input_image_tokens = usage.input_image,
            cached_input_tokens = usage.cached_input(),
            cached_audio_tokens = usage.cached_audio,
            output_text_tokens = usage.output_text,
            output_audio_tokens = usage.output_audio,
            session_seconds = usage.session_ms / 1000,
            // Left out when the model's prices are not known.
            cost_usd,
            taste_graph_requests = session.upstream_requests(),
            "call ended"
        );
        reason
    }
}

fn open_model(
    services: &CallServices,
    info: CallInfo,
    after: Duration,
    context: Option<Arc<str>>,
) -> Opening {
    let model = services.model.clone();
    let setup = services.setup.clone();
    let timeout = services.connect_timeout;
    Box::pin(async move {
        tokio::time::sleep(after).await;
        match tokio::time::timeout(timeout, model.open(&info, &setup, context)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Timeout),
        }
    })
}

#[cfg(test)]
mod tests;
