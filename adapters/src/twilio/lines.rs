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

use std::time::Duration;

use qloophone_domain::types::PhoneNumber;

use super::per_call::{PerCall, Record};

/// How long numbers wait for their stream: a stream token's life.
pub const LINE_LIFETIME: Duration = Duration::from_secs(120);

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
}

impl Record for Line {
    const KIND: &'static str = "line";
    const LIFETIME: Duration = LINE_LIFETIME;

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

/// The numbers of calls whose stream has not started yet.
pub type CallLines = PerCall<Line>;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::twilio::per_call::tests::Shared;

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
