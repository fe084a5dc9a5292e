//! Per-call stream tokens: `/twiml` hands Twilio a short-lived token bound
//! to the call's `CallSid`, Twilio sends it back in the stream's `start`
//! (`customParameters`), and the call goes on only if it verifies, matches
//! that `callSid`, has not expired, and no stream of that call has been
//! opened before. A captured upgrade signature, which is the same for
//! every call, therefore opens nothing on its own; and a captured webhook,
//! whose signature never expires, gets a fresh token each time it is
//! replayed but opens no second stream: a call opens one stream, whatever
//! token it brings, for [`ONE_STREAM_WINDOW`] (Twilio's webhook has no
//! `<Connect action>` that opens another).
//!
//! With a fleet (Redis), the call's stream is recorded fleet-wide: a
//! second stream on another instance is refused too. When Redis cannot
//! say (it is away or slow), this instance's own ledger decides, and the
//! fleet's ledger records the stream when Redis returns (see
//! [`TokenLedger::spend`]).
//!
//! A token is `<expiry, unix seconds>.<base64url(HMAC-SHA256(key, callSid
//! "." expiry))>`. The key is `twilio.stream_secret`, or random bytes drawn
//! at start-up (then tokens do not survive a restart or cross instances).
//!
//! The same keys sign the call's other URLs ([`Purpose`]): the
//! `<Connect action>` Twilio requests when the stream ends and the
//! `<Dial action>` after a transfer. Those are bound to their call and
//! purpose (the MAC covers both, so one never passes for another) and
//! live as long as the call may, but are not spent: Twilio may ask again,
//! and the answer for one call is the same each time.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use lru::LruCache;
use qloophone_domain::ports::Clock;
use sha2::Sha256;

use crate::secret::Secret;

/// The `<Parameter>` name the token travels under.
pub const PARAMETER: &str = "token";

/// How long Twilio has to open the stream after fetching the TwiML.
const LIFETIME: Duration = Duration::from_secs(120);

/// How long a call that opened its stream is remembered, so no token
/// issued for it (a replayed webhook's) opens another. `CallSid`s are
/// never reused; past this, a webhook captured and replayed a day later
/// could open one stream a day.
pub const ONE_STREAM_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The most calls this instance's own ledger remembers (about 100 bytes
/// each); past it, the oldest are forgotten first.
const LEDGER_CAPACITY: usize = 100_000;

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `start` carried no token.
    #[error("the start frame carries no stream token")]
    Missing,
    /// `start` carried no `callSid` to check the token against.
    #[error("the start frame carries no callSid")]
    NoCall,
    /// Not a token of ours: bad form, wrong MAC, or for another call.
    #[error("the stream token does not verify for this call")]
    Invalid,
    /// Issued too long ago.
    #[error("the stream token has expired")]
    Expired,
    /// A stream of this call was opened already (with this token or
    /// another issued for the call).
    #[error("this call's stream was opened already")]
    Replayed,
}

/// What a ledger shared by several instances says of a call's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// No stream of the call had been opened: this one is recorded now.
    First,
    /// One had, on some instance.
    Again,
    /// The ledger did not answer in time.
    Unknown,
}

/// A ledger of the calls whose stream was opened, shared by several
/// instances.
#[async_trait::async_trait]
pub trait TokenLedger: Send + Sync {
    /// Records that `call_sid` opened its stream, remembered for
    /// `lifetime`. When the ledger cannot answer ([`Spend::Unknown`]), it
    /// records the call as soon as it can, so a stream replayed on
    /// another instance after that is refused.
    async fn spend(&self, call_sid: &str, lifetime: Duration) -> Spend;
}

/// What a call token opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The Media Stream (spent once).
    Stream,
    /// `<Connect action>`: what happens when the stream ends.
    AfterStream,
    /// `<Dial action>`: what happens when a transfer ends.
    DialResult,
}

impl Purpose {
    /// What the MAC covers besides the call (none for stream tokens, as
    /// they were first made).
    const fn label(self) -> &'static [u8] {
        match self {
            Self::Stream => b"",
            Self::AfterStream => b"after-stream.",
            Self::DialResult => b"dial-result.",
        }
    }
}

/// Issues and redeems stream tokens.
pub struct StreamTokens {
    key: Vec<u8>,
    clock: Arc<dyn Clock>,
    /// The calls whose stream was opened here, with when each is
    /// forgotten (unix seconds); the oldest go first past the capacity.
    used: Mutex<LruCache<String, u64>>,
    /// The fleet's ledger, when there is one.
    fleet: Option<Arc<dyn TokenLedger>>,
}

