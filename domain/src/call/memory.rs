//! Remembering a caller who asks: `remember_me` and `forget_me`, answered
//! by the call itself (like `text_recommendations`), because only the call
//! knows the number calling (never one spoken on the call) and what the
//! caller said they love (the entities its searches found, never the
//! model's words).
//!
//! Consent is the caller's: `remember_me` needs `caller_said_yes`, a
//! recommendation given, and the caller to have spoken since (a yes needs
//! a question before it). Only the entities found are kept, ids and names;
//! `forget_me` deletes them at once. A returning caller's likes are
//! recalled as the call starts: the model is told them (and their ids work
//! in the tools) before it greets.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ports::{EntityKind, Liked, MemoryError, Remembered, ToolSpec};
use crate::tools::KnownEntity;

/// The tool that remembers what the caller loves.
pub const REMEMBER: &str = "remember_me";
/// The tool that forgets them.
pub const FORGET: &str = "forget_me";

/// Likes kept for one caller at most (the newest).
pub(crate) const MAX_LIKES: usize = 20;
/// How long a call waits for a returning caller's likes before the model
/// is opened without them.
pub(crate) const RECALL_WAIT: Duration = Duration::from_millis(500);

/// The tools' descriptions for the model.
pub(crate) fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: REMEMBER.into(),
            description: "Remember what the caller loves (the titles, artists and places found on \
                          this call) for their next call from this number. After recommending, you \
                          may ask \"Shall I remember what you like for next time?\"; call this only \
                          after they say yes."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "caller_said_yes": {
                        "type": "boolean",
                        "description": "True only when the caller said yes to being remembered just now."
                    }
                },
                "required": ["caller_said_yes"]
            }),
        },
        ToolSpec {
            name: FORGET.into(),
            description: "Forget everything remembered about this caller, at once. Call it \
                          whenever the caller asks to be forgotten."
                .into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    ]
}

/// What the instructions say of them.
pub(crate) const INSTRUCTIONS: &str = "\n- After recommending, you may ask whether to remember \
    what the caller likes for next time; call remember_me only after they say yes. If they ask \
    to be forgotten, call forget_me at once.";

/// Why `remember_me` is refused before anything is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The model did not say the caller agreed.
    NoConsent,
    /// The caller has not spoken since the picks were given.
    NotAsked,
    /// Nothing the caller loves was found on this call.
    NothingToRemember,
    /// The call's number is unknown or withheld.
    NoNumber,
}

impl Refusal {
    /// What the model is told.
    pub(crate) fn output(self) -> String {
        let (error, next) = match self {
            Self::NoConsent => (
                "The caller has not agreed to be remembered.",
                "Ask whether they want to be remembered, and call again with caller_said_yes only if they say yes.",
            ),
            Self::NotAsked => (
                "The caller has not answered an offer to be remembered yet.",
                "Recommend something, ask whether to remember what they like, and wait for their answer.",
            ),
            Self::NothingToRemember => (
                "Nothing the caller loves was found on this call.",
                "Ask what they love and search for it first.",
            ),
            Self::NoNumber => (
                "This call's number is hidden: there is nothing to remember them by.",
                "Tell the caller you cannot remember this line.",
            ),
        };
        json!({"error": error, "next": next}).to_string()
    }
}

/// Whether the arguments say the caller agreed.
pub(crate) fn caller_said_yes(arguments: &str) -> bool {
    serde_json::from_str::<Value>(arguments)
        .is_ok_and(|value| value["caller_said_yes"] == Value::Bool(true))
}

/// What to keep: the entities found on this call (not places to look
/// in), newest first, then what was kept before, each once, at most
/// [`MAX_LIKES`].
pub(crate) fn likes(known: &[KnownEntity], before: Option<&Remembered>) -> Remembered {
    let mut likes: Vec<Liked> = Vec::new();
    let found = known
        .iter()
        .rev()
        .filter(|e| e.kind != Some(EntityKind::Locality))
        .map(|e| Liked {
            id: e.id.clone(),
            name: e.name.clone(),
        });
    let kept = before.into_iter().flat_map(|r| r.likes.iter().cloned());
    for like in found.chain(kept) {
        if likes.len() < MAX_LIKES && !likes.iter().any(|l| l.id == like.id) {
            likes.push(like);
        }
    }
    Remembered { likes }
}

