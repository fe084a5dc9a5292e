//! Why each call's stream ended, kept for `<Connect action>`: when the
//! stream ends Twilio asks the action URL what to do next, and the answer
//! depends on why (a goodbye, an apology, a transfer, nothing).
//!
//! The phone leg records the reason as it closes, before the socket goes,
//! so it is there when Twilio asks. Records are kept here (bounded, for
//! as long as Twilio may take to ask) and, with a fleet, in Redis too, so
//! whichever instance Twilio reaches finds it. No record (a crash, a
//! restart, an unknown call) reads as "we cannot say": an apology.

use std::time::Duration;

use qloophone_domain::ports::EndReason;

use super::per_call::{PerCall, Record};

/// How long a record is kept: Twilio asks as soon as the stream ends.
pub const RECORD_LIFETIME: Duration = Duration::from_secs(600);

/// Why one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// Why the call ended.
    pub reason: EndReason,
    /// The stream that ended (for the dashboards).
    pub stream_sid: String,
}

/// The records of streams that ended.
pub type StreamEnds = PerCall<StreamEnd>;

impl Record for StreamEnd {
    const KIND: &'static str = "stream-end";
    const LIFETIME: Duration = RECORD_LIFETIME;

    fn encode(&self) -> String {
        format!("{} {}", self.reason.as_str(), self.stream_sid)
    }

    fn decode(text: &str) -> Option<Self> {
        let (reason, stream_sid) = text.split_once(' ')?;
        Some(Self {
            reason: EndReason::parse(reason)?,
            stream_sid: stream_sid.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::twilio::per_call::tests::Shared;

    fn end(reason: EndReason) -> StreamEnd {
        StreamEnd {
            reason,
            stream_sid: "MZ1".to_owned(),
        }
    }

    #[tokio::test]
    async fn an_end_recorded_on_one_instance_is_found_on_another_through_the_fleet() {
        let shared = Arc::new(Shared::default());
        let a = StreamEnds::new().with_shared(shared.clone());
        let b = StreamEnds::new().with_shared(shared);
        a.keep("CA1", end(EndReason::Transferred)).await;
        assert_eq!(a.find("CA1").await, Some(end(EndReason::Transferred)));
        assert_eq!(b.find("CA1").await, Some(end(EndReason::Transferred)));
        assert_eq!(b.find("CA2").await, None);
        // Alone, an instance knows only its own.
        let alone = StreamEnds::new();
        assert_eq!(alone.find("CA1").await, None);
    }

    #[test]
    fn every_reason_survives_the_round_trip_and_junk_reads_as_nothing() {
        for reason in EndReason::ALL {
            assert_eq!(StreamEnd::decode(&end(reason).encode()), Some(end(reason)));
        }
        for junk in ["", "nothing", "exploded MZ1", "agent_ended"] {
            assert_eq!(StreamEnd::decode(junk), None, "{junk}");
        }
    }
}
