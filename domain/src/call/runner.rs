//! The call runner: one task per call, owning both legs.
//!
//! It waits on whatever comes first (caller, model, a finished tool, the
//! model connecting, shutdown), feeds it to the [`CallSession`], and carries
//! out the commands it returns. Tools run concurrently in a `JoinSet` owned
//! by the call, so ending the call aborts them: nothing outlives its call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::call::registry::CallPermit;
use crate::call::session::{CallSession, Command, Input, SessionPolicy, ToolDone};
use crate::ports::{AudioInbound, Clock, EventSink, ModelError, ModelSession, RealtimeModel};
use crate::ports::{CallEvent, CallEventRecord, EndReason};
use crate::ports::{CallInfo, ModelEvent, ModelFrame, SessionSetup};
use crate::tools::ToolExecutor;

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
    /// Conversation policy knobs.
    pub policy: SessionPolicy,
    /// How long the model may take to connect.
    pub connect_timeout: Duration,
    /// How long the phone leg may take to send `start`.
    pub start_timeout: Duration,
}

impl std::fmt::Debug for CallServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallServices")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("start_timeout", &self.start_timeout)
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
    let mut session = CallSession::new(services.policy);
    let mut model: Option<Box<dyn ModelSession>> = None;
    let mut opening: Option<Opening> = None;
    let mut tools: JoinSet<ToolDone> = JoinSet::new();
    let mut commands = Vec::with_capacity(8);
    let start_deadline = tokio::time::sleep(services.start_timeout);
    tokio::pin!(start_deadline);
    let mut shutdown_pending = *shutdown.borrow_and_update();
    let mut shutdown_watched = true;

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
                        tracing::error!(error = %err, "tool task failed");
                        continue;
                    }
                },
                opened = async { opening.as_mut().expect("guarded").await }, if opening.is_some() => Wake::Opened(opened),
                frame = async { model.as_mut().expect("guarded").recv().await }, if model.is_some() => Wake::Model(frame),
                event = phone.recv() => Wake::Input(event.map_or(Input::PhoneClosed, Input::Phone)),
                () = &mut start_deadline, if !session.started() => Wake::Input(Input::StartTimeout),
            }
        };
        let input = match wake {
            Wake::Input(input) => input,
            Wake::Opened(result) => {
                opening = None;
                match result {
                    Ok(session) => {
                        model = Some(session);
                        Input::ModelOpened
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "model unavailable");
                        Input::ModelFailed
                    }
                }
            }
            Wake::Model(None) => {
                model = None;
                Input::ModelClosed
            }
            Wake::Model(Some(frame)) => {
                if let Some(stream) = session.stream_sid() {
                    let audio = matches!(frame.event, ModelEvent::AudioDelta { .. });
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

        session.on(input, &mut commands);
        let mut ended = None;
        for command in commands.drain(..) {
            match command {
                Command::Phone(command) => {
                    if let Err(err) = phone.send(command).await {
                        tracing::debug!(error = %err, "phone leg write failed");
                    }
                }
                Command::Model(command) => {
                    if let Some(model) = model.as_mut()
                        && let Err(err) = model.send(command).await
                    {
                        tracing::debug!(error = %err, "model leg write failed");
                    }
                }
                Command::OpenModel(info) => {
                    // The span the caller opened for this call carries its ids.
                    let span = tracing::Span::current();
                    span.record("stream", info.stream_sid.as_str());
                    if let Some(call_sid) = &info.call_sid {
                        span.record("call", call_sid.as_str());
                    }
                    tracing::info!("call started");
                    opening = Some(open_model(services, info));
                }
                Command::RunTool(invocation) => {
                    let executor = services.tools.clone();
                    tools.spawn(async move {
                        let started = Instant::now();
                        let call_id = invocation.call_id.clone();
                        let name = invocation.name.clone();
                        let arguments = invocation.arguments.clone();
                        let outcome = executor.execute(invocation).await;
                        ToolDone {
                            call_id,
                            name,
                            arguments,
                            outcome,
                            latency: started.elapsed(),
                        }
                    });
                }
                Command::Emit(event) => {
                    if let CallEvent::Error { message } = &event {
                        tracing::warn!(%message, "call error");
                    }
                    if let Some(stream) = session.stream_sid() {
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
        if let Some(reason) = ended {
            tools.abort_all();
            if let Some(mut model) = model.take() {
                model.close().await;
            }
            phone.close().await;
            tracing::info!(reason = %reason, dropped_frames = session.dropped_frames(), "call ended");
            return reason;
        }
    }
}

fn open_model(services: &CallServices, info: CallInfo) -> Opening {
    let model = services.model.clone();
    let setup = services.setup.clone();
    let timeout = services.connect_timeout;
    Box::pin(async move {
        match tokio::time::timeout(timeout, model.open(&info, &setup)).await {
            Ok(result) => result,
            Err(_) => Err(ModelError::Timeout),
        }
    })
}

#[cfg(test)]
mod tests;
