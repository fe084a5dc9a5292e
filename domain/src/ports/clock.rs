//! Wall-clock time, behind [`Clock`] so tests can set it.

use std::time::SystemTime;

/// Wall-clock time.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> SystemTime;
}
