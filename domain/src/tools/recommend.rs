//! The taste tools the model calls: `search_entity`, `search_locality`,
//! `get_recommendation` and `get_fan_venues`, over the
//! [`TasteGraph`] port.
//!
//! Results are compact (the model pays for every token) and keep the
//! original service's shapes. Only entities searched in this call may be
//! used as inputs: the model cannot invent an id.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::ports::TasteGraph;
use crate::ports::{Entity, Insights, InsightsQuery, Location, SearchQuery, SortBy, TasteError};
use crate::tools::args::Args;
use crate::tools::sequels::{franchise_repeats, is_likely_sequel, words};
use crate::tools::vocabulary::{
    OUTPUT_TYPES, SEARCH_TYPES, entity_type, infer_output_type, neighborhood, place_tag,
    taste_bridge, venue_words,
};
use crate::tools::{KnownEntity, Tool, ToolContext, ToolFailure, ToolSpec, ToolSuccess, Toolbox};
use crate::types::EntityId;

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

const LOCALITY: &str = "urn:entity:locality";
const PLACE: &str = "urn:entity:place";

fn upstream(what: &str, error: &TasteError) -> ToolFailure {
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
        kind: entity.kind.clone(),
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

/// `search_entity`
struct SearchEntity {
    graph: Arc<dyn TasteGraph>,
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
            .filter(|e| e.id.is_some() && kind.is_none_or(|k| e.kind == k))
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
        Ok(ToolSuccess {
            value: json!({"entity_id": entity.id.as_str(), "name": entity.name, "type": entity.kind}),
            learned: vec![entity],
        })
    }
}

/// `search_locality`
struct SearchLocality {
    graph: Arc<dyn TasteGraph>,
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
                types: vec![LOCALITY.to_owned()],
                take: 3,
            })
            .await
            .map_err(|err| upstream("Location search failed", &err))?;
        let Some(entity) = results
            .iter()
            .filter(|e| e.kind == LOCALITY)
            .find_map(known)
        else {
            return Err(ToolFailure::new("Location not found").with(
                json!({"suggestion": format!("Try a nearby city or a better-known name than \"{location}\"")}),
            ));
        };
        Ok(ToolSuccess {
            value: json!({"entity_id": entity.id.as_str(), "name": entity.name, "type": LOCALITY}),
            learned: vec![entity],
        })
    }
}

/// `get_recommendation`
struct GetRecommendation {
    graph: Arc<dyn TasteGraph>,
}

const FALLBACK_NOTE: &str = "Since video game recommendations aren't available, here are movies that match your gaming preferences";

