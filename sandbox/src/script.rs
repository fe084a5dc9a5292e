//! What the simulated model does in a call: its greeting and its turns.
//!
//! A script is data (it deserializes from TOML or JSON). Turn N answers the
//! caller's Nth utterance: what the model "heard", the tools it calls, and
//! what it says. `{tool_output}` in an answer is replaced by a short summary
//! of the tool results it was given.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scripted tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptedCall {
    /// The tool.
    pub name: String,
    /// Its arguments (sent as JSON text). `{entity_id:NAME}` in a string
    /// is replaced by the id a tool returned for NAME earlier in the call.
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// Calls of a later round wait for the outputs of earlier rounds (the
    /// model chains tools: search first, then recommend).
    #[serde(default)]
    pub round: u32,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The model's answer to one caller utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Turn {
    /// What the caller said, as the model's transcription reports it.
    pub heard: String,
    /// Tools to call first (all in one response).
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
    /// What the model says (after the tools answered).
    #[serde(default)]
    pub answer: String,
}

/// The whole script of one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScript {
    /// Said when asked for a response before the caller spoke.
    #[serde(default = "default_greeting")]
    pub greeting: String,
    /// The turns, in order.
    #[serde(default)]
    pub turns: Vec<Turn>,
    /// Said when the caller speaks past the last turn.
    #[serde(default = "default_fallback")]
    pub fallback: String,
    /// How the model misbehaves in the first session that plays this
    /// script (none by default).
    #[serde(default)]
    pub faults: ScriptFaults,
    /// How many audio items each spoken answer is split into (a preamble,
    /// then the rest). Unset: two when the session's model is a
    /// `gpt-realtime-2` model, as those models do, else one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_items: Option<usize>,
    /// How fast the model speaks relative to real time, for this script
    /// (the service generates ahead of playback, so audio queues at the
    /// caller). Unset: the simulator's own pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<f64>,
}

/// Misbehaviour a scenario asks of the simulated model, in the first
/// session that plays it (the session knows its scenario from the
/// caller's first tagged audio, so faults that would come before it, a
/// stall or a rejected configuration, are set from tests instead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptFaults {
    /// Close the session while answering the caller's Nth utterance (from
    /// 1), right after the answer's first audio.
    #[serde(default)]
    pub close_in_turn: Option<usize>,
    /// The WebSocket close code for `close_in_turn` (1011, an internal
    /// error, by default; 1001 is OpenAI's "maximum duration").
    #[serde(default = "internal_error")]
    pub close_code: u16,
    /// GPT-Live only: with `close_in_turn`, the service first says
    /// `session.closed` with this reason (`expired`: its maximum session
    /// length) and the session's usage; the Realtime API has no such
    /// event and just closes.
    #[serde(default)]
    pub closed_reason: Option<String>,
    /// Answer this many `response.create` with `rate_limit_exceeded`.
    #[serde(default)]
    pub refuse_responses: usize,
    /// Send a malformed frame after every this many events.
    #[serde(default)]
    pub malformed_every: Option<usize>,
}

fn internal_error() -> u16 {
    1011
}

impl ScriptFaults {
    /// Whether the script asks for no misbehaviour.
    pub fn is_none(&self) -> bool {
        self.close_in_turn.is_none() && self.refuse_responses == 0 && self.malformed_every.is_none()
    }
}

impl Default for ScriptFaults {
    fn default() -> Self {
        Self {
            close_in_turn: None,
            close_code: internal_error(),
            closed_reason: None,
            refuse_responses: 0,
            malformed_every: None,
        }
    }
}

fn default_greeting() -> String {
    "Hi, this is QlooPhone! Tell me a couple of things you love.".to_owned()
}

fn default_fallback() -> String {
    "Sorry, could you say that again?".to_owned()
}

impl ModelScript {
    /// A call that keeps talking and calls no tool: `turns` short turns
    /// of the caller asking for more and the model answering in a line
    /// (a call held for load, or held open while something else happens).
    pub fn talking(turns: usize) -> Self {
        Self {
            turns: (0..turns)
                .map(|n| Turn {
                    heard: format!("Tell me a bit more about that, part {n}."),
                    tool_calls: Vec::new(),
                    answer: "Sure. Here is a little more about it, in one short line.".into(),
                })
                .collect(),
            ..Self::default()
        }
    }
}

impl Default for ModelScript {
    fn default() -> Self {
        Self {
            greeting: default_greeting(),
            turns: Vec::new(),
            fallback: default_fallback(),
            faults: ScriptFaults::default(),
            audio_items: None,
            pace: None,
        }
    }
}

/// Tool calls grouped by round, in order.
pub fn rounds(calls: &[ScriptedCall]) -> Vec<Vec<ScriptedCall>> {
    let mut numbers: Vec<u32> = calls.iter().map(|c| c.round).collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| calls.iter().filter(|c| c.round == n).cloned().collect())
        .collect()
}

/// The greeting, for a returning caller with a welcome back first.
pub fn welcome(returning: bool, greeting: &str) -> String {
    if returning {
        format!("Welcome back! {greeting}")
    } else {
        greeting.to_owned()
    }
}

/// How a tag is held among the known ids: its name under this prefix.
const TAG: &str = "tag:";

