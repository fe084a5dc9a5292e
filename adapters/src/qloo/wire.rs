//! Qloo's query strings and response shapes (`protocols.md` §3).
//!
//! Parameters are sent as a form-encoded query string (`:` as `%3A`, `,` as
//! `%2C`, space as `+`), lists comma-separated. Responses are read
//! leniently: every field but the id and name is optional, tags may be
//! objects or strings, scores may be `score` or `avg_score`.

use qloophone_domain::ports::{
    Entity, EntityKind, Explanation, FoundTag, Insights, InsightsQuery, Location, SearchQuery,
    SortBy, Tag, TagQuery,
};
use qloophone_domain::{EntityId, TagId};
use serde::Deserialize;
use serde_json::Value;

/// Qloo's URN for a kind of entity.
pub fn urn(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Artist => "urn:entity:artist",
        EntityKind::Book => "urn:entity:book",
        EntityKind::Brand => "urn:entity:brand",
        EntityKind::Destination => "urn:entity:destination",
        EntityKind::Locality => "urn:entity:locality",
        EntityKind::Movie => "urn:entity:movie",
        EntityKind::Person => "urn:entity:person",
        EntityKind::Place => "urn:entity:place",
        EntityKind::Podcast => "urn:entity:podcast",
        EntityKind::TvShow => "urn:entity:tv_show",
        EntityKind::VideoGame => "urn:entity:videogame",
    }
}

/// The kind a Qloo URN names, if it is one we know.
pub fn kind_of(name: &str) -> Option<EntityKind> {
    EntityKind::ALL.into_iter().find(|&kind| urn(kind) == name)
}

/// The query string of a search.
pub fn search_params(query: &SearchQuery) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("query", &query.text);
    if !query.types.is_empty() {
        let types: Vec<&str> = query.types.iter().copied().map(urn).collect();
        params.append_pair("types", &types.join(","));
    }
    params.append_pair("take", &query.take.to_string());
    params.finish()
}

/// The query string of a tag search: the caller's words, by meaning when
/// `semantic` (`feature.semantic_search`), narrowed to tags carried by
/// entities of the parent type.
pub fn tags_params(query: &TagQuery, semantic: bool) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("filter.query", &query.text);
    if semantic {
        params.append_pair("feature.semantic_search", "true");
    }
    if let Some(parent) = query.parent {
        params.append_pair("filter.parents.types", urn(parent));
    }
    params.append_pair("take", &query.take.to_string());
    params.finish()
}

fn tag_ids(ids: &[TagId]) -> String {
    ids.iter().map(TagId::as_str).collect::<Vec<_>>().join(",")
}

/// The query string of an insights query.
pub fn insights_params(query: &InsightsQuery) -> String {
    let mut params = url::form_urlencoded::Serializer::new(String::new());
    params.append_pair("filter.type", urn(query.filter_type));
    let ids = |ids: &[EntityId]| {
        ids.iter()
            .map(EntityId::as_str)
            .collect::<Vec<_>>()
            .join(",")
    };
    if !query.interest_entities.is_empty() {
        params.append_pair("signal.interests.entities", &ids(&query.interest_entities));
    }
    if !query.interest_tags.is_empty() {
        params.append_pair("signal.interests.tags", &tag_ids(&query.interest_tags));
        // Omitted, Qloo keeps only results carrying every tag signal
        // (protocols-2026 §6.3): several vibes mean any of them.
        if query.interest_tags.len() > 1 {
            params.append_pair("operator.signal.interests.tags", "union");
        }
    }
    match &query.location {
        Some(Location::Named(name)) => {
            params.append_pair("filter.location.query", name);
        }
        Some(Location::Locality(id)) => {
            params.append_pair("filter.location", id.as_str());
        }
        Some(Location::Point { lat, lon }) => {
            params.append_pair("filter.location", &format!("POINT({lon} {lat})"));
        }
        Some(Location::Area {
            west,
            south,
            east,
            north,
        }) => {
            let (w, s, e, n) = (west, south, east, north);
            params.append_pair(
                "filter.location",
                &format!("POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"),
            );
        }
        None => {}
    }
    if let Some(radius) = query.radius_m {
        params.append_pair("filter.location.radius", &radius.to_string());
    }
    if !query.tags.is_empty() {
        params.append_pair("filter.tags", &tag_ids(&query.tags));
        // Qloo's default is any of them; the caller describing one thing
        // ("cozy" and "Italian") means all of them.
        if query.tags.len() > 1 && !query.any_tag {
            params.append_pair("operator.filter.tags", "intersection");
        }
    }
    if !query.references_brand.is_empty() {
        params.append_pair("filter.references_brand", &query.references_brand.join(","));
    }
    if !query.exclude_entities.is_empty() {
        params.append_pair("filter.exclude.entities", &ids(&query.exclude_entities));
    }
    params.append_pair("take", &query.take.to_string());
    if let Some(sort) = query.sort_by {
        params.append_pair(
            "sort_by",
            match sort {
                SortBy::Affinity => "affinity",
                SortBy::Distance => "distance",
            },
        );
    }
    if query.explainability {
        params.append_pair("feature.explainability", "true");
    }
    params.finish()
}

