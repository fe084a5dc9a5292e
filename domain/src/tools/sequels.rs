//! Sequel and franchise detection: recommending "The Matrix Reloaded" to a
//! fan of "The Matrix" is no recommendation.
//!
//! Titles are reduced to a *core*: folded to ASCII lower case, without a
//! leading article, a subtitle (after `:` or a dash), a trailing year, part,
//! number or roman numeral. Two titles are the same franchise when their
//! cores are equal, when one core is a word-prefix of the other and what
//! follows reads like a sequel (or the shared core is distinctive: two words
//! or more), when one is the plural of the other ("Alien", "Aliens"), when
//! one title's whole core of two significant words or more is inside the
//! other ("Rogue One: A Star Wars Story"), or when they share a run of
//! three words or more, two of them significant ("Harry Potter and the …",
//! "… of the Planet of the Apes").
//!
//! `sequels/pairs.rs` is the labelled table the rules are measured on.

/// Words that mark a sequel when they follow a title.
const SEQUEL_WORDS: &[&str] = &[
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "ii",
    "iii",
    "iv",
    "v",
    "vi",
    "vii",
    "viii",
    "ix",
    "x",
    "two",
    "three",
    "four",
    "five",
    "part",
    "chapter",
    "volume",
    "vol",
    "episode",
    "returns",
    "return",
    "reloaded",
    "revolutions",
    "resurrection",
    "resurrections",
    "rises",
    "begins",
    "forever",
    "origins",
    "origin",
    "reborn",
    "awakens",
    "awakening",
    "strikes",
    "revenge",
    "legacy",
    "continues",
    "sequel",
    "prequel",
    "saga",
    "covenant",
    "prometheus",
    "romulus",
    "endgame",
    "infinity",
    "ultimatum",
    "supremacy",
    "identity",
    "dead",
    "apocalypse",
    "resurgence",
    "fallen",
    "uprising",
    "redemption",
    "reckoning",
    "rebellion",
    "again",
    "strike",
    "third",
    "fourth",
    "final",
];

/// Leading words dropped from a core.
const ARTICLES: &[&str] = &["the", "a", "an"];

/// Words too common to make two titles a franchise by themselves.
const STOP_WORDS: &[&str] = &[
    "the", "a", "an", "and", "of", "in", "on", "at", "to", "for", "with", "de", "la", "le",
];

/// A title folded to ASCII lower-case words, digits split from letters.
pub(crate) fn words(title: &str) -> Vec<String> {
    let folded = deunicode::deunicode(title).to_ascii_lowercase();
    let mut spaced = String::with_capacity(folded.len() + 8);
    let mut previous: Option<char> = None;
    for c in folded.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { ' ' };
        if let Some(p) = previous
            && p.is_ascii_alphabetic()
            && c.is_ascii_digit()
        {
            spaced.push(' ');
        }
        spaced.push(c);
        previous = Some(c);
    }
    spaced.split_whitespace().map(str::to_owned).collect()
}

/// The title before any subtitle (`:`, ` - `, ` – `, ` — `).
fn main_title(title: &str) -> &str {
    let mut end = title.len();
    for separator in [":", " - ", " – ", " — ", "("] {
        if let Some(at) = title.find(separator)
            && at > 0
        {
            end = end.min(at);
        }
    }
    &title[..end]
}

fn is_year(word: &str) -> bool {
    word.len() == 4
        && (word.starts_with("19") || word.starts_with("20"))
        && word.chars().all(|c| c.is_ascii_digit())
}

fn is_numbering(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
        || matches!(
            word,
            "ii" | "iii"
                | "iv"
                | "v"
                | "vi"
                | "vii"
                | "viii"
                | "ix"
                | "x"
                | "xi"
                | "xii"
                | "two"
                | "three"
                | "four"
                | "five"
                | "six"
                | "seven"
                | "eight"
                | "nine"
                | "ten"
                | "eleven"
                | "twelve"
                | "thirteen"
        )
}

