//! What the server keeps of a call between Twilio's requests, by its
//! CallSid: why its stream ended (for `<Connect action>`), its numbers
//! (from `/twiml` to the stream's `start`). Each kind of [`Record`] is
//! kept here (bounded, for its lifetime) and, with a fleet, in Redis too,
//! so whichever instance Twilio reaches finds it.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Records of one kind kept on one instance at most (the oldest go first).
const CAPACITY: usize = 10_000;

/// Something kept of a call, as text where it is shared.
pub trait Record: Sized + Clone + Send + Sync + 'static {
    /// Its kind: part of its shared key.
    const KIND: &'static str;
    /// How long it is kept.
    const LIFETIME: Duration;
    /// Its shared form.
    fn encode(&self) -> String;
    /// From its shared form; `None` for anything else.
    fn decode(text: &str) -> Option<Self>;
}

/// Where several instances share the records.
#[async_trait::async_trait]
pub trait SharedRecords: Send + Sync {
    /// Keeps `record` of `kind` for `call_sid` for `lifetime`; false when
    /// it could not.
    async fn put(&self, kind: &str, call_sid: &str, record: &str, lifetime: Duration) -> bool;
    /// The record of `kind` kept for `call_sid`, if any (`None` as well
    /// when the store did not answer).
    async fn get(&self, kind: &str, call_sid: &str) -> Option<String>;
    /// As [`get`](Self::get), taking it out.
    async fn take(&self, kind: &str, call_sid: &str) -> Option<String>;
}

/// The records of one kind.
pub struct PerCall<T: Record> {
    local: Mutex<LruCache<String, (T, Instant)>>,
    shared: Option<Arc<dyn SharedRecords>>,
}

impl<T: Record> std::fmt::Debug for PerCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerCall")
            .field("kind", &T::KIND)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: Record> Default for PerCall<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Record> PerCall<T> {
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
    pub fn with_shared(mut self, shared: Arc<dyn SharedRecords>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Keeps `record` for `call_sid`.
    pub async fn keep(&self, call_sid: &str, record: T) {
        if let Some(shared) = &self.shared
            && !shared
                .put(T::KIND, call_sid, &record.encode(), T::LIFETIME)
                .await
        {
            tracing::warn!(
                kind = T::KIND,
                "the fleet did not take a call's record: only this instance has it"
            );
        }
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(call_sid.to_owned(), (record, Instant::now()));
    }

    /// The record kept for `call_sid`, here or in the fleet.
    pub async fn find(&self, call_sid: &str) -> Option<T> {
        let local = {
            let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
            match local.get(call_sid) {
                Some((record, at)) if at.elapsed() <= T::LIFETIME => Some(record.clone()),
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
        T::decode(&self.shared.as_ref()?.get(T::KIND, call_sid).await?)
    }

    /// Takes the record kept for `call_sid` out, here and in the fleet.
    pub async fn take(&self, call_sid: &str) -> Option<T> {
        let local = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(call_sid)
            .filter(|(_, at)| at.elapsed() <= T::LIFETIME)
            .map(|(record, _)| record);
        let shared = match &self.shared {
            // Out of the fleet too, even when found here.
            Some(shared) => shared.take(T::KIND, call_sid).await,
            None => None,
        };
        local.or_else(|| T::decode(&shared?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A fleet's store, in memory.
    #[derive(Default)]
    pub(crate) struct Shared(pub(crate) Mutex<HashMap<(String, String), String>>);

    #[async_trait::async_trait]
    impl SharedRecords for Shared {
        async fn put(&self, kind: &str, call_sid: &str, record: &str, _: Duration) -> bool {
            self.0
                .lock()
                .unwrap()
                .insert((kind.to_owned(), call_sid.to_owned()), record.to_owned());
            true
        }
        async fn get(&self, kind: &str, call_sid: &str) -> Option<String> {
            self.0
                .lock()
                .unwrap()
                .get(&(kind.to_owned(), call_sid.to_owned()))
                .cloned()
        }
        async fn take(&self, kind: &str, call_sid: &str) -> Option<String> {
            self.0
                .lock()
                .unwrap()
                .remove(&(kind.to_owned(), call_sid.to_owned()))
        }
    }
}