#[async_trait]
impl Tool for GetRecommendation {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_recommendation".into(),
            description: "Recommend things that bridge the caller's tastes. Only pass entity_ids returned by search_entity in this call. \
                          For restaurants, bars, cafes or venues use output_type place with a location."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "entity_ids": {"type": "string", "description": "Comma-separated entity_ids from search_entity"},
                    "output_type": {"type": "string", "description": "What to recommend: movie, tv_show, artist, book, videogame, podcast, place, brand, destination"},
                    "location": {"type": "string", "description": "City or neighborhood, for places"},
                    "place_tags": {"type": "string", "description": "Kind of place, e.g. \"sushi\", \"coffee\", \"bar\""},
                    "latitude": {"type": "number"},
                    "longitude": {"type": "number"},
                    "radius": {"type": "number", "description": "Metres around the location"},
                    "take": {"type": "number", "description": "How many (default 3)"}
                },
                "required": ["entity_ids"]
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
        let output_type = match args.text("output_type", 40)? {
            None => infer_output_type(&inputs, wants_place),
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
            filter_type: output_type.to_owned(),
            interest_entities: inputs.iter().map(id_of).collect(),
            take: (take + 5).min(20),
            explainability: true,
            ..InsightsQuery::default()
        };
        if output_type == PLACE {
            let area = location
                .iter()
                .chain(place_tags.iter())
                .find_map(|text| neighborhood(text));
            if let Some((_, area)) = area {
                query.location = Some(area);
                query.sort_by = Some(SortBy::Affinity);
            } else if let Some(location) = &location {
                query.location = Some(Location::Named(location.clone()));
                query.radius_m = Some(radius.unwrap_or(2000));
                query.sort_by = Some(SortBy::Affinity);
            } else if let (Some(lat), Some(lon)) = (latitude, longitude) {
                query.location = Some(Location::Point { lat, lon });
                query.radius_m = Some(radius.unwrap_or(5000));
                query.sort_by = Some(SortBy::Distance);
            }
            if let Some(tag) = place_tags.as_deref().and_then(place_tag) {
                query.tags.push(tag.to_owned());
            }
        }

        let mut fallback_note = None;
        let found = match self.graph.insights(&query).await {
            Err(TasteError::Forbidden) if output_type == "urn:entity:videogame" => {
                query.filter_type = "urn:entity:movie".to_owned();
                fallback_note = Some(FALLBACK_NOTE);
                self.graph.insights(&query).await
            }
            other => other,
        }
        .map_err(|err| upstream("Recommendation failed", &err))?;
        let found = self.without_sequels(found, &inputs, &mut query).await;
        let picks: Vec<&Entity> = found.iter().take(take as usize).collect();
        let Some(top) = picks.first() else {
            return Err(ToolFailure::new("No recommendations found")
                .with(json!({"suggestion": "Try different inputs or a different output type"})));
        };
        let name_of = |id: &EntityId| inputs.iter().find(|e| &e.id == id).map(|e| e.name.clone());
        let bridge = taste_bridge(
            &top.explainability
                .iter()
                .filter_map(|x| name_of(&x.entity_id).map(|name| (name, x.score)))
                .collect::<Vec<_>>(),
        );
        let recommendations: Vec<Value> = picks
            .iter()
            .map(|entity| {
                let mut item = json!({
                    "name": entity.name,
                    "entity_id": entity.id.as_ref().map(EntityId::as_str),
                    "score": round2(entity.affinity.unwrap_or(0.0)),
                    "tags": entity.tags.iter().take(3).map(|t| t.name.as_str()).collect::<Vec<_>>(),
                });
                if let Some(description) = &entity.description {
                    item["description"] = Value::from(short(description, 160));
                }
                if let Some(address) = &entity.address {
                    item["address"] = Value::from(address.as_str());
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
            "output_type": query.filter_type,
        });
        if let Some(bridge) = bridge {
            value["taste_bridge"] = Value::from(bridge);
        }
        if let Some(note) = fallback_note {
            value["fallback_note"] = Value::from(note);
        }
        Ok(ToolSuccess {
            value,
            learned: Vec::new(),
        })
    }
}

impl GetRecommendation {
    /// Leaves out the inputs, their sequels and repeats of one franchise.
    /// When two of the top three are sequels, asks again excluding them.
    async fn without_sequels(
        &self,
        found: Insights,
        inputs: &[KnownEntity],
        query: &mut InsightsQuery,
    ) -> Vec<Entity> {
        let names: Vec<&str> = inputs.iter().map(|e| e.name.as_str()).collect();
        let sequels = |entities: &[Entity]| -> Vec<usize> {
            let titles: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
            let repeats = franchise_repeats(&titles);
            (0..entities.len())
                .filter(|&i| {
                    let entity = &entities[i];
                    entity
                        .id
                        .as_ref()
                        .is_some_and(|id| inputs.iter().any(|e| &e.id == id))
                        || is_likely_sequel(&entity.name, names.iter().copied())
                        || repeats.contains(&i)
                })
                .collect()
        };
        let mut entities = found.entities;
        let flagged = sequels(&entities);
        if flagged.iter().filter(|&&i| i < 3).count() >= 2 {
            query.exclude_entities = flagged
                .iter()
                .filter_map(|&i| entities[i].id.clone())
                .collect();
            match self.graph.insights(query).await {
                Ok(again) if !again.entities.is_empty() => entities = again.entities,
                Ok(_) => {}
                Err(err) => tracing::debug!(error = %err, "refetch without sequels failed"),
            }
        }
        let flagged = sequels(&entities);
        entities
            .into_iter()
            .enumerate()
            .filter(|(i, entity)| !flagged.contains(i) && entity.id.is_some())
            .map(|(_, entity)| entity)
            .collect()
    }
}

/// `get_fan_venues`
struct GetFanVenues {
    graph: Arc<dyn TasteGraph>,
}