#[derive(Deserialize)]
struct SearchBody {
    #[serde(default)]
    results: Vec<RawEntity>,
}

#[derive(Deserialize)]
struct InsightsBody {
    results: InsightsResults,
    #[serde(default)]
    query: Option<Value>,
}

#[derive(Deserialize)]
struct InsightsResults {
    #[serde(default)]
    entities: Vec<RawEntity>,
}

#[derive(Deserialize)]
struct RawEntity {
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(default)]
    popularity: Option<f64>,
    #[serde(default)]
    properties: Option<Value>,
    #[serde(default)]
    tags: Vec<Value>,
    #[serde(default)]
    query: Option<Value>,
    #[serde(default)]
    disambiguation: Option<String>,
}

/// A release year, given as a number or as text; anything outside 1000 to
/// 9999 is no year.
fn year(value: &Value) -> Option<u16> {
    let year = value
        .as_u64()
        .or_else(|| value.as_str().and_then(|text| text.trim().parse().ok()))?;
    u16::try_from(year)
        .ok()
        .filter(|year| (1000..=9999).contains(year))
}

/// A media entity's `disambiguation` reads "1999, Lana Wachowski, Lilly
/// Wachowski": the year, then the people Qloo names for it (directors,
/// authors, creators). Anything else (a place's address) names nobody.
/// At most eight names of at most 80 characters are kept.
fn credits(disambiguation: Option<&str>) -> (Option<u16>, Vec<String>) {
    let Some((first, rest)) = disambiguation.map(|d| d.split_once(',').unwrap_or((d, ""))) else {
        return (None, Vec::new());
    };
    let first = first.trim();
    let Some(year) = (first.len() == 4)
        .then(|| year(&Value::from(first)))
        .flatten()
    else {
        return (None, Vec::new());
    };
    let people = rest
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.chars().count() <= 80)
        .take(8)
        .map(str::to_owned)
        .collect();
    (Some(year), people)
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned).filter(|s| !s.is_empty())
}

