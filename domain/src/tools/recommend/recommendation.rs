//! `get_recommendation`: what bridges the caller's tastes, without the
//! inputs, their sequels or one franchise twice, with a taste-bridge line.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{
    ANY_TAG_NOTE, any_tag_if_none, id_of, inputs, listing, radius_around, round2, short, upstream,
};
use crate::ports::{
    Entity, EntityKind, Insights, InsightsQuery, Location, SortBy, TasteError, TasteGraph,
};
use crate::tools::args::Args;
use crate::tools::sequels::{Work, franchise_repeats, is_likely_sequel};
use crate::tools::vocabulary::{
    OUTPUT_TYPES, entity_type, infer_output_type, neighborhood, taste_bridge,
};
use crate::tools::{Known, KnownEntity, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess};
use crate::types::EntityId;

/// `get_recommendation`
pub(super) struct GetRecommendation {
    pub(super) graph: Arc<dyn TasteGraph>,
}

pub(super) const FALLBACK_NOTE: &str = "Since video game recommendations aren't available, here are movies that match your gaming preferences";

#[async_trait]
impl Tool for GetRecommendation {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_recommendation".into(),
            description: "Recommend things that bridge the caller's tastes. Only pass entity_ids returned by search_entity \
                          and tag_ids returned by search_tags in this call; either or both. \
                          For restaurants, bars, cafes or venues use output_type place with a location."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "entity_ids": {"type": "string", "description": "Comma-separated entity_ids from search_entity"},
                    "tag_ids": {"type": "string", "description": "Comma-separated tag_ids from search_tags: the vibe, e.g. cozy, Italian"},
                    "output_type": {"type": "string", "description": "What to recommend: movie, tv_show, artist, book, videogame, podcast, place, brand, destination"},
                    "location": {"type": "string", "description": "City or neighborhood, for places"},
                    "place_tags": {"type": "string", "description": "Kind of place, e.g. \"sushi\", \"coffee\", \"bar\""},
                    "latitude": {"type": "number"},
                    "longitude": {"type": "number"},
                    "radius": {"type": "number", "description": "Metres around the location"},
                    "take": {"type": "number", "description": "How many (default 3)"}
                }
            }),
        }
    }

    async fn run(
        &self,
        arguments: Map<String, Value>,
        context: &ToolContext,
    ) -> Result<ToolSuccess, ToolFailure> {
        let args = Args::new(arguments);
        let inputs = inputs(&args, context)?;
        let location = args.text("location", 100)?;
        let place_tags = args.text("place_tags", 100)?;
        let latitude = args.number("latitude", -90.0, 90.0)?;
        let longitude = args.number("longitude", -180.0, 180.0)?;
        if latitude.is_some() != longitude.is_some() {
            return Err(
                ToolFailure::new("Invalid arguments: latitude and longitude go together").with(
                    json!({"argument": if latitude.is_some() { "longitude" } else { "latitude" }}),
                ),
            );
        }
        let radius = args.count("radius", 100, 50_000)?;
        let take = args.count("take", 1, 10)?.unwrap_or(3);
        let wants_place = location.is_some() || latitude.is_some() || place_tags.is_some();
        let kinds: Vec<EntityKind> = inputs
            .entities
            .iter()
            .filter_map(|e| e.kind)
            .chain(inputs.tags.iter().filter_map(|t| t.kind))
            .collect();
        let output_type = match args.text("output_type", 40)? {
            None => infer_output_type(&kinds, wants_place),
            Some(word) => match entity_type(&word) {
                Some(urn) if OUTPUT_TYPES.contains(&urn) => urn,
                _ => {
                    return Err(ToolFailure::new(format!(
                        "Invalid argument \"output_type\": cannot recommend \"{word}\""
                    ))
                    .with(json!({"argument": "output_type", "valid": OUTPUT_TYPES})));
                }
            },
        };
        let mut query = InsightsQuery {
            filter_type: output_type,
            interest_entities: inputs.entities.iter().map(id_of).collect(),
            take: (take + 5).min(20),
            explainability: true,
            ..InsightsQuery::default()
        };
        // Tags narrow what fans of the entities like; alone they are also
        // the taste signal (a signal the graph cannot connect to the type
        // is inert, so they filter too: protocols-2026 §6.4).
        query.tags = inputs.tags.iter().map(|t| t.id.clone()).collect();
        if inputs.entities.is_empty() {
            query.interest_tags.clone_from(&query.tags);
        }
        if output_type == EntityKind::Place {
            let area = location
                .iter()
                .chain(place_tags.iter())
                .find_map(|text| neighborhood(text));
            let (place, sort) = if let Some((_, area)) = area {
                (Some(area), SortBy::Affinity)
            } else if let Some(location) = &location {
                (Some(Location::Named(location.clone())), SortBy::Affinity)
            } else if let (Some(lat), Some(lon)) = (latitude, longitude) {
                (Some(Location::Point { lat, lon }), SortBy::Distance)
            } else {
                (None, SortBy::Affinity)
            };
            if let Some(place) = place {
                query.radius_m = radius_around(&place, radius);
                query.location = Some(place);
                query.sort_by = Some(sort);
            }
            if let Some(tag) = place_tags
                .as_deref()
                .and_then(|words| self.graph.place_kind(words))
                && !query.tags.contains(&tag.id)
            {
                query.tags.push(tag.id);
            }
        }

        let mut fallback_note = None;
        let found = match self.graph.insights(&query).await {
            Err(TasteError::Forbidden) if output_type == EntityKind::VideoGame => {
                query.filter_type = EntityKind::Movie;
                fallback_note = Some(FALLBACK_NOTE);
                self.graph.insights(&query).await
            }
            other => other,
        }
        .map_err(|err| upstream("Recommendation failed", &err))?;
        let (found, any_tag) = any_tag_if_none(
            self.graph.as_ref(),
            found,
            &mut query,
            "Recommendation failed",
        )
        .await?;
        let (found, filtered) = self
            .without_sequels(found, &inputs.entities, &mut query, take as usize)
            .await;
        let picks: Vec<&Entity> = found.iter().take(take as usize).collect();
        let Some(top) = picks.first() else {
            let suggestion = if inputs.tags.is_empty() {
                "Try different inputs or a different output type"
            } else {
                "Try fewer or other words for the vibe, a different output type, or a title the caller loves"
            };
            return Err(ToolFailure::new("No recommendations found")
                .with(json!({"suggestion": suggestion})));
        };
        let name_of = |id: &EntityId| {
            inputs
                .entities
                .iter()
                .find(|e| &e.id == id)
                .map(|e| e.name.clone())
        };
        let bridge = taste_bridge(
            &top.explainability
                .iter()
                .filter_map(|x| name_of(&x.entity_id).map(|name| (name, x.score)))
                .collect::<Vec<_>>(),
        );
        let recommendations: Vec<Value> = picks
            .iter()
            .map(|entity| {
                let mut item = listing(entity);
                item["score"] = Value::from(round2(entity.affinity.unwrap_or(0.0)));
                if let Some(description) = &entity.description {
                    item["description"] = Value::from(short(description, 160));
                }
                if let Some(address) = &entity.address {
                    item["address"] = Value::from(address.as_str());
                }
                if let Some(year) = entity.year {
                    item["year"] = Value::from(year);
                }
                if let Some(distance) = entity.distance_m {
                    item["distance_m"] = Value::from(distance.round());
                }
                let explained: Vec<Value> = entity
                    .explainability
                    .iter()
                    .map(|x| json!({"entity_id": x.entity_id.as_str(), "name": name_of(&x.entity_id), "score": round2(x.score)}))
                    .collect();
                if !explained.is_empty() {
                    item["explainability"] = Value::from(explained);
                }
                item
            })
            .collect();
        let mut value = json!({
            "recommendations": recommendations,
            "top_pick": {"name": top.name, "entity_id": top.id.as_ref().map(EntityId::as_str)},
            "count": picks.len(),
            "filtered": filtered,
            "output_type": query.filter_type,
        });
        if let Some(bridge) = bridge {
            value["taste_bridge"] = Value::from(bridge);
        }
        if let Some(names) = inputs.tag_names() {
            value["vibe"] = Value::from(names);
        }
        if any_tag {
            value["tag_note"] = Value::from(ANY_TAG_NOTE);
        }
        if inert(&query, &picks) {
            value["tag_note"] = Value::from(
                "These are popular picks, not ranked by the vibe: the taste graph could not connect it to this kind of thing. Say so, or ask for a title the caller loves.",
            );
        }
        if let Some(note) = fallback_note {
            value["fallback_note"] = Value::from(note);
        }
        Ok(ToolSuccess {
            value,
            learned: Known::default(),
            picks: picks
                .iter()
                .map(|entity| super::pick(entity, query.filter_type))
                .collect(),
        })
    }
}

