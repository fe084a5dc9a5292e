//! `search_entity`: a title or name as the caller said it, to an entity id
//! the other tools accept.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{known, upstream};
use crate::ports::{Entity, SearchQuery, TasteGraph};
use crate::tools::args::Args;
use crate::tools::sequels::words;
use crate::tools::vocabulary::{SEARCH_TYPES, entity_type};
use crate::tools::{Known, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess};

/// `search_entity`
pub(super) struct SearchEntity {
    pub(super) graph: Arc<dyn TasteGraph>,
}

#[async_trait]
impl Tool for SearchEntity {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_entity".into(),
            description: "Find a film, artist, book, TV show, video game, podcast, place or brand by name. \
                          Call it for every title the caller names before recommending; use the entity_id it returns."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "The name as the caller said it, e.g. \"The Matrix\""},
                    "type": {"type": "string", "description": "What it is, when clear: movie, artist, book, tv_show, videogame, podcast, place, brand"}
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
        let query = args.required_text("query", 200)?;
        let kind = match args.text("type", 40)? {
            None => None,
            Some(word) => Some(entity_type(&word).ok_or_else(|| {
                ToolFailure::new(format!(
                    "Invalid argument \"type\": unknown type \"{word}\""
                ))
                .with(json!({"argument": "type", "valid": SEARCH_TYPES}))
            })?),
        };
        let results = self
            .graph
            .search(&SearchQuery {
                text: query.clone(),
                types: kind.map(|k| vec![k.to_owned()]).unwrap_or_default(),
                take: 5,
            })
            .await
            .map_err(|err| upstream("Search failed", &err))?;
        let wanted = words(&query);
        let candidates: Vec<&Entity> = results
            .iter()
            .filter(|e| e.id.is_some() && kind.is_none_or(|k| e.kind == Some(k)))
            .collect();
        let best = candidates
            .iter()
            .find(|e| words(&e.name) == wanted)
            .or_else(|| candidates.first())
            .copied();
        let Some(entity) = best.and_then(known) else {
            let suggestion = format!("Try a different spelling or related term for \"{query}\"");
            return Err(
                ToolFailure::new("No results found").with(json!({ "suggestion": suggestion }))
            );
        };
        let mut value =
            json!({"entity_id": entity.id.as_str(), "name": entity.name, "type": entity.kind});
        if let Some(year) = best.and_then(|e| e.year) {
            // "Dune (2021)", not the 1984 one: the model can say which.
            value["year"] = Value::from(year);
        }
        Ok(ToolSuccess {
            value,
            learned: Known::of_entities(vec![entity]),
            picks: Vec::new(),
        })
    }
}
