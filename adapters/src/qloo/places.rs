//! Qloo's tags for the kinds of place callers name ("sushi", "a coffee
//! shop", "cocktail bars"): a small table at the Qloo edge, so the most
//! common venue words cost no tag search. Anything else goes through
//! `/v2/tags`.

use qloophone_domain::TagId;
use qloophone_domain::ports::FoundTag;

/// A place word, its tag, and its priority (more specific wins).
const PLACE_TAGS: &[(&str, &str, u8)] = &[
    ("coffee", "urn:tag:category:place:coffee_shop", 1),
    ("coffee_shop", "urn:tag:category:place:coffee_shop", 1),
    ("espresso", "urn:tag:category:place:espresso_bar", 2),
    ("cafe", "urn:tag:category:place:cafe", 1),
    ("restaurant", "urn:tag:category:place:restaurant", 0),
    ("food", "urn:tag:category:place:restaurant", 0),
    ("dinner", "urn:tag:category:place:restaurant", 0),
    ("bar", "urn:tag:category:place:bar", 1),
    ("drinks", "urn:tag:category:place:bar", 1),
    ("cocktail", "urn:tag:category:place:cocktail_bar", 2),
    ("pub", "urn:tag:category:place:pub", 1),
    ("museum", "urn:tag:category:place:museum", 1),
    ("gallery", "urn:tag:category:place:art_gallery", 1),
    ("music", "urn:tag:category:place:live_music_venue", 1),
    ("venue", "urn:tag:category:place:live_music_venue", 1),
    ("concert", "urn:tag:category:place:live_music_venue", 1),
    ("bookstore", "urn:tag:category:place:bookstore", 1),
    ("record", "urn:tag:category:place:record_store", 1),
    ("sushi", "urn:tag:genre:place:restaurant:sushi", 3),
    ("italian", "urn:tag:genre:place:restaurant:italian", 3),
    ("pizza", "urn:tag:genre:place:restaurant:pizza", 3),
    ("mexican", "urn:tag:genre:place:restaurant:mexican", 3),
    ("tacos", "urn:tag:genre:place:restaurant:mexican", 3),
    ("chinese", "urn:tag:genre:place:restaurant:chinese", 3),
    ("thai", "urn:tag:genre:place:restaurant:thai", 3),
    ("indian", "urn:tag:genre:place:restaurant:indian", 3),
    ("japanese", "urn:tag:genre:place:restaurant:japanese", 3),
    ("ramen", "urn:tag:genre:place:restaurant:japanese", 3),
    ("korean", "urn:tag:genre:place:restaurant:korean", 3),
    ("vietnamese", "urn:tag:genre:place:restaurant:vietnamese", 3),
    ("french", "urn:tag:genre:place:restaurant:french", 3),
    (
        "mediterranean",
        "urn:tag:genre:place:restaurant:mediterranean",
        3,
    ),
    ("american", "urn:tag:genre:place:restaurant:american", 3),
    ("burger", "urn:tag:genre:place:restaurant:burger", 3),
    ("seafood", "urn:tag:genre:place:restaurant:seafood", 3),
    ("steakhouse", "urn:tag:genre:place:restaurant:steakhouse", 3),
    ("bbq", "urn:tag:genre:place:restaurant:barbecue", 3),
    ("barbecue", "urn:tag:genre:place:restaurant:barbecue", 3),
    ("vegetarian", "urn:tag:genre:place:restaurant:vegetarian", 3),
    ("vegan", "urn:tag:genre:place:restaurant:vegan", 3),
];

/// Folds a word to its singular keyword form: "Tacos!" → "tacos", "bars" → "bar".
fn keyword(word: &str) -> String {
    let word: String = word
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase();
    if PLACE_TAGS.iter().any(|(k, _, _)| *k == word) {
        return word;
    }
    for suffix in ["es", "s"] {
        if let Some(stem) = word.strip_suffix(suffix)
            && PLACE_TAGS.iter().any(|(k, _, _)| *k == stem)
        {
            return stem.to_owned();
        }
    }
    word
}

/// What a place tag is called when said back: its last part, in words
/// ("urn:tag:category:place:coffee_shop" → "Coffee shop").
pub(crate) fn tag_name(id: &str) -> String {
    let word = id.rsplit(':').next().unwrap_or(id).replace(['_', '-'], " ");
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The single best place tag for free text ("cozy sushi restaurants" →
/// the sushi tag): the most specific keyword wins, the first on ties.
pub fn place_kind(text: &str) -> Option<FoundTag> {
    let mut best: Option<(&'static str, u8)> = None;
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(keyword)
        .collect();
    let mut candidates: Vec<String> = words.clone();
    candidates.extend(words.windows(2).map(|w| format!("{}_{}", w[0], w[1])));
    for word in &candidates {
        if let Some((_, tag, priority)) = PLACE_TAGS.iter().find(|(k, _, _)| k == word)
            && best.is_none_or(|(_, p)| *priority > p)
        {
            best = Some((tag, *priority));
        }
    }
    let (id, _) = best?;
    Some(FoundTag {
        id: TagId::parse(id).ok()?,
        name: tag_name(id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_tags_prefer_the_most_specific_word() {
        for (text, tag) in [
            (
                "cozy sushi restaurants",
                Some("urn:tag:genre:place:restaurant:sushi"),
            ),
            ("restaurants", Some("urn:tag:category:place:restaurant")),
            ("a coffee shop", Some("urn:tag:category:place:coffee_shop")),
            ("espresso bars", Some("urn:tag:category:place:espresso_bar")),
            ("Bars, pubs", Some("urn:tag:category:place:bar")),
            ("tacos!", Some("urn:tag:genre:place:restaurant:mexican")),
            (
                "live music venue",
                Some("urn:tag:category:place:live_music_venue"),
            ),
            ("somewhere nice", None),
        ] {
            assert_eq!(
                place_kind(text)
                    .map(|t| t.id.as_str().to_owned())
                    .as_deref(),
                tag,
                "{text}"
            );
        }
    }

    #[test]
    fn place_tags_are_named_as_said() {
        assert_eq!(place_kind("a coffee shop").unwrap().name, "Coffee shop");
        assert_eq!(place_kind("sushi").unwrap().name, "Sushi");
        assert_eq!(tag_name("urn:tag:style:place:late-night"), "Late night");
        assert_eq!(tag_name(""), "");
    }
}
