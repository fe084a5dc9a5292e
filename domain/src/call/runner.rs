//! The call runner: one task per call, owning both legs.
//!
//! It waits on whatever comes first (caller, model, a finished tool, the
//! model connecting, shutdown), feeds it to the [`CallSession`], and carries
//! out the commands it returns. Tools run concurrently in a `JoinSet` owned
//! by the call, so ending the call aborts them: nothing outlives its call.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::call::registry::CallPermit;
use crate::call::session::{CallSession, Command, Input, SessionPolicy, Timer, ToolDone};
use crate::ports::{AudioInbound, Clock, EventSink, LegError, ModelError, ModelSession};
use crate::ports::{CallEvent, CallEventRecord, EndReason, RELAY_SAMPLE, RelayDirection};
use crate::ports::{CallInfo, ModelEvent, ModelFrame, PhoneEvent, SessionSetup};
use crate::ports::{RealtimeModel, upstream};
use crate::tools::{ToolExecutor, ToolOutcome};

/// What every call needs, shared by all calls.
#[derive(Clone)]
pub struct CallServices {
    /// The voice model.
    pub model: Arc<dyn RealtimeModel>,
    /// The tools.
    pub tools: Arc<dyn ToolExecutor>,
    /// The observers.
    pub sink: Arc<dyn EventSink>,
    /// Wall-clock time for events.
    pub clock: Arc<dyn Clock>,
    /// The model session's configuration.
    pub setup: Arc<SessionSetup>,
    /// The voice model's name, for observers and the call's end line.
    pub model_name: Arc<str>,
    /// Conversation policy knobs.
    pub policy: SessionPolicy,
    /// How long the model may take to connect.
    pub connect_timeout: Duration,
    /// How long the phone leg may take to send `start`.
    pub start_timeout: Duration,
    /// Limits that end or repair a call that has stopped moving.
    pub watchdogs: Watchdogs,
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

    /// Waits for the earliest timer and takes it.
    async fn next(&mut self) -> Timer {
        (&mut self.sleep).await;
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
        timer
    }
}