/// Replaces `{entity_id:NAME}` and `{tag_id:NAME}` with ids from `known`
/// (name, id), and `{tag_ids}` with every tag id found so far,
/// comma-separated; unknown names stay as they are, as a confused model's
/// would.
pub fn fill_ids(arguments: &str, known: &[(String, String)]) -> String {
    let mut out = arguments.to_owned();
    for (name, id) in known {
        match name.strip_prefix(TAG) {
            Some(tag) => out = out.replace(&format!("{{tag_id:{tag}}}"), id),
            None => out = out.replace(&format!("{{entity_id:{name}}}"), id),
        }
    }
    if out.contains("{tag_ids}") {
        let mut tags: Vec<&str> = Vec::new();
        for (name, id) in known {
            if name.starts_with(TAG) && !tags.contains(&id.as_str()) {
                tags.push(id);
            }
        }
        out = out.replace("{tag_ids}", &tags.join(","));
    }
    out
}

/// The ids a tool's output names, as a model would note them: a found
/// entity's (`name`, `entity_id`), each tag of a tag search's.
pub fn learn_ids(output: &str, known: &mut Vec<(String, String)>) {
    let Ok(value) = serde_json::from_str::<Value>(output) else {
        return;
    };
    if let (Some(name), Some(id)) = (value["name"].as_str(), value["entity_id"].as_str()) {
        known.push((name.to_owned(), id.to_owned()));
    }
    for tag in value["tags"].as_array().into_iter().flatten() {
        if let (Some(name), Some(id)) = (tag["name"].as_str(), tag["tag_id"].as_str()) {
            known.push((format!("{TAG}{name}"), id.to_owned()));
        }
    }
}

/// A `- name: id` line of a context, as [`fill_ids`] holds it (a tag's
/// line reads `- name (tag): id`).
pub fn context_id(line: &str) -> Option<(String, String)> {
    let (name, id) = line.strip_prefix("- ")?.rsplit_once(": ")?;
    let name = match name.strip_suffix(" (tag)") {
        Some(tag) => format!("{TAG}{tag}"),
        None => name.to_owned(),
    };
    Some((name, id.to_owned()))
}

/// A spoken summary of tool outputs (JSON texts), for `{tool_output}`.
pub fn summarize(outputs: &[String]) -> String {
    let parts: Vec<String> = outputs
        .iter()
        .map(|text| match serde_json::from_str::<Value>(text) {
            Ok(value) => summarize_value(&value),
            Err(_) => text.clone(),
        })
        .filter(|part| !part.is_empty())
        .collect();
    parts.join("; ")
}

fn summarize_value(value: &Value) -> String {
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return format!("that lookup failed ({error})");
    }
    if let Some(understood) = value.get("understood_as").and_then(Value::as_str) {
        return understood.to_owned();
    }
    for key in ["recommendations", "venues"] {
        if let Some(items) = value.get(key).and_then(Value::as_array) {
            let names: Vec<&str> = items
                .iter()
                .filter_map(|item| item.get("name").and_then(Value::as_str))
                .collect();
            return names.join(", ");
        }
    }
    value
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_read_from_toml_with_defaults() {
        let script: ModelScript = toml::from_str(
            r#"
            [[turns]]
            heard = "I love The Matrix"
            answer = "Found {tool_output}"
            [[turns.tool_calls]]
            name = "search_entity"
            arguments = { query = "The Matrix" }
            "#,
        )
        .unwrap();
        assert_eq!(script.turns.len(), 1);
        assert_eq!(
            script.turns[0].tool_calls[0].arguments["query"],
            "The Matrix"
        );
        assert_eq!(script.greeting, default_greeting());
    }

    #[test]
    fn rounds_group_calls_and_ids_are_filled_in() {
        let call = |name: &str, round| ScriptedCall {
            name: name.into(),
            arguments: empty_object(),
            round,
        };
        let grouped = rounds(&[call("b", 1), call("a", 0), call("c", 1)]);
        let names: Vec<Vec<&str>> = grouped
            .iter()
            .map(|r| r.iter().map(|c| c.name.as_str()).collect())
            .collect();
        assert_eq!(names, [vec!["a"], vec!["b", "c"]]);
        let known = vec![("The Matrix".to_owned(), "M1".to_owned())];
        assert_eq!(
            fill_ids(
                r#"{"ids":"{entity_id:The Matrix},{entity_id:Nope}"}"#,
                &known
            ),
            r#"{"ids":"M1,{entity_id:Nope}"}"#
        );
        let mut known = Vec::new();
        learn_ids(r#"{"name":"Amélie","entity_id":"A1"}"#, &mut known);
        learn_ids(
            r#"{"tags":[{"tag_id":"t:cozy","name":"Cozy"},{"tag_id":"t:it","name":"Italian"}]}"#,
            &mut known,
        );
        learn_ids("not json", &mut known);
        known.extend(context_id("- Quiet (tag): t:quiet"));
        assert_eq!(
            fill_ids(
                r#"{"e":"{entity_id:Amélie}","t":"{tag_id:Italian}","all":"{tag_ids}","x":"{tag_id:Nope}"}"#,
                &known
            ),
            r#"{"e":"A1","t":"t:it","all":"t:cozy,t:it,t:quiet","x":"{tag_id:Nope}"}"#
        );
        assert_eq!(
            context_id("- The Matrix: M1"),
            Some(("The Matrix".to_owned(), "M1".to_owned()))
        );
        assert_eq!(context_id("Caller: hi"), None);
    }

    #[test]
    fn summaries_name_what_the_tools_found() {
        let outputs = vec![
            r#"{"name":"The Matrix","entity_id":"X"}"#.to_owned(),
            r#"{"recommendations":[{"name":"Inception"},{"name":"Dark City"}]}"#.to_owned(),
            r#"{"error":"No results found"}"#.to_owned(),
            "not json".to_owned(),
            "{}".to_owned(),
        ];
        assert_eq!(
            summarize(&outputs),
            "The Matrix; Inception, Dark City; that lookup failed (No results found); not json"
        );
    }
}
