//! The words callers use and the kinds of entity, and the small
//! decisions between them: which entity type a word means, which type of
//! recommendation to make, where a neighborhood is, and how to say why a
//! pick bridges two tastes. (Which of the graph's tags a kind of place is
//! lives with the graph: [`TasteGraph::place_kind`].)
//!
//! [`TasteGraph::place_kind`]: crate::ports::TasteGraph::place_kind

use crate::ports::{EntityKind, Location};

/// Entity types the taste graph can recommend (`filter.type`).
pub const OUTPUT_TYPES: &[EntityKind] = &[
    EntityKind::Artist,
    EntityKind::Book,
    EntityKind::Brand,
    EntityKind::Destination,
    EntityKind::Movie,
    EntityKind::Person,
    EntityKind::Place,
    EntityKind::Podcast,
    EntityKind::TvShow,
    EntityKind::VideoGame,
];

/// Entity types a search may be narrowed to.
pub const SEARCH_TYPES: &[EntityKind] = &EntityKind::ALL;

/// Media types, in the order preferred when inputs are mixed.
const MEDIA_TYPES: &[EntityKind] = &[
    EntityKind::Movie,
    EntityKind::TvShow,
    EntityKind::Artist,
    EntityKind::Book,
    EntityKind::Podcast,
    EntityKind::VideoGame,
];

/// A caller's word for a type, and the kind it means.
const TYPE_WORDS: &[(&str, EntityKind)] = &[
    ("movie", EntityKind::Movie),
    ("movies", EntityKind::Movie),
    ("film", EntityKind::Movie),
    ("films", EntityKind::Movie),
    ("cinema", EntityKind::Movie),
    ("artist", EntityKind::Artist),
    ("artists", EntityKind::Artist),
    ("band", EntityKind::Artist),
    ("bands", EntityKind::Artist),
    ("music", EntityKind::Artist),
    ("musician", EntityKind::Artist),
    ("singer", EntityKind::Artist),
    ("song", EntityKind::Artist),
    ("songs", EntityKind::Artist),
    ("album", EntityKind::Artist),
    ("albums", EntityKind::Artist),
    ("music_album", EntityKind::Artist),
    ("book", EntityKind::Book),
    ("books", EntityKind::Book),
    ("novel", EntityKind::Book),
    ("author", EntityKind::Book),
    ("show", EntityKind::TvShow),
    ("shows", EntityKind::TvShow),
    ("series", EntityKind::TvShow),
    ("tv", EntityKind::TvShow),
    ("tv_show", EntityKind::TvShow),
    ("tvshow", EntityKind::TvShow),
    ("television", EntityKind::TvShow),
    ("game", EntityKind::VideoGame),
    ("games", EntityKind::VideoGame),
    ("videogame", EntityKind::VideoGame),
    ("video_game", EntityKind::VideoGame),
    ("podcast", EntityKind::Podcast),
    ("podcasts", EntityKind::Podcast),
    ("brand", EntityKind::Brand),
    ("brands", EntityKind::Brand),
    ("place", EntityKind::Place),
    ("places", EntityKind::Place),
    ("restaurant", EntityKind::Place),
    ("restaurants", EntityKind::Place),
    ("cafe", EntityKind::Place),
    ("coffee", EntityKind::Place),
    ("bar", EntityKind::Place),
    ("bars", EntityKind::Place),
    ("venue", EntityKind::Place),
    ("food", EntityKind::Place),
    ("museum", EntityKind::Place),
    ("destination", EntityKind::Destination),
    ("travel", EntityKind::Destination),
    ("trip", EntityKind::Destination),
    ("person", EntityKind::Person),
    ("people", EntityKind::Person),
    ("actor", EntityKind::Person),
    ("director", EntityKind::Person),
    ("city", EntityKind::Locality),
    ("neighborhood", EntityKind::Locality),
    ("neighbourhood", EntityKind::Locality),
    ("locality", EntityKind::Locality),
];

/// The kind a caller's word or a kind's name means, if any.
///
/// `"urn:entity:restaurant"` is read as the word `restaurant`.
pub fn entity_type(word: &str) -> Option<EntityKind> {
    let word = word.trim().to_ascii_lowercase();
    if let Some(kind) = EntityKind::from_name(&word) {
        return Some(kind);
    }
    let bare = word.strip_prefix("urn:entity:").unwrap_or(&word);
    let bare = bare.replace([' ', '-'], "_");
    TYPE_WORDS
        .iter()
        .find(|(w, _)| *w == bare)
        .map(|(_, kind)| *kind)
}

/// What a recommendation should be when the model did not say, from the
/// kinds of its inputs (entities' kinds, then the kinds tags were searched
/// for).
pub fn infer_output_type(kinds: &[EntityKind], wants_place: bool) -> EntityKind {
    if wants_place {
        return EntityKind::Place;
    }
    let types: Vec<EntityKind> = kinds
        .iter()
        .copied()
        .filter(|kind| OUTPUT_TYPES.contains(kind))
        .collect();
    let Some(&first) = types.first() else {
        return EntityKind::Movie;
    };
    if types.iter().all(|&kind| kind == first) {
        return first;
    }
    MEDIA_TYPES
        .iter()
        .find(|kind| types.contains(kind))
        .copied()
        .unwrap_or(EntityKind::Movie)
}