/// Whether tags were the only taste signal and the graph gave every pick
/// the same affinity: its sign that it could not use them
/// (protocols-2026 §6.4).
fn inert(query: &InsightsQuery, picks: &[&Entity]) -> bool {
    let affinities: Vec<Option<f64>> = picks.iter().map(|e| e.affinity).collect();
    query.interest_entities.is_empty()
        && !query.interest_tags.is_empty()
        && affinities.len() > 1
        && affinities[0].is_some()
        && affinities.iter().all(|a| *a == affinities[0])
}

impl GetRecommendation {
    /// Leaves out the inputs, their sequels and repeats of one franchise.
    /// When that leaves fewer than `wanted`, asks once more excluding what
    /// was dropped (the Qloo client's deadline bounds the extra request,
    /// and its failure keeps what the first answer gave). Returns the
    /// entities kept and how many distinct ones were left out.
    async fn without_sequels(
        &self,
        found: Insights,
        inputs: &[KnownEntity],
        query: &mut InsightsQuery,
        wanted: usize,
    ) -> (Vec<Entity>, usize) {
        let named: Vec<Work<'_>> = inputs.iter().map(Work::known).collect();
        let sequels = |entities: &[Entity]| -> Vec<usize> {
            let works: Vec<Work<'_>> = entities.iter().map(Work::of).collect();
            let repeats = franchise_repeats(&works);
            (0..entities.len())
                .filter(|&i| {
                    let entity = &entities[i];
                    entity
                        .id
                        .as_ref()
                        .is_some_and(|id| inputs.iter().any(|e| &e.id == id))
                        || is_likely_sequel(&works[i], &named)
                        || repeats.contains(&i)
                })
                .collect()
        };
        let split = |entities: Vec<Entity>, dropped: &mut Vec<EntityId>| -> Vec<Entity> {
            let flagged = sequels(&entities);
            entities
                .into_iter()
                .enumerate()
                .filter_map(|(i, entity)| {
                    if flagged.contains(&i) {
                        if let Some(id) = &entity.id
                            && !dropped.contains(id)
                        {
                            dropped.push(id.clone());
                        }
                        None
                    } else {
                        entity.id.is_some().then_some(entity)
                    }
                })
                .collect()
        };
        let mut dropped = Vec::new();
        let kept = split(found.entities, &mut dropped);
        if kept.len() >= wanted || dropped.is_empty() {
            return (kept, dropped.len());
        }
        query.exclude_entities.clone_from(&dropped);
        match self.graph.insights(query).await {
            Ok(again) => {
                let refetched = split(again.entities, &mut dropped);
                let kept = if refetched.len() > kept.len() {
                    refetched
                } else {
                    kept
                };
                (kept, dropped.len())
            }
            Err(err) => {
                tracing::debug!(error = %err, "refetch without sequels failed");
                (kept, dropped.len())
            }
        }
    }
}