/// The franchise core of a title, as words.
pub fn core(title: &str) -> Vec<String> {
    let mut words = words(main_title(title));
    if words.len() > 1 && ARTICLES.contains(&words[0].as_str()) {
        words.remove(0);
    }
    while let Some(last) = words.last() {
        if words.len() < 2 || !(is_year(last) || is_numbering(last)) {
            break;
        }
        words.pop();
        if words.len() > 1
            && matches!(
                words.last().map(String::as_str),
                Some("part" | "chapter" | "volume" | "vol" | "episode")
            )
        {
            words.pop();
        }
    }
    words
}

fn is_prefix(short: &[String], long: &[String]) -> bool {
    short.len() < long.len() && long.starts_with(short)
}

fn significant(words: &[String]) -> usize {
    words
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .count()
}

/// Whether two titles belong to the same franchise (and are different
/// titles). Symmetric.
pub fn same_franchise(a: &str, b: &str) -> bool {
    let (whole_a, whole_b) = (words(a), words(b));
    if whole_a == whole_b || whole_a.is_empty() || whole_b.is_empty() {
        return false; // the same title (or nothing to compare)
    }
    let (core_a, core_b) = (core(a), core(b));
    if core_a.is_empty() || core_b.is_empty() {
        return false;
    }
    if core_a == core_b {
        return true;
    }
    let (short, long) = if core_a.len() <= core_b.len() {
        (&core_a, &core_b)
    } else {
        (&core_b, &core_a)
    };
    if is_prefix(short, long)
        && (significant(short) >= 2
            || long[short.len()..]
                .iter()
                .any(|word| SEQUEL_WORDS.contains(&word.as_str())))
    {
        return true;
    }
    if short.len() == long.len() && short.len() == 1 {
        let (s, l) = (&short[0], &long[0]);
        let (s, l) = if s.len() <= l.len() { (s, l) } else { (l, s) };
        if s.len() >= 3 && l.len() == s.len() + 1 && l.starts_with(s.as_str()) && l.ends_with('s') {
            return true; // "alien", "aliens"
        }
    }
    // One title's whole core, two significant words or more, inside the
    // other: "Rogue One: A Star Wars Story" and "Star Wars", "Live Free or
    // Die Hard" and "Die Hard". One word is not enough ("Eternal Sunshine of
    // the Spotless Mind" is not a "Sunshine" film), nor two words that are
    // not a whole core ("New York, New York" and "New York Stories").
    for (core, other) in [(&core_a, &whole_b), (&core_b, &whole_a)] {
        if significant(core) >= 2 && contains_run(other, core) {
            return true;
        }
    }
    // A long run of words in common, anywhere: "War for the Planet of the
    // Apes" and "Rise of the Planet of the Apes", "Harry Potter and the …".
    // Three words with two significant ones, so "Night of the Living Dead"
    // and "Night at the Museum" stay apart.
    let (run_start, run_len) = longest_common_run(&whole_a, &whole_b);
    run_len >= 3 && significant(&whole_a[run_start..run_start + run_len]) >= 2
}

/// Whether `needle` appears in `hay` as consecutive words.
fn contains_run(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty()
        && needle.len() <= hay.len()
        && hay.windows(needle.len()).any(|w| w == needle)
}

/// The longest run of consecutive words `a` and `b` share: where it starts
/// in `a`, and its length.
fn longest_common_run(a: &[String], b: &[String]) -> (usize, usize) {
    let mut best = (0, 0);
    for i in 0..a.len() {
        for j in 0..b.len() {
            let len = a[i..]
                .iter()
                .zip(&b[j..])
                .take_while(|(x, y)| x == y)
                .count();
            if len > best.1 {
                best = (i, len);
            }
        }
    }
    best
}

