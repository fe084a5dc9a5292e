//! QlooPhone's sandbox: the outside world, simulated on loopback.
//!
//! Every peer speaks the real wire protocol itself, written from
//! `protocols.md` rather than from the server's own wire types, so a bug in
//! those types is caught instead of mirrored. This crate therefore depends
//! on neither `qloophone-domain` nor `qloophone-adapters`.
//!
//! - [`realtime`]: an OpenAI Realtime (GA) model server: voice activity from
//!   the energy of the μ-law it receives, scripted turns, tool calls,
//!   answers streamed as audio with transcripts, truncate and cancel.
//! - [`live`]: an OpenAI GPT-Live server (primary WebSocket): audio paced
//!   by the caller's, transcript fragments, delegated tool calls, the model
//!   stopping itself when talked over.
//! - [`qloo`]: the Qloo Insights API over a shipped catalogue, with faults.
//! - [`caller`]: a Twilio caller: `connected`, `start`, 20 ms media frames,
//!   mark echoes at playback pace, `clear`, `stop`.
//! - [`scenario`] and [`script`]: whole calls as data (`scenarios/`), and
//!   what the simulated model does in them.
//! - [`phone`]: `qloophone call`, one simulated call with a transcript.
//! - [`load`]: `qloophone load`, many calls at once with percentiles.
//! - [`duplex`]: `qloophone load --duplex`, both directions of every call
//!   loaded at once, each frame stamped and timed.
//! - [`signature`]: `X-Twilio-Signature`, signed as Twilio signs.
//! - [`sip`]: OpenAI's side of a call it answers over SIP: the signed
//!   incoming-call webhook, the REST call control, the sideband;
//!   [`sip_load`]: `qloophone load --sip`, many such calls held at once.
//!
//! The tests use them, and so does the sandbox mode of the server: the
//! production adapters are pointed at them, so only URLs and keys differ
//! from a live deployment.

pub mod audio;
pub mod caller;
mod casting;
pub mod duplex;
pub mod inband;
pub mod live;
pub mod load;
pub mod phone;
pub mod qloo;
pub mod realtime;
pub mod report_sink;
pub mod scenario;
pub mod script;
pub mod signature;
pub mod sip;
pub mod sip_load;
pub mod tls;
pub mod twilio_api;

/// The API key the sandbox's simulated peers accept.
pub const SANDBOX_KEY: &str = "sandbox-key";

/// WebSocket settings for the simulated peers. tungstenite zero-fills its
/// read buffer's free capacity before every read, so its default 128 KiB
/// buffer costs a 128 KiB memset a frame; in sandbox mode the peers share
/// the server's process, and under load the generator's core. 4 KiB holds
/// a frame or a few; a larger message grows the buffer on its own.
pub(crate) fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024)
}
