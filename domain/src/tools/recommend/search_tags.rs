//! `search_tags`: the caller's words for a vibe or a kind of thing
//! ("cozy", "upbeat", "Italian") to the graph's tags, whose ids
//! `get_recommendation` and `get_fan_venues` accept. A tag found by
//! meaning rather than by the caller's own words is marked, so the model
//! says back what it understood; words that mean nothing to the graph are
//! a "no match" the model can speak about, whatever the graph answered.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::upstream;
use crate::ports::{EntityKind, FoundTag, TagQuery, TasteError, TasteGraph};
use crate::tools::args::Args;
use crate::tools::sequels::words;
use crate::tools::vocabulary::{OUTPUT_TYPES, entity_type};
use crate::tools::{Known, KnownTag, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess};

/// `search_tags`
pub(super) struct SearchTags {
    pub(super) graph: Arc<dyn TasteGraph>,
}

/// The most tags one search hands the model.
const MOST: usize = 4;

#[async_trait]
impl Tool for SearchTags {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_tags".into(),
            description: "Turn the caller's words for a vibe, style or kind of thing (\"cozy\", \"upbeat\", \"dark comedy\", \"Italian\") into tag_ids \
                          for get_recommendation and get_fan_venues. When the result says the match is loose, tell the caller what you understood."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "The caller's words, e.g. \"somewhere cozy and Italian\""},
                    "type": {"type": "string", "description": "What they want, when clear (as get_recommendation's output_type): movie, tv_show, artist, book, videogame, podcast, place, brand, destination"}
                },
                "required": ["query"]
            }),
        }
    }

    async fn run(
        &self,
        arguments: Map<String, Value>,
        _context: &ToolContext,
    ) -> Result<ToolSuccess, ToolFailure> {
        let args = Args::new(arguments);
        let query = args.required_text("query", 100)?;
        let kind = match args.text("type", 40)? {
            None => None,
            Some(word) => match entity_type(&word) {
                Some(kind) if OUTPUT_TYPES.contains(&kind) => Some(kind),
                _ => {
                    return Err(ToolFailure::new(format!(
                        "Invalid argument \"type\": cannot look for \"{word}\""
                    ))
                    .with(json!({"argument": "type", "valid": OUTPUT_TYPES})));
                }
            },
        };
        let searched = self
            .graph
            .search_tags(&TagQuery {
                text: query.clone(),
                parent: kind,
                take: 5,
            })
            .await;
        // A kind of place the graph's edge knows by name ("sushi") needs no
        // search, and answers even when the search cannot.
        let place = (kind == Some(EntityKind::Place))
            .then(|| self.graph.place_kind(&query))
            .flatten();
        let mut found: Vec<FoundTag> = match searched {
            Ok(found) => found,
            // Words the graph cannot read are words it has no tag for.
            Err(TasteError::BadRequest(reason)) => {
                tracing::debug!(%reason, "tag search refused: taken as no match");
                Vec::new()
            }
            Err(err) if place.is_none() => return Err(upstream("Tag search failed", &err)),
            Err(err) => {
                tracing::debug!(error = %err, "tag search failed: the place word alone");
                Vec::new()
            }
        };
        if let Some(place) = place {
            // The caller's own word for the place first, once.
            found.retain(|t| t.id != place.id);
            found.insert(0, place);
        }
        found.truncate(MOST);
        if found.is_empty() {
            return Err(
                ToolFailure::new(format!("No tags match \"{query}\"")).with(json!({
                    "suggestion": "Tell the caller you could not place that; ask them to put it another way, or to name a film, artist or place they love"
                })),
            );
        }
        let said = words(&query);
        let by_name = |tag: &FoundTag| {
            words(&tag.name)
                .iter()
                .filter(|word| {
                    word.len() >= 3 && !["and", "the", "for", "with"].contains(&word.as_str())
                })
                .any(|word| said.iter().any(|s| same_word(s, word)))
        };
        let tags: Vec<Value> = found
            .iter()
            .map(|tag| {
                json!({
                    "tag_id": tag.id.as_str(),
                    "name": tag.name,
                    "matched": if by_name(tag) { "by name" } else { "by meaning" },
                })
            })
            .collect();
        let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
        let understood = match names.as_slice() {
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            [] => String::new(),
        };
        let mut value = json!({"tags": tags, "understood_as": understood});
        if let Some(kind) = kind {
            value["type"] = json!(kind);
        }
        if !found.iter().all(by_name) {
            value["say_back"] = Value::from(format!(
                "A loose match, not the caller's own words: say what you understood (\"I took that as {understood}\") so they can correct you"
            ));
        }
        let learned = found
            .into_iter()
            .map(|tag| KnownTag {
                id: tag.id,
                name: tag.name,
                kind,
            })
            .collect();
        Ok(ToolSuccess {
            value,
            learned: Known::of_tags(learned),
            picks: Vec::new(),
        })
    }
}

/// One word said and one word of a tag's name are the same word, plurals
/// aside ("bars" and "bar", "comedies" and "comedy").
fn same_word(said: &str, name: &str) -> bool {
    singular(said) == singular(name)
}

fn singular(word: &str) -> std::borrow::Cow<'_, str> {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| s.len() > 1) {
        return format!("{stem}y").into();
    }
    if let Some(stem) = word.strip_suffix("es")
        && (stem.ends_with(['s', 'x', 'z']) || stem.ends_with("ch") || stem.ends_with("sh"))
    {
        return stem.into();
    }
    match word.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && stem.len() > 1 => stem.into(),
        _ => word.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_word;

    #[test]
    fn plurals_are_the_same_word() {
        for (a, b) in [
            ("bars", "bar"),
            ("comedies", "comedy"),
            ("lunches", "lunch"),
            ("boxes", "box"),
            ("cozy", "cozy"),
            ("glass", "glass"),
        ] {
            assert!(same_word(a, b), "{a} {b}");
            assert!(same_word(b, a), "{b} {a}");
        }
        assert!(!same_word("bass", "bas"));
        assert!(!same_word("pub", "pubs s"));
        assert!(!same_word("noir", "dark"));
    }
}
