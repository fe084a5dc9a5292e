//! A report of every ended call, posted to the operator's endpoint
//! (`REPORT_WEBHOOK_URL`) and signed per Standard Webhooks
//! (protocols-2026.md §5) with `REPORT_WEBHOOK_SECRET`.
//!
//! [`Reports`] is one more observer of calls: it gathers what a call did
//! from its events (tools and their latency, what was recommended, usage
//! and cost, first-audio latency, the transcript only when asked) and,
//! when the call ends, hands the report to [`Delivery`], which keeps it in
//! a bounded queue on disk (one file a report, so it survives a restart)
//! and posts it until the endpoint takes it: the same `webhook-id` on
//! every attempt, a fresh timestamp and signature each time, the first
//! retries within seconds, then spaced out over a day, `Retry-After`
//! honoured, redirects never followed, a 410 taken as "stop".

mod delivery;
mod draft;

use serde::{Deserialize, Serialize};

pub use delivery::{Delivery, DeliveryHandle, MessageBox, ReportMetrics};
pub use draft::Reports;

use crate::secret::Secret;

/// `[report]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSettings {
    /// `REPORT_WEBHOOK_URL`: where reports are posted; unset, none are.
    pub url: Option<String>,
    /// `REPORT_WEBHOOK_SECRET`: the endpoint's signing secret
    /// (`whsec_` + base64 of 24 to 64 random bytes).
    pub secret: Option<Secret>,
    /// Put the call's transcript in its report (it may hold personal
    /// data: off unless asked for).
    pub include_transcript: bool,
    /// Where reports wait for delivery (made if missing).
    pub queue_dir: String,
    /// Reports kept waiting at most; past it the oldest is dropped (and
    /// counted).
    pub max_queued: usize,
    /// The longest one delivery attempt may take, in ms.
    pub timeout_ms: u64,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            url: None,
            secret: None,
            include_transcript: false,
            queue_dir: "reports".to_owned(),
            max_queued: 1000,
            timeout_ms: 15_000,
        }
    }
}

/// Why the report settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportSettingsError {
    /// A URL without a secret to sign with.
    #[error("is needed with report.url (REPORT_WEBHOOK_URL): reports are always signed")]
    NoSecret,
    /// A secret that is not `whsec_` and base64 of 24 to 64 bytes.
    #[error("must be whsec_ followed by the base64 of 24 to 64 random bytes")]
    BadSecret,
}

impl ReportSettings {
    /// Checks the secret when reports are on.
    ///
    /// # Errors
    /// A [`ReportSettingsError`].
    pub fn check(&self) -> Result<(), ReportSettingsError> {
        if self.url.is_none() {
            return Ok(());
        }
        let secret = self.secret.as_ref().ok_or(ReportSettingsError::NoSecret)?;
        secret_key(secret.expose()).map(|_| ())
    }
}

/// The HMAC key of a `whsec_` secret.
fn secret_key(secret: &str) -> Result<Vec<u8>, ReportSettingsError> {
    use base64::Engine;
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or(ReportSettingsError::BadSecret)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| ReportSettingsError::BadSecret)?;
    if (24..=64).contains(&key.len()) {
        Ok(key)
    } else {
        Err(ReportSettingsError::BadSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_needs_a_whsec_secret_of_24_to_64_bytes() {
        let mut settings = ReportSettings::default();
        assert_eq!(settings.check(), Ok(()), "off");
        settings.url = Some("https://crm.example/hooks".into());
        assert_eq!(settings.check(), Err(ReportSettingsError::NoSecret));
        for bad in ["plain", "whsec_!!!", "whsec_c2hvcnQ="] {
            settings.secret = Some(Secret::new(bad));
            assert_eq!(
                settings.check(),
                Err(ReportSettingsError::BadSecret),
                "{bad}"
            );
        }
        settings.secret = Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_eq!(settings.check(), Ok(()));
    }
}
