//! Time: the system clock behind the domain's [`Clock`] port, and
//! timestamps as the original service wrote them (RFC 3339, milliseconds,
//! UTC).

use std::time::SystemTime;

use qloophone_domain::ports::Clock;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// `2025-01-30T10:00:00.000Z`
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_with_milliseconds_in_utc() {
        let at = UNIX_EPOCH + Duration::from_millis(1_738_231_200_123);
        assert_eq!(super::rfc3339(at), "2025-01-30T10:00:00.123Z");
    }
}