/// Neighborhoods known by shape: name, then west, south, east, north.
const NEIGHBORHOODS: &[(&str, [f64; 4])] = &[
    ("soho", [-74.0060, 40.7190, -73.9970, 40.7280]),
    ("tribeca", [-74.0140, 40.7150, -74.0030, 40.7250]),
    ("east village", [-73.9920, 40.7210, -73.9730, 40.7330]),
    ("west village", [-74.0100, 40.7290, -73.9990, 40.7400]),
    ("chelsea", [-74.0080, 40.7380, -73.9920, 40.7520]),
    ("midtown", [-73.9950, 40.7500, -73.9650, 40.7650]),
    ("williamsburg", [-73.9720, 40.7020, -73.9370, 40.7230]),
    ("dumbo", [-73.9920, 40.6990, -73.9830, 40.7060]),
];

/// A known neighborhood named in `text`: its name and its area.
pub fn neighborhood(text: &str) -> Option<(&'static str, Location)> {
    let text = text.to_ascii_lowercase();
    NEIGHBORHOODS.iter().find_map(|(name, [w, s, e, n])| {
        let found = text.match_indices(name).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + name.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        });
        found.then_some((
            *name,
            Location::Area {
                west: *w,
                south: *s,
                east: *e,
                north: *n,
            },
        ))
    })
}

/// Why a recommendation fits, from its per-input scores (name, score).
pub fn taste_bridge(scores: &[(String, f64)]) -> Option<String> {
    let mut scores: Vec<&(String, f64)> = scores.iter().collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    match scores.as_slice() {
        [] => None,
        [(name, score)] => Some(format!(
            "Strong match for {name} fans ({:.0}% affinity)",
            score * 100.0
        )),
        [(a, p), (b, s), ..] => Some(if *p > 0.8 && *s > 0.7 {
            format!("Perfect blend of {a} and {b} elements")
        } else if *p > 1.5 * s {
            format!("Especially great for {a} fans, with elements of {b}")
        } else {
            format!("Bridges {a} and {b} preferences equally")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(kind: &str) -> EntityKind {
        EntityKind::from_name(kind).unwrap()
    }

    #[test]
    fn caller_words_map_to_types() {
        for (word, urn) in [
            ("movie", Some("urn:entity:movie")),
            ("Film", Some("urn:entity:movie")),
            ("band", Some("urn:entity:artist")),
            ("music", Some("urn:entity:artist")),
            ("urn:entity:music_album", Some("urn:entity:artist")),
            ("restaurant", Some("urn:entity:place")),
            ("urn:entity:restaurant", Some("urn:entity:place")),
            ("TV show", Some("urn:entity:tv_show")),
            ("video-game", Some("urn:entity:videogame")),
            ("urn:entity:tv_show", Some("urn:entity:tv_show")),
            ("city", Some("urn:entity:locality")),
            ("podcast", Some("urn:entity:podcast")),
            ("spaceship", None),
            ("", None),
        ] {
            assert_eq!(entity_type(word).map(EntityKind::name), urn, "{word}");
        }
    }

    #[test]
    fn output_type_inference() {
        assert_eq!(infer_output_type(&[], false).name(), "urn:entity:movie");
        assert_eq!(
            infer_output_type(&[known("urn:entity:movie")], true).name(),
            "urn:entity:place"
        );
        assert_eq!(
            infer_output_type(
                &[known("urn:entity:artist"), known("urn:entity:artist")],
                false
            )
            .name(),
            "urn:entity:artist"
        );
        assert_eq!(
            infer_output_type(
                &[known("urn:entity:artist"), known("urn:entity:movie")],
                false
            )
            .name(),
            "urn:entity:movie",
            "mixed media: the first media type in preference order"
        );
        assert_eq!(
            infer_output_type(
                &[known("urn:entity:book"), known("urn:entity:podcast")],
                false
            )
            .name(),
            "urn:entity:book"
        );
        assert_eq!(
            infer_output_type(
                &[known("urn:entity:place"), known("urn:entity:brand")],
                false
            )
            .name(),
            "urn:entity:movie"
        );
        assert_eq!(
            infer_output_type(&[known("urn:entity:locality")], false).name(),
            "urn:entity:movie",
            "a locality is not a recommendable type"
        );
    }

    #[test]
    fn neighborhoods_are_found_as_whole_words() {
        let (name, area) = neighborhood("bars in the East Village please").unwrap();
        assert_eq!(name, "east village");
        assert_eq!(
            area,
            Location::Area {
                west: -73.992,
                south: 40.721,
                east: -73.973,
                north: 40.733
            }
        );
        assert_eq!(neighborhood("Williamsburg").unwrap().0, "williamsburg");
        assert!(neighborhood("sohonia").is_none());
        assert!(neighborhood("Austin").is_none());
    }

    #[test]
    fn taste_bridges_say_how_the_tastes_meet() {
        let s = |pairs: &[(&str, f64)]| -> Option<String> {
            taste_bridge(
                &pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), *v))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(s(&[]), None);
        assert_eq!(
            s(&[("The Matrix", 0.87)]).as_deref(),
            Some("Strong match for The Matrix fans (87% affinity)")
        );
        assert_eq!(
            s(&[("Khruangbin", 0.75), ("The Matrix", 0.9)]).as_deref(),
            Some("Perfect blend of The Matrix and Khruangbin elements")
        );
        assert_eq!(
            s(&[("The Matrix", 0.9), ("Khruangbin", 0.4)]).as_deref(),
            Some("Especially great for The Matrix fans, with elements of Khruangbin")
        );
        assert_eq!(
            s(&[("The Matrix", 0.6), ("Khruangbin", 0.5)]).as_deref(),
            Some("Bridges The Matrix and Khruangbin preferences equally")
        );
    }
}
