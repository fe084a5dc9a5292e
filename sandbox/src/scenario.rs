//! Scenarios: a whole simulated call as data.
//!
//! A scenario says what the caller does (`caller` steps), what the
//! simulated model hears and does (`turns`, as in a [`ModelScript`]) and
//! what must be true afterwards (`expect`). The shipped ones live in
//! `scenarios/` and are compiled in. The caller tells the simulated model
//! which scenario it is playing by tagging its audio with the scenario's
//! number, through the real server, and `qloophone call` also carries the
//! scenario's model side in its quiet audio ([`crate::inband`]), so a
//! scenario file plays against a simulated model that has never seen it.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::caller::Step;
use crate::script::{ModelScript, ScriptFaults, Turn};

/// What must hold after the call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Tools called, in this order (others may come between).
    #[serde(default)]
    pub tools: Vec<String>,
    /// No tool may be called.
    #[serde(default)]
    pub no_tools: bool,
    /// Tool results that are errors, exactly.
    #[serde(default)]
    pub tool_errors: usize,
    /// Names a search must have found.
    #[serde(default)]
    pub found: Vec<String>,
    /// A recommendation (or venue list) came back with results.
    #[serde(default)]
    pub recommends: bool,
    /// Names no tool result may contain (sequels, say).
    #[serde(default)]
    pub absent: Vec<String>,
    /// Text the assistant must say (substrings of its transcripts).
    #[serde(default)]
    pub spoken: Vec<String>,
    /// Text the assistant must not say.
    #[serde(default)]
    pub not_spoken: Vec<String>,
    /// The caller was interrupted-for: a barge-in happened.
    #[serde(default)]
    pub barge_in: bool,
    /// Items of interrupted answers the caller never heard (later items
    /// of a several-item answer), over the call's barge-ins, exactly.
    #[serde(default)]
    pub barge_in_unheard: Option<u64>,
    /// Keys pressed, as observers saw them, exactly (not checked unless
    /// given).
    #[serde(default)]
    pub dtmf: Option<String>,
    /// What stopped each hold sound, in order (`tool`, `model`, `caller`,
    /// `call`); empty: none may play. Not checked unless given (that it
    /// never plays under the assistant always is).
    #[serde(default)]
    pub hold: Option<Vec<String>>,
    /// What the caller memory did, in order (`recalled`, `stored`,
    /// `forgotten`, `failed`). Not checked unless given.
    #[serde(default)]
    pub memory: Option<Vec<String>>,
    /// At least this much assistant audio was heard.
    #[serde(default)]
    pub min_heard_ms: Option<u64>,
    /// How the call ended (`phone_stopped`, …).
    #[serde(default)]
    pub ends: Option<String>,
    /// Model sessions reopened during the call, exactly.
    #[serde(default)]
    pub reconnects: Option<usize>,
    /// Every byte of assistant audio received was played (its marks all
    /// echoed) before the line closed.
    #[serde(default)]
    pub heard_all: bool,
    /// What Twilio is told to do once the stream ends (`<Connect
    /// action>`): `hangup`, `say` (then hang up), `dial` or `stream`.
    #[serde(default)]
    pub after_stream: Option<String>,
    /// Text Twilio is told to say then.
    #[serde(default)]
    pub after_says: Vec<String>,
    /// The one number Twilio is told to dial then.
    #[serde(default)]
    pub dialed: Option<String>,
    /// What Twilio is told once that dial ends (`hangup`, `say`, …).
    #[serde(default)]
    pub after_dial: Option<String>,
    /// Whether the caller's picks were texted to them, as observers saw
    /// it (`true`: one text sent; `false`: none sent).
    #[serde(default)]
    pub texted: Option<bool>,
    /// Frames from the server the caller could not take (malformed, or
    /// naming another stream than its own), exactly.
    #[serde(default)]
    pub bad_frames: Option<usize>,
    /// The call's report is delivered at this attempt (the sandbox's
    /// endpoint refuses the first two of each), its failed attempts shown
    /// before it.
    #[serde(default)]
    pub report_attempts: Option<u32>,
}