/// Runs one call to its end and returns why it ended.
///
/// `permit` holds the call's place in the registry until the call ends
/// (a named binding, so it is dropped on return, not at once).
/// `shutdown` turning `true` ends the call.
pub async fn run_call<P: AudioInbound>(
    mut phone: P,
    services: &CallServices,
    _permit: CallPermit,
    mut shutdown: watch::Receiver<bool>,
) -> EndReason {
    let mut session = CallSession::new(services.policy, services.model_name.clone());
    let mut model: Option<Box<dyn ModelSession>> = None;
    let mut opening: Option<Opening> = None;
    let mut tools: JoinSet<ToolDone> = JoinSet::new();
    let mut commands = Vec::with_capacity(8);
    let mut timers = Timers::new();
    let start_deadline = tokio::time::sleep(services.start_timeout);
    tokio::pin!(start_deadline);
    let longest = tokio::time::sleep(services.watchdogs.max_call_duration);
    tokio::pin!(longest);
    // Twilio streams audio all the time, silence included: a phone leg
    // that sends none for this long is gone.
    let mut silence_check = tokio::time::interval(Duration::from_secs(1));
    silence_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_media = Instant::now();
    let mut shutdown_pending = *shutdown.borrow_and_update();
    let mut shutdown_watched = true;
    let mut announced = false;
    let mut phone_unflushed = false;
    let mut relayed_up = 0_u32;
    let mut relayed_down = 0_u32;
    let mut opening_since = Instant::now();
    let mut model_unflushed = false;

    loop {
        let wake = if std::mem::take(&mut shutdown_pending) {
            Wake::Input(Input::Shutdown)
        } else {
            tokio::select! {
                changed = shutdown.changed(), if shutdown_watched => match changed {
                    Ok(()) if *shutdown.borrow_and_update() => Wake::Input(Input::Shutdown),
                    Ok(()) => continue,
                    // The registry is gone: nobody can ask us to stop any more.
                    Err(_) => {
                        shutdown_watched = false;
                        continue;
                    }
                },
                Some(joined) = tools.join_next(), if !tools.is_empty() => match joined {
                    Ok(done) => Wake::Input(Input::Tool(done)),
                    Err(err) => {
                        if !err.is_cancelled() {
                            tracing::error!(error = %err, "tool task failed");
                        }
                        continue;
                    }
                },
                opened = async { opening.as_mut().expect("guarded").await }, if opening.is_some() => Wake::Opened(opened),
                frame = poll_fn(|cx| model.as_mut().expect("guarded").poll_recv(cx)), if model.is_some() => Wake::Model(frame),
                event = poll_fn(|cx| phone.poll_recv(cx)) => {
                    if matches!(event, Some(PhoneEvent::Media { .. })) {
                        last_media = Instant::now();
                    }
                    Wake::Input(event.map_or(Input::PhoneClosed, Input::Phone))
                }
                () = &mut start_deadline, if !session.started() => Wake::Input(Input::StartTimeout),
                timer = timers.next(), if timers.armed.is_some() => Wake::Input(Input::Timer(timer)),
                _ = silence_check.tick(), if session.started() => {
                    if last_media.elapsed() < services.watchdogs.caller_silence {
                        continue;
                    }
                    tracing::warn!(after = ?services.watchdogs.caller_silence, "no audio from the caller's side; ending the call");
                    Wake::Input(Input::CallerSilent)
                }
                () = &mut longest => {
                    tracing::info!(after = ?services.watchdogs.max_call_duration, "the call reached its longest duration");
                    Wake::Input(Input::MaxDuration)
                }
            }
        };
        // One audio frame in RELAY_SAMPLE each way is timed from here to
        // its flush below.
        let mut timed = None;
        let mut connected = None;
        let input = match wake {
            Wake::Input(input) => {
                if matches!(input, Input::Phone(PhoneEvent::Media { .. })) {
                    relayed_up = relayed_up.wrapping_add(1);
                    if relayed_up.is_multiple_of(RELAY_SAMPLE) {
                        timed = Some((RelayDirection::Uplink, Instant::now()));
                    }
                }
                input
            }
            Wake::Opened(result) => {
                opening = None;
                match result {
                    Ok(session) => {
                        model = Some(session);
                        connected = Some(opening_since.elapsed());
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
                model = None;
                tracing::info!("model session lost");
                Input::ModelClosed
            }
            Wake::Model(Some(frame)) => {
                let audio = matches!(frame.event, ModelEvent::AudioDelta { .. });
                if audio {
                    relayed_down = relayed_down.wrapping_add(1);
                    if relayed_down.is_multiple_of(RELAY_SAMPLE) {
                        timed = Some((RelayDirection::Downlink, Instant::now()));
                    }
                }
                if let Some(stream) = session.stream_sid() {
                    services.sink.emit(CallEventRecord {
                        call: stream.clone(),
                        at: services.clock.now(),
                        event: CallEvent::Model {
                            audio,
                            raw: frame.raw,
                        },
                    });
                }
                Input::Model(frame.event)
            }
        };
        if let (Some(took), Some(stream)) = (connected, session.stream_sid()) {
            services.sink.emit(CallEventRecord {
                call: stream.clone(),
                at: services.clock.now(),
                event: CallEvent::ModelConnected { took },
            });
        }

        let mut next = Some(input);
        let mut ended = None;
        while let Some(input) = next.take() {
            session.on(input, &mut commands);
            for command in commands.drain(..) {
                match command {
                    Command::Phone(command) => match phone.send(command) {
                        Ok(()) => phone_unflushed = true,
                        Err(LegError::Backlogged) => {
                            tracing::warn!("the phone leg is not taking audio; ending the call");
                            next = Some(Input::PhoneClosed);
                        }
                        Err(err) => tracing::debug!(error = %err, "phone leg write failed"),
                    },
                    Command::Model(command) => {
                        let Some(leg) = model.as_mut() else { continue };
                        match leg.send(command) {
                            Ok(()) => model_unflushed = true,
                            Err(LegError::Backlogged) => {
                                tracing::warn!(
                                    "the model leg is not taking events; replacing the session"
                                );
                                if let Some(stuck) = model.take() {
                                    close_later(stuck);
                                }
                                next.get_or_insert(Input::ModelClosed);
                            }
                            Err(err) => tracing::debug!(error = %err, "model leg write failed"),
                        }
                    }
                    Command::OpenModel { info, after } => {
                        if !announced {
                            announced = true;
                            // The span the caller opened for this call carries its ids.
                            let span = tracing::Span::current();
                            span.record("stream", info.stream_sid.as_str());
                            if let Some(call_sid) = &info.call_sid {
                                span.record("call", call_sid.as_str());
                            }
                            tracing::info!("call started");
                        }
                        opening_since = Instant::now() + after;
                        opening = Some(open_model(services, info, after));
                    }
                    Command::CloseModel => {
                        if let Some(old) = model.take() {
                            close_later(old);
                        }
                    }
                    Command::RunTool(invocation) => {
                        let executor = services.tools.clone();
                        let deadline = services.watchdogs.tool_deadline;
                        tools.spawn(async move {
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
                    Command::AbortTools => tools.abort_all(),
                    Command::Schedule { timer, after } => timers.add(timer, after),
                    Command::Emit(event) => {
                        match &event {
                            CallEvent::Error { message } => tracing::warn!(%message, "call error"),
                            CallEvent::ModelReconnecting { attempt } => {
                                tracing::info!(attempt, "reopening the model session");
                            }
                            CallEvent::ModelReconnected { gap } => {
                                tracing::info!(gap_ms = gap.get(), "model session reopened");
                            }
                            _ => {}
                        }
                        if let Some(stream) = session.stream_sid() {
                            if matches!(event, CallEvent::Ended { .. }) {
                                // The frames since the last report, before
                                // the end, which is the call's last event.
                                for (direction, count) in [
                                    (RelayDirection::Uplink, relayed_up),
                                    (RelayDirection::Downlink, relayed_down),
                                ] {
                                    let frames = count % RELAY_SAMPLE;
                                    if frames > 0 {
                                        services.sink.emit(CallEventRecord {
                                            call: stream.clone(),
                                            at: services.clock.now(),
                                            event: CallEvent::Relayed {
                                                direction,
                                                frames,
                                                latency: None,
                                            },
                                        });
                                    }
                                }
                            }
                            services.sink.emit(CallEventRecord {
                                call: stream.clone(),
                                at: services.clock.now(),
                                event,
                            });
                        }
                    }
                    Command::End(reason) => ended = Some(reason),
                }
            }
            if ended.is_some() {
                break;
            }
        }
        // Everything one wake-up produced goes out together: one write for
        // an audio delta's media and mark, not one each.
        let (phone_written, model_written) = (phone_unflushed, model_unflushed);
        if std::mem::take(&mut phone_unflushed)
            && let Err(err) = poll_fn(|cx| Poll::Ready(phone.flush(cx))).await
        {
            tracing::debug!(error = %err, "phone leg write failed");
        }
        if std::mem::take(&mut model_unflushed)
            && let Some(leg) = model.as_mut()
            && let Err(err) = poll_fn(|cx| Poll::Ready(leg.flush(cx))).await
        {
            tracing::debug!(error = %err, "model leg write failed");
        }
        if let (Some((direction, since)), Some(stream)) = (timed, session.stream_sid()) {
            // Only a frame that went out to the other leg is timed (not
            // caller audio buffered while the model reconnects).
            let written = match direction {
                RelayDirection::Uplink => model_written,
                RelayDirection::Downlink => phone_written,
            };
            services.sink.emit(CallEventRecord {
                call: stream.clone(),
                at: services.clock.now(),
                event: CallEvent::Relayed {
                    direction,
                    frames: RELAY_SAMPLE,
                    latency: written.then(|| since.elapsed()),
                },
            });
        }
        if let Some(reason) = ended {
            tools.abort_all();
            if let Some(mut model) = model.take() {
                model.close().await;
            }
            phone.close().await;
            let usage = session.usage();
            #[allow(clippy::cast_precision_loss)] // an estimate in dollars
            let cost_usd = session.cost_micros().map(|micros| micros as f64 / 1e6);
            tracing::info!(
                reason = %reason,
                model = %services.model_name,
                dropped_frames = session.dropped_frames(),
                input_text_tokens = usage.input_text,
                input_audio_tokens = usage.input_audio,
                input_image_tokens = usage.input_image,
                cached_input_tokens = usage.cached_input(),
                cached_audio_tokens = usage.cached_audio,
                output_text_tokens = usage.output_text,
                output_audio_tokens = usage.output_audio,
                // Left out when the model's prices are not known.
                cost_usd,
                taste_graph_requests = session.upstream_requests(),
                "call ended"
            );
            return reason;
        }
    }
}

/// Closes a model session that is being replaced without holding the call.
fn close_later(mut session: Box<dyn ModelSession>) {
    tokio::spawn(async move { session.close().await });
}

fn open_model(services: &CallServices, info: CallInfo, after: Duration) -> Opening {
    let model = services.model.clone();
    let setup = services.setup.clone();
    let timeout = services.connect_timeout;
    Box::pin(async move {
        tokio::time::sleep(after).await;
        match tokio::time::timeout(timeout, model.open(&info, &setup)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Timeout),
        }
    })
}

#[cfg(test)]
mod tests;