#[async_trait]
impl Tool for GetFanVenues {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "get_fan_venues".into(),
            description: "Places in an area where fans of the given entities go: bars, cafes, restaurants, venues, or a brand's locations."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "entity_ids": {"type": "string", "description": "Comma-separated entity_ids from search_entity"},
                    "location": {"type": "string", "description": "City or neighborhood"},
                    "locality_id": {"type": "string", "description": "An entity_id from search_locality"},
                    "venue_type": {"type": "string", "description": "e.g. bar, coffee, restaurant, sushi, music, a brand such as Starbucks, or all"},
                    "radius": {"type": "number", "description": "Metres"},
                    "take": {"type": "number", "description": "How many (default 5)"}
                },
                "required": ["entity_ids"]
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
                    .iter()
                    .find(|e| e.id.as_str() == id && e.kind == LOCALITY)
                    .cloned()
                    .ok_or_else(|| {
                        ToolFailure::new(format!(
                            "Unknown locality_id \"{id}\": call search_locality first and use the entity_id it returns"
                        ))
                        .with(json!({"argument": "locality_id"}))
                    })?,
            ),
        };
        if location.is_none() && locality.is_none() {
            return Err(ToolFailure::new("Either location or locality_id is required")
                .with(json!({"argument": "location", "suggestion": "Ask the caller which city or neighborhood"})));
        }
        let venue_type = args.text("venue_type", 60)?;
        let radius = args.count("radius", 100, 50_000)?;
        let take = args.count("take", 1, 10)?.unwrap_or(5);
        let mut query = InsightsQuery {
            filter_type: PLACE.to_owned(),
            interest_entities: inputs.iter().map(id_of).collect(),
            take,
            sort_by: Some(SortBy::Affinity),
            explainability: true,
            ..InsightsQuery::default()
        };
        match &locality {
            Some(locality) => {
                query.location = Some(Location::Locality(locality.id.clone()));
                query.radius_m = Some(radius.unwrap_or(5000));
            }
            None => {
                query.location = location.clone().map(Location::Named);
                query.radius_m = Some(radius.unwrap_or(2000));
            }
        }
        let label = match venue_type.as_deref() {
            None | Some("all") => "places".to_owned(),
            Some(venue) => {
                if let Some(tag) = place_tag(venue) {
                    query.tags.push(tag.to_owned());
                } else {
                    let brands = self
                        .graph
                        .search(&SearchQuery {
                            text: venue.to_owned(),
                            types: vec!["urn:entity:brand".to_owned()],
                            take: 1,
                        })
                        .await
                        .map_err(|err| upstream("Venue search failed", &err))?;
                    let Some(brand) = brands
                        .iter()
                        .find(|b| b.kind == "urn:entity:brand")
                        .and_then(|b| b.id.clone())
                    else {
                        return Err(ToolFailure::new(format!("Invalid argument \"venue_type\": unknown venue type \"{venue}\""))
                            .with(json!({"argument": "venue_type", "valid": venue_words(), "also": "a brand name such as Starbucks"})));
                    };
                    query.references_brand.push(brand.as_str().to_owned());
                }
                plural(venue)
            }
        };
        let found = self
            .graph
            .insights(&query)
            .await
            .map_err(|err| upstream("Venue search failed", &err))?;
        let fan = inputs
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(" and ");
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
                json!({
                    "name": e.name,
                    "entity_id": e.id.as_ref().map(EntityId::as_str),
                    "address": e.address,
                    "distance_m": e.distance_m.map(f64::round),
                    "tags": e.tags.iter().take(3).map(|t| t.name.as_str()).collect::<Vec<_>>(),
                    "score": (e.affinity.unwrap_or(0.0) * 100.0).round(),
                })
            })
            .collect();
        let summary = format!(
            "Found {} {label} in {searched} where {fan} fans go",
            venues.len()
        );
        Ok(ToolSuccess {
            value: json!({
                "fan_entity": fan,
                "venue_type": venue_type.unwrap_or_else(|| "all".to_owned()),
                "location_searched": searched,
                "venues": venues,
                "summary": summary,
            }),
            learned: Vec::new(),
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

#[cfg(test)]
mod tests;
