//! The taste graph: [`TasteGraph`] and its vocabulary, entities, queries
//! and errors. The Qloo adapter maps them to and from its query strings and
//! JSON.

use async_trait::async_trait;

use crate::types::{EntityId, TagId};

/// A tag on an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// The tag id, e.g. `urn:tag:genre:music:psychedelic`.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// What an entity is. Its [`name`](Self::name) is how the tools name it to
/// the model (the names the original service used, which are also Qloo's
/// URNs); the taste graph's adapter has its own mapping to the graph's
/// vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EntityKind {
    /// A musician or band.
    Artist,
    /// A book.
    Book,
    /// A brand (chains, labels).
    Brand,
    /// A travel destination.
    Destination,
    /// A city or neighbourhood.
    Locality,
    /// A film: what is recommended when nothing says otherwise.
    #[default]
    Movie,
    /// A person (actor, director, author).
    Person,
    /// A venue: restaurant, bar, café, shop.
    Place,
    /// A podcast.
    Podcast,
    /// A TV show.
    TvShow,
    /// A video game.
    VideoGame,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [Self; 11] = [
        Self::Artist,
        Self::Book,
        Self::Brand,
        Self::Destination,
        Self::Locality,
        Self::Movie,
        Self::Person,
        Self::Place,
        Self::Podcast,
        Self::TvShow,
        Self::VideoGame,
    ];

    /// The name the tools use for this kind, e.g. `urn:entity:movie`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Artist => "urn:entity:artist",
            Self::Book => "urn:entity:book",
            Self::Brand => "urn:entity:brand",
            Self::Destination => "urn:entity:destination",
            Self::Locality => "urn:entity:locality",
            Self::Movie => "urn:entity:movie",
            Self::Person => "urn:entity:person",
            Self::Place => "urn:entity:place",
            Self::Podcast => "urn:entity:podcast",
            Self::TvShow => "urn:entity:tv_show",
            Self::VideoGame => "urn:entity:videogame",
        }
    }

    /// The kind a tool name names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for EntityKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Where to look for places. The taste graph's adapter writes it in the
/// graph's own terms (a named-place query, an entity id, WKT).
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    /// A place by its name, resolved by the graph ("Austin").
    Named(String),
    /// A locality entity found earlier.
    Locality(EntityId),
    /// A point.
    Point {
        /// Latitude, degrees.
        lat: f64,
        /// Longitude, degrees.
        lon: f64,
    },
    /// A rectangle (a neighbourhood), in degrees.
    Area {
        /// Western edge (longitude).
        west: f64,
        /// Southern edge (latitude).
        south: f64,
        /// Eastern edge (longitude).
        east: f64,
        /// Northern edge (latitude).
        north: f64,
    },
}

/// How strongly a result relates to one of the input entities.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The input entity.
    pub entity_id: EntityId,
    /// Normalised score, 0 to 1.
    pub score: f64,
}

/// An entity in the taste graph: a film, artist, place, locality…
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entity {
    /// Its id.
    pub id: Option<EntityId>,
    /// Its name.
    pub name: String,
    /// What it is, when the graph said and we know the kind.
    pub kind: Option<EntityKind>,
    /// Popularity percentile, 0 to 1.
    pub popularity: Option<f64>,
    /// Affinity to the query's signals, 0 to 1.
    pub affinity: Option<f64>,
    /// Distance from the query's location, in metres.
    pub distance_m: Option<f64>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// A short description.
    pub description: Option<String>,
    /// Street address (places).
    pub address: Option<String>,
    /// Disambiguation text (year and director, or address).
    pub disambiguation: Option<String>,
    /// The year it came out (films, shows, books, games), as the graph
    /// says it: what tells a sequel from an earlier work of the same name.
    pub year: Option<u16>,
    /// The people the graph names for it: directors, authors, creators.
    pub people: Vec<String>,
    /// Per-input explanations.
    pub explainability: Vec<Explanation>,
}

/// A search by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The words searched for.
    pub text: String,
    /// Kinds to restrict to (empty: any).
    pub types: Vec<EntityKind>,
    /// How many results.
    pub take: u32,
}

/// A tag search: the caller's words for what they feel like ("cozy
/// Italian", "upbeat").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagQuery {
    /// The words.
    pub text: String,
    /// The kind of thing the tags should describe, when the caller said.
    pub parent: Option<EntityKind>,
    /// How many tags.
    pub take: u32,
}

