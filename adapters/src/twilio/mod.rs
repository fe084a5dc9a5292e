//! The phone leg over Twilio Media Streams.
//!
//! - [`wire`]: Twilio's JSON frames, decoded into domain
//!   [`PhoneEvent`](qloophone_domain::ports::PhoneEvent)s and
//!   encoded from [`PhoneCommand`](qloophone_domain::ports::PhoneCommand)s.
//! - [`TwilioLeg`] implements
//!   [`AudioInbound`](qloophone_domain::ports::AudioInbound)
//!   over one `/call` WebSocket.
//! - [`twiml`]: the webhook's answer that points Twilio at `/call`.

mod leg;
pub mod signature;
pub mod stream_token;
pub mod twiml;
pub mod wire;

pub use leg::TwilioLeg;

use crate::secret::Secret;

/// `[twilio]`
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioSettings {
    /// `TWILIO_AUTH_TOKEN`: requests to `/twiml` and `/call` must carry
    /// Twilio's signature made with it.
    pub auth_token: Option<Secret>,
    /// The key of per-call stream tokens; random at start when unset.
    /// Set it (the same on every instance) when several servers share a
    /// number, so a stream may land on another instance than its webhook.
    pub stream_secret: Option<Secret>,
}
