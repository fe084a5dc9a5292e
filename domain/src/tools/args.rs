//! Reading tool arguments: every bad argument becomes a [`ToolFailure`]
//! that names it and says what would be valid.

use serde_json::{Map, Value, json};

use crate::tools::ToolFailure;

/// A tool's arguments object.
#[derive(Debug)]
pub struct Args {
    map: Map<String, Value>,
}

fn invalid(name: &str, expected: &str) -> ToolFailure {
    ToolFailure::new(format!("Invalid argument \"{name}\": expected {expected}"))
        .with(json!({ "argument": name }))
}

impl Args {
    /// Wraps the arguments object.
    pub fn new(map: Map<String, Value>) -> Self {
        Self { map }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    /// A text argument: trimmed, non-empty, at most `max` characters, and
    /// free of control and text-direction characters (nothing a caller says
    /// needs them; they could hide text from whoever reads a dashboard).
    ///
    /// # Errors
    /// Not text, empty, too long, or with such characters.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ToolFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(text)) => {
                let text = text.trim();
                if text.is_empty() {
                    Err(invalid(name, "a non-empty string"))
                } else if text.chars().count() > max {
                    Err(invalid(name, &format!("at most {max} characters")))
                } else if text.chars().any(forbidden) {
                    Err(invalid(
                        name,
                        "plain text without control or text-direction characters",
                    ))
                } else {
                    Ok(Some(text.to_owned()))
                }
            }
            Some(_) => Err(invalid(name, "a string")),
        }
    }

    /// A required text argument.
    ///
    /// # Errors
    /// Missing, or as [`Args::text`].
    pub fn required_text(&self, name: &str, max: usize) -> Result<String, ToolFailure> {
        self.text(name, max)?.ok_or_else(|| {
            ToolFailure::new(format!("Missing required argument \"{name}\""))
                .with(json!({ "argument": name }))
        })
    }

    /// A number argument within `min..=max` (numbers in strings are read too).
    ///
    /// # Errors
    /// Not a number, or out of range.
    pub fn number(&self, name: &str, min: f64, max: f64) -> Result<Option<f64>, ToolFailure> {
        let value = match self.present(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(text)) => text.trim().parse().ok(),
            Some(_) => None,
        };
        match value {
            Some(n) if n.is_finite() && (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(invalid(name, &format!("a number from {min} to {max}"))),
        }
    }

    /// A whole-number argument within `min..=max`.
    ///
    /// # Errors
    /// As [`Args::number`], or not whole.
    pub fn count(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>, ToolFailure> {
        match self.number(name, f64::from(min), f64::from(max))? {
            None => Ok(None),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked
            Some(n) if n.fract() == 0.0 => Ok(Some(n as u32)),
            Some(_) => Err(invalid(
                name,
                &format!("a whole number from {min} to {max}"),
            )),
        }
    }

    /// A list of entity ids: a comma-separated string or an array of
    /// strings.
    ///
    /// # Errors
    /// Neither form, or empty.
    pub fn ids(&self, name: &str) -> Result<Option<Vec<String>>, ToolFailure> {
        self.list(name, "entity ids", MAX_ID_CHARS)
    }

    /// A list of tag ids, as [`Args::ids`] (tag ids are longer: a tag's
    /// kind, then its words).
    ///
    /// # Errors
    /// As [`Args::ids`].
    pub fn tag_ids(&self, name: &str) -> Result<Option<Vec<String>>, ToolFailure> {
        self.list(name, "tag ids", MAX_TAG_ID_CHARS)
    }

    fn list(
        &self,
        name: &str,
        what: &str,
        max_chars: usize,
    ) -> Result<Option<Vec<String>>, ToolFailure> {
        let expected = format!("{what} as a comma-separated string or a list of strings");
        let expected = expected.as_str();
        let ids: Vec<String> = match self.present(name) {
            None => return Ok(None),
            Some(Value::String(text)) => text.split(',').map(|s| s.trim().to_owned()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(|s| s.trim().to_owned()))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid(name, expected))?,
            Some(_) => return Err(invalid(name, expected)),
        };
        let ids: Vec<String> = ids.into_iter().filter(|id| !id.is_empty()).collect();
        if ids.is_empty() {
            return Err(invalid(name, expected));
        }
        if ids.len() > 10 {
            return Err(invalid(name, &format!("at most 10 {what}")));
        }
        if ids
            .iter()
            .any(|id| id.chars().count() > max_chars || id.chars().any(forbidden))
        {
            return Err(invalid(
                name,
                &format!("{what} of at most {max_chars} plain characters"),
            ));
        }
        Ok(Some(ids))
    }
}

/// Longest entity id accepted (Qloo's are UUIDs, 36 characters).
const MAX_ID_CHARS: usize = 64;

/// Longest tag id accepted (a kind and a few words).
const MAX_TAG_ID_CHARS: usize = 160;