/// A tag the graph found for some words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTag {
    /// Its id, for recommendations.
    pub id: TagId,
    /// Its name ("Italian").
    pub name: String,
}

/// How insights results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// By affinity to the signals.
    Affinity,
    /// By distance from the location filter.
    Distance,
}

/// A recommendation query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InsightsQuery {
    /// The kind of entity wanted.
    pub filter_type: EntityKind,
    /// Entities whose fans' tastes drive the results.
    pub interest_entities: Vec<EntityId>,
    /// Tags that drive the results (any of them).
    pub interest_tags: Vec<TagId>,
    /// Where results must be.
    pub location: Option<Location>,
    /// Radius around the location, in metres.
    pub radius_m: Option<u32>,
    /// Tags results must carry: every one of them, unless `any_tag`.
    pub tags: Vec<TagId>,
    /// Whether a result carrying any one of `tags` will do.
    pub any_tag: bool,
    /// Brands the places must reference.
    pub references_brand: Vec<String>,
    /// Entities to leave out.
    pub exclude_entities: Vec<EntityId>,
    /// How many results.
    pub take: u32,
    /// The order.
    pub sort_by: Option<SortBy>,
    /// Whether to ask for per-result explanations.
    pub explainability: bool,
}

/// What an insights query found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Insights {
    /// The entities, best first.
    pub entities: Vec<Entity>,
    /// The locality the location filter resolved to, when it named one.
    pub locality: Option<String>,
}

/// Why the taste graph could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TasteError {
    /// It did not answer in time.
    #[error("the taste graph timed out")]
    Timeout,
    /// It has been failing, so it is not asked for a few seconds.
    #[error("the taste graph is failing; not asking it for a few seconds")]
    Unavailable,
    /// Too many requests, even after retrying.
    #[error("the taste graph is rate limiting us")]
    RateLimited,
    /// The key was refused.
    #[error("the taste graph refused our key")]
    Unauthorized,
    /// This kind of request is not allowed for our key.
    #[error("the taste graph does not allow this request")]
    Forbidden,
    /// The request was rejected as malformed.
    #[error("the taste graph rejected the request: {0}")]
    BadRequest(String),
    /// The service failed.
    #[error("the taste graph failed with status {0}")]
    Upstream(u16),
    /// The answer could not be understood.
    #[error("the taste graph sent an answer we could not read: {0}")]
    BadResponse(String),
    /// The service could not be reached.
    #[error("the taste graph could not be reached: {0}")]
    Unreachable(String),
}

impl TasteError {
    /// What kind of failure, without the details a peer wrote (which may
    /// echo what the caller asked for): safe to log.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unavailable => "breaker_open",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::BadRequest(_) => "bad_request",
            Self::Upstream(_) => "upstream_error",
            Self::BadResponse(_) => "bad_response",
            Self::Unreachable(_) => "unreachable",
        }
    }
}

/// The taste graph: entities and recommendations.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TasteGraph: Send + Sync {
    /// Finds entities by name.
    ///
    /// # Errors
    /// [`TasteError`] when the graph cannot answer.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Entity>, TasteError>;

    /// Asks for entities with affinity to signals, under filters.
    ///
    /// # Errors
    /// [`TasteError`] when the graph cannot answer.
    async fn insights(&self, query: &InsightsQuery) -> Result<Insights, TasteError>;

    /// Finds tags by what the caller's words mean, best first (empty when
    /// nothing does).
    ///
    /// # Errors
    /// [`TasteError`] when the graph cannot answer.
    async fn search_tags(&self, query: &TagQuery) -> Result<Vec<FoundTag>, TasteError>;

    /// The graph's tag for a kind of place the caller named ("sushi",
    /// "cocktail bar", "coffee"), when it has a well-known one: answered
    /// from what the graph's adapter knows, without asking the graph.
    fn place_kind(&self, words: &str) -> Option<FoundTag>;
}

#[cfg(test)]
mod tests {
    use super::EntityKind;

    #[test]
    fn every_kind_has_its_own_name_and_reads_back() {
        for kind in EntityKind::ALL {
            assert_eq!(EntityKind::from_name(kind.name()), Some(kind));
            assert_eq!(kind.to_string(), kind.name());
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.name())
            );
        }
        assert_eq!(EntityKind::from_name("urn:entity:music_album"), None);
    }
}
