//! Event sinks built from other sinks: [`FanOut`] feeds several observers,
//! [`NoObservers`] feeds none.

use std::sync::Arc;

use crate::ports::{CallEventRecord, EventSink};

/// Hands every event to several sinks, in order.
#[derive(Clone, Default)]
pub struct FanOut(Vec<Arc<dyn EventSink>>);

impl FanOut {
    /// A sink feeding `sinks`.
    pub fn new(sinks: Vec<Arc<dyn EventSink>>) -> Self {
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

    fn wants_audio(&self) -> bool {
        self.0.iter().any(|sink| sink.wants_audio())
    }
}

/// An event sink that drops everything (for tools and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObservers;

impl EventSink for NoObservers {
    fn emit(&self, _record: CallEventRecord) {}

    fn wants_audio(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::ports::{CallEvent, EndReason, MockEventSink};
    use crate::types::LegId;

    #[test]
    fn fan_out_hands_every_event_to_every_sink() {
        let record = CallEventRecord {
            call: LegId::parse("MZ1").unwrap(),
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