/// Whether `candidate` is a sequel, prequel or franchise sibling of any of
/// `inputs` (a recommendation to leave out).
pub fn is_likely_sequel<'a>(candidate: &str, inputs: impl IntoIterator<Item = &'a str>) -> bool {
    inputs
        .into_iter()
        .any(|input| same_franchise(candidate, input))
}

/// Indices of results that repeat an earlier result's franchise: within each
/// franchise the first (best ranked) is kept, the rest are returned.
pub fn franchise_repeats(titles: &[&str]) -> Vec<usize> {
    let mut repeats = Vec::new();
    for (i, title) in titles.iter().enumerate() {
        if titles[..i]
            .iter()
            .enumerate()
            .any(|(j, earlier)| !repeats.contains(&j) && same_franchise(earlier, title))
        {
            repeats.push(i);
        }
    }
    repeats
}

#[cfg(test)]
mod pairs;

#[cfg(test)]
mod tests {
    use super::*;

    /// The labelled table (`pairs.rs`): how well the filter tells a
    /// franchise entry from a look-alike, with every error listed.
    #[test]
    fn the_labelled_table() {
        let (mut caught, mut missed, mut passed, mut flagged) = (0, 0, 0, 0);
        let mut errors = Vec::new();
        for (candidate, named, expected) in pairs::PAIRS {
            let got = same_franchise(candidate.title, named.title);
            match (expected, got) {
                (true, true) => caught += 1,
                (true, false) => missed += 1,
                (false, false) => passed += 1,
                (false, true) => flagged += 1,
            }
            if got != *expected {
                let what = if *expected { "missed" } else { "flagged" };
                errors.push(format!(
                    "  {what}: {:?} ({}, {}) for a fan of {:?} ({}, {})",
                    candidate.title,
                    candidate.kind.name(),
                    candidate.year,
                    named.title,
                    named.kind.name(),
                    named.year
                ));
            }
        }
        let total = pairs::PAIRS.len();
        #[allow(clippy::cast_precision_loss)]
        let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        let accuracy = ratio(caught + passed, total);
        let recall = ratio(caught, caught + missed);
        let specificity = ratio(passed, passed + flagged);
        println!(
            "{total} pairs: accuracy {accuracy:.3}, recall {recall:.3}, specificity {specificity:.3}\n{}",
            errors.join("\n")
        );
        assert!(total >= 150);
        assert!(
            accuracy >= ACCURACY_FLOOR,
            "accuracy {accuracy:.3}:\n{}",
            errors.join("\n")
        );
    }

    /// What the title rules reach on the table today (0.883: the misses
    /// left are a distinctive first word with a new second word, which
    /// titles alone cannot tell from "Star Trek" and "Star Wars"); a
    /// regression guard, not the goal, which is 0.97.
    const ACCURACY_FLOOR: f64 = 0.88;

