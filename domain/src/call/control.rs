//! Tools the call answers itself rather than the taste graph: ending the
//! call after a goodbye, and handing the caller over to a person.
//!
//! Either one closes the call the same way: the model is told the call is
//! closing and asked for one last line (a goodbye, or "connecting you
//! now"); that line plays to its end at the caller (its last mark
//! echoed, or the model done speaking), bounded by
//! [`CallControl::goodbye_deadline`]; then the call ends with
//! [`EndReason::AgentEnded`] or [`EndReason::Transferred`], and the phone
//! leg, told why, does what follows (hang up, or dial the person).

use std::time::Duration;

use serde_json::json;

use super::{memory, texting};
use crate::ports::{EndReason, ToolSpec};

/// The tool that ends the call.
pub const END_CALL: &str = "end_call";
/// The tool that hands the caller over to a person.
pub const TRANSFER: &str = "transfer_to_human";

/// Which call-control tools the model is offered, and how long a closing
/// line may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallControl {
    /// Offer `end_call`.
    pub end_call: bool,
    /// Offer `transfer_to_human` (only when there is someone to transfer
    /// to).
    pub transfer: bool,
    /// Offer `text_recommendations` (only when texts can be sent).
    pub text_picks: bool,
    /// Offer `remember_me` and `forget_me` (only with a caller memory),
    /// and recall a returning caller's likes as the call starts.
    pub memory: bool,
    /// The longest the last line may take to play before the call closes
    /// anyway.
    pub goodbye_deadline: Duration,
}

impl Default for CallControl {
    fn default() -> Self {
        Self {
            end_call: true,
            transfer: false,
            text_picks: false,
            memory: false,
            goodbye_deadline: Duration::from_secs(10),
        }
    }
}

impl CallControl {
    /// The tools' descriptions for the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs = Vec::new();
        if self.end_call {
            specs.push(ToolSpec {
                name: END_CALL.into(),
                description: "Hang up after saying goodbye. Call it when the caller says they are \
                              done (\"thanks, bye\", \"that's all\"), never before the caller has \
                              spoken."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "reason": {
                            "type": "string",
                            "enum": ["caller_done", "caller_asked", "abuse"],
                            "description": "Why the call ends."
                        }
                    },
                    "required": ["reason"]
                }),
            });
        }
        if self.transfer {
            specs.push(ToolSpec {
                name: TRANSFER.into(),
                description: "Hand the caller over to a person on the team. Call it only when the \
                              caller asks for a human."
                    .into(),
                parameters: json!({"type": "object", "properties": {}}),
            });
        }
        if self.text_picks {
            specs.push(texting::spec());
        }
        if self.memory {
            specs.extend(memory::specs());
        }
        specs
    }

    /// What the instructions say of the tools offered.
    pub fn instructions(&self) -> String {
        let mut text = String::new();
        if self.end_call {
            text.push_str(
                "\n- When the caller is done, say a short goodbye and call end_call; do not keep \
                 them on the line.",
            );
        }
        if self.transfer {
            text.push_str(
                "\n- If the caller asks for a person, call transfer_to_human and tell them you are \
                 connecting them now.",
            );
        }
        if self.text_picks {
            text.push_str(texting::INSTRUCTIONS);
        }
        if self.memory {
            text.push_str(memory::INSTRUCTIONS);
        }
        text
    }

    /// How a call closed by the tool `name` ends, when it is one of these
    /// (and offered).
    pub fn closes_with(&self, name: &str) -> Option<EndReason> {
        match name {
            END_CALL if self.end_call => Some(EndReason::AgentEnded),
            TRANSFER if self.transfer => Some(EndReason::Transferred),
            _ => None,
        }
    }
}

/// What the model is told when it asks to close the call.
pub(crate) fn closing_output(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Transferred => {
            "{\"status\": \"transferring\", \"next\": \"Tell the caller in one short sentence \
             that you are connecting them to a person now. The line is handed over when you \
             finish.\"}"
        }
        _ => {
            "{\"status\": \"ending\", \"next\": \"If you have not said goodbye yet, say one \
             short, warm goodbye now; otherwise say nothing. The line closes when you finish.\"}"
        }
    }
}

/// What the model is told when it asks too early.
pub(crate) const TOO_EARLY: &str = "{\"error\": \"The caller has not said anything yet: the call \
                                    cannot end or be handed over before they speak.\"}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tools_configured_are_offered_and_recognised() {
        let both = CallControl {
            transfer: true,
            text_picks: true,
            ..CallControl::default()
        };
        let names: Vec<String> = both.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, [END_CALL, TRANSFER, texting::TEXT_PICKS]);
        assert!(both.instructions().contains(texting::TEXT_PICKS));
        assert!(both.instructions().contains("transfer_to_human"));
        assert_eq!(both.closes_with(TRANSFER), Some(EndReason::Transferred));
        assert_eq!(both.closes_with(END_CALL), Some(EndReason::AgentEnded));

        let default = CallControl::default();
        let names: Vec<String> = default.specs().into_iter().map(|s| s.name).collect();
        assert_eq!(names, [END_CALL]);
        assert!(!default.instructions().contains("transfer_to_human"));
        assert!(!default.instructions().contains(texting::TEXT_PICKS));
        assert_eq!(default.closes_with(TRANSFER), None);
        assert_eq!(default.closes_with("search_entity"), None);

        let none = CallControl {
            end_call: false,
            ..CallControl::default()
        };
        assert!(none.specs().is_empty() && none.instructions().is_empty());
        assert_eq!(none.closes_with(END_CALL), None);
    }

    #[test]
    fn what_the_model_is_told_is_json() {
        for text in [
            closing_output(EndReason::AgentEnded),
            closing_output(EndReason::Transferred),
            TOO_EARLY,
        ] {
            serde_json::from_str::<serde_json::Value>(text).unwrap();
        }
    }
}