/// What a new model session is told of a returning caller.
pub(crate) fn context(remembered: &Remembered) -> String {
    let mut text = String::from(
        "This caller has called before and asked to be remembered. Welcome them back warmly and \
         briefly. What they love (these ids work in the tools):",
    );
    for like in &remembered.likes {
        text.push_str(&format!("\n- {}: {}", like.name, like.id.as_str()));
    }
    text
}

/// A store operation a tool asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryOp {
    /// Keep these likes.
    Remember(Remembered),
    /// Delete what is kept.
    Forget,
}

/// What a store operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOutcome {
    /// This many likes are kept.
    Stored(usize),
    /// Deleted; whether there was anything.
    Forgotten(bool),
}

/// What the model is told of it.
pub(crate) fn result_output(result: &Result<MemoryOutcome, MemoryError>) -> String {
    match result {
        Ok(MemoryOutcome::Stored(likes)) => json!({
            "status": "remembered",
            "likes": likes,
            "next": "Tell the caller you will remember what they like next time they call from this number, and that they can ask you to forget it any time.",
        }),
        Ok(MemoryOutcome::Forgotten(_)) => json!({
            "status": "forgotten",
            "next": "Tell the caller nothing about them is remembered any more.",
        }),
        Err(_) => json!({
            "error": "The memory could not be reached just now.",
            "next": "Tell the caller it did not work this time; do not try again on this call.",
        }),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntityId;

    fn known(id: &str, name: &str, kind: EntityKind) -> KnownEntity {
        KnownEntity::new(EntityId::parse(id).unwrap(), name, Some(kind))
    }

    fn liked(id: &str, name: &str) -> Liked {
        Liked {
            id: EntityId::parse(id).unwrap(),
            name: name.into(),
        }
    }

    #[test]
    fn likes_are_the_entities_found_newest_first_then_those_kept() {
        let before = Remembered {
            likes: vec![liked("M1", "The Matrix"), liked("K1", "Khruangbin")],
        };
        let found = [
            known("K1", "Khruangbin", EntityKind::Artist),
            known("L1", "Austin", EntityKind::Locality),
            known("A1", "Arrival", EntityKind::Movie),
        ];
        let kept = likes(&found, Some(&before));
        assert_eq!(
            kept.likes,
            [
                liked("A1", "Arrival"),
                liked("K1", "Khruangbin"),
                liked("M1", "The Matrix")
            ],
            "each once, no locality"
        );
        let many: Vec<KnownEntity> = (0..30)
            .map(|n| known(&format!("E{n}"), "x", EntityKind::Book))
            .collect();
        assert_eq!(likes(&many, None).likes.len(), MAX_LIKES);
        assert!(likes(&[], None).likes.is_empty());
    }

    #[test]
    fn the_context_names_each_like_with_its_id() {
        let text = context(&Remembered {
            likes: vec![liked("M1", "The Matrix")],
        });
        assert!(text.contains("asked to be remembered"));
        assert!(text.ends_with("\n- The Matrix: M1"));
    }

    #[test]
    fn consent_is_read_from_the_arguments_only() {
        assert!(caller_said_yes(r#"{"caller_said_yes": true}"#));
        assert!(!caller_said_yes(r#"{"caller_said_yes": "true"}"#));
        assert!(!caller_said_yes("{}"));
        assert!(!caller_said_yes("nope"));
        for refusal in [
            Refusal::NoConsent,
            Refusal::NotAsked,
            Refusal::NothingToRemember,
            Refusal::NoNumber,
        ] {
            let value: Value = serde_json::from_str(&refusal.output()).unwrap();
            assert!(value["error"].is_string() && value["next"].is_string());
        }
        assert_eq!(specs().len(), 2);
    }
}
