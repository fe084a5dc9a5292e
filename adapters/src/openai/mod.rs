//! The voice-model leg over the OpenAI Realtime API (GA protocol only).
//!
//! - [`wire`]: server events decoded into domain
//!   [`ModelEvent`](qloophone_domain::ports::ModelEvent)s, and
//!   client events encoded from
//!   [`ModelCommand`](qloophone_domain::ports::ModelCommand)s.
//! - [`catalogue`]: the models it knows, their prices and what each
//!   takes.
//! - [`OpenAiRealtime`] implements
//!   [`RealtimeModel`](qloophone_domain::ports::RealtimeModel)
//!   over tokio-tungstenite, one WebSocket per call.

pub mod catalogue;
mod client;
pub mod wire;

pub use client::{OpenAiRealtime, OpenAiSettings, ReasoningEffort};