impl Expectations {
    /// These expectations less those about the audio a bridge relays
    /// (hold, marks heard, barge-in, key presses, bad frames) and about
    /// Twilio's requests after a stream: what a call OpenAI answers over
    /// SIP can be held to.
    pub fn without_audio(&self) -> Self {
        Self {
            hold: None,
            heard_all: false,
            min_heard_ms: None,
            barge_in: false,
            barge_in_unheard: None,
            dtmf: None,
            bad_frames: None,
            after_stream: None,
            after_says: Vec::new(),
            dialed: None,
            after_dial: None,
            ..self.clone()
        }
    }
}

/// A whole call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used to pick it.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// What the model says first (default: the script's greeting).
    #[serde(default)]
    pub greeting: Option<String>,
    /// What the model hears and does, turn by turn.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// How the simulated model misbehaves in the first session playing
    /// this scenario (a drop mid-answer, refused responses, …).
    #[serde(default)]
    pub model_faults: ScriptFaults,
    /// How many audio items the simulated model splits each answer into.
    /// Unset: two for a `gpt-realtime-2` model, else one.
    #[serde(default)]
    pub audio_items: Option<usize>,
    /// How fast the simulated model speaks relative to real time (the
    /// service runs ahead of playback, so audio queues at the caller).
    /// Unset: the simulator's own pace.
    #[serde(default)]
    pub model_pace: Option<f64>,
    /// How the person the call is handed to answers, if it is (`answers`,
    /// `busy`, `no-answer`; `qloophone call --callee` overrides it).
    #[serde(default)]
    pub callee: Option<crate::phone::Callee>,
    /// A scenario to play first, on the same server (a returning caller
    /// needs the call that remembered them): `qloophone call` plays it
    /// first.
    #[serde(default)]
    pub after: Option<String>,
    /// The number the caller calls from (default the sandbox's
    /// fictional `+15550100000`).
    #[serde(default)]
    pub caller_number: Option<String>,
    /// Whether it plays as a call OpenAI answers over SIP too
    /// (`qloophone call --sip`): one whose point is not in the audio the
    /// bridge relays (barge-in, hold, marks, key presses).
    #[serde(default)]
    pub sip: bool,
    /// What the caller does.
    pub caller: Vec<Step>,
    /// What must hold afterwards.
    #[serde(default)]
    pub expect: Expectations,
}

const SHIPPED: &[&str] = &[
    include_str!("../scenarios/two-films-to-a-film.toml"),
    include_str!("../scenarios/artist-and-film-to-restaurant.toml"),
    include_str!("../scenarios/film-to-fan-venues.toml"),
    include_str!("../scenarios/sequel-trap.toml"),
    include_str!("../scenarios/a-hero-by-another-name.toml"),
    include_str!("../scenarios/unknown-entity-recovery.toml"),
    include_str!("../scenarios/qloo-tool-error.toml"),
    include_str!("../scenarios/barge-in-during-answer.toml"),
    include_str!("../scenarios/barge-in-first-of-two-items.toml"),
    include_str!("../scenarios/very-long-answer.toml"),
    include_str!("../scenarios/hangup-mid-tool-call.toml"),
    include_str!("../scenarios/silence.toml"),
    include_str!("../scenarios/model-drops-mid-answer.toml"),
    include_str!("../scenarios/goodbye-and-hang-up.toml"),
    include_str!("../scenarios/transfer-answered.toml"),
    include_str!("../scenarios/transfer-no-answer.toml"),
    include_str!("../scenarios/text-me-the-list.toml"),
    include_str!("../scenarios/text-me-no.toml"),
    include_str!("../scenarios/a-vibe-to-a-place.toml"),
    include_str!("../scenarios/a-vibe-nobody-has.toml"),
    include_str!("../scenarios/hold-while-tools-work.toml"),
    include_str!("../scenarios/caller-speaks-on-hold.toml"),
    include_str!("../scenarios/remember-me.toml"),
    include_str!("../scenarios/returning-caller.toml"),
    include_str!("../scenarios/report-after-two-failures.toml"),
    include_str!("../scenarios/second-start-ignored.toml"),
];

