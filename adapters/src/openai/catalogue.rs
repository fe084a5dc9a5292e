//! The realtime models this server knows: what each costs and what it
//! takes (`[openai.models."NAME"]` adds one or overrides a field).
//!
//! Prices are OpenAI's list prices in dollars per million tokens, by
//! modality, as its model pages gave them on the date in
//! [`PRICES_READ`]; a price the pages do not give is left out and makes a
//! call's cost unknown rather than guessed. A model name that is not here
//! still works: the server warns once at start-up, sends nothing that only
//! some models take, and shows the cost as unknown.

use std::collections::BTreeMap;

use qloophone_domain::ports::{Prices, Rates};
use serde::{Deserialize, Serialize};

/// When the built-in prices were read from OpenAI's model pages.
pub const PRICES_READ: &str = "2026-12-05";

/// What one modality's tokens cost, in dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModalityPrices {
    /// Fresh input.
    pub input: Option<f64>,
    /// Cached input.
    pub cached_input: Option<f64>,
    /// Output.
    pub output: Option<f64>,
}

/// What a model's tokens cost, by modality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceTable {
    /// Text tokens.
    pub text: ModalityPrices,
    /// Audio tokens.
    pub audio: ModalityPrices,
    /// Image tokens.
    pub image: ModalityPrices,
    /// A minute of session (GPT-Live bills its voice by the minute).
    pub per_minute: Option<f64>,
}

/// Which of OpenAI's voice APIs a model speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// The Realtime API (`/v1/realtime`).
    Realtime,
    /// GPT-Live (`/v1/live/sessions`).
    Live,
}

impl Api {
    /// The API a model name that the catalogue does not know most likely
    /// speaks: `gpt-live-…` GPT-Live (but `gpt-live-transcribe`, a
    /// transcription model, is not one), anything else the Realtime API.
    pub fn guess(model: &str) -> Self {
        if model.starts_with("gpt-live-") && !model.contains("transcribe") {
            Self::Live
        } else {
            Self::Realtime
        }
    }

    /// `realtime` or `live`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Live => "live",
        }
    }
}

/// One model of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSpec {
    /// The API it speaks (unset: guessed from its name).
    pub api: Option<Api>,
    /// Dated snapshots that are this model (`gpt-realtime-2025-08-28`).
    pub snapshots: Vec<String>,
    /// Whether it is a reasoning model: it takes `reasoning.effort`, and
    /// refuses the whole session configuration when a model that is not
    /// one is sent it.
    pub reasoning: bool,
    /// Its context window, in tokens.
    pub context_tokens: u32,
    /// The most tokens one response may write.
    pub max_output_tokens: u32,
    /// Whether the session's `truncation` takes a retention ratio.
    pub retention_truncation: bool,
    /// Its list prices.
    pub prices: PriceTable,
    /// When `prices` were read, and where from.
    pub prices_source: String,
}

impl Default for ModelSpec {
    /// An entry an operator adds: the smallest current context, no
    /// reasoning, no prices.
    fn default() -> Self {
        Self {
            api: None,
            snapshots: Vec::new(),
            reasoning: false,
            context_tokens: 32_000,
            max_output_tokens: 4_096,
            retention_truncation: false,
            prices: PriceTable::default(),
            prices_source: String::new(),
        }
    }
}

impl ModelSpec {
    /// The prices in the domain's terms: millionths of a dollar per
    /// million tokens; a price not given, negative or not finite is not
    /// known.
    pub fn prices(&self) -> Prices {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped first
        let micros = |dollars: Option<f64>| {
            dollars
                .filter(|dollars| dollars.is_finite() && *dollars >= 0.0)
                .map(|dollars| (dollars * 1e6).round().min(1e15) as u64)
        };
        let rates = |prices: &ModalityPrices| Rates {
            input: micros(prices.input),
            cached_input: micros(prices.cached_input),
            output: micros(prices.output),
        };
        Prices {
            text: rates(&self.prices.text),
            audio: rates(&self.prices.audio),
            image: rates(&self.prices.image),
            per_minute: micros(self.prices.per_minute),
        }
    }
}

/// The catalogue: model names to what the server knows of them.
pub type Catalogue = BTreeMap<String, ModelSpec>;

/// The model `name` names in `catalogue`: by its name, or as one of its
/// snapshots.
pub fn lookup<'a>(catalogue: &'a Catalogue, name: &str) -> Option<&'a ModelSpec> {
    catalogue.get(name).or_else(|| {
        catalogue
            .values()
            .find(|spec| spec.snapshots.iter().any(|snapshot| snapshot == name))
    })
}

fn prices(text: [Option<f64>; 3], audio: [Option<f64>; 3], image: [Option<f64>; 2]) -> PriceTable {
    let modality = |[input, cached_input, output]: [Option<f64>; 3]| ModalityPrices {
        input,
        cached_input,
        output,
    };
    PriceTable {
        text: modality(text),
        audio: modality(audio),
        image: modality([image[0], image[1], None]),
        per_minute: None,
    }
}

