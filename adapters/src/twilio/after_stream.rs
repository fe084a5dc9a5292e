//! Why each call's stream ended, kept for `<Connect action>`: when the
//! stream ends Twilio asks the action URL what to do next, and the answer
//! depends on why (a goodbye, an apology, a transfer, nothing).
//!
//! The phone leg records the reason as it closes, before the socket goes,
//! so it is there when Twilio asks. Records are kept here (bounded, for
//! as long as Twilio may take to ask) and, with a fleet, in Redis too, so
//! whichever instance Twilio reaches finds it. No record (a crash, a
//! restart, an unknown call) reads as "we cannot say": an apology.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use qloophone_domain::ports::EndReason;

/// How long a record is kept: Twilio asks as soon as the stream ends.
pub const RECORD_LIFETIME: Duration = Duration::from_secs(600);
/// Records kept on one instance at most (the oldest go first).
const CAPACITY: usize = 10_000;

/// Why one stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEnd {
    /// Why the call ended.
    pub reason: EndReason,
    /// The stream that ended (for the dashboards).
    pub stream_sid: String,
}

impl StreamEnd {
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

/// Where several instances share the records.
#[async_trait::async_trait]
pub trait SharedStreamEnds: Send + Sync {
    /// Keeps `record` for `call_sid` for `lifetime`; false when it could not.
    async fn put(&self, call_sid: &str, record: &str, lifetime: Duration) -> bool;
    /// The record kept for `call_sid`, if any (`None` as well when the
    /// store did not answer).
    async fn get(&self, call_sid: &str) -> Option<String>;
}

/// The records of streams that ended.
pub struct StreamEnds {
    local: Mutex<LruCache<String, (StreamEnd, Instant)>>,
    shared: Option<Arc<dyn SharedStreamEnds>>,
}

impl std::fmt::Debug for StreamEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEnds")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for StreamEnds {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamEnds {
    /// Records kept on this instance only.
    pub fn new() -> Self {
        Self {
            local: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("not zero"),
            )),
            shared: None,
        }
    }

    /// Records kept in `shared` as well.
    #[must_use]
    pub fn with_shared(mut self, shared: Arc<dyn SharedStreamEnds>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Records why the stream of `call_sid` ended.
    pub async fn record(&self, call_sid: &str, end: StreamEnd) {
        if let Some(shared) = &self.shared
            && !shared.put(call_sid, &end.encode(), RECORD_LIFETIME).await
        {
            tracing::warn!("the fleet did not take why a stream ended: only this instance knows");
        }
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(call_sid.to_owned(), (end, Instant::now()));
    }

    /// Why the stream of `call_sid` ended, if known here or in the fleet.
    pub async fn find(&self, call_sid: &str) -> Option<StreamEnd> {
        let local = {
            let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            match local.get(call_sid) {
                Some((end, at)) if at.elapsed() <= RECORD_LIFETIME => Some(end.clone()),
                Some(_) => {
                    local.pop(call_sid);
                    None
                }
                None => None,
            }
        };
        if local.is_some() {
            return local;
        }
        let shared = self.shared.as_ref()?.get(call_sid).await?;
        StreamEnd::decode(&shared)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Shared(Mutex<HashMap<String, String>>);

    #[async_trait::async_trait]
    impl SharedStreamEnds for Shared {
        async fn put(&self, call_sid: &str, record: &str, _: Duration) -> bool {
            self.0
                .lock()
                .unwrap()
                .insert(call_sid.to_owned(), record.to_owned());
            true
        }
        async fn get(&self, call_sid: &str) -> Option<String> {
            self.0.lock().unwrap().get(call_sid).cloned()
        }
    }

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
        a.record("CA1", end(EndReason::Transferred)).await;
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