impl Scenario {
    /// Reads a scenario from TOML.
    ///
    /// # Errors
    /// When the text is not a scenario.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|err| err.to_string())
    }

    /// The scenarios shipped with the project.
    ///
    /// # Panics
    /// Only if a shipped file is broken, which a test guards against.
    pub fn shipped() -> Vec<Self> {
        SHIPPED
            .iter()
            .map(|text| Self::parse(text).expect("shipped scenarios parse"))
            .collect()
    }

    /// A shipped scenario by name, or a scenario file by path.
    ///
    /// # Errors
    /// When there is no such scenario.
    pub fn find(name_or_path: &str) -> Result<Self, String> {
        if let Some(found) = Self::shipped().into_iter().find(|s| s.name == name_or_path) {
            return Ok(found);
        }
        let path = Path::new(name_or_path);
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            return Self::parse(&text).map_err(|err| format!("{}: {err}", path.display()));
        }
        let names: Vec<String> = Self::shipped().into_iter().map(|s| s.name).collect();
        Err(format!(
            "no scenario {name_or_path:?}: give a file or one of {}",
            names.join(", ")
        ))
    }

    /// The number that identifies it in the caller's audio.
    pub fn tag(&self) -> u16 {
        // Kept clear of the small numbers tests use.
        crate::audio::fnv16(self.name.as_bytes()) | 0x8000
    }

    /// The simulated model's side of it.
    pub fn script(&self) -> ModelScript {
        let mut script = ModelScript {
            turns: self.turns.clone(),
            faults: self.model_faults.clone(),
            audio_items: self.audio_items,
            pace: self.model_pace,
            ..ModelScript::default()
        };
        if let Some(greeting) = &self.greeting {
            script.greeting.clone_from(greeting);
        }
        script
    }

    /// The simulated model's side as carried in band: the script as JSON.
    pub fn carried(&self) -> Vec<u8> {
        serde_json::to_vec(&self.script()).unwrap_or_default()
    }

    /// Every shipped scenario's script, keyed by tag, for the simulated model.
    pub fn registry() -> Vec<(u16, Arc<ModelScript>)> {
        Self::shipped()
            .iter()
            .map(|scenario| (scenario.tag(), Arc::new(scenario.script())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse_with_distinct_names_and_tags() {
        let scenarios = Scenario::shipped();
        assert!(scenarios.len() >= 10);
        let mut names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), scenarios.len());
        let mut tags: Vec<u16> = scenarios.iter().map(Scenario::tag).collect();
        tags.sort_unstable();
        tags.dedup();
        assert_eq!(tags.len(), scenarios.len());
        assert!(tags.iter().all(|t| *t >= 0x8000));
        assert_eq!(Scenario::registry().len(), scenarios.len());
    }

    #[test]
    fn scenarios_are_found_by_name_or_path() {
        assert_eq!(Scenario::find("silence").unwrap().name, "silence");
        let dir = std::env::temp_dir().join(format!("qloophone-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mine.toml");
        std::fs::write(
            &path,
            "name = \"mine\"\ngreeting = \"Yo\"\ncaller = [{ do = \"hangup\" }]\n",
        )
        .unwrap();
        let mine = Scenario::find(path.to_str().unwrap()).unwrap();
        assert_eq!(mine.script().greeting, "Yo");
        assert_eq!(mine.caller, vec![Step::Hangup]);
        let err = Scenario::find("nope").unwrap_err();
        assert!(err.contains("silence"), "{err}");
        std::fs::write(&path, "name = 5").unwrap();
        assert!(Scenario::find(path.to_str().unwrap()).is_err());
        assert!(Scenario::parse("name = \"x\"\ncaller = []\nsurprise = 1").is_err());
    }
}
