//! `get_fan_venues`: places in an area where fans of the inputs go, by
//! venue kind or by brand.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{ANY_TAG_NOTE, any_tag_if_none, id_of, inputs, listing, radius_around, upstream};
use crate::ports::{EntityKind, InsightsQuery, Location, SearchQuery, SortBy, TasteGraph};
use crate::tools::args::Args;
use crate::tools::{Known, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess};

/// `get_fan_venues`
pub(super) struct GetFanVenues {
    pub(super) graph: Arc<dyn TasteGraph>,
}

#[async_trait]
impl Tool for GetFanVenues {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_fan_venues".into(),
            description: "Places in an area where fans of the given entities go (bars, cafes, restaurants, venues, or a brand's locations), \
                          or places with the vibe of the given tags; either or both."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "entity_ids": {"type": "string", "description": "Comma-separated entity_ids from search_entity"},
                    "tag_ids": {"type": "string", "description": "Comma-separated tag_ids from search_tags: the vibe, e.g. cozy, Italian"},
                    "location": {"type": "string", "description": "City or neighborhood"},
                    "locality_id": {"type": "string", "description": "An entity_id from search_locality"},
                    "venue_type": {"type": "string", "description": "e.g. bar, coffee, restaurant, sushi, music, a brand such as Starbucks, or all"},
                    "radius": {"type": "number", "description": "Metres"},
                    "take": {"type": "number", "description": "How many (default 5)"}
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
        let locality = match args.text("locality_id", 100)? {
            None => None,
            Some(id) => Some(
                context
                    .known
                    .entity(&id)
                    .filter(|e| e.kind == Some(EntityKind::Locality))
                    .cloned()
                    .ok_or_else(|| {
                        ToolFailure::new(format!(
                            "Unknown locality_id \"{id}\": call search_locality first and use the entity_id it returns"
                        ))
                        .with(json!({"argument": "locality_id"}))
                    })?,
            ),
        };
        let area = match (&locality, &location) {
            (Some(locality), _) => Location::Locality(locality.id.clone()),
            (None, Some(location)) => Location::Named(location.clone()),
            (None, None) => {
                return Err(ToolFailure::new("Either location or locality_id is required")
                    .with(json!({"argument": "location", "suggestion": "Ask the caller which city or neighborhood"})));
            }
        };
        let venue_type = args.text("venue_type", 60)?;
        let radius = args.count("radius", 100, 50_000)?;
        let take = args.count("take", 1, 10)?.unwrap_or(5);
        let mut query = InsightsQuery {
            filter_type: EntityKind::Place,
            interest_entities: inputs.entities.iter().map(id_of).collect(),
            tags: inputs.tags.iter().map(|t| t.id.clone()).collect(),
            take,
            sort_by: Some(SortBy::Affinity),
            explainability: true,
            ..InsightsQuery::default()
        };
        query.radius_m = radius_around(&area, radius);
        query.location = Some(area);
        let label = match venue_type.as_deref() {
            None | Some("all") => "places".to_owned(),
            Some(venue) => {
                if let Some(tag) = self.graph.place_kind(venue) {
                    if !query.tags.contains(&tag.id) {
                        query.tags.push(tag.id);
                    }
                } else {
                    let brands = self
                        .graph
                        .search(&SearchQuery {
                            text: venue.to_owned(),
                            types: vec![EntityKind::Brand],
                            take: 1,
                        })
                        .await
                        .map_err(|err| upstream("Venue search failed", &err))?;
                    let Some(brand) = brands
                        .iter()
                        .find(|b| b.kind == Some(EntityKind::Brand))
                        .and_then(|b| b.id.clone())
                    else {
                        return Err(ToolFailure::new(format!("Invalid argument \"venue_type\": unknown venue type \"{venue}\""))
                            .with(json!({"argument": "venue_type", "suggestion": "A kind of place such as bar, coffee, restaurant, sushi or music; a brand such as Starbucks; or all. For a vibe (cozy, lively) use search_tags and pass tag_ids"})));
                    };
                    query.references_brand.push(brand.as_str().to_owned());
                }
                plural(venue)
            }
        };
        if inputs.entities.is_empty() {
            // Tags alone: they are the taste signal as well as the filter.
            query.interest_tags.clone_from(&query.tags);
        }
        let found = self
            .graph
            .insights(&query)
            .await
            .map_err(|err| upstream("Venue search failed", &err))?;
        let (found, any_tag) = any_tag_if_none(
            self.graph.as_ref(),
            found,
            &mut query,
            "Venue search failed",
        )
        .await?;
        let fan = inputs
            .entities
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(" and ");
        let vibe = inputs.tag_names();
        let searched = found
            .locality
            .clone()
            .or_else(|| locality.as_ref().map(|l| l.name.clone()))
            .or(location)
            .unwrap_or_default();
        if found.entities.is_empty() {
            return Err(
                ToolFailure::new(format!("No {label} found in this area")).with(json!({
                    "fan_entity": fan,
                    "location_searched": searched,
                    "suggestion": "Try a wider radius, a nearby area, or venue_type all",
                })),
            );
        }
        let venues: Vec<Value> = found
            .entities
            .iter()
            .filter(|e| e.id.is_some())
            .map(|e| {
                let mut venue = listing(e);
                venue["address"] = json!(e.address);
                venue["distance_m"] = json!(e.distance_m.map(f64::round));
                venue["score"] = json!((e.affinity.unwrap_or(0.0) * 100.0).round());
                venue
            })
            .collect();
        let summary = match (&vibe, fan.is_empty()) {
            (Some(vibe), true) => format!("Found {} {label} in {searched}: {vibe}", venues.len()),
            (Some(vibe), false) => format!(
                "Found {} {label} in {searched} where {fan} fans go: {vibe}",
                venues.len()
            ),
            (None, _) => format!(
                "Found {} {label} in {searched} where {fan} fans go",
                venues.len()
            ),
        };
        let mut value = json!({
            "fan_entity": fan,
            "venue_type": venue_type.unwrap_or_else(|| "all".to_owned()),
            "location_searched": searched,
            "venues": venues,
            "summary": summary,
        });
        if let Some(vibe) = vibe {
            value["vibe"] = Value::from(vibe);
        }
        if any_tag {
            value["tag_note"] = Value::from(ANY_TAG_NOTE);
        }
        Ok(ToolSuccess {
            value,
            learned: Known::default(),
            picks: found
                .entities
                .iter()
                .filter(|e| e.id.is_some())
                .map(|e| super::pick(e, EntityKind::Place))
                .collect(),
        })
    }
}

fn plural(word: &str) -> String {
    let word = word.trim().to_lowercase();
    if word.ends_with('s') {
        word
    } else if word.ends_with('h') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}
