//! The caller's picks by text: `text_recommendations`.
//!
//! The call answers this tool itself, because only the call knows what it
//! needs: the number that is calling (never one spoken on the call), what
//! this call's tools actually recommended (the body is built here from
//! those, never from the model's words), and whether a text was already
//! tried (at most one a call, a failure included).
//!
//! Consent is the caller's: the model must offer and pass
//! `caller_said_yes`, and the call refuses unless the caller has spoken
//! since the first picks were given (a yes needs a question before it).

use serde_json::{Value, json};

use crate::ports::{TextFailure, TextReceipt, ToolSpec};
use crate::tools::Pick;

/// The tool that texts the caller their picks.
pub const TEXT_PICKS: &str = "text_recommendations";

/// Picks a call keeps for its text at most (the first ones given).
pub(crate) const MAX_PICKS: usize = 10;
/// The longest text body (the text service's limit; longer is refused).
pub(crate) const MAX_BODY: usize = 1600;

/// The tool's description for the model.
pub(crate) fn spec() -> ToolSpec {
    ToolSpec {
        name: TEXT_PICKS.into(),
        description: "Text the caller the picks you recommended on this call, to the number \
                      they are calling from. Ask first (\"Shall I text you these?\") and call \
                      this only after they say yes. It sends at most one text a call, and \
                      only what you recommended."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "caller_said_yes": {
                    "type": "boolean",
                    "description": "True only when the caller said yes to a text just now."
                }
            },
            "required": ["caller_said_yes"]
        }),
    }
}

/// What the instructions say of it.
pub(crate) const INSTRUCTIONS: &str = "\n- After giving recommendations you may offer to text them \
                                       to the caller. Call text_recommendations only after they \
                                       say yes; never for another number.";

/// Where a call is with its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Texting {
    /// Not tried.
    NotYet,
    /// Being sent.
    Sending,
    /// Tried (sent or not): never again in this call.
    Tried,
}

/// Why a text is refused before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The model did not say the caller agreed.
    NoConsent,
    /// The caller has not spoken since the picks were given: they cannot
    /// have said yes.
    NotAsked,
    /// Nothing has been recommended in this call.
    NothingToSend,
    /// The call's number is unknown or withheld.
    NoNumber,
    /// A text was already tried in this call.
    AlreadyTried,
}

impl Refusal {
    /// A short, stable name for observers.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::NoConsent => "no_consent",
            Self::NotAsked => "not_asked",
            Self::NothingToSend => "nothing_to_send",
            Self::NoNumber => "no_number",
            Self::AlreadyTried => "already_tried",
        }
    }

    /// What the model is told.
    pub(crate) fn output(self) -> String {
        let (error, next) = match self {
            Self::NoConsent => (
                "The caller has not agreed to a text.",
                "Ask whether they want the picks by text, and call again with caller_said_yes \
                 only if they say yes.",
            ),
            Self::NotAsked => (
                "The caller has not answered an offer of a text yet.",
                "Ask whether they want the picks by text and wait for their answer.",
            ),
            Self::NothingToSend => (
                "Nothing has been recommended on this call yet.",
                "Recommend something first.",
            ),
            Self::NoNumber => (
                "This call's number is hidden or cannot be texted.",
                "Tell the caller you cannot text this line, and offer to repeat the picks.",
            ),
            Self::AlreadyTried => (
                "A text was already tried on this call.",
                "Do not offer another; say it was already sent (or that it failed).",
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

/// The text's body: the call's picks, numbered, a short line each,
/// within [`MAX_BODY`] characters (picks that do not fit are left out,
/// and the text says how many).
pub(crate) fn body(picks: &[Pick]) -> String {
    const HEAD: &str = "Your picks from the call:";
    let mut text = String::from(HEAD);
    let mut listed = 0;
    for (n, pick) in picks.iter().enumerate() {
        let line = format!("\n{}. {} ({})", n + 1, pick.name, pick.line);
        // Room kept for the note on what did not fit.
        if text.chars().count() + line.chars().count() > MAX_BODY - 40 {
            break;
        }
        text.push_str(&line);
        listed += 1;
    }
    if listed < picks.len() {
        text.push_str(&format!("\n(and {} more)", picks.len() - listed));
    }
    text
}

/// What the model is told of a text sent, or not.
pub(crate) fn result_output(result: &Result<TextReceipt, TextFailure>, picks: usize) -> String {
    match result {
        Ok(_) => json!({
            "status": "sent",
            "picks": picks,
            "next": "Tell the caller the text is on its way to the number they are calling from.",
        }),
        Err(failure) => {
            let why = match failure {
                TextFailure::OptedOut => "This number has opted out of texts from us.",
                TextFailure::NotTextable => "This number cannot receive texts.",
                TextFailure::Refused | TextFailure::Unavailable => {
                    "The text service could not send it right now."
                }
                TextFailure::MaybeSent => {
                    "The text service did not confirm it: it may arrive, or not."
                }
            };
            json!({
                "error": why,
                "next": "Tell the caller the text could not be confirmed sent, and offer to repeat the picks instead. Do not try again.",
            })
        }
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(name: &str, line: &str) -> Pick {
        Pick {
            name: name.into(),
            line: line.into(),
        }
    }

    #[test]
    fn the_body_lists_the_picks_within_the_limit() {
        let text = body(&[
            pick("Dark City", "film, 1998"),
            pick("Ghost in the Shell", "film, 1995"),
        ]);
        assert_eq!(
            text,
            "Your picks from the call:\n1. Dark City (film, 1998)\n2. Ghost in the Shell (film, 1995)"
        );
        let many: Vec<Pick> = (0..40)
            .map(|n| pick(&"x".repeat(70), &format!("place {n}")))
            .collect();
        let text = body(&many);
        assert!(text.chars().count() <= MAX_BODY, "{}", text.chars().count());
        assert!(text.ends_with("more)"), "{text}");
    }

    #[test]
    fn consent_is_an_explicit_true() {
        assert!(caller_said_yes(r#"{"caller_said_yes": true}"#));
        for no in [
            r#"{"caller_said_yes": false}"#,
            r#"{"caller_said_yes": "true"}"#,
            "{}",
            "not json",
        ] {
            assert!(!caller_said_yes(no), "{no}");
        }
    }

    #[test]
    fn every_output_is_json() {
        for refusal in [
            Refusal::NoConsent,
            Refusal::NotAsked,
            Refusal::NothingToSend,
            Refusal::NoNumber,
            Refusal::AlreadyTried,
        ] {
            let value: Value = serde_json::from_str(&refusal.output()).unwrap();
            assert!(value["error"].is_string());
            assert!(!refusal.as_str().is_empty());
        }
        let sent = result_output(
            &Ok(TextReceipt {
                id: "SM1".into(),
                segments: Some(1),
            }),
            2,
        );
        assert_eq!(
            serde_json::from_str::<Value>(&sent).unwrap()["status"],
            "sent"
        );
        let failed = result_output(&Err(TextFailure::OptedOut), 2);
        assert!(failed.contains("opted out"));
    }
}
