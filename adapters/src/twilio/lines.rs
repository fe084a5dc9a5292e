//! The numbers of each call, from the webhook to the stream's `start`.
//!
//! Twilio tells `/twiml` who is calling (`From`) and which number they
//! dialled (`To`); the stream's `start` does not. The caller's whole
//! number must not travel in the stream's parameters (Twilio keeps them
//! with the call, and they pass through logs), so when texts are on
//! `/twiml` keeps both numbers here, for as long as the stream may take
//! to start, and the phone leg takes them at `start` into the call's
//! memory. With a fleet they are kept in Redis as well (the stream may
//! reach another instance), under a hashed key, for the same short time,
//! and taken out when read.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use qloophone_domain::types::PhoneNumber;

/// How long numbers wait for their stream: a stream token's life.
pub const LINE_LIFETIME: Duration = Duration::from_secs(120);
/// Calls whose numbers are kept on one instance at most.
const CAPACITY: usize = 10_000;

/// One call's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Who is calling.
    pub caller: PhoneNumber,
    /// The number they dialled, when it is one.
    pub called: Option<PhoneNumber>,
}

impl Line {
    /// The numbers of a webhook's `From` and `To`: none unless the caller's
    /// is a whole E.164 number (a withheld or anonymous caller has none).
    pub fn of(from: Option<&str>, to: Option<&str>) -> Option<Self> {
        Some(Self {
            caller: PhoneNumber::parse(from?).ok()?,
            called: to.and_then(|to| PhoneNumber::parse(to).ok()),
        })
    }

    fn encode(&self) -> String {
        match &self.called {
            Some(called) => format!("{} {}", self.caller.expose(), called.expose()),
            None => self.caller.expose().to_owned(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        Some(Self {
            caller: PhoneNumber::parse(parts.next()?).ok()?,
            called: parts.next().and_then(|to| PhoneNumber::parse(to).ok()),
        })
    }
}

/// Where several instances share the numbers.
#[async_trait::async_trait]
pub trait SharedLines: Send + Sync {
    /// Keeps `record` for `call_sid` for `lifetime`; false when it could not.
    async fn put(&self, call_sid: &str, record: &str, lifetime: Duration) -> bool;
    /// Takes the record kept for `call_sid` out, if any.
    async fn take(&self, call_sid: &str) -> Option<String>;
}

/// The numbers of calls whose stream has not started yet.
pub struct CallLines {
    local: Mutex<LruCache<String, (Line, Instant)>>,
    shared: Option<Arc<dyn SharedLines>>,
}

impl std::fmt::Debug for CallLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLines")
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for CallLines {
    fn default() -> Self {
        Self::new()
    }
}

impl CallLines {
    /// Numbers kept on this instance only.
    pub fn new() -> Self {
        Self {
            local: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("not zero"),
            )),
            shared: None,
        }
    }

    /// Numbers kept in `shared` as well.
    #[must_use]
    pub fn with_shared(mut self, shared: Arc<dyn SharedLines>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Keeps the numbers of `call_sid` until its stream starts.
    pub async fn keep(&self, call_sid: &str, line: Line) {
        if let Some(shared) = &self.shared
            && !shared.put(call_sid, &line.encode(), LINE_LIFETIME).await
        {
            tracing::warn!("the fleet did not take a call's numbers: only this instance has them");
        }
        self.local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(call_sid.to_owned(), (line, Instant::now()));
    }

    /// Takes the numbers of `call_sid` out, from here or the fleet.
    pub async fn take(&self, call_sid: &str) -> Option<Line> {
        let local = self
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(call_sid)
            .filter(|(_, at)| at.elapsed() <= LINE_LIFETIME)
            .map(|(line, _)| line);
        let shared = match &self.shared {
            // Out of the fleet too, even when found here.
            Some(shared) => shared.take(call_sid).await,
            None => None,
        };
        local.or_else(|| Line::decode(&shared?))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct Shared(Mutex<HashMap<String, String>>);

    #[async_trait::async_trait]
    impl SharedLines for Shared {
        async fn put(&self, call_sid: &str, record: &str, _: Duration) -> bool {
            self.0
                .lock()
                .unwrap()
                .insert(call_sid.to_owned(), record.to_owned());
            true
        }
        async fn take(&self, call_sid: &str) -> Option<String> {
            self.0.lock().unwrap().remove(call_sid)
        }
    }

    #[tokio::test]
    async fn numbers_are_taken_once_here_or_on_another_instance() {
        let line = Line::of(Some("+15550123456"), Some("+15550100000")).unwrap();
        let shared = Arc::new(Shared::default());
        let a = CallLines::new().with_shared(shared.clone());
        let b = CallLines::new().with_shared(shared.clone());
        a.keep("CA1", line.clone()).await;
        assert_eq!(b.take("CA1").await, Some(line.clone()));
        assert_eq!(b.take("CA1").await, None);
        // Taken here, it is gone from the fleet too.
        a.keep("CA2", line.clone()).await;
        assert_eq!(a.take("CA2").await, Some(line));
        assert_eq!(b.take("CA2").await, None);
        assert!(shared.0.lock().unwrap().is_empty());
    }

    #[test]
    fn only_whole_numbers_are_kept_and_records_round_trip() {
        assert_eq!(Line::of(Some("anonymous"), Some("+15550100000")), None);
        assert_eq!(Line::of(None, Some("+15550100000")), None);
        let no_called = Line::of(Some("+15550123456"), Some("client:alice")).unwrap();
        assert_eq!(no_called.called, None);
        for line in [
            no_called,
            Line::of(Some("+15550123456"), Some("+15550100000")).unwrap(),
        ] {
            assert_eq!(Line::decode(&line.encode()), Some(line));
        }
        for junk in ["", "nothing", "+1 +2"] {
            assert_eq!(Line::decode(junk), None, "{junk}");
        }
    }
}
