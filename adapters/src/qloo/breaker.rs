//! A circuit breaker in front of Qloo: after `failures` failures in a row
//! it opens and requests fail at once, so callers hear "try again" in
//! milliseconds instead of waiting out timeouts on a service that is down;
//! after `cooldown` one request is let through as a probe (half-open): it
//! closes the breaker when it succeeds and reopens it when it fails.
//!
//! Written here rather than taken from a crate because it is small, must
//! run on tokio's clock (so it is tested under paused time) and must show
//! its state on `/health` and `/metrics`; the crates we looked at bring
//! their own clock and policies we do not need.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BreakerState {
    /// Requests go through.
    #[default]
    Closed,
    /// Requests fail at once.
    Open,
    /// One probe is allowed through.
    HalfOpen,
}

impl BreakerState {
    /// Its name on `/health`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Its value on `/metrics` (0 closed, 1 half-open, 2 open).
    pub const fn level(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// The breaker. Shared by every call; one lock held for a few instructions.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    failures_to_open: u32,
    cooldown: Duration,
    opened: std::sync::atomic::AtomicU64,
}

impl Breaker {
    /// Opens after `failures` failures in a row, for `cooldown`.
    pub fn new(failures: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            failures_to_open: failures.max(1),
            cooldown,
            opened: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a request may go now (taking the probe, when half-open).
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        match &mut *state {
            State::Closed { .. } => true,
            State::Open { until } => {
                if Instant::now() >= *until {
                    *state = State::HalfOpen { probing: true };
                    true
                } else {
                    false
                }
            }
            State::HalfOpen { probing } => {
                if *probing {
                    false
                } else {
                    *probing = true;
                    true
                }
            }
        }
    }

    /// Records how an allowed request went.
    pub fn record(&self, ok: bool) {
        let mut state = self.lock();
        let open = match &mut *state {
            _ if ok => {
                *state = State::Closed { failures: 0 };
                false
            }
            State::Closed { failures } => {
                *failures += 1;
                *failures >= self.failures_to_open
            }
            State::HalfOpen { .. } => true,
            State::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                cooldown = ?self.cooldown,
                "Qloo keeps failing: failing fast until a probe succeeds"
            );
            self.opened
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *state = State::Open {
                until: Instant::now() + self.cooldown,
            };
        }
    }

    /// Gives the probe back without a verdict (the request was cancelled
    /// or failed for a reason that says nothing about Qloo's health).
    pub fn release(&self) {
        let mut state = self.lock();
        if let State::HalfOpen { probing } = &mut *state {
            *probing = false;
        }
    }

    /// Where it stands now.
    pub fn state(&self) -> BreakerState {
        match &*self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() >= *until => BreakerState::HalfOpen,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Times it has opened.
    pub fn times_opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_in_a_row_then_probes_once_and_closes() {
        let breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record(false);
        }
        assert!(breaker.allow());
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Closed, "a success resets");
        for _ in 0..3 {
            assert!(breaker.allow());
            breaker.record(false);
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "fails fast while open");
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(breaker.allow(), "the probe");
        assert!(!breaker.allow(), "one probe at a time");
        breaker.record(true);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.times_opened(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_and_a_released_one_can_be_retaken() {
        let breaker = Breaker::new(1, Duration::from_secs(5));
        assert!(breaker.allow());
        breaker.record(false);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(breaker.allow());
        breaker.release();
        assert!(breaker.allow(), "released: another request may probe");
        breaker.record(false);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow());
        assert_eq!(breaker.times_opened(), 2);
    }
}
