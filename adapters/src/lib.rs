//! QlooPhone's adapters: the technologies behind the domain's ports.
//!
//! - [`http`]: the warp routes (health, TwiML, tools, WebSocket upgrades).
//! - [`twilio`]: the phone leg over Twilio Media Streams.
//! - [`openai`]: the voice-model leg over the OpenAI Realtime API.
//! - [`live`]: the voice-model leg over OpenAI's GPT-Live API.
//! - [`ws`]: the WebSocket leg every peer runs on.
//! - [`qloo`]: the taste graph over Qloo's HTTP API.
//! - [`dashboard`]: `/logs` observers.
//! - [`redis`]: what several instances share.
//!
//! Wire types live here and never cross into the domain: each adapter
//! decodes its peer's frames into domain types and encodes commands back.

pub mod audio;
pub mod bounded;
pub mod dashboard;
pub mod hold;
pub mod http;
pub mod live;
pub mod memory;
pub mod metrics;
pub mod openai;
pub mod privacy;
pub mod qloo;
pub mod redis;
pub mod report;
pub mod secret;
pub mod sip;
pub mod time;
pub mod tls;
pub mod twilio;
pub mod ws;

#[cfg(test)]
mod test_support;
