//! `GET /v2/tags`: tags by the words of a caller, as Qloo's tag search
//! answers them (protocols-2026 §6.1): `filter.query` (partial names),
//! `feature.semantic_search` (by meaning: here, a small table of words
//! that mean a tag's word), `filter.parents.types` (entity types whose
//! entities carry the tag), `take`. The tags are the catalogue's own: the
//! taste words of its entities (`urn:tag:keyword:qloo:<word>`) and the
//! category and cuisine of its places. An unknown vibe gets an empty list,
//! unless the request was told to be loose ([`Fault::LooseTags`]), which
//! is what real semantic search does: it always returns something.
//!
//! [`Fault::LooseTags`]: super::Fault::LooseTags

use std::collections::HashMap;

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Catalogue, SimEntity, error, fold, reply, take, title_case};

/// Words that mean a tag's word, for semantic search: (said, tag word).
const MEANINGS: &[(&str, &str)] = &[
    ("cosy", "cozy"),
    ("snug", "cozy"),
    ("warm", "cozy"),
    ("upbeat", "funk"),
    ("groovy", "funk"),
    ("danceable", "funk"),
    ("trippy", "psychedelic"),
    ("spacey", "psychedelic"),
    ("futuristic", "sci-fi"),
    ("science fiction", "sci-fi"),
    ("scary", "horror"),
    ("creepy", "horror"),
    ("funny", "comedy"),
    ("dark comedy", "comedy"),
    ("thoughtful", "philosophical"),
    ("deep", "philosophical"),
    ("moody", "noir"),
    ("dark", "noir"),
    ("romantic", "romance"),
    ("calm", "quiet"),
    ("chill", "quiet"),
    ("mellow", "quiet"),
    ("pasta", "italian"),
    ("trattoria", "italian"),
    ("noodles", "japanese"),
    ("late night", "late-night"),
    ("open late", "late-night"),
    ("drinks", "bar"),
    ("cocktail", "cocktail_bar"),
    ("live music", "live_music_venue"),
    ("coffee", "cafe"),
];

/// One tag of the catalogue.
struct SimTag {
    id: String,
    /// Its word, as the caller would say it ("late night").
    word: String,
    kind: String,
    /// The entity types whose entities carry it.
    parents: Vec<String>,
}

/// Every tag the catalogue's entities carry, with the types carrying it.
fn every_tag(catalogue: &Catalogue) -> Vec<SimTag> {
    let mut tags: Vec<SimTag> = Vec::new();
    let mut add = |id: String, entity: &SimEntity| {
        if let Some(tag) = tags.iter_mut().find(|t| t.id == id) {
            if !tag.parents.contains(&entity.kind) {
                tag.parents.push(entity.kind.clone());
            }
            return;
        }
        let (kind, word) = id.rsplit_once(':').unwrap_or(("urn:tag", id.as_str()));
        tags.push(SimTag {
            word: word.replace(['-', '_'], " "),
            kind: kind.to_owned(),
            parents: vec![entity.kind.clone()],
            id,
        });
    };
    for entity in catalogue.entities() {
        for word in &entity.tags {
            add(format!("urn:tag:keyword:qloo:{word}"), entity);
        }
        for id in &entity.place_tags {
            add(id.clone(), entity);
        }
    }
    tags
}

/// `GET /v2/tags`; `loose`: answer with something even when nothing
/// matches.
pub(super) fn tags(
    catalogue: &Catalogue,
    params: &HashMap<String, String>,
    loose: bool,
) -> Response {
    let Some(query) = params.get("filter.query").map(|q| fold(q)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "filter.query or filter.tag.types is required",
        );
    };
    let semantic = params
        .get("feature.semantic_search")
        .is_some_and(|v| v == "true");
    let parents = super::list(params, "filter.parents.types");
    let all = every_tag(catalogue);
    let candidates: Vec<&SimTag> = all
        .iter()
        .filter(|tag| parents.is_empty() || tag.parents.iter().any(|p| parents.contains(p)))
        .collect();
    // The words the query says, and with semantic search, what they mean.
    let mut wanted: Vec<String> = Vec::new();
    if semantic {
        for (said, word) in MEANINGS {
            if query.contains(said) && !wanted.iter().any(|w| w == word) {
                wanted.push((*word).replace(['-', '_'], " "));
            }
        }
    }
    let mut found: Vec<&SimTag> = Vec::new();
    for tag in &candidates {
        let named = query == tag.word
            || query.split(' ').any(|word| word == tag.word)
            || (tag.word.contains(' ') && query.contains(&tag.word))
            || (query.len() >= 3 && tag.word.starts_with(&query));
        if named || wanted.contains(&tag.word) {
            found.push(tag);
        }
    }
    if found.is_empty() && loose {
        // Real semantic search: the nearest thing it has, however far.
        found.extend(candidates.iter().take(2));
    }
    // Names matched before meanings, then by name.
    found.sort_by(|a, b| {
        let exact = |t: &SimTag| !query.split(' ').any(|w| w == t.word);
        exact(a).cmp(&exact(b)).then_with(|| a.word.cmp(&b.word))
    });
    let results: Vec<Value> = found
        .iter()
        .take(take(params, 10))
        .map(|tag| json!({"id": tag.id, "name": title_case(&tag.word, ' '), "type": tag.kind}))
        .collect();
    reply(
        StatusCode::OK,
        &json!({"success": true, "results": {"tags": results}, "duration": 3}),
    )
}