/// The models OpenAI lists for the Realtime API today, from their model
/// pages (developers.openai.com/api/docs/models/NAME, read on
/// [`PRICES_READ`]); `protocols-2026.md` §2.1 holds the same table with
/// its evidence.
pub fn builtin() -> Catalogue {
    let page =
        |name: &str| format!("developers.openai.com/api/docs/models/{name}, read {PRICES_READ}");
    let reasoning = |name: &str, table: PriceTable| {
        (
            name.to_owned(),
            ModelSpec {
                api: Some(Api::Realtime),
                snapshots: Vec::new(),
                reasoning: true,
                context_tokens: 128_000,
                max_output_tokens: 32_000,
                retention_truncation: true,
                prices: table,
                prices_source: page(name),
            },
        )
    };
    let classic = |name: &str, snapshots: &[&str], table: PriceTable, source: String| {
        (
            name.to_owned(),
            ModelSpec {
                api: Some(Api::Realtime),
                snapshots: snapshots.iter().map(|s| (*s).to_owned()).collect(),
                reasoning: false,
                context_tokens: 32_000,
                max_output_tokens: 4_096,
                retention_truncation: true,
                prices: table,
                prices_source: source,
            },
        )
    };
    // GPT-Live bills its voice by the minute; the backend model it
    // delegates to bills its own tokens, which a call's text tokens are
    // (priced at that model's entry, when the catalogue has one).
    let live = |name: &str| {
        (
            name.to_owned(),
            ModelSpec {
                api: Some(Api::Live),
                snapshots: Vec::new(),
                reasoning: false,
                // Compaction near 128k is automatic (gpt-live.md §6.4).
                context_tokens: 128_000,
                max_output_tokens: 4_096,
                retention_truncation: false,
                prices: PriceTable {
                    per_minute: Some(0.05),
                    ..PriceTable::default()
                },
                prices_source: page(name),
            },
        )
    };
    let s = Some;
    [
        live("gpt-live-1"),
        live("gpt-live-1.1"),
        reasoning(
            "gpt-realtime-2.1",
            prices([s(4.0), s(0.4), s(24.0)], [s(32.0), s(0.4), s(64.0)], [s(5.0), s(0.5)]),
        ),
        reasoning(
            "gpt-realtime-2.1-mini",
            prices([s(0.6), s(0.06), s(2.4)], [s(10.0), s(0.3), s(20.0)], [s(0.8), s(0.08)]),
        ),
        reasoning(
            "gpt-realtime-2",
            prices([s(4.0), s(0.4), s(24.0)], [s(32.0), s(0.4), s(64.0)], [s(5.0), s(0.5)]),
        ),
        classic(
            "gpt-realtime-1.5",
            &[],
            prices([s(4.0), s(0.4), s(16.0)], [s(32.0), s(0.4), s(64.0)], [s(5.0), s(0.5)]),
            page("gpt-realtime-1.5"),
        ),
        classic(
            "gpt-realtime",
            &["gpt-realtime-2025-08-28"],
            // Image prices not confirmed for this one.
            prices([s(4.0), s(0.4), s(16.0)], [s(32.0), s(0.4), s(64.0)], [None, None]),
            format!(
                "developers.openai.com/api/docs/models/compare?model=gpt-realtime (text), langwatch's price overlay (audio), read {PRICES_READ}"
            ),
        ),
        classic(
            "gpt-realtime-mini",
            &["gpt-realtime-mini-2025-10-06", "gpt-realtime-mini-2025-12-15"],
            // Cached text and audio output not confirmed: a call that uses
            // them has an unknown cost.
            prices([s(0.6), None, s(2.4)], [s(10.0), s(0.3), None], [None, None]),
            format!(
                "OpenAI's comparison box (text), langwatch (audio input and cached), read {PRICES_READ}"
            ),
        ),
    ]
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_snapshots_find_their_model() {
        let catalogue = builtin();
        assert!(lookup(&catalogue, "gpt-realtime-2.1").unwrap().reasoning);
        let dated = lookup(&catalogue, "gpt-realtime-2025-08-28").unwrap();
        assert!(!dated.reasoning);
        assert_eq!(dated.context_tokens, 32_000);
        assert!(lookup(&catalogue, "gpt-realtime-3").is_none());
    }

    #[test]
    fn list_prices_become_millionths_and_nonsense_is_not_known() {
        let catalogue = builtin();
        let mini = lookup(&catalogue, "gpt-realtime-2.1-mini")
            .unwrap()
            .prices();
        assert_eq!(mini.text.input, Some(600_000));
        assert_eq!(mini.text.cached_input, Some(60_000));
        assert_eq!(mini.audio.cached_input, Some(300_000));
        assert_eq!(mini.audio.output, Some(20_000_000));
        assert_eq!(mini.image.output, None);
        let odd = ModelSpec {
            prices: prices(
                [Some(-1.0), Some(f64::NAN), Some(f64::INFINITY)],
                [Some(0.000_000_4), Some(1e30), None],
                [None, None],
            ),
            ..ModelSpec::default()
        }
        .prices();
        assert_eq!(
            (odd.text.input, odd.text.cached_input, odd.text.output),
            (None, None, None)
        );
        assert_eq!(odd.audio.input, Some(0), "a price that rounds to nothing");
        assert_eq!(
            odd.audio.cached_input,
            Some(1_000_000_000_000_000),
            "clamped"
        );
    }
}
