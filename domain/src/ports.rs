//! The ports: every way the domain reaches the outside world.
//!
//! Each trait is named by the role it plays, never by a technology.
//! Adapters implement them; tests use the mockall doubles generated here
//! (enable the `mocks` feature to use them from another crate).

use std::time::SystemTime;

use async_trait::async_trait;

use crate::call::messages::{
    CallInfo, ModelCommand, ModelFrame, PhoneCommand, PhoneEvent, SessionSetup,
};
use crate::events::CallEventRecord;
use crate::tools::taste::{Entity, Insights, InsightsQuery, SearchQuery, TasteError};

/// A leg that failed to carry a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegError {
    /// The connection is gone.
    #[error("the connection is closed")]
    Closed,
    /// Writing failed for another reason.
    #[error("write failed: {0}")]
    Write(String),
}

/// Opening a model session failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The model service could not be reached or refused the connection.
    #[error("could not connect to the model: {0}")]
    Connect(String),
    /// Connecting took longer than allowed.
    #[error("connecting to the model timed out")]
    Timeout,
}

/// The phone leg of one call: caller events in; audio, marks and clears out.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AudioInbound: Send {
    /// The caller's next event, or `None` once the leg has closed.
    ///
    /// Must be cancel-safe: the call runner polls it inside `select!`.
    async fn recv(&mut self) -> Option<PhoneEvent>;

    /// Plays audio, places a mark, or clears queued audio.
    ///
    /// # Errors
    /// [`LegError`] when the leg can no longer be written to.
    async fn send(&mut self, command: PhoneCommand) -> Result<(), LegError>;

    /// Closes the leg; later sends fail.
    async fn close(&mut self);
}

/// The voice model: opens one model session per call.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait RealtimeModel: Send + Sync {
    /// Opens a session for `call`, configured by `setup`.
    ///
    /// # Errors
    /// [`ModelError`] when the model cannot be reached.
    async fn open(
        &self,
        call: &CallInfo,
        setup: &SessionSetup,
    ) -> Result<Box<dyn ModelSession>, ModelError>;
}

/// One open session with the voice model.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ModelSession: Send {
    /// The model's next event, or `None` once the session has closed.
    ///
    /// Must be cancel-safe: the call runner polls it inside `select!`.
    async fn recv(&mut self) -> Option<ModelFrame>;

    /// Sends the model a command.
    ///
    /// # Errors
    /// [`LegError`] when the session can no longer be written to.
    async fn send(&mut self, command: ModelCommand) -> Result<(), LegError>;

    /// Closes the session.
    async fn close(&mut self);
}

/// The taste graph: entities and recommendations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TasteGraph: Send + Sync {
    /// Finds entities by name.
    ///
    /// # Errors
    /// [`TasteError`] when the graph cannot answer.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Entity>, TasteError>;

    /// Asks for entities with affinity to signals, under filters.
    ///
    /// # Errors
    /// [`TasteError`] when the graph cannot answer.
    async fn insights(&self, query: &InsightsQuery) -> Result<Insights, TasteError>;
}

/// Observers of calls. Implementations must never block or fail the call.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait EventSink: Send + Sync {
    /// Hands an event to the observers; returns at once.
    fn emit(&self, record: CallEventRecord);
}

/// Wall-clock time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Hands every event to several sinks, in order.
#[derive(Clone, Default)]
pub struct FanOut(Vec<std::sync::Arc<dyn EventSink>>);

impl FanOut {
    /// A sink feeding `sinks`.
    pub fn new(sinks: Vec<std::sync::Arc<dyn EventSink>>) -> Self {
        Self(sinks)
    }
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FanOut({} sinks)", self.0.len())
    }
}

impl EventSink for FanOut {
    fn emit(&self, record: CallEventRecord) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.emit(record.clone());
            }
            last.emit(record);
        }
    }
}

/// An event sink that drops everything (for tools and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObservers;

impl EventSink for NoObservers {
    fn emit(&self, _record: CallEventRecord) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use super::*;
    use crate::events::{CallEvent, EndReason};
    use crate::types::StreamSid;

    #[test]
    fn fan_out_hands_every_event_to_every_sink() {
        let record = CallEventRecord {
            call: StreamSid::parse("MZ1").unwrap(),
            at: SystemTime::UNIX_EPOCH,
            event: CallEvent::Ended {
                reason: EndReason::PhoneStopped,
            },
        };
        let mut first = MockEventSink::new();
        let expected = record.clone();
        first
            .expect_emit()
            .withf(move |r| *r == expected)
            .times(1)
            .return_const(());
        let mut second = MockEventSink::new();
        second.expect_emit().times(1).return_const(());
        let fan_out = FanOut::new(vec![Arc::new(first), Arc::new(second)]);
        fan_out.emit(record.clone());
        FanOut::default().emit(record.clone());
        NoObservers.emit(record);
        assert_eq!(format!("{fan_out:?}"), "FanOut(2 sinks)");
    }
}
