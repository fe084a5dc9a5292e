//! `[live]`: how GPT-Live sessions are reached and set up.

use serde::{Deserialize, Serialize};

use crate::openai::ReasoningEffort;

/// `[live]`: GPT-Live's endpoint, voice and delegation. The account's key
/// (`OPENAI_API_KEY`) and the model (`OPENAI_MODEL`, a `gpt-live-*` name)
/// are `[openai]`'s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveSettings {
    /// `OPENAI_LIVE_URL`: `wss://api.openai.com/v1/live/sessions` (or a
    /// simulator's `ws://` URL).
    pub url: String,
    /// The voice (a built-in name, or a custom voice's id).
    pub voice: String,
    /// The Responses model the voice model delegates lookups to: it runs
    /// the tools.
    pub delegation_model: String,
    /// `reasoning.effort` for that backend model, if any.
    pub delegation_reasoning_effort: Option<ReasoningEffort>,
    /// When the caller speaks, the model stops itself; the bridge clears
    /// the caller's queued audio only when more than this is queued ahead
    /// of them (GPT-Live paces its audio, so next to nothing usually is).
    pub clear_above_ms: u64,
    /// Caller frames kept (20 ms each) while a session starts; older ones
    /// are dropped.
    pub early_audio_frames: usize,
    /// How long closing waits for `session.closed` and its final usage, in
    /// ms.
    pub close_timeout_ms: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            url: "wss://api.openai.com/v1/live/sessions".to_owned(),
            voice: "marin".to_owned(),
            delegation_model: "gpt-5.6-luna".to_owned(),
            delegation_reasoning_effort: None,
            clear_above_ms: 400,
            early_audio_frames: 150,
            close_timeout_ms: 5000,
        }
    }
}
