//! Simulated peers that speak the real protocols on loopback.
//!
//! - [`realtime`]: an OpenAI Realtime (GA) model server: voice activity from
//!   the energy of the μ-law it receives, scripted turns, tool calls,
//!   answers streamed as audio with transcripts, truncate and cancel.
//! - [`caller`]: a Twilio caller: `connected`, `start`, 20 ms media frames,
//!   mark echoes at playback pace, `clear`, `stop`.
//!
//! The tests use them, and so does the sandbox: the production adapters are
//! pointed at them, so only URLs and keys differ from a live deployment.

pub mod audio;
pub mod caller;
pub mod qloo;
pub mod realtime;
pub mod scenario;
pub mod script;
