//! Refused requests, logged so that a flood of them cannot fill the disk:
//! one line a refusal (the guard's, which says why; the access line is
//! left out for 401 and 403), its detail cut short and masked, and at
//! most [`PER_WINDOW`] lines every [`WINDOW`] for all of them together,
//! the rest counted and summed up in one line when the next window opens.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::privacy::mask_phone_numbers;

/// Lines logged for refusals in one window at most.
pub const PER_WINDOW: u32 = 20;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// The most of a refused request's detail (a URL, an origin) logged.
pub const MAX_DETAIL: usize = 200;

#[derive(Debug)]
struct Window {
    opened: Instant,
    logged: u32,
    dropped: u64,
}

/// The refusals' log sampler.
#[derive(Debug)]
pub struct Refusals {
    window: Mutex<Window>,
}

impl Default for Refusals {
    fn default() -> Self {
        Self {
            window: Mutex::new(Window {
                opened: Instant::now(),
                logged: 0,
                dropped: 0,
            }),
        }
    }
}

/// `detail` masked and cut to [`MAX_DETAIL`] characters.
pub fn bounded(detail: &str) -> String {
    let cut: String = detail.chars().take(MAX_DETAIL).collect();
    let mut masked = mask_phone_numbers(&cut);
    if detail.chars().count() > MAX_DETAIL {
        masked.push('…');
    }
    masked
}

impl Refusals {
    /// Whether this refusal may be logged now (else it is counted); a
    /// window that opens with refusals dropped in the last says how many.
    pub fn admit(&self) -> bool {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.opened.elapsed() >= WINDOW {
            if window.dropped > 0 {
                tracing::warn!(
                    dropped = window.dropped,
                    "more requests were refused than are logged: these were counted, not logged"
                );
            }
            *window = Window {
                opened: Instant::now(),
                logged: 0,
                dropped: 0,
            };
        }
        if window.logged < PER_WINDOW {
            window.logged += 1;
            true
        } else {
            window.dropped += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_sampled_and_details_are_bounded() {
        let refusals = Refusals::default();
        let logged = (0..1000).filter(|_| refusals.admit()).count();
        assert_eq!(logged, PER_WINDOW as usize);
        let long = format!("https://x/twiml?From=%2B15550123456&{}", "a".repeat(60_000));
        let cut = bounded(&long);
        assert!(cut.chars().count() <= MAX_DETAIL + 1);
        assert!(!cut.contains("15550123456"));
    }
}
