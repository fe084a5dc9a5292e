//! `search_locality`: a city or neighbourhood, to a locality id for
//! `get_fan_venues`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{known, upstream};
use crate::ports::{EntityKind, SearchQuery, TasteGraph};
use crate::tools::args::Args;
use crate::tools::{Known, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess};

/// `search_locality`
pub(super) struct SearchLocality {
    pub(super) graph: Arc<dyn TasteGraph>,
}

#[async_trait]
impl Tool for SearchLocality {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "search_locality".into(),
            description: "Find a city or neighborhood; returns its entity_id for get_fan_venues."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"location": {"type": "string", "description": "City or neighborhood, e.g. \"Austin\""}},
                "required": ["location"]
            }),
        }
    }

    async fn run(
        &self,
        arguments: Map<String, Value>,
        _context: &ToolContext,
    ) -> Result<ToolSuccess, ToolFailure> {
        let location = Args::new(arguments).required_text("location", 100)?;
        let results = self
            .graph
            .search(&SearchQuery {
                text: location.clone(),
                types: vec![EntityKind::Locality],
                take: 3,
            })
            .await
            .map_err(|err| upstream("Location search failed", &err))?;
        let Some(entity) = results
            .iter()
            .filter(|e| e.kind == Some(EntityKind::Locality))
            .find_map(known)
        else {
            return Err(ToolFailure::new("Location not found").with(
                json!({"suggestion": format!("Try a nearby city or a better-known name than \"{location}\"")}),
            ));
        };
        Ok(ToolSuccess {
            value: json!({"entity_id": entity.id.as_str(), "name": entity.name, "type": EntityKind::Locality}),
            learned: Known::of_entities(vec![entity]),
            picks: Vec::new(),
        })
    }
}