impl RawEntity {
    fn into_entity(self) -> Option<Entity> {
        let id = EntityId::parse(self.entity_id.as_deref()?).ok()?;
        let name = self.name.filter(|n| !n.trim().is_empty())?;
        let kind = self
            .types
            .iter()
            .chain(&self.subtype)
            .chain(&self.kind)
            .find_map(|name| kind_of(name));
        let properties = self.properties.unwrap_or(Value::Null);
        let description = text(&properties["description"])
            .or_else(|| text(&properties["short_description"]))
            .or_else(|| text(&properties["short_descriptions"][0]["value"]));
        let query = self.query.unwrap_or(Value::Null);
        let explainability = query["explainability"]["signal.interests.entities"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| {
                        Some(Explanation {
                            entity_id: EntityId::parse(item["entity_id"].as_str()?).ok()?,
                            score: item["score"]
                                .as_f64()
                                .or_else(|| item["avg_score"].as_f64())?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let tags = self
            .tags
            .iter()
            .filter_map(|tag| match tag {
                Value::String(name) => Some(Tag {
                    id: name.clone(),
                    name: name.clone(),
                }),
                Value::Object(_) => {
                    let id = text(&tag["id"]).or_else(|| text(&tag["tag_id"]))?;
                    let name = text(&tag["name"])
                        .or_else(|| text(&tag["value"]))
                        .unwrap_or_else(|| id.clone());
                    Some(Tag { id, name })
                }
                _ => None,
            })
            .collect();
        let disambiguation = self.disambiguation.filter(|d| !d.is_empty());
        let (credited_year, people) = credits(disambiguation.as_deref());
        Some(Entity {
            id: Some(id),
            name,
            kind,
            popularity: self
                .popularity
                .or_else(|| properties["popularity"].as_f64()),
            affinity: query["affinity"].as_f64(),
            distance_m: query["distance"].as_f64(),
            tags,
            description,
            address: text(&properties["address"]),
            year: year(&properties["release_year"]).or(credited_year),
            people,
            disambiguation,
            explainability,
        })
    }
}

/// Reads a `/search` answer. Hits without an id or name are skipped.
///
/// # Errors
/// When the body is not a search answer.
pub fn parse_search(body: &[u8]) -> Result<Vec<Entity>, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    if !value.is_object() || !(value["results"].is_array() || value["results"].is_null()) {
        return Err(serde::de::Error::custom(
            "a search answer is an object with a results array",
        ));
    }
    let body: SearchBody = serde_json::from_value(value)?;
    Ok(body
        .results
        .into_iter()
        .filter_map(RawEntity::into_entity)
        .collect())
}

/// Reads a `/v2/insights` answer.
///
/// # Errors
/// When the body is not an insights answer.
pub fn parse_insights(body: &[u8]) -> Result<Insights, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    if !value["results"].is_object() {
        return Err(serde::de::Error::custom(
            "an insights answer has a results object",
        ));
    }
    let body: InsightsBody = serde_json::from_value(value)?;
    let query = body.query.unwrap_or(Value::Null);
    let locality = text(&query["localities"]["filter"][0]["name"])
        .or_else(|| text(&query["locality"]["filter"]["name"]));
    Ok(Insights {
        entities: body
            .results
            .entities
            .into_iter()
            .filter_map(RawEntity::into_entity)
            .collect(),
        locality,
    })
}

#[derive(Deserialize)]
struct TagsBody {
    results: TagsResults,
}

#[derive(Deserialize)]
struct TagsResults {
    #[serde(default)]
    tags: Vec<Value>,
}

/// Reads a `/v2/tags` answer: each tag's `id` (or `tag_id`, as insights
/// name them) and `name` (its id's last part when missing). When a tag
/// lists its `parents` and `parent` is not among them, it is left out:
/// semantic search answers something for every query.
///
/// # Errors
/// When the body is not a tags answer.
pub fn parse_tags(
    body: &[u8],
    parent: Option<EntityKind>,
) -> Result<Vec<FoundTag>, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    if !value["results"].is_object() {
        return Err(serde::de::Error::custom(
            "a tags answer has a results object",
        ));
    }
    let body: TagsBody = serde_json::from_value(value)?;
    Ok(body
        .results
        .tags
        .iter()
        .filter_map(|tag| {
            let id = text(&tag["id"]).or_else(|| text(&tag["tag_id"]))?;
            let id = TagId::parse(&id).ok()?;
            if let (Some(parent), Some(parents)) = (parent, tag["parents"].as_array())
                && !parents.iter().any(|p| p.as_str() == Some(urn(parent)))
            {
                return None;
            }
            let name = text(&tag["name"])
                .filter(|name| name.chars().count() <= 80)
                .unwrap_or_else(|| super::places::tag_name(id.as_str()));
            Some(FoundTag { id, name })
        })
        .collect())
}

/// The first error message of an error body, if any.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    text(&value["errors"][0]["message"])
        .or_else(|| text(&value["error"]["message"]))
        .or_else(|| text(&value["error"]))
        .or_else(|| text(&value["message"]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(text: &str) -> EntityId {
        EntityId::parse(text).unwrap()
    }

    fn tag(text: &str) -> TagId {
        TagId::parse(text).unwrap()
    }

    #[test]
    fn tag_searches_and_several_tags_are_written_in_qloos_terms() {
        let query = TagQuery {
            text: "cozy italian".into(),
            parent: Some(EntityKind::Place),
            take: 5,
        };
        assert_eq!(
            tags_params(&query, true),
            "filter.query=cozy+italian&feature.semantic_search=true&filter.parents.types=urn%3Aentity%3Aplace&take=5"
        );
        let bare = TagQuery {
            parent: None,
            ..query
        };
        assert_eq!(
            tags_params(&bare, false),
            "filter.query=cozy+italian&take=5"
        );
        let several = InsightsQuery {
            filter_type: EntityKind::Place,
            interest_tags: vec![tag("urn:tag:a"), tag("urn:tag:b")],
            tags: vec![tag("urn:tag:c"), tag("urn:tag:d")],
            take: 3,
            ..InsightsQuery::default()
        };
        assert_eq!(
            insights_params(&several),
            "filter.type=urn%3Aentity%3Aplace&signal.interests.tags=urn%3Atag%3Aa%2Curn%3Atag%3Ab\
             &operator.signal.interests.tags=union&filter.tags=urn%3Atag%3Ac%2Curn%3Atag%3Ad\
             &operator.filter.tags=intersection&take=3"
        );
        let any = InsightsQuery {
            any_tag: true,
            interest_tags: Vec::new(),
            ..several
        };
        assert_eq!(
            insights_params(&any),
            "filter.type=urn%3Aentity%3Aplace&filter.tags=urn%3Atag%3Ac%2Curn%3Atag%3Ad&take=3",
            "any one tag: Qloo's default operator"
        );
    }

    #[test]
    fn tag_answers_are_read_in_either_naming_and_checked_against_the_parent() {
        let body = json!({"success": true, "results": {"tags": [
            {"id": "urn:tag:genre:place:restaurant:italian", "name": "Italian", "type": "urn:tag:genre:place"},
            {"tag_id": "urn:tag:style:place:cozy"},
            {"id": "urn:tag:genre:media:noir", "name": "Noir", "parents": ["urn:entity:movie"]},
            {"id": "urn:tag:style:place:quiet", "name": "Quiet", "parents": ["urn:entity:place"]},
            {"name": "no id"},
            {"id": "has space", "name": "bad id"},
            7
        ]}, "duration": 31});
        let found = parse_tags(body.to_string().as_bytes(), Some(EntityKind::Place)).unwrap();
        let seen: Vec<(&str, &str)> = found
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("urn:tag:genre:place:restaurant:italian", "Italian"),
                ("urn:tag:style:place:cozy", "Cozy"),
                ("urn:tag:style:place:quiet", "Quiet"),
            ]
        );
        let any = parse_tags(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(any.len(), 4, "without a parent asked, none is left out");
        assert!(parse_tags(br#"{"results": []}"#, None).is_err());
        assert!(parse_tags(b"not json", None).is_err());
        assert!(
            parse_tags(br#"{"results": {}}"#, None).unwrap().is_empty(),
            "no tags is an empty answer"
        );
    }

    #[test]
    fn search_query_strings_are_form_encoded() {
        let query = SearchQuery {
            text: "Khruangbin & friends".into(),
            types: vec![EntityKind::Artist, EntityKind::Movie],
            take: 5,
        };
        assert_eq!(
            search_params(&query),
            "query=Khruangbin+%26+friends&types=urn%3Aentity%3Aartist%2Curn%3Aentity%3Amovie&take=5"
        );
        let bare = SearchQuery {
            text: "Austin".into(),
            types: vec![],
            take: 3,
        };
        assert_eq!(search_params(&bare), "query=Austin&take=3");
    }

    #[test]
    fn every_kind_has_its_own_urn_and_reads_back() {
        for kind in EntityKind::ALL {
            assert!(urn(kind).starts_with("urn:entity:"), "{kind:?}");
            assert_eq!(kind_of(urn(kind)), Some(kind));
        }
        assert_eq!(kind_of("urn:entity:music_album"), None);
        let entity = RawEntity {
            entity_id: Some("A1".into()),
            name: Some("Kind of Blue".into()),
            types: vec!["urn:entity:music_album".into(), "urn:entity:artist".into()],
            kind: None,
            subtype: None,
            popularity: None,
            properties: None,
            tags: vec![],
            query: None,
            disambiguation: None,
        };
        assert_eq!(
            entity.into_entity().unwrap().kind,
            Some(EntityKind::Artist),
            "the first type we know"
        );
    }

    #[test]
    fn locations_are_written_in_qloos_terms() {
        let with = |location| {
            insights_params(&InsightsQuery {
                filter_type: EntityKind::Place,
                location: Some(location),
                take: 1,
                ..InsightsQuery::default()
            })
        };
        assert_eq!(
            with(Location::Named("East Village".into())),
            "filter.type=urn%3Aentity%3Aplace&filter.location.query=East+Village&take=1"
        );
        assert_eq!(
            with(Location::Locality(id("L1"))),
            "filter.type=urn%3Aentity%3Aplace&filter.location=L1&take=1"
        );
        assert_eq!(
            with(Location::Area {
                west: -73.992,
                south: 40.721,
                east: -73.973,
                north: 40.733
            }),
            "filter.type=urn%3Aentity%3Aplace&filter.location=POLYGON%28%28-73.992+40.721%2C+-73.973+40.721%2C+\
             -73.973+40.733%2C+-73.992+40.733%2C+-73.992+40.721%29%29&take=1"
        );
    }

    #[test]
    fn insights_query_strings_carry_every_parameter_in_order() {
        let query = InsightsQuery {
            filter_type: EntityKind::Place,
            interest_entities: vec![id("A1"), id("B2")],
            interest_tags: vec![tag("urn:tag:x")],
            location: Some(Location::Point {
                lat: 30.2,
                lon: -97.7,
            }),
            radius_m: Some(2000),
            tags: vec![tag("urn:tag:category:place:bar")],
            any_tag: false,
            references_brand: vec!["BR1".into()],
            exclude_entities: vec![id("S1"), id("S2")],
            take: 8,
            sort_by: Some(SortBy::Distance),
            explainability: true,
        };
        assert_eq!(
            insights_params(&query),
            "filter.type=urn%3Aentity%3Aplace&signal.interests.entities=A1%2CB2&signal.interests.tags=urn%3Atag%3Ax\
             &filter.location=POINT%28-97.7+30.2%29&filter.location.radius=2000\
             &filter.tags=urn%3Atag%3Acategory%3Aplace%3Abar&filter.references_brand=BR1&filter.exclude.entities=S1%2CS2\
             &take=8&sort_by=distance&feature.explainability=true"
        );
        let minimal = InsightsQuery {
            filter_type: EntityKind::Movie,
            interest_entities: vec![id("A1")],
            take: 3,
            ..InsightsQuery::default()
        };
        assert_eq!(
            insights_params(&minimal),
            "filter.type=urn%3Aentity%3Amovie&signal.interests.entities=A1&take=3"
        );
    }

    #[test]
    fn release_years_are_numbers_or_text_and_nothing_else() {
        for (given, read) in [
            (json!(2022), Some(2022)),
            (json!(" 1968 "), Some(1968)),
            (json!(12), None),
            (json!(99_999), None),
            (json!("soon"), None),
            (json!(-5), None),
            (json!(null), None),
        ] {
            assert_eq!(year(&given), read, "{given}");
        }
    }

    #[test]
    fn a_media_disambiguation_gives_the_year_and_the_people() {
        let cases: [(Option<&str>, Option<u16>, &[&str]); 7] = [
            (
                Some("1999, Lana Wachowski, Lilly Wachowski"),
                Some(1999),
                &["Lana Wachowski", "Lilly Wachowski"],
            ),
            (Some("2003"), Some(2003), &[]),
            (
                Some("1965,  Frank Herbert , "),
                Some(1965),
                &["Frank Herbert"],
            ),
            (Some("310 W Willie Nelson Blvd, Austin"), None, &[]),
            (Some("Austin, Travis County, Texas"), None, &[]),
            (Some("12345, Someone"), None, &[]),
            (None, None, &[]),
        ];
        for (given, year, people) in cases {
            assert_eq!(
                credits(given),
                (year, people.iter().map(|&p| p.to_owned()).collect()),
                "{given:?}"
            );
        }
        let many = format!("2001, {}", vec!["A B"; 20].join(", "));
        assert_eq!(credits(Some(&many)).1.len(), 8, "a bounded list");
        let body = json!({"results": [
            {"entity_id": "M", "name": "The Matrix", "types": ["urn:entity:movie"],
             "disambiguation": "1999, Lana Wachowski, Lilly Wachowski"}
        ]});
        let matrix = &parse_search(body.to_string().as_bytes()).unwrap()[0];
        assert_eq!(
            matrix.year,
            Some(1999),
            "the year, when the properties have none"
        );
        assert_eq!(matrix.people, ["Lana Wachowski", "Lilly Wachowski"]);
    }

    #[test]
    fn search_answers_are_read_leniently() {
        let body = json!({"results": [
            {"name": "Khruangbin", "entity_id": "BAF6317A", "types": ["urn:entity:artist"], "popularity": 0.99,
             "properties": {"short_description": "American trio"},
             "tags": [{"id": "urn:tag:genre:music:psychedelic", "name": "Psychedelic"}, "plain", {"tag_id": "t2", "value": "Funk"}, 5]},
            {"name": "No id"},
            {"entity_id": "X", "name": " "},
            {"entity_id": "Y", "name": "Old shape", "type": "urn:entity:movie", "properties": {"release_year": "1999"}}
        ]});
        let entities = parse_search(body.to_string().as_bytes()).unwrap();
        assert_eq!(entities.len(), 2);
        let k = &entities[0];
        assert_eq!(k.kind, Some(EntityKind::Artist));
        assert_eq!(k.description.as_deref(), Some("American trio"));
        let tag_names: Vec<&str> = k.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tag_names, ["Psychedelic", "plain", "Funk"]);
        assert_eq!(entities[1].kind, Some(EntityKind::Movie));
        assert_eq!(entities[1].year, Some(1999), "a year given as text");
        assert_eq!(k.year, None);
        assert!(parse_search(b"[]").is_err());
        assert_eq!(parse_search(b"{}").unwrap(), vec![]);
    }

    #[test]
    fn insights_answers_carry_scores_distances_and_the_locality() {
        let body = json!({"success": true, "results": {"entities": [
            {"name": "Austin City Limits Live", "entity_id": "6CA681F6", "type": "urn:entity", "subtype": "urn:entity:place",
             "properties": {"address": "310 W Willie Nelson Blvd", "short_descriptions": [{"value": "Venue"}], "popularity": 0.9},
             "query": {"affinity": 0.86, "distance": 1234.5,
                       "explainability": {"signal.interests.entities": [{"entity_id": "BAF6317A", "score": 1}, {"entity_id": "C1", "avg_score": 0.4}, {"score": 1}]}}}
        ]}, "query": {"localities": {"filter": [{"entity_id": "C93C", "name": "Austin"}]}}});
        let insights = parse_insights(body.to_string().as_bytes()).unwrap();
        assert_eq!(insights.locality.as_deref(), Some("Austin"));
        let venue = &insights.entities[0];
        assert_eq!(venue.kind, Some(EntityKind::Place));
        assert_eq!(venue.affinity, Some(0.86));
        assert_eq!(venue.distance_m, Some(1234.5));
        assert_eq!(venue.popularity, Some(0.9));
        assert_eq!(venue.address.as_deref(), Some("310 W Willie Nelson Blvd"));
        assert_eq!(venue.description.as_deref(), Some("Venue"));
        assert_eq!(venue.explainability.len(), 2);
        assert_eq!(venue.explainability[1].score, 0.4);
        let old = json!({"results": {"entities": []}, "query": {"locality": {"filter": {"name": "Paris"}}}});
        assert_eq!(
            parse_insights(old.to_string().as_bytes())
                .unwrap()
                .locality
                .as_deref(),
            Some("Paris")
        );
        assert!(parse_insights(b"{\"results\": []}").is_err());
    }

    #[test]
    fn error_messages_are_found_in_any_shape() {
        assert_eq!(
            error_message(br#"{"errors":[{"message":"bad"}]}"#).as_deref(),
            Some("bad")
        );
        assert_eq!(
            error_message(br#"{"error":"nope"}"#).as_deref(),
            Some("nope")
        );
        assert_eq!(error_message(br#"{"message":"m"}"#).as_deref(), Some("m"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
