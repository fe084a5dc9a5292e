//! The taste tools the model calls: `search_entity`, `search_tags`,
//! `search_locality`, `get_recommendation` and `get_fan_venues`, over the
//! [`TasteGraph`] port.
//!
//! Results are compact (the model pays for every token) and keep the
//! original service's shapes. Only entities and tags searched in this call
//! may be used as inputs: the model cannot invent an id.
//!
//! One file per tool; what they share (inputs, listings, radii, errors) is
//! here.

mod fan_venues;
mod recommendation;
mod search_entity;
mod search_locality;
mod search_tags;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::ports::{Entity, EntityKind, Insights, InsightsQuery, Location, TasteError, TasteGraph};
use crate::tools::args::Args;
use crate::tools::{KnownEntity, KnownTag, Pick, ToolContext, ToolFailure, Toolbox};
use crate::types::EntityId;
use fan_venues::GetFanVenues;
use recommendation::GetRecommendation;
use search_entity::SearchEntity;
use search_locality::SearchLocality;
use search_tags::SearchTags;

/// The five taste tools over `graph`.
pub fn taste_tools(graph: Arc<dyn TasteGraph>) -> Toolbox {
    Toolbox::new()
        .with(Arc::new(SearchEntity {
            graph: graph.clone(),
        }))
        .with(Arc::new(SearchTags {
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
        description: entity.description.clone(),
    })
}

/// What a recommendation starts from: the entities named by `entity_ids`
/// and the tags named by `tag_ids`, every one known in this call, and at
/// least one of either.
struct Inputs {
    entities: Vec<KnownEntity>,
    tags: Vec<KnownTag>,
}

impl Inputs {
    /// The tags' names, for saying what was asked ("Cozy and Italian").
    fn tag_names(&self) -> Option<String> {
        let names: Vec<&str> = self.tags.iter().map(|t| t.name.as_str()).collect();
        match names.as_slice() {
            [] => None,
            [one] => Some((*one).to_owned()),
            [rest @ .., last] => Some(format!("{} and {last}", rest.join(", "))),
        }
    }
}

fn inputs(args: &Args, context: &ToolContext) -> Result<Inputs, ToolFailure> {
    let entity_ids = args.ids("entity_ids")?;
    let tag_ids = args.tag_ids("tag_ids")?;
    if entity_ids.is_none() && tag_ids.is_none() {
        return Err(ToolFailure::new("Missing required argument \"entity_ids\"")
            .with(json!({"argument": "entity_ids", "suggestion": "Call search_entity for what the caller named (or search_tags for a vibe such as cozy or upbeat) first and pass the ids it returns"})));
    }
    let known = &context.known;
    let entities = entity_ids
        .unwrap_or_default()
        .iter()
        .map(|id| {
            known.entity(id).cloned().ok_or_else(|| {
                let message = if known.tag(id).is_some() {
                    format!("\"{id}\" is a tag, not an entity: pass it in tag_ids")
                } else {
                    format!(
                        "Unknown entity id \"{id}\": search for it with search_entity first, then use the entity_id it returns"
                    )
                };
                ToolFailure::new(message).with(json!({
                    "argument": "entity_ids",
                    "known_entity_ids": known.entities.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
                }))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tags = tag_ids
        .unwrap_or_default()
        .iter()
        .map(|id| {
            known.tag(id).cloned().ok_or_else(|| {
                ToolFailure::new(format!(
                    "Unknown tag id \"{id}\": search for the caller's words with search_tags first, then use the tag_id it returns"
                ))
                .with(json!({
                    "argument": "tag_ids",
                    "known_tag_ids": known.tags.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
                }))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Inputs { entities, tags })
}

/// Said when no result carried every tag asked for and these carry one.
const ANY_TAG_NOTE: &str =
    "Nothing was all of those at once; these have at least one of them. Say so.";

/// When results must carry several tags and none carries them all, asks
/// once more for any one of them (and says so: the `bool`).
async fn any_tag_if_none(
    graph: &dyn TasteGraph,
    found: Insights,
    query: &mut InsightsQuery,
    what: &str,
) -> Result<(Insights, bool), ToolFailure> {
    if !found.entities.is_empty() || query.tags.len() < 2 {
        return Ok((found, false));
    }
    query.any_tag = true;
    let again = graph
        .insights(query)
        .await
        .map_err(|err| upstream(what, &err))?;
    let widened = !again.entities.is_empty();
    Ok((again, widened))
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
