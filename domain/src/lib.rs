//! QlooPhone's pure core.
//!
//! This crate holds everything that decides what a call does: the per-call
//! state machine ([`call::CallSession`]), the conversation policy
//! ([`policy`]), the tools the model may call ([`tools`]) and the ports
//! ([`ports`]) through which the outside world is reached.
//!
//! It must not do I/O of its own: no sockets, no HTTP, no files, no wire
//! formats of the phone network or the voice model. Adapters translate those into the types
//! here. JSON appears only where the model itself speaks it: tool arguments
//! and tool results.

pub mod call;
pub mod fan_out;
pub mod policy;
pub mod ports;
pub mod tools;
pub mod types;

pub use ports::{CallEvent, CallEventRecord, EndReason};
pub use types::*;
