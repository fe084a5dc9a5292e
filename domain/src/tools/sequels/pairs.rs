//! The labelled franchise table: at least 150 pairs of works, each a
//! candidate a recommendation might hold and a work the caller named, with
//! whether recommending the first to a fan of the second repeats the
//! franchise (a sequel, prequel, spin-off or sibling) or not (a look-alike
//! that only shares words). Our own set, drawn from film, TV, game and book
//! franchises; release years and kinds as Qloo reports them.
//!
//! The test reports accuracy, recall (franchise pairs caught) and
//! specificity (look-alikes let through), and lists every pair the filter
//! gets wrong.

use crate::ports::EntityKind::{self, Book, Movie, TvShow, VideoGame};

/// One side of a pair: what Qloo gives of a work. People (directors,
/// authors, creators) and tags are filled in where the rules that use them
/// are tested; elsewhere they are left out, as Qloo sometimes does.
#[derive(Clone, Copy)]
pub(super) struct Work {
    pub title: &'static str,
    pub year: u16,
    pub kind: EntityKind,
    pub people: &'static [&'static str],
    pub tags: &'static [&'static str],
}

impl Work {
    /// Who made it.
    const fn by(self, people: &'static [&'static str]) -> Self {
        Self { people, ..self }
    }

    /// Its keyword tags.
    const fn tagged(self, tags: &'static [&'static str]) -> Self {
        Self { tags, ..self }
    }
}

const fn w(title: &'static str, year: u16, kind: EntityKind) -> Work {
    Work {
        title,
        year,
        kind,
        people: &[],
        tags: &[],
    }
}

const fn m(title: &'static str, year: u16) -> Work {
    w(title, year, Movie)
}

