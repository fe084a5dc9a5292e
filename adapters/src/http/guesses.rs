//! Wrong dashboard keys, limited per source (a request without a key
//! guesses nothing and is not counted): each source (an IPv4 address, or
//! an IPv6 /64, which one host usually holds whole) may get the key wrong
//! [`BURST`] times, then once every [`REFILL`]; past that its
//! requests are refused with 429 without the key being looked at, the
//! right one included, until it may guess again. Guessing a 16-character
//! key at ten a minute is hopeless; without this, one connection tried
//! about 26,000 a second.
//!
//! Behind a reverse proxy every request comes from the proxy: a guesser
//! then slows everyone's dashboards down (never a call), which is the
//! price of not trusting a forwarded address anyone can write.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lru::LruCache;
use tokio::time::Instant;

/// Wrong keys a source may send at once.
pub const BURST: u32 = 10;
/// How often a source that used its burst may try again.
pub const REFILL: Duration = Duration::from_secs(6);
/// Sources remembered; the least recently seen are forgotten past this.
const SOURCES: usize = 4096;

/// Wrong-key allowances by source.
#[derive(Debug)]
pub struct Guesses {
    sources: Mutex<LruCache<IpAddr, Allowance>>,
}

#[derive(Debug, Clone, Copy)]
struct Allowance {
    left: f64,
    at: Instant,
}

impl Default for Guesses {
    fn default() -> Self {
        Self {
            sources: Mutex::new(LruCache::new(NonZeroUsize::new(SOURCES).expect("not zero"))),
        }
    }
}

/// The source a limit applies to: the address, or its /64 for IPv6.
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

impl Guesses {
    fn with<T>(&self, ip: IpAddr, f: impl FnOnce(&mut Allowance) -> T) -> T {
        let now = Instant::now();
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        let allowance = sources.get_or_insert_mut(source(ip), || Allowance {
            left: f64::from(BURST),
            at: now,
        });
        let refilled = now.duration_since(allowance.at).as_secs_f64() / REFILL.as_secs_f64();
        allowance.left = (allowance.left + refilled).min(f64::from(BURST));
        allowance.at = now;
        f(allowance)
    }

    /// Whether `ip` has used up its wrong keys for now.
    pub fn exhausted(&self, ip: IpAddr) -> bool {
        self.with(ip, |allowance| allowance.left < 1.0)
    }

    /// `ip` sent a wrong key.
    pub fn wrong(&self, ip: IpAddr) {
        self.with(ip, |allowance| {
            allowance.left = (allowance.left - 1.0).max(0.0)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_source_gets_ten_wrong_keys_then_one_every_six_seconds() {
        let guesses = Guesses::default();
        let guesser: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..BURST {
            assert!(!guesses.exhausted(guesser));
            guesses.wrong(guesser);
        }
        assert!(guesses.exhausted(guesser));
        assert!(!guesses.exhausted(other), "another source is not held up");
        tokio::time::advance(REFILL / 2).await;
        assert!(guesses.exhausted(guesser));
        tokio::time::advance(REFILL / 2).await;
        assert!(!guesses.exhausted(guesser));
        guesses.wrong(guesser);
        assert!(guesses.exhausted(guesser));
    }

    #[tokio::test(start_paused = true)]
    async fn one_ipv6_host_is_one_source() {
        let guesses = Guesses::default();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        for _ in 0..BURST / 2 {
            guesses.wrong(a);
            guesses.wrong(b);
        }
        assert!(guesses.exhausted(a) && guesses.exhausted(b));
        assert!(!guesses.exhausted(elsewhere));
    }
}
