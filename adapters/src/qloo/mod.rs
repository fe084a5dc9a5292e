//! The taste graph over Qloo's HTTP API (implements
//! [`TasteGraph`](qloophone_domain::ports::TasteGraph)).
//!
//! Not written yet: recommendations arrive with their own issue. Until then
//! the tools are not offered to the model.