/// (candidate, named work, same franchise?)
pub(super) const PAIRS: &[(Work, Work, bool)] = &[
    // Films: numbered, subtitled and renamed sequels.
    (m("The Matrix Reloaded", 2003), m("The Matrix", 1999), true),
    (
        m("The Matrix Resurrections", 2021),
        m("The Matrix", 1999),
        true,
    ),
    (m("Aliens", 1986), m("Alien", 1979), true),
    (m("Alien³", 1992), m("Alien", 1979), true),
    (m("Alien: Covenant", 2017), m("Alien", 1979), true),
    (m("Alien: Romulus", 2024), m("Alien", 1979), true),
    (
        m("Rogue One: A Star Wars Story", 2016),
        m("Star Wars", 1977),
        true,
    ),
    (
        m("Solo: A Star Wars Story", 2018),
        m("Star Wars", 1977),
        true,
    ),
    (
        m("Star Wars: The Force Awakens", 2015),
        m("Star Wars: Episode IV – A New Hope", 1977),
        true,
    ),
    (
        m("Star Wars: The Empire Strikes Back", 1980),
        m("Star Wars: Episode IV – A New Hope", 1977),
        true,
    ),
    (m("Jurassic World", 2015), m("Jurassic Park", 1993), true),
    (
        m("Jurassic World Dominion", 2022),
        m("Jurassic Park", 1993),
        true,
    ),
    (
        m("The Lost World: Jurassic Park", 1997),
        m("Jurassic Park", 1993),
        true,
    ),
    (m("Rocky II", 1979), m("Rocky", 1976), true),
    (
        m("Rocky Balboa", 2006)
            .by(&["Sylvester Stallone"])
            .tagged(&["Sequel"]),
        m("Rocky", 1976).by(&["John G. Avildsen"]),
        true,
    ),
    (m("Creed II", 2018), m("Creed", 2015), true),
    (m("Furiosa: A Mad Max Saga", 2024), m("Mad Max", 1979), true),
    (m("Mad Max: Fury Road", 2015), m("Mad Max", 1979), true),
    (
        m("Mad Max Beyond Thunderdome", 1985),
        m("Mad Max", 1979),
        true,
    ),
    (
        m("Terminator 2: Judgment Day", 1991),
        m("The Terminator", 1984),
        true,
    ),
    (
        m("Terminator Salvation", 2009),
        m("The Terminator", 1984),
        true,
    ),
    (
        m("Terminator Genisys", 2015),
        m("The Terminator", 1984),
        true,
    ),
    (m("Toy Story 4", 2019), m("Toy Story", 1995), true),
    (m("Toy Story", 1995), m("Toy Story 3", 2010), true),
    (m("Shrek 2", 2004), m("Shrek", 2001), true),
    (m("Shrek the Third", 2007), m("Shrek", 2001), true),
    (m("Shrek Forever After", 2010), m("Shrek", 2001), true),
    (m("Despicable Me 2", 2013), m("Despicable Me", 2010), true),
    (
        m("Finding Dory", 2016)
            .by(&["Andrew Stanton"])
            .tagged(&["Sequel"]),
        m("Finding Nemo", 2003).by(&["Andrew Stanton"]),
        true,
    ),
    (m("Cars 2", 2011), m("Cars", 2006), true),
    (
        m("Monsters University", 2013)
            .by(&["Dan Scanlon"])
            .tagged(&["Prequel"]),
        m("Monsters, Inc.", 2001).by(&["Pete Docter"]),
        true,
    ),
    (m("Ice Age: The Meltdown", 2006), m("Ice Age", 2002), true),
    (m("Kung Fu Panda 2", 2011), m("Kung Fu Panda", 2008), true),
    (
        m("How to Train Your Dragon 2", 2014),
        m("How to Train Your Dragon", 2010),
        true,
    ),
    (m("Frozen II", 2019), m("Frozen", 2013), true),
    (m("The Incredibles", 2004), m("Incredibles 2", 2018), true),
    (m("Inside Out 2", 2024), m("Inside Out", 2015), true),
    (
        m("Mission: Impossible – Fallout", 2018),
        m("Mission: Impossible", 1996),
        true,
    ),
    (
        m("Mission: Impossible – Ghost Protocol", 2011),
        m("Mission: Impossible", 1996),
        true,
    ),
    (
        m("The Bourne Supremacy", 2004),
        m("The Bourne Identity", 2002),
        true,
    ),
    (
        m("The Bourne Ultimatum", 2007),
        m("The Bourne Identity", 2002),
        true,
    ),
    (
        m("Jason Bourne", 2016),
        m("The Bourne Identity", 2002),
        true,
    ),
    (
        m("The Dark Knight Rises", 2012),
        m("The Dark Knight", 2008),
        true,
    ),
    (
        m("Back to the Future Part II", 1989),
        m("Back to the Future", 1985),
        true,
    ),
    (
        m("Indiana Jones and the Last Crusade", 1989),
        m("Indiana Jones and the Temple of Doom", 1984),
        true,
    ),
    (
        m("Harry Potter and the Goblet of Fire", 2005),
        m("Harry Potter and the Sorcerer's Stone", 2001),
        true,
    ),
    (
        m("The Lord of the Rings: The Return of the King", 2003),
        m("The Lord of the Rings: The Fellowship of the Ring", 2001),
        true,
    ),
    (
        m("Pirates of the Caribbean: Dead Man's Chest", 2006),
        m(
            "Pirates of the Caribbean: The Curse of the Black Pearl",
            2003,
        ),
        true,
    ),
    (m("Men in Black II", 2002), m("Men in Black", 1997), true),
    (
        m("Men in Black: International", 2019),
        m("Men in Black", 1997),
        true,
    ),
    (m("Ghostbusters II", 1989), m("Ghostbusters", 1984), true),
    (
        m("Ghostbusters: Afterlife", 2021),
        m("Ghostbusters", 1984),
        true,
    ),
    (
        m("Die Hard with a Vengeance", 1995),
        m("Die Hard", 1988),
        true,
    ),
    (m("Live Free or Die Hard", 2007), m("Die Hard", 1988), true),
    (m("A Good Day to Die Hard", 2013), m("Die Hard", 1988), true),
    (m("Lethal Weapon 2", 1989), m("Lethal Weapon", 1987), true),
    (m("Predator 2", 1990), m("Predator", 1987), true),
    (m("Halloween II", 1981), m("Halloween", 1978), true),
    (
        m("Halloween Kills", 2021)
            .by(&["David Gordon Green"])
            .tagged(&["Sequel", "Slasher"]),
        m("Halloween", 1978).by(&["John Carpenter"]),
        true,
    ),
    (m("Scream 2", 1997), m("Scream", 1996), true),
    (m("Saw II", 2005), m("Saw", 2004), true),
    (m("Paddington 2", 2017), m("Paddington", 2014), true),
    (
        m("Before Sunset", 2004)
            .by(&["Richard Linklater"])
            .tagged(&["Sequel"]),
        m("Before Sunrise", 1995).by(&["Richard Linklater"]),
        true,
    ),
    (m("John Wick: Chapter 2", 2017), m("John Wick", 2014), true),
    (
        m("The Hunger Games: Catching Fire", 2013),
        m("The Hunger Games", 2012),
        true,
    ),
    (
        m("The Hunger Games: Mockingjay – Part 1", 2014),
        m("The Hunger Games", 2012),
        true,
    ),
    (m("Avengers: Endgame", 2019), m("The Avengers", 2012), true),
    (
        m("Guardians of the Galaxy Vol. 2", 2017),
        m("Guardians of the Galaxy", 2014),
        true,
    ),
    (m("Thor: Ragnarok", 2017), m("Thor", 2011), true),
    (m("Iron Man 2", 2010), m("Iron Man", 2008), true),
    (
        m("Captain America: The Winter Soldier", 2014),
        m("Captain America: The First Avenger", 2011),
        true,
    ),
    (
        m("Spider-Man: No Way Home", 2021),
        m("Spider-Man", 2002),
        true,
    ),
    (
        m("Zombieland: Double Tap", 2019),
        m("Zombieland", 2009),
        true,
    ),
    (
        m("Sicario: Day of the Soldado", 2018),
        m("Sicario", 2015),
        true,
    ),
    (m("Blade Runner 2049", 2017), m("Blade Runner", 1982), true),
    (m("Tron: Legacy", 2010), m("Tron", 1982), true),
    (m("Top Gun: Maverick", 2022), m("Top Gun", 1986), true),
    (m("Gladiator II", 2024), m("Gladiator", 2000), true),
    (m("Avatar: The Way of Water", 2022), m("Avatar", 2009), true),
    (m("Dune: Part Two", 2024), m("Dune", 2021), true),
    (
        m("Kill Bill: Vol. 2", 2004),
        m("Kill Bill: Vol. 1", 2003),
        true,
    ),
    (m("Ocean's Thirteen", 2007), m("Ocean's Eleven", 2001), true),
    (
        m("Night at the Museum: Battle of the Smithsonian", 2009),
        m("Night at the Museum", 2006),
        true,
    ),
    (
        m("Home Alone 2: Lost in New York", 1992),
        m("Home Alone", 1990),
        true,
    ),
    (m("Jaws 2", 1978), m("Jaws", 1975), true),
    (
        m("War for the Planet of the Apes", 2017),
        m("Rise of the Planet of the Apes", 2011),
        true,
    ),
    (
        m("Planet of the Apes", 1968),
        m("Rise of the Planet of the Apes", 2011),
        true,
    ),
    (
        m("Beverly Hills Cop II", 1987),
        m("Beverly Hills Cop", 1984),
        true,
    ),
    (
        m("The Twilight Saga: New Moon", 2009),
        m("Twilight", 2008),
        true,
    ),
    (m("T2 Trainspotting", 2017), m("Trainspotting", 1996), true),
    (
        m("Bill & Ted's Bogus Journey", 1991),
        m("Bill & Ted's Excellent Adventure", 1989),
        true,
    ),
    (
        m("Austin Powers: The Spy Who Shagged Me", 1999),
        m("Austin Powers: International Man of Mystery", 1997),
        true,
    ),
    (m("Taken 2", 2012), m("Taken", 2008), true),
    (m("Psycho II", 1983), m("Psycho", 1960), true),
    (
        m("Gremlins 2: The New Batch", 1990),
        m("Gremlins", 1984),
        true,
    ),
    (m("Tremors 2: Aftershocks", 1996), m("Tremors", 1990), true),
    (m("The Fly II", 1989), m("The Fly", 1986), true),
    (m("Rings", 2017), m("The Ring", 2002), true),
    (m("The Conjuring 2", 2016), m("The Conjuring", 2013), true),
    (
        m("Paranormal Activity 2", 2010),
        m("Paranormal Activity", 2007),
        true,
    ),
    (
        m("Batman & Robin", 1997)
            .by(&["Joel Schumacher"])
            .tagged(&["Superhero", "Sequel"]),
        m("Batman", 1989).by(&["Tim Burton"]),
        true,
    ),
    // A reboot that differs from the original only by its article.
    (
        m("The Batman", 2022)
            .by(&["Matt Reeves"])
            .tagged(&["Superhero", "Reboot"]),
        m("Batman", 1989).by(&["Tim Burton"]),
        true,
    ),
    (
        m("Crouching Tiger, Hidden Dragon: Sword of Destiny", 2016),
        m("Crouching Tiger, Hidden Dragon", 2000),
        true,
    ),
    (
        m("El Camino: A Breaking Bad Movie", 2019),
        w("Breaking Bad", 2008, TvShow),
        true,
    ),
    // TV.
    // A series named like a film, by other people: another work.
    (
        w("Avatar: The Last Airbender", 2005, TvShow)
            .by(&["Michael Dante DiMartino", "Bryan Konietzko"]),
        m("Avatar", 2009).by(&["James Cameron"]),
        false,
    ),
    // A series of a film's franchise, by the film's maker.
    (
        w("Star Wars: The Clone Wars", 2008, TvShow).by(&["George Lucas", "Dave Filoni"]),
        m("Star Wars", 1977).by(&["George Lucas"]),
        true,
    ),
    (
        w("Star Trek: The Next Generation", 1987, TvShow),
        w("Star Trek", 1966, TvShow),
        true,
    ),
    (
        w("Gilmore Girls: A Year in the Life", 2016, TvShow),
        w("Gilmore Girls", 2000, TvShow),
        true,
    ),
    (
        w("Twin Peaks: The Return", 2017, TvShow),
        w("Twin Peaks", 1990, TvShow),
        true,
    ),
    // Games.
    (
        w("Half-Life 2", 2004, VideoGame),
        w("Half-Life", 1998, VideoGame),
        true,
    ),
    (
        w("Portal 2", 2011, VideoGame),
        w("Portal", 2007, VideoGame),
        true,
    ),
    (
        w("The Legend of Zelda: Breath of the Wild", 2017, VideoGame),
        w("The Legend of Zelda: Ocarina of Time", 1998, VideoGame),
        true,
    ),
    (
        w("Grand Theft Auto V", 2013, VideoGame),
        w("Grand Theft Auto: San Andreas", 2004, VideoGame),
        true,
    ),
    (
        w("Mass Effect 2", 2010, VideoGame),
        w("Mass Effect", 2007, VideoGame),
        true,
    ),
    (
        w("Dark Souls III", 2016, VideoGame),
        w("Dark Souls", 2011, VideoGame),
        true,
    ),
    (
        w("Red Dead Redemption 2", 2018, VideoGame),
        w("Red Dead Redemption", 2010, VideoGame),
        true,
    ),
    (
        w("BioShock Infinite", 2013, VideoGame),
        w("BioShock", 2007, VideoGame),
        true,
    ),
    (
        w("Halo 2", 2004, VideoGame),
        w("Halo: Combat Evolved", 2001, VideoGame),
        true,
    ),
    (
        w("Final Fantasy VII", 1997, VideoGame),
        w("Final Fantasy X", 2001, VideoGame),
        true,
    ),
    // Books.
    (
        w("Harry Potter and the Prisoner of Azkaban", 1999, Book),
        w("Harry Potter and the Philosopher's Stone", 1997, Book),
        true,
    ),
    (w("Dune Messiah", 1969, Book), w("Dune", 1965, Book), true),
    (
        w("Children of Dune", 1976, Book),
        w("Dune", 1965, Book),
        true,
    ),
    (
        w("Foundation and Empire", 1952, Book)
            .by(&["Isaac Asimov"])
            .tagged(&["Sequel"]),
        w("Foundation", 1951, Book).by(&["Isaac Asimov"]),
        true,
    ),
    (
        w("Ender's Shadow", 1999, Book),
        w("Ender's Game", 1985, Book),
        true,
    ),
    // Look-alikes: a shared word, a prefix, a plural, a containment.
    (m("Upgrade", 2018), m("Up", 2009), false),
    (m("Up in the Air", 2009), m("Up", 2009), false),
    (m("Jawbreaker", 1999), m("Jaws", 1975), false),
    (
        m("Mission to Mars", 2000),
        m("Mission: Impossible", 1996),
        false,
    ),
    (m("Star Trek", 2009), m("Star Wars", 1977), false),
    (m("Starship Troopers", 1997), m("Star Wars", 1977), false),
    (
        m("The Dark Crystal", 1982),
        m("The Dark Knight", 2008),
        false,
    ),
    (m("Max Payne", 2008), m("Mad Max", 1979), false),
    (w("Mad Men", 2007, TvShow), m("Mad Max", 1979), false),
    (m("It Follows", 2014), m("It", 2017), false),
    (m("Hereditary", 2018), m("Her", 2013), false),
    (m("Frozen River", 2008), m("Frozen", 2013), false),
    (m("Alien Nation", 1988), m("Alien", 1979), false),
    (m("Aliens in the Attic", 2009), m("Alien", 1979), false),
    (m("Heathers", 1989), m("Heat", 1995), false),
    (m("Carrie", 1976), m("Cars", 2006), false),
    (
        m("The Rocky Horror Picture Show", 1975),
        m("Rocky", 1976),
        false,
    ),
    (m("Toy Soldiers", 1991), m("Toy Story", 1995), false),
    (
        w("Godfather of Harlem", 2019, TvShow),
        m("The Godfather", 1972),
        false,
    ),
    (m("Blade", 1998), m("Blade Runner", 1982), false),
    // A tagged sequel whose title begins with another film's whole title,
    // but is numbered: it is the sequel of "Blade Runner", not of "Blade".
    (
        m("Blade", 1998).by(&["Stephen Norrington"]),
        m("Blade Runner 2049", 2017)
            .by(&["Denis Villeneuve"])
            .tagged(&["Sequel"]),
        false,
    ),
    (m("Finding Neverland", 2004), m("Finding Nemo", 2003), false),
    // A tagged sequel sharing the first word, by other people.
    (
        m("Finding Dory", 2016)
            .by(&["Andrew Stanton"])
            .tagged(&["Sequel"]),
        m("Finding Neverland", 2004).by(&["Marc Forster"]),
        false,
    ),
    // The same maker and the same first word, and no sequel.
    (
        m("Manhattan Murder Mystery", 1993).by(&["Woody Allen"]),
        m("Manhattan", 1979).by(&["Woody Allen"]),
        false,
    ),
    (
        m("War Horse", 2011).by(&["Steven Spielberg"]),
        m("War of the Worlds", 2005).by(&["Steven Spielberg"]),
        false,
    ),
    // A parody sharing a rare word: the rare-word rule flags it (an error
    // the table keeps, so the rule's limit shows).
    (
        m("Young Frankenstein", 1974),
        m("Frankenstein", 1931),
        false,
    ),
    (m("Monster House", 2006), m("Monsters, Inc.", 2001), false),
    (m("Kung Fu Hustle", 2004), m("Kung Fu Panda", 2008), false),
    (m("Inside Man", 2006), m("Inside Out", 2015), false),
    (m("Insidious", 2010), m("Inside Out", 2015), false),
    (
        m("Eternal Sunshine of the Spotless Mind", 2004),
        m("Sunshine", 2007),
        false,
    ),
    (m("Moonlight", 2016), m("Moon", 2009), false),
    (
        m("The Ring", 2002),
        m("The Lord of the Rings: The Fellowship of the Ring", 2001),
        false,
    ),
    // A crossover of the Godzilla franchise (Legendary's, licensed from
    // Toho): once labelled a look-alike, it is a franchise entry.
    (m("Godzilla vs. Kong", 2021), m("Godzilla", 1954), true),
    (
        m("Before Midnight", 2013),
        m("Midnight in Paris", 2011),
        false,
    ),
    (
        m("The Girl on the Train", 2016),
        m("The Girl with the Dragon Tattoo", 2011),
        false,
    ),
    (
        m("New York, New York", 1977),
        m("New York Stories", 1989),
        false,
    ),
    (m("Inception", 2010), m("The Matrix", 1999), false),
    (m("Seven", 1995), m("Se7en", 1995), false),
    (m("Amélie", 2001), m("Amelie", 2001), false),
    // The same film under its original title: not a look-alike that only
    // shares a word (once labelled so); leaving it out is right.
    (
        m("Le Fabuleux Destin d'Amélie Poulain", 2001),
        m("Amélie", 2001),
        true,
    ),
    (m("Max", 2015), m("Mad Max", 1979), false),
    (
        m("Fast Color", 2018),
        m("The Fast and the Furious", 2001),
        false,
    ),
    (m("Home", 2015), m("Home Alone", 1990), false),
    (
        m("Night of the Living Dead", 1968),
        m("Night at the Museum", 2006),
        false,
    ),
    (m("The Fly", 1986), m("Fly Away Home", 1996), false),
    (m("Scream of the Banshee", 2011), m("Scream", 1996), false),
    (
        m("The Planet of the Vampires", 1965),
        m("Planet of the Apes", 1968),
        false,
    ),
    (m("Top Secret!", 1984), m("Top Gun", 1986), false),
    (m("Iron Sky", 2012), m("Iron Man", 2008), false),
    (m("Thoroughbreds", 2017), m("Thor", 2011), false),
    (m("Ice Cold in Alex", 1958), m("Ice Age", 2002), false),
    (m("Crash", 2004), m("Crash", 1996), false),
    (
        m("The Arrival", 1996).by(&["David Twohy"]),
        m("Arrival", 2016).by(&["Denis Villeneuve"]),
        false,
    ),
    (
        m("The Heat", 2013).by(&["Paul Feig"]),
        m("Heat", 1995).by(&["Michael Mann"]),
        false,
    ),
    (w("Gravity Falls", 2012, TvShow), m("Gravity", 2013), false),
    (
        m("Portal to Hell", 2019),
        w("Portal", 2007, VideoGame),
        false,
    ),
    (
        w("Dark Souls", 2011, VideoGame),
        w("Dark City", 1998, Movie),
        false,
    ),
    (
        w("Elden Ring", 2022, VideoGame),
        w("Dark Souls", 2011, VideoGame),
        false,
    ),
    (
        w("Halo Infinite", 2021, VideoGame),
        m("Infinite", 2021),
        false,
    ),
    (
        w("Foundation", 2021, TvShow),
        w("The Foundation Pit", 1930, Book),
        false,
    ),
    (
        w("The Girl Who Loved Tom Gordon", 1999, Book),
        w("The Girl with the Dragon Tattoo", 2005, Book),
        false,
    ),
    (
        w("Children of Men", 1992, Book),
        w("Children of Dune", 1976, Book),
        false,
    ),
    (
        w("Game of Thrones", 2011, TvShow),
        w("The Game", 1997, Movie),
        false,
    ),
];
