//! The phone leg over Twilio Media Streams.
//!
//! - [`wire`]: Twilio's JSON frames, decoded into domain
//!   [`PhoneEvent`](qloophone_domain::ports::PhoneEvent)s and
//!   encoded from [`PhoneCommand`](qloophone_domain::ports::PhoneCommand)s.
//! - [`TwilioLeg`] implements
//!   [`AudioInbound`](qloophone_domain::ports::AudioInbound)
//!   over one `/call` WebSocket.
//! - [`twiml`]: the webhook's answer that points Twilio at `/call`, and
//!   what follows the stream (`<Connect action>`, `<Dial action>`).
//! - [`admission`]: streams wait for their `start` apart from calls, and
//!   one live stream a call.
//! - [`after_stream`]: why each stream ended, kept for that answer.
//! - [`lines`]: the numbers of each call, kept from the webhook to the
//!   stream's `start` when texts are on.
//! - [`messages`]: texts through the Messages REST API.

pub mod admission;
pub mod after_stream;
mod leg;
pub mod lines;
pub mod messages;
pub mod per_call;
pub mod signature;
pub mod stream_token;
pub mod twiml;
pub mod wire;

pub use leg::{NotStarted, StreamChecks, TwilioLeg};

use crate::secret::Secret;

/// `[twilio]`
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioSettings {
    /// `TWILIO_AUTH_TOKEN`: requests to `/twiml` and `/call` must carry
    /// Twilio's signature made with it.
    pub auth_token: Option<Secret>,
    /// The key of per-call stream tokens; random at start when unset.
    /// Set it (the same on every instance) when several servers share a
    /// number, so a stream may land on another instance than its webhook.
    pub stream_secret: Option<Secret>,
    /// `TRANSFER_NUMBER`: the person callers who ask for one are handed to
    /// (E.164, e.g. `+15550123456`); the model is offered
    /// `transfer_to_human` only when it is set.
    pub transfer_number: Option<String>,
    /// How long a transfer rings before it counts as not answered, in
    /// seconds (`<Dial timeout>`).
    pub dial_timeout_secs: u32,
    /// The longest a transferred call may last, in seconds (`<Dial
    /// timeLimit>`; Twilio's own default).
    pub dial_time_limit_secs: u32,
    /// `TWILIO_ACCOUNT_SID`: the account texts are sent from. With it and
    /// the auth token (or an API key), the model is offered
    /// `text_recommendations`.
    pub account_sid: Option<String>,
    /// `TWILIO_API_KEY`: an API key's SID (`SK…`) to send texts with,
    /// instead of the auth token.
    pub api_key: Option<String>,
    /// `TWILIO_API_SECRET`: that API key's secret.
    pub api_secret: Option<Secret>,
    /// `TWILIO_SMS_FROM`: the sender of every text (E.164); unset, texts
    /// come from the number the caller dialled.
    pub sms_from: Option<String>,
    /// `TWILIO_REGION` (e.g. `ie1`): the Twilio region the account's REST
    /// calls go to.
    pub region: Option<String>,
    /// `TWILIO_EDGE` (e.g. `dublin`): the edge location they go through.
    pub edge: Option<String>,
    /// `TWILIO_API_URL`: Twilio's REST API (default from the region and
    /// edge: `https://api.twilio.com`), e.g. a simulator's.
    pub api_url: Option<String>,
    /// Offer the caller their picks by text when the account is set
    /// (`false` turns texts off).
    pub texts: bool,
    /// How long a text request may take, in milliseconds.
    pub texts_timeout_ms: u64,
}

impl TwilioSettings {
    /// The Messages API's credentials, when the account and a secret
    /// are set: an API key when given, else the auth token.
    pub fn rest_credentials(&self) -> Option<messages::Credentials> {
        let account_sid = self.account_sid.clone().filter(|sid| !sid.is_empty())?;
        let (user, password) = match (&self.api_key, &self.api_secret, &self.auth_token) {
            (Some(key), Some(secret), _) => (key.clone(), secret.clone()),
            (_, _, Some(token)) => (account_sid.clone(), token.clone()),
            _ => return None,
        };
        Some(messages::Credentials {
            account_sid,
            user,
            password,
        })
    }

    /// Where the REST calls go.
    pub fn rest_url(&self) -> String {
        self.api_url
            .clone()
            .unwrap_or_else(|| messages::api_url(self.region.as_deref(), self.edge.as_deref()))
    }
}

impl Default for TwilioSettings {
    fn default() -> Self {
        Self {
            auth_token: None,
            stream_secret: None,
            transfer_number: None,
            dial_timeout_secs: 20,
            dial_time_limit_secs: 14_400,
            account_sid: None,
            api_key: None,
            api_secret: None,
            sms_from: None,
            region: None,
            edge: None,
            api_url: None,
            texts: true,
            texts_timeout_ms: 6000,
        }
    }
}

/// Whether `number` is an E.164 phone number: `+`, then 8 to 15 digits,
/// the first not 0.
pub fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn e164_numbers_and_others() {
        for good in ["+15550123456", "+442071234567", "+4930123456"] {
            assert!(super::is_e164(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "15550123456",
            "+1 555 0123",
            "+0123456789",
            "+1234567",
            "+1234567890123456",
            "+1555012345a",
        ] {
            assert!(!super::is_e164(bad), "{bad}");
        }
    }
}
