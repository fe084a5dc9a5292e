//! The taste graph over Qloo's HTTP API.
//!
//! - [`QlooClient`] implements [`TasteGraph`](qloophone_domain::ports::TasteGraph)
//!   with one pooled reqwest client: `X-Api-Key`, per-endpoint timeouts under
//!   an overall deadline, bounded retries with jitter on 429 (honouring the
//!   reset headers) and 5xx, none on other 4xx, behind a [`Breaker`] that
//!   fails fast while Qloo keeps failing (the cache above still answers).
//! - [`EntityCache`] is a `TasteGraph` decorator: a true LRU of search
//!   results with a TTL, shared lookups, stats and a snapshot on disk.
//! - [`ApiLog`] appends one JSON line per Qloo call to `api_calls.log`,
//!   rotated by size.
//! - [`wire`]: query strings and response shapes; `places`: the tags of
//!   the kinds of place callers name most, known without a tag search.

mod breaker;
mod cache;
mod client;
mod log;
mod places;
pub mod wire;

pub use breaker::{Breaker, BreakerState};
pub(crate) use cache::write_atomically;
pub use cache::{CacheSettings, CacheStats, CacheStatsSource, EntityCache, SharedTier, TierStats};
pub use client::{QlooClient, QlooSettings};
pub use log::{ApiLog, LogEntry, Rotation};