impl std::fmt::Debug for StreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamTokens(***)")
    }
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl StreamTokens {
    /// Tokens keyed by `secret`, or by 32 random bytes when there is none.
    ///
    /// # Errors
    /// When the operating system has no randomness to give.
    pub fn new(secret: Option<&Secret>, clock: Arc<dyn Clock>) -> Result<Self, getrandom::Error> {
        let key = match secret {
            Some(secret) if !secret.expose().is_empty() => secret.expose().as_bytes().to_vec(),
            _ => {
                let mut key = vec![0u8; 32];
                getrandom::fill(&mut key)?;
                key
            }
        };
        Ok(Self {
            key,
            clock,
            used: Mutex::new(LruCache::new(
                NonZeroUsize::new(LEDGER_CAPACITY).expect("not zero"),
            )),
            fleet: None,
        })
    }

    /// Spends tokens in `ledger` too, so each is accepted once fleet-wide.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn TokenLedger>) -> Self {
        self.fleet = Some(ledger);
        self
    }

    fn mac(&self, purpose: Purpose, call_sid: &str, expiry: u64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(purpose.label());
        mac.update(call_sid.as_bytes());
        mac.update(b".");
        mac.update(expiry.to_string().as_bytes());
        mac
    }

    /// A token for the call `call_sid`.
    pub fn issue(&self, call_sid: &str) -> String {
        self.issue_for(Purpose::Stream, call_sid, LIFETIME)
    }

    /// A token for `purpose` in the call `call_sid`, good for `lifetime`.
    pub fn issue_for(&self, purpose: Purpose, call_sid: &str, lifetime: Duration) -> String {
        let expiry = unix_secs(self.clock.now() + lifetime);
        let tag = self.mac(purpose, call_sid, expiry).finalize().into_bytes();
        format!("{expiry}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a token for `purpose` in the call `call_sid` without
    /// spending it.
    ///
    /// # Errors
    /// A [`TokenError`] saying why it does not pass.
    pub fn verify(
        &self,
        purpose: Purpose,
        call_sid: Option<&str>,
        token: Option<&str>,
    ) -> Result<u64, TokenError> {
        let token = token.ok_or(TokenError::Missing)?;
        let call_sid = call_sid.ok_or(TokenError::NoCall)?;
        let (expiry, tag) = token.split_once('.').ok_or(TokenError::Invalid)?;
        let expiry: u64 = expiry.parse().map_err(|_| TokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Invalid)?;
        self.mac(purpose, call_sid, expiry)
            .verify_slice(&tag)
            .map_err(|_| TokenError::Invalid)?;
        if unix_secs(self.clock.now()) > expiry {
            return Err(TokenError::Expired);
        }
        Ok(expiry)
    }

    /// Accepts `token` for `call_sid` if no stream of that call was opened
    /// before: on this instance, and on the fleet's ledger when there is
    /// one.
    ///
    /// # Errors
    /// A [`TokenError`] saying why the stream is refused.
    pub async fn redeem(
        &self,
        call_sid: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), TokenError> {
        self.redeem_here(call_sid, token)?;
        let (Some(ledger), Some(call_sid)) = (&self.fleet, call_sid) else {
            return Ok(());
        };
        match ledger.spend(call_sid, ONE_STREAM_WINDOW).await {
            Spend::First => Ok(()),
            Spend::Again => Err(TokenError::Replayed),
            Spend::Unknown => {
                tracing::warn!(
                    "the fleet's ledger did not answer: this stream is checked on this instance only, and recorded in the fleet when Redis returns"
                );
                Ok(())
            }
        }
    }

    /// This instance's own check: the token passes, and the call opened no
    /// stream here before.
    fn redeem_here(&self, call_sid: Option<&str>, token: Option<&str>) -> Result<(), TokenError> {
        self.verify(Purpose::Stream, call_sid, token)?;
        let call_sid = call_sid.ok_or(TokenError::NoCall)?;
        let now = unix_secs(self.clock.now());
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.get(call_sid).is_some_and(|until| *until >= now) {
            return Err(TokenError::Replayed);
        }
        used.put(call_sid.to_owned(), now + ONE_STREAM_WINDOW.as_secs());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    struct At(AtomicU64);

    impl Clock for At {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
        }
    }

    fn tokens(clock: Arc<At>) -> StreamTokens {
        StreamTokens::new(Some(&Secret::new("stream-secret")), clock).unwrap()
    }

    #[tokio::test]
    async fn a_token_opens_its_own_call_once() {
        let clock = Arc::new(At(AtomicU64::new(1_700_000_000)));
        let tokens = tokens(clock.clone());
        let token = tokens.issue("CA1");
        assert_eq!(
            tokens.redeem(Some("CA2"), Some(&token)).await,
            Err(TokenError::Invalid)
        );
        assert_eq!(tokens.redeem(Some("CA1"), Some(&token)).await, Ok(()));
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&token)).await,
            Err(TokenError::Replayed)
        );
        // A webhook replayed gets a fresh token for the call: it opens no
        // second stream, for as long as the call is remembered.
        clock.0.fetch_add(1, Ordering::SeqCst);
        let fresh = tokens.issue("CA1");
        assert_ne!(fresh, token);
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&fresh)).await,
            Err(TokenError::Replayed)
        );
        clock
            .0
            .fetch_add(ONE_STREAM_WINDOW.as_secs() + 1, Ordering::SeqCst);
        let much_later = tokens.issue("CA1");
        assert_eq!(tokens.redeem(Some("CA1"), Some(&much_later)).await, Ok(()));
        assert_eq!(
            tokens.redeem(Some("CA1"), None).await,
            Err(TokenError::Missing)
        );
        assert_eq!(
            tokens.redeem(None, Some(&token)).await,
            Err(TokenError::NoCall)
        );
    }

    #[tokio::test]
    async fn forged_malformed_and_stale_tokens_are_refused() {
        let clock = Arc::new(At(AtomicU64::new(1_700_000_000)));
        let tokens = tokens(clock.clone());
        let other = StreamTokens::new(Some(&Secret::new("another")), clock.clone()).unwrap();
        let forged = other.issue("CA1");
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&forged)).await,
            Err(TokenError::Invalid)
        );
        for bad in ["", ".", "abc", "123.", "x.y", "1.!!!"] {
            assert_eq!(
                tokens.redeem(Some("CA1"), Some(bad)).await,
                Err(TokenError::Invalid),
                "{bad}"
            );
        }
        // A longer expiry with the old MAC does not verify.
        let token = tokens.issue("CA1");
        let (expiry, tag) = token.split_once('.').unwrap();
        let stretched = format!("{}.{tag}", expiry.parse::<u64>().unwrap() + 3600);
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&stretched)).await,
            Err(TokenError::Invalid)
        );
        clock.0.fetch_add(LIFETIME.as_secs() + 1, Ordering::SeqCst);
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&token)).await,
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn action_tokens_open_their_own_call_and_purpose_only_until_they_expire() {
        let clock = Arc::new(At(AtomicU64::new(1_700_000_000)));
        let tokens = tokens(clock.clone());
        let life = Duration::from_secs(3600);
        let after = tokens.issue_for(Purpose::AfterStream, "CA1", life);
        let check = |purpose, call: &str, token: &str| {
            tokens.verify(purpose, Some(call), Some(token)).map(|_| ())
        };
        // Not spent: Twilio may ask again.
        assert_eq!(check(Purpose::AfterStream, "CA1", &after), Ok(()));
        assert_eq!(check(Purpose::AfterStream, "CA1", &after), Ok(()));
        assert_eq!(
            check(Purpose::AfterStream, "CA2", &after),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            check(Purpose::DialResult, "CA1", &after),
            Err(TokenError::Invalid)
        );
        // Neither opens a stream, and a stream token opens neither.
        assert_eq!(
            tokens.redeem(Some("CA1"), Some(&after)).await,
            Err(TokenError::Invalid)
        );
        let stream = tokens.issue("CA1");
        assert_eq!(
            check(Purpose::AfterStream, "CA1", &stream),
            Err(TokenError::Invalid)
        );
        clock.0.fetch_add(life.as_secs() + 1, Ordering::SeqCst);
        assert_eq!(
            check(Purpose::AfterStream, "CA1", &after),
            Err(TokenError::Expired)
        );
    }

    #[tokio::test]
    async fn without_a_secret_the_key_is_random() {
        let clock = Arc::new(At(AtomicU64::new(1_700_000_000)));
        let a = StreamTokens::new(None, clock.clone()).unwrap();
        let b = StreamTokens::new(None, clock).unwrap();
        let token = a.issue("CA1");
        assert_eq!(
            b.redeem(Some("CA1"), Some(&token)).await,
            Err(TokenError::Invalid)
        );
        assert_eq!(a.redeem(Some("CA1"), Some(&token)).await, Ok(()));
    }
}
