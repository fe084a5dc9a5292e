//! The taste tools the model calls: `search_entity`, `search_locality`,
//! `get_recommendation` and `get_fan_venues`, over the
//! [`TasteGraph`] port.
//!
//! Results are compact (the model pays for every token) and keep the
//! original service's shapes. Only entities searched in this call may be
//! used as inputs: the model cannot invent an id.
//!
//! One file per tool; what they share (inputs, listings, radii, errors) is
//! here.

mod fan_venues;
mod recommendation;
mod search_entity;
mod search_locality;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::ports::{Entity, EntityKind, Location, TasteError, TasteGraph};
use crate::tools::args::Args;
use crate::tools::{KnownEntity, Pick, ToolContext, ToolFailure, Toolbox};
use crate::types::EntityId;
use fan_venues::GetFanVenues;
use recommendation::GetRecommendation;
use search_entity::SearchEntity;
use search_locality::SearchLocality;

/// The four taste tools over `graph`.
pub fn taste_tools(graph: Arc<dyn TasteGraph>) -> Toolbox {
    Toolbox::new()
        .with(Arc::new(SearchEntity {
            graph: graph.clone(),
        }))
        .with(Arc::new(GetRecommendation {
            graph: graph.clone(),
        }))
        .with(Arc::new(SearchLocality {
            graph: graph.clone(),
        }))
        .with(Arc::new(GetFanVenues { graph }))
}

fn upstream(what: &str, error: &TasteError) -> ToolFailure {
    // One line per failure, with its cause and never the caller's words.
    let status = match error {
        TasteError::Upstream(status) => Some(*status),
        _ => None,
    };
    tracing::warn!(
        cause = error.kind(),
        status,
        "{what}: the taste graph did not answer"
    );
    ToolFailure::new(what).with(json!({ "details": error.to_string() }))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    match cut.rfind(' ') {
        Some(at) if at > max / 2 => format!("{}…", &cut[..at]),
        _ => format!("{cut}…"),
    }
}

fn known(entity: &Entity) -> Option<KnownEntity> {
    entity.id.clone().map(|id| KnownEntity {
        id,
        name: entity.name.clone(),
        kind: entity.kind,
        year: entity.year,
        people: entity.people.clone(),
        tags: entity.tags.clone(),
    })
}

/// The inputs named by `entity_ids`, all of which must be known.
fn inputs(args: &Args, context: &ToolContext) -> Result<Vec<KnownEntity>, ToolFailure> {
    let ids = args.ids("entity_ids")?.ok_or_else(|| {
        ToolFailure::new("Missing required argument \"entity_ids\"")
            .with(json!({"argument": "entity_ids", "suggestion": "Call search_entity first and pass the entity_id it returns"}))
    })?;
    ids.iter()
        .map(|id| {
            context
                .known
                .iter()
                .find(|entity| entity.id.as_str() == id)
                .cloned()
                .ok_or_else(|| {
                    ToolFailure::new(format!(
                        "Unknown entity id \"{id}\": search for it with search_entity first, then use the entity_id it returns"
                    ))
                    .with(json!({
                        "argument": "entity_ids",
                        "known_entity_ids": context.known.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                    }))
                })
        })
        .collect()
}

fn id_of(known: &KnownEntity) -> EntityId {
    known.id.clone()
}

/// What every listed entity shows: its name, its id and its first three
/// tags' names. Each tool adds its own scores and details.
/// What a text of the caller's picks says of `entity`, recommended as a
/// `kind`: what it is, then its year or where it is.
fn pick(entity: &Entity, kind: EntityKind) -> Pick {
    let what = match entity.kind.unwrap_or(kind) {
        EntityKind::Artist => "artist",
        EntityKind::Book => "book",
        EntityKind::Brand => "brand",
        EntityKind::Destination => "destination",
        EntityKind::Locality => "area",
        EntityKind::Movie => "film",
        EntityKind::Person => "person",
        EntityKind::Place => "place",
        EntityKind::Podcast => "podcast",
        EntityKind::TvShow => "TV show",
        EntityKind::VideoGame => "video game",
    };
    let line = match (entity.year, entity.address.as_deref()) {
        (_, Some(address)) if !address.trim().is_empty() => {
            format!("{what}, {}", short(address.trim(), 80))
        }
        (Some(year), _) => format!("{what}, {year}"),
        _ => what.to_owned(),
    };
    Pick {
        name: short(entity.name.trim(), 80),
        line,
    }
}

fn listing(entity: &Entity) -> Value {
    json!({
        "name": entity.name,
        "entity_id": entity.id.as_ref().map(EntityId::as_str),
        "tags": entity.tags.iter().take(3).map(|t| t.name.as_str()).collect::<Vec<_>>(),
    })
}

/// How far around a location to look, unless the caller said: a named
/// place 2 km, a point or a locality 5 km; an area is its own bound.
fn radius_around(location: &Location, asked: Option<u32>) -> Option<u32> {
    match location {
        Location::Area { .. } => None,
        Location::Named(_) => Some(asked.unwrap_or(2000)),
        Location::Point { .. } | Location::Locality(_) => Some(asked.unwrap_or(5000)),
    }
}

#[cfg(test)]
mod tests;
