//! `[openai]`: the OpenAI account, the model and its catalogue, and the
//! Realtime API's session settings (turn detection, transcription, noise
//! reduction, reasoning, truncation).

use qloophone_domain::ports::Prices;
use serde::{Deserialize, Serialize};

use super::catalogue::{self, Catalogue, ModelSpec};
use super::wire;
use crate::secret::Secret;

/// Kinds of turn detection the model supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnDetectionKind {
    /// Voice activity by audio energy and silence.
    ServerVad,
    /// Voice activity by meaning.
    SemanticVad,
}

/// Turn detection settings (`[openai.turn_detection]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TurnDetection {
    /// Which detector: `server_vad` or `semantic_vad`.
    #[serde(rename = "type")]
    pub kind: TurnDetectionKind,
    /// Activation threshold, 0 to 1 (server VAD).
    pub threshold: f32,
    /// Audio kept before speech starts (server VAD).
    pub prefix_padding_ms: u32,
    /// Silence that ends a turn (server VAD).
    pub silence_duration_ms: u32,
    /// Eagerness (semantic VAD): `low`, `medium`, `high` or `auto`.
    pub eagerness: String,
    /// Whether the server cancels its own response when the caller speaks.
    pub interrupt_response: bool,
}

impl Default for TurnDetection {
    fn default() -> Self {
        Self {
            kind: TurnDetectionKind::ServerVad,
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            eagerness: "auto".to_owned(),
            interrupt_response: true,
        }
    }
}

/// `[openai]`: the OpenAI account and model (`OPENAI_API_KEY`,
/// `OPENAI_MODEL`, the model catalogue, shared by both voice APIs), and
/// how Realtime API sessions are configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// `OPENAI_API_KEY`, sent as a Bearer token.
    pub api_key: Option<Secret>,
    /// `OPENAI_REALTIME_URL`: `wss://api.openai.com/v1/realtime` (or a
    /// simulator's `ws://` URL).
    pub realtime_url: String,
    /// `OPENAI_MODEL`: a Realtime model (sent as `?model=`), or a GPT-Live
    /// one (`gpt-live-*`, sent in `session.start`).
    pub model: String,
    /// `OPENAI_VOICE`, for Realtime sessions.
    pub voice: String,
    /// Input transcription model.
    pub transcription_model: String,
    /// Noise reduction: `near_field`, `far_field`, or empty for none.
    pub noise_reduction: String,
    /// Turn detection.
    pub turn_detection: TurnDetection,
    /// `reasoning.effort` for reasoning models (`minimal`, `low`,
    /// `medium`, `high`, `xhigh`); unset leaves the model's default. Only
    /// sent to a model the catalogue says reasons: configured for one that
    /// does not, the server refuses to start.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The session's `truncation`: when a conversation outgrows the
    /// context, drop old items until this fraction of the window is left
    /// (more at once, less often, so the prompt cache stays warm). Sent to
    /// models the catalogue says take it; 0 leaves the service's default.
    pub truncation_retention_ratio: f64,
    /// `truncation.token_limits.post_instructions`: at most this many
    /// conversation tokens after the instructions and tools (a cap on a
    /// long call's cost per response). Unset: the model's whole window.
    pub truncation_max_tokens: Option<u32>,
    /// The models the server knows (prices, capabilities): the built-in
    /// table, with `[openai.models."NAME"]` adding or overriding entries.
    pub models: Catalogue,
}

/// How much a reasoning model thinks before it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// The least.
    Minimal,
    /// OpenAI's default and advice for voice.
    Low,
    /// More.
    Medium,
    /// Much more.
    High,
    /// The most.
    Xhigh,
}

impl ReasoningEffort {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Xhigh => "xhigh",
        }
    }
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            realtime_url: "wss://api.openai.com/v1/realtime".to_owned(),
            model: "gpt-realtime-2.1".to_owned(),
            voice: "marin".to_owned(),
            transcription_model: "gpt-4o-mini-transcribe".to_owned(),
            noise_reduction: "near_field".to_owned(),
            turn_detection: TurnDetection::default(),
            reasoning_effort: None,
            truncation_retention_ratio: 0.8,
            truncation_max_tokens: None,
            models: catalogue::builtin(),
        }
    }
}

impl OpenAiSettings {
    /// Noise reduction, if any.
    pub fn noise_reduction(&self) -> Option<String> {
        Some(self.noise_reduction.clone()).filter(|kind| !kind.is_empty())
    }

    /// What the catalogue knows of the configured model, if anything.
    pub fn model_spec(&self) -> Option<&ModelSpec> {
        catalogue::lookup(&self.models, &self.model)
    }

    /// What the configured model's tokens cost, when the catalogue knows.
    pub fn prices(&self) -> Option<Prices> {
        self.model_spec().map(ModelSpec::prices)
    }

    /// What is wrong with these settings for the configured model: the
    /// setting and the problem.
    ///
    /// # Errors
    /// A reasoning effort for a model that does not reason (or that the
    /// catalogue does not know), a retention ratio outside 0 to 1, a token
    /// limit past the model's window.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let spec = self.model_spec();
        if let Some(effort) = self.reasoning_effort {
            match spec {
                Some(spec) if !spec.reasoning => {
                    return Err((
                        "openai.reasoning_effort",
                        format!(
                            "is {:?}, but the model {:?} (openai.model, OPENAI_MODEL) is not a reasoning model and would refuse a session configured with it: unset it, or choose a reasoning model such as gpt-realtime-2.1",
                            effort.as_str(),
                            self.model
                        ),
                    ));
                }
                None => {
                    return Err((
                        "openai.reasoning_effort",
                        format!(
                            "is {:?}, but the model {:?} (openai.model, OPENAI_MODEL) is not in the model catalogue, so whether it takes reasoning is unknown: describe it under [openai.models.\"{}\"] with reasoning = true, or unset the effort",
                            effort.as_str(),
                            self.model,
                            self.model
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !(0.0..=1.0).contains(&self.truncation_retention_ratio) {
            return Err((
                "openai.truncation_retention_ratio",
                "must be between 0 and 1 (0: the service's default truncation)".to_owned(),
            ));
        }
        if let (Some(limit), Some(spec)) = (self.truncation_max_tokens, spec) {
            let room = spec.context_tokens.saturating_sub(spec.max_output_tokens);
            if limit == 0 || limit > room {
                return Err((
                    "openai.truncation_max_tokens",
                    format!(
                        "is {limit}; for {} it must be between 1 and {room} (its context window less its longest response)",
                        self.model
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What a `session.update` adds for this model beyond what every
    /// model takes: its reasoning effort and its truncation, each only
    /// where the catalogue says the model takes it.
    pub fn session_extras(&self) -> wire::SessionExtras {
        let spec = self.model_spec();
        let reasoning = self
            .reasoning_effort
            .filter(|_| spec.is_some_and(|spec| spec.reasoning))
            .map(ReasoningEffort::as_str);
        let truncation = spec
            .filter(|spec| spec.retention_truncation && self.truncation_retention_ratio > 0.0)
            .map(|_| wire::Truncation {
                retention_ratio: self.truncation_retention_ratio,
                max_tokens: self.truncation_max_tokens,
            });
        wire::SessionExtras {
            reasoning_effort: reasoning,
            truncation,
        }
    }
}