    /// (candidate, input, same franchise?)
    const CASES: &[(&str, &str, bool)] = &[
        ("The Matrix Reloaded", "The Matrix", true),
        ("The Matrix Revolutions", "The Matrix", true),
        ("The Matrix Resurrections", "The Matrix", true),
        ("Aliens", "Alien", true),
        ("Alien³", "Alien", true),
        ("Alien: Covenant", "Alien", true),
        ("Alien Resurrection", "Alien", true),
        ("Upgrade", "Up", false),
        ("Up in the Air", "Up", false),
        ("Toy Story 2", "Toy Story", true),
        ("Toy Story", "Toy Story 3", true),
        ("Toy Story That Time Forgot", "Toy Story", true),
        ("Terminator 2: Judgment Day", "The Terminator", true),
        ("Jaws 2", "Jaws", true),
        ("Jawbreaker", "Jaws", false),
        ("Rocky II", "Rocky", true),
        ("Rocky IV", "Rocky II", true),
        ("Dune: Part Two", "Dune", true),
        ("Dune", "Dune (2021)", true),
        (
            "Star Wars: The Empire Strikes Back",
            "Star Wars: Episode IV – A New Hope",
            true,
        ),
        ("Star Trek", "Star Wars", false),
        (
            "The Lord of the Rings: The Two Towers",
            "The Lord of the Rings: The Fellowship of the Ring",
            true,
        ),
        (
            "Harry Potter and the Chamber of Secrets",
            "Harry Potter and the Sorcerer's Stone",
            true,
        ),
        ("Mission: Impossible – Fallout", "Mission: Impossible", true),
        ("Mission to Mars", "Mission: Impossible", false),
        ("Shrek 2", "Shrek", true),
        ("Shrek the Third", "Shrek", true),
        ("Kill Bill: Vol. 2", "Kill Bill: Vol. 1", true),
        ("The Godfather Part II", "The Godfather", true),
        ("The Godfather Part III", "The Godfather Part II", true),
        ("Godzilla vs. Kong", "Godzilla", false),
        ("Blade Runner 2049", "Blade Runner", true),
        ("Paddington 2", "Paddington", true),
        ("Amélie", "Amelie", false),
        ("Le Fabuleux Destin d'Amélie Poulain", "Amélie", false),
        ("Inception", "The Matrix", false),
        ("The Dark Knight", "The Dark Crystal", false),
        ("The Dark Knight Rises", "The Dark Knight", true),
        ("Batman Begins", "Batman", true),
        ("New York, New York", "New York Stories", false),
        ("Spider-Man 2", "Spider-Man", true),
        ("Spider-Man: Into the Spider-Verse", "Spider-Man", true),
        ("Halloween", "Halloween", false),
        ("Mad Max: Fury Road", "Mad Max", true),
        ("Max Payne", "Mad Max", false),
        ("Ocean's Twelve", "Ocean's Eleven", true),
        ("Seven", "Se7en", false),
        ("Apollo 13", "Apollo 11", true),
        ("Frozen II", "Frozen", true),
        ("The Incredibles", "Incredibles 2", true),
        ("It", "It Follows", false),
        ("Her", "Hereditary", false),
        (
            "Crouching Tiger, Hidden Dragon: Sword of Destiny",
            "Crouching Tiger, Hidden Dragon",
            true,
        ),
    ];

    #[test]
    fn franchise_table() {
        let mut failures = Vec::new();
        for (candidate, input, expected) in CASES {
            if same_franchise(candidate, input) != *expected {
                failures.push(format!("{candidate:?} vs {input:?}: expected {expected}"));
            }
            assert_eq!(
                same_franchise(candidate, input),
                same_franchise(input, candidate),
                "symmetric for {candidate:?} / {input:?}"
            );
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(CASES.len() >= 40);
    }

    #[test]
    fn cores_drop_articles_subtitles_years_and_numbers() {
        assert_eq!(core("The Matrix"), ["matrix"]);
        assert_eq!(core("Terminator 2: Judgment Day"), ["terminator"]);
        assert_eq!(core("The Godfather Part II"), ["godfather"]);
        assert_eq!(core("Dune (2021)"), ["dune"]);
        assert_eq!(core("Alien³"), ["alien"]);
        assert_eq!(core("It"), ["it"]);
        assert_eq!(core("A"), ["a"]);
        assert_eq!(core("1917"), ["1917"]);
        assert!(core("").is_empty());
    }

    #[test]
    fn sequels_of_any_input_are_found() {
        assert!(is_likely_sequel("Aliens", ["Khruangbin", "Alien"]));
        assert!(!is_likely_sequel("Inception", ["Khruangbin", "Alien"]));
        assert!(!is_likely_sequel("Anything", []));
    }

    #[test]
    fn franchise_repeats_keep_the_best_ranked_member() {
        let titles = [
            "Inception",
            "Toy Story 2",
            "Arrival",
            "Toy Story 3",
            "Toy Story",
            "Dune",
        ];
        assert_eq!(franchise_repeats(&titles), vec![3, 4]);
        assert!(franchise_repeats(&[]).is_empty());
    }
}