/// Control characters (newlines and NUL included) and the Unicode
/// direction overrides and isolates.
fn forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(value: Value) -> Args {
        match value {
            Value::Object(map) => Args::new(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn text_is_trimmed_and_checked() {
        let a = args(
            json!({"q": "  The Matrix ", "empty": " ", "n": 3, "long": "xxxxxx", "null": null}),
        );
        assert_eq!(a.text("q", 100).unwrap().as_deref(), Some("The Matrix"));
        assert_eq!(a.text("missing", 100).unwrap(), None);
        assert_eq!(a.text("null", 100).unwrap(), None);
        assert!(
            a.text("empty", 100)
                .unwrap_err()
                .message
                .contains("non-empty")
        );
        assert!(
            a.text("n", 100)
                .unwrap_err()
                .message
                .contains("expected a string")
        );
        assert!(a.text("long", 5).unwrap_err().message.contains("at most 5"));
        let err = a.required_text("missing", 5).unwrap_err();
        assert_eq!(err.message, "Missing required argument \"missing\"");
        assert_eq!(err.details.unwrap()["argument"], "missing");
    }

    #[test]
    fn control_and_direction_characters_are_refused() {
        for bad in [
            "The\nMatrix",
            "a\u{0}b",
            "x\u{202E}txt.exe",
            "\u{2066}Dune",
            "tab\there",
        ] {
            let a = args(json!({ "q": bad, "ids": format!("K1,{bad}") }));
            let err = a.text("q", 100).unwrap_err();
            assert!(
                err.message.contains("plain text"),
                "{bad:?}: {}",
                err.message
            );
            assert!(a.ids("ids").is_err(), "{bad:?} in an id");
        }
        let accents = args(json!({"q": "Amélie — Björk, 千と千尋"}));
        assert!(
            accents.text("q", 100).unwrap().is_some(),
            "letters of any script pass"
        );
        let long_id = args(json!({ "ids": "x".repeat(65) }));
        assert!(
            long_id
                .ids("ids")
                .unwrap_err()
                .message
                .contains("at most 64")
        );
    }

    #[test]
    fn numbers_and_counts_are_range_checked() {
        let a = args(json!({"take": 3, "s": "4", "big": 99, "frac": 2.5, "bad": true}));
        assert_eq!(a.count("take", 1, 10).unwrap(), Some(3));
        assert_eq!(a.count("s", 1, 10).unwrap(), Some(4));
        assert!(
            a.count("big", 1, 10)
                .unwrap_err()
                .message
                .contains("from 1 to 10")
        );
        assert!(
            a.count("frac", 1, 10)
                .unwrap_err()
                .message
                .contains("whole number")
        );
        assert!(a.number("bad", 0.0, 1.0).is_err());
        assert_eq!(a.number("frac", 0.0, 3.0).unwrap(), Some(2.5));
    }

    #[test]
    fn ids_come_as_text_or_lists() {
        let a = args(json!({"a": "X, Y,", "b": ["X", " Y "], "c": [1], "d": ",", "e": 5}));
        assert_eq!(a.ids("a").unwrap().unwrap(), ["X", "Y"]);
        assert_eq!(a.ids("b").unwrap().unwrap(), ["X", "Y"]);
        assert!(a.ids("c").is_err());
        assert!(a.ids("d").is_err());
        assert!(a.ids("e").is_err());
        assert_eq!(a.ids("none").unwrap(), None);
        let many = args(json!({"m": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}));
        assert!(many.ids("m").unwrap_err().message.contains("at most 10"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                any::<String>().prop_map(Value::from),
            ];
            leaf.prop_recursive(2, 16, 5, |inner| {
                prop::collection::vec(inner, 0..5).prop_map(Value::from)
            })
        }

        proptest! {
            /// Whatever the model sends, each check answers (no panic), and
            /// what it accepts keeps the promised bounds.
            #[test]
            fn any_argument_is_checked_and_bounded(value in any_json(), max in 1usize..50) {
                let a = args(json!({ "x": value }));
                if let Ok(Some(text)) = a.text("x", max) {
                    prop_assert!(!text.is_empty() && text.chars().count() <= max);
                    prop_assert!(!text.chars().any(forbidden));
                }
                if let Ok(Some(ids)) = a.ids("x") {
                    prop_assert!(!ids.is_empty() && ids.len() <= 10);
                    prop_assert!(ids.iter().all(|id| !id.is_empty() && id.chars().count() <= MAX_ID_CHARS));
                }
                if let Ok(Some(n)) = a.count("x", 1, 10) {
                    prop_assert!((1..=10).contains(&n));
                }
                if let Ok(Some(n)) = a.number("x", -90.0, 90.0) {
                    prop_assert!((-90.0..=90.0).contains(&n));
                }
            }
        }
    }
}
