//! What the simulated models share: which script a session plays, and
//! what a model makes of the context a session taking over is told.
//!
//! A session plays the default script until the caller's tagged audio
//! names a scenario (see [`audio::tag`]): a shipped one, or one carried in
//! band in the caller's quiet frames ([`crate::inband`]).
//!
//! [`audio::tag`]: crate::audio::tag

use std::sync::Arc;

use crate::audio::{self, FRAME_BYTES};
use crate::inband::Reassembler;
use crate::script::ModelScript;

/// Which script a session plays.
#[derive(Debug, Default)]
pub(crate) struct Casting {
    scenarios: Vec<(u16, Arc<ModelScript>)>,
    carried: Reassembler,
    picked: bool,
}

impl Casting {
    /// Casting among `scenarios` (by tag).
    pub(crate) fn new(scenarios: Vec<(u16, Arc<ModelScript>)>) -> Self {
        Self {
            scenarios,
            ..Self::default()
        }
    }

    /// Reads the caller's audio; the scenario once it is known: its tag,
    /// and its script when the tag names one (else the default plays).
    pub(crate) fn hear(&mut self, bytes: &[u8]) -> Option<(u16, Option<Arc<ModelScript>>)> {
        let mut cast = None;
        for frame in bytes.chunks(FRAME_BYTES) {
            let Some(tag) = audio::read_tag(frame) else {
                continue;
            };
            if let Some(payload) = self.carried.accept(frame) {
                match serde_json::from_slice::<ModelScript>(&payload) {
                    Ok(script) => {
                        self.picked = true;
                        cast = Some((tag, Some(Arc::new(script))));
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "a carried scenario script does not parse");
                    }
                }
            } else if !self.picked && !self.carried.in_progress() {
                let script = self
                    .scenarios
                    .iter()
                    .find(|(id, _)| *id == tag)
                    .map(|(_, script)| script.clone());
                self.picked = true;
                cast = Some((tag, script));
            }
        }
        cast
    }

    /// Whether the scenario is known.
    pub(crate) fn picked(&self) -> bool {
        self.picked
    }

    /// Whether a carried script is coming in.
    pub(crate) fn carrying(&self) -> bool {
        self.carried.in_progress()
    }

    /// Whether there are scenarios to wait for at all.
    pub(crate) fn has_scenarios(&self) -> bool {
        !self.scenarios.is_empty()
    }
}

/// What a model makes of the context a session taking over is told.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Context {
    /// The caller's turns it lists (the script goes on after them).
    pub callers: usize,
    /// Whether it says the caller was greeted.
    pub greeted: bool,
    /// The entities and tags found, by name and id (`- name: id` lines,
    /// as [`fill_ids`](crate::script::fill_ids) holds them).
    pub known: Vec<(String, String)>,
    /// Whether it asks for the last request to be answered again.
    pub resume: bool,
    /// Whether it says the caller is a returning one who asked to be
    /// remembered (a model then welcomes them back).
    pub returning: bool,
}

impl Context {
    /// Reads a context as QlooPhone writes it.
    pub(crate) fn read(text: &str) -> Self {
        let callers = text
            .lines()
            .filter(|line| line.starts_with("Caller: "))
            .count();
        Self {
            callers,
            greeted: text.contains("Carry on"),
            known: text.lines().filter_map(crate::script::context_id).collect(),
            resume: text.contains("middle of answering") && callers > 0,
            returning: text.contains("asked to be remembered"),
        }
    }
}
