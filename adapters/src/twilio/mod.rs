//! The phone leg over Twilio Media Streams.
//!
//! - [`wire`]: Twilio's JSON frames, decoded into domain
//!   [`PhoneEvent`](qloophone_domain::call::messages::PhoneEvent)s and
//!   encoded from [`PhoneCommand`](qloophone_domain::call::messages::PhoneCommand)s.
//! - [`TwilioLeg`] implements
//!   [`AudioInbound`](qloophone_domain::ports::AudioInbound)
//!   over one `/call` WebSocket.
//! - [`twiml`]: the webhook's answer that points Twilio at `/call`.

mod leg;
pub mod signature;
pub mod twiml;
pub mod wire;

pub use leg::{LegStats, TwilioLeg};
