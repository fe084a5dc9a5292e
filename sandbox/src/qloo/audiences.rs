//! `GET /v2/audiences`: Qloo's audience ids by parent type (or a partial
//! name), as protocols-2026 §6.2 describes them. The shape is in
//! conflict between sources, so the simulator answers in either: by
//! default `results.audiences[]` `{id, name, type}` (the docs assistant's
//! and hackathon clients' reading), with [`Fault::AudiencesAsEntities`]
//! `results.entities[]` `{entity_id, name, type}` (the TypeScript SDK's);
//! with [`Fault::AudiencesGone`] it answers 410, as a deprecated endpoint
//! may.
//!
//! [`Fault::AudiencesAsEntities`]: super::Fault::AudiencesAsEntities
//! [`Fault::AudiencesGone`]: super::Fault::AudiencesGone

use std::collections::HashMap;

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use super::{error, fold, reply, take};

/// The audiences it knows: (category, name).
const AUDIENCES: &[(&str, &str)] = &[
    ("communities", "lgbtq"),
    ("communities", "gamers"),
    ("hobbies_and_interests", "foodies"),
    ("hobbies_and_interests", "fitness"),
    ("hobbies_and_interests", "jazz_lovers"),
    ("hobbies_and_interests", "travel"),
    ("life_stage", "parents"),
    ("life_stage", "college_students"),
    ("lifestyle_preferences_beliefs", "sustainability"),
    ("professional_area", "tech"),
];

/// How the answer is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `results.audiences[]` with `id`.
    Audiences,
    /// `results.entities[]` with `entity_id`.
    Entities,
}

/// `GET /v2/audiences`.
pub(super) fn audiences(params: &HashMap<String, String>, shape: Shape) -> Response {
    let parents: Vec<String> = super::list(params, "filter.parents.types");
    let query = params
        .get("filter.query")
        .map(|q| fold(q).replace(' ', "_"));
    let found: Vec<Value> = AUDIENCES
        .iter()
        .filter(|(category, _)| {
            parents.is_empty()
                || parents
                    .iter()
                    .any(|p| p == &format!("urn:audience:{category}"))
        })
        .filter(|(_, name)| query.as_ref().is_none_or(|q| name.contains(q.as_str())))
        .take(take(params, 20))
        .map(|(category, name)| {
            let id = format!("urn:audience:{category}:{name}");
            let words = super::title_case(name, '_');
            let kind = format!("urn:audience:{category}");
            match shape {
                Shape::Audiences => json!({"id": id, "name": words, "type": kind}),
                Shape::Entities => json!({"entity_id": id, "name": words, "type": kind}),
            }
        })
        .collect();
    let key = match shape {
        Shape::Audiences => "audiences",
        Shape::Entities => "entities",
    };
    reply(
        StatusCode::OK,
        &json!({"success": true, "results": {key: found}, "duration": 4}),
    )
}

/// The answer a deprecated endpoint may give.
pub(super) fn gone() -> Response {
    error(StatusCode::GONE, "This endpoint is deprecated")
}
