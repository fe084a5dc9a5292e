//! Calls OpenAI answers over SIP (protocols-2026.md §7), with this server
//! as each call's control plane: no audio passes through it.
//!
//! - [`webhook`]: OpenAI's signed `realtime.call.incoming` deliveries,
//!   verified, each acted on once.
//! - [`control`]: `accept`, `reject`, `hangup`, `refer` over REST.
//! - [`leg`]: [`SipLeg`], the call's phone leg (control only), and
//!   [`CallGone`], which the call's sideband
//!   ([`crate::openai::Sideband`]) sets when OpenAI says the call is over.
//! - [`SipDoor`]: what `POST /openai/webhook` needs, and
//!   [`SipSettings`], `[sip]`.

pub mod control;
pub mod leg;
pub mod webhook;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use control::{CallControl, ControlError};
pub use leg::{CallGone, SipLeg};
pub use webhook::{Deliveries, Delivery, Incoming, IncomingCall, Refused};

use crate::openai::Sidebands;
use crate::secret::Secret;
use crate::tls::Trust;

/// `[sip]`: calls OpenAI answers over SIP. The door is open only with a
/// webhook secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSettings {
    /// The project's webhook signing secret, `whsec_…`
    /// (`OPENAI_WEBHOOK_SECRET`, the name OpenAI's SDKs read).
    pub webhook_secret: Option<Secret>,
    /// OpenAI's REST API (`OPENAI_BASE_URL`, likewise).
    pub base_url: String,
    /// How long one call-control request may take, in ms.
    pub request_timeout_ms: u64,
    /// The SIP status a call turned away at capacity is rejected with
    /// (486, busy here).
    pub busy_status: u16,
}

impl Default for SipSettings {
    fn default() -> Self {
        Self {
            webhook_secret: None,
            base_url: "https://api.openai.com/v1".to_owned(),
            request_timeout_ms: 5_000,
            busy_status: 486,
        }
    }
}

/// What the SIP door needs, shared by every delivery.
#[derive(Debug)]
pub struct SipDoor {
    /// Checks and remembers deliveries.
    pub deliveries: Deliveries,
    /// The REST call control.
    pub control: CallControl,
    /// The session every call is accepted with.
    pub accept: Value,
    /// Each call's sideband.
    pub sidebands: Sidebands,
    /// Where a transfer goes (`tel:+…`), when there is someone.
    pub transfer_to: Option<String>,
    /// Whether a caller's whole number is kept in the call (for a text
    /// or the caller memory, when on).
    pub keep_numbers: bool,
    /// The SIP status of a call turned away at capacity.
    pub busy_status: u16,
    answering: Mutex<HashSet<String>>,
}

impl SipDoor {
    /// A door per `settings`, answering with `accept`, each call's
    /// sideband opened by `sidebands`.
    ///
    /// # Errors
    /// Without a webhook secret, or with one that is not base64, or when
    /// the HTTP client cannot be built.
    pub fn new(
        settings: &SipSettings,
        api_key: Secret,
        accept: Value,
        sidebands: Sidebands,
        trust: &Trust,
    ) -> Result<Self, String> {
        let secret = settings
            .webhook_secret
            .as_ref()
            .ok_or("no webhook secret")?;
        Ok(Self {
            deliveries: Deliveries::new(secret)?,
            control: CallControl::new(
                &settings.base_url,
                api_key,
                Duration::from_millis(settings.request_timeout_ms),
                trust,
            )?,
            accept,
            sidebands,
            transfer_to: None,
            keep_numbers: false,
            busy_status: settings.busy_status,
            answering: Mutex::default(),
        })
    }

    /// Transfers go to `number` (E.164), as `tel:` URIs.
    #[must_use]
    pub fn transferring_to(mut self, number: Option<&str>) -> Self {
        self.transfer_to = number.map(|number| format!("tel:{number}"));
        self
    }

    /// Delivery ids are spent in `ledger` too (the fleet's), so a delivery
    /// is acted on once whichever instance it reaches.
    #[must_use]
    pub fn spending_in(
        mut self,
        ledger: Arc<dyn crate::twilio::stream_token::TokenLedger>,
    ) -> Self {
        self.deliveries = self.deliveries.with_ledger(ledger);
        self
    }

    /// Callers' whole numbers are kept in their calls.
    #[must_use]
    pub fn keeping_numbers(mut self, keep: bool) -> Self {
        self.keep_numbers = keep;
        self
    }

    /// Marks `call_id` as being answered on this instance, for as long as
    /// the returned guard lives; `None` when it already is (a second
    /// event for one call, §7.2: one handler per call).
    pub fn answering(self: &Arc<Self>, call_id: &str) -> Option<Answering> {
        let mut answering = self
            .answering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        answering.insert(call_id.to_owned()).then(|| Answering {
            door: self.clone(),
            call_id: call_id.to_owned(),
        })
    }
}

/// A call being answered or in progress on this instance.
#[derive(Debug)]
pub struct Answering {
    door: Arc<SipDoor>,
    call_id: String,
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.door
            .answering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.call_id);
    }
}
