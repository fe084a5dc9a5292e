use std::sync::atomic::AtomicU64;

use qloophone_domain::TagId;
use qloophone_domain::ports::{EntityKind, MockTasteGraph, TasteGraph};

use super::*;

/// A clock the test moves by hand.
struct ManualClock(AtomicU64);

impl ManualClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(1_700_000_000_000)))
    }
    fn advance(&self, by: Duration) {
        self.0
            .fetch_add(u64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        types: vec![EntityKind::Movie],
        take: 5,
    }
}

fn found(name: &str) -> Vec<Entity> {
    vec![Entity {
        id: Some(EntityId::parse(&format!("ID-{}", name.replace(' ', "-"))).unwrap()),
        name: name.into(),
        kind: Some(EntityKind::Movie),
        popularity: Some(0.9),
        tags: vec![Tag {
            id: "urn:tag:x".into(),
            name: "X".into(),
        }],
        description: Some("d".into()),
        year: Some(1999),
        people: vec!["Lana Wachowski".into()],
        ..Entity::default()
    }]
}

fn settings(capacity: usize, snapshot: Option<PathBuf>) -> CacheSettings {
    CacheSettings {
        capacity,
        snapshot: snapshot.map_or_else(String::new, |path| path.display().to_string()),
        ..CacheSettings::default()
    }
}

fn echo_graph(calls: Arc<AtomicU64>) -> MockTasteGraph {
    let mut graph = MockTasteGraph::new();
    let searches = calls.clone();
    graph.expect_search().returning(move |q| {
        searches.fetch_add(1, Ordering::SeqCst);
        Ok(found(&q.text))
    });
    graph.expect_search_tags().returning(move |q| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(tags_for(&q.text))
    });
    graph
}

fn tag_query(text: &str) -> TagQuery {
    TagQuery {
        text: text.into(),
        parent: Some(EntityKind::Place),
        take: 5,
    }
}

/// A tag per word ("cozy italian": Cozy, Italian); none for "nothing".
fn tags_for(text: &str) -> Vec<FoundTag> {
    text.split_whitespace()
        .filter(|w| *w != "nothing")
        .map(|w| FoundTag {
            id: TagId::parse(&format!("urn:tag:style:place:{}", w.to_lowercase())).unwrap(),
            name: w.to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn tag_searches_are_cached_apart_from_entity_searches() {
    let calls = Arc::new(AtomicU64::new(0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entities.json");
    let clock = ManualClock::new();
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        clock.clone(),
        &settings(10, Some(path.clone())),
        None,
    );
    let first = cache.search_tags(&tag_query("Cozy Italian")).await.unwrap();
    assert_eq!(first, tags_for("Cozy Italian"));
    assert_eq!(
        cache
            .search_tags(&tag_query(" cozy  ITALIAN"))
            .await
            .unwrap(),
        first
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second is a hit");
    // The same words as an entity search, or for another parent, are
    // other lookups.
    let as_entities = cache.search(&query("cozy italian")).await.unwrap();
    assert_eq!(as_entities, found("cozy italian"));
    let for_films = TagQuery {
        parent: Some(EntityKind::Movie),
        ..tag_query("cozy italian")
    };
    cache.search_tags(&for_films).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // An unknown vibe is not kept: the graph may learn it.
    assert!(
        cache
            .search_tags(&tag_query("nothing"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        cache
            .search_tags(&tag_query("nothing"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // Through a snapshot, each comes back as what it was.
    cache.save().unwrap();
    let calls_again = Arc::new(AtomicU64::new(0));
    let reloaded = EntityCache::new(
        Arc::new(echo_graph(calls_again.clone())),
        clock,
        &settings(10, Some(path)),
        None,
    );
    assert_eq!(
        reloaded
            .search_tags(&tag_query("cozy italian"))
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        reloaded.search(&query("cozy italian")).await.unwrap(),
        as_entities
    );
    assert_eq!(calls_again.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn tag_searches_are_shared_between_instances() {
    let tier = Arc::new(MemoryTier::default());
    let (on_a, on_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clock = ManualClock::new();
    let a = instance(&tier, &on_a, clock.clone());
    let b = instance(&tier, &on_b, clock);
    let found_on_a = a.search_tags(&tag_query("late night")).await.unwrap();
    assert_eq!(
        b.search_tags(&tag_query("Late Night")).await.unwrap(),
        found_on_a
    );
    assert_eq!(
        (on_a.load(Ordering::SeqCst), on_b.load(Ordering::SeqCst)),
        (1, 0)
    );
}

#[tokio::test]
async fn repeated_searches_are_hits_and_names_fold() {
    let calls = Arc::new(AtomicU64::new(0));
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        ManualClock::new(),
        &settings(10, None),
        None,
    );
    cache.search(&query("The Matrix")).await.unwrap();
    let again = cache.search(&query("  the   MATRIX ")).await.unwrap();
    assert_eq!(again, found("The Matrix"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        cache.cache_stats(),
        CacheStats {
            size: 1,
            hits: 1,
            misses: 1,
            evictions: 0,
            shared: None,
        }
    );
    let other_type = SearchQuery {
        types: vec![],
        ..query("The Matrix")
    };
    cache.search(&other_type).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "types are part of the key");
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let calls = Arc::new(AtomicU64::new(0));
    let clock = ManualClock::new();
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        clock.clone(),
        &settings(10, None),
        None,
    );
    cache.search(&query("Alien")).await.unwrap();
    clock.advance(Duration::from_secs(7 * 24 * 3600 - 1));
    cache.search(&query("Alien")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "still fresh");
    clock.advance(Duration::from_secs(2));
    cache.search(&query("Alien")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "expired, asked again");
}

#[tokio::test]
async fn the_least_recently_used_entry_is_evicted() {
    let calls = Arc::new(AtomicU64::new(0));
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        ManualClock::new(),
        &settings(2, None),
        None,
    );
    cache.search(&query("a")).await.unwrap();
    cache.search(&query("b")).await.unwrap();
    cache.search(&query("a")).await.unwrap(); // a is now the most recent
    cache.search(&query("c")).await.unwrap(); // evicts b, not a
    assert_eq!(cache.cache_stats().evictions, 1);
    cache.search(&query("a")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "a survived");
    cache.search(&query("b")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4, "b was evicted");
    assert_eq!(cache.cache_stats().size, 2);
}

#[tokio::test]
async fn concurrent_identical_lookups_share_one_request() {
    struct Slow(AtomicU64);
    #[async_trait]
    impl TasteGraph for Slow {
        async fn search(&self, q: &SearchQuery) -> Result<Vec<Entity>, TasteError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(found(&q.text))
        }
        async fn insights(&self, _: &InsightsQuery) -> Result<Insights, TasteError> {
            Ok(Insights::default())
        }
        async fn search_tags(&self, _: &TagQuery) -> Result<Vec<FoundTag>, TasteError> {
            Ok(Vec::new())
        }
        fn place_kind(&self, _: &str) -> Option<FoundTag> {
            None
        }
    }
    let graph = Arc::new(Slow(AtomicU64::new(0)));
    let cache = Arc::new(EntityCache::new(
        graph.clone(),
        ManualClock::new(),
        &settings(10, None),
        None,
    ));
    let lookups: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.search(&query("Dune")).await.unwrap() })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap(), found("Dune"));
    }
    assert_eq!(graph.0.load(Ordering::SeqCst), 1);
    let stats = cache.cache_stats();
    assert_eq!((stats.misses, stats.hits), (1, 19));
}

#[tokio::test]
async fn failures_and_empty_results_are_not_cached() {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let mut graph = MockTasteGraph::new();
    graph.expect_search().returning(move |q| {
        counted.fetch_add(1, Ordering::SeqCst);
        if q.text == "fail" {
            Err(TasteError::Timeout)
        } else {
            Ok(vec![])
        }
    });
    graph
        .expect_insights()
        .times(1)
        .returning(|_| Ok(Insights::default()));
    let cache = EntityCache::new(
        Arc::new(graph),
        ManualClock::new(),
        &settings(10, None),
        None,
    );
    assert_eq!(cache.search(&query("fail")).await, Err(TasteError::Timeout));
    assert_eq!(cache.search(&query("fail")).await, Err(TasteError::Timeout));
    assert_eq!(cache.search(&query("nothing")).await, Ok(vec![]));
    assert_eq!(cache.search(&query("nothing")).await, Ok(vec![]));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(cache.cache_stats().size, 0);
    cache.insights(&InsightsQuery::default()).await.unwrap();
}

#[tokio::test]
async fn snapshots_round_trip_and_drop_expired_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache").join("entities.json");
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicU64::new(0));
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        clock.clone(),
        &settings(10, Some(path.clone())),
        None,
    );
    cache.search(&query("Old")).await.unwrap();
    clock.advance(Duration::from_secs(6 * 24 * 3600));
    cache.search(&query("New")).await.unwrap();
    assert!(cache.is_dirty());
    cache.save().unwrap();
    assert!(!cache.is_dirty());
    assert!(
        !path.with_extension("json.tmp").exists(),
        "written through a rename"
    );

    clock.advance(Duration::from_secs(2 * 24 * 3600)); // Old is now 8 days old
    let reloaded = EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        clock.clone(),
        &settings(10, Some(path.clone())),
        None,
    );
    assert_eq!(reloaded.cache_stats().size, 1);
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(reloaded.search(&query("New")).await.unwrap(), found("New"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "served from the snapshot"
    );
    reloaded.search(&query("Old")).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before + 1,
        "the expired entry was dropped"
    );
}

#[tokio::test]
async fn a_corrupt_snapshot_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entities.json");
    std::fs::write(&path, b"{not json").unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let cache = EntityCache::new(
        Arc::new(echo_graph(calls)),
        ManualClock::new(),
        &settings(10, Some(path.clone())),
        None,
    );
    assert_eq!(cache.cache_stats().size, 0);
    cache.search(&query("x")).await.unwrap();
    cache.save().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"version\":1"), "{text}");
    let no_snapshot = EntityCache::new(
        Arc::new(MockTasteGraph::new()),
        ManualClock::new(),
        &settings(1, None),
        None,
    );
    no_snapshot.save().unwrap();
}

/// Issue 28, finding 11: a snapshot of another version, entries dated in
/// the future, and a file larger than this cache could have written are
/// not trusted; the oversized one is not even read whole.
#[tokio::test]
async fn a_snapshot_is_checked_before_it_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entities.json");
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicU64::new(0));
    let load = |clock: Arc<ManualClock>, capacity| {
        EntityCache::new(
            Arc::new(echo_graph(calls.clone())),
            clock,
            &settings(capacity, Some(path.clone())),
            None,
        )
    };
    let cache = load(clock.clone(), 10);
    cache.search(&query("Now")).await.unwrap();
    cache.save().unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(load(clock.clone(), 10).cache_stats().size, 1, "as written");

    std::fs::write(&path, written.replace("\"version\":1", "\"version\":2")).unwrap();
    assert_eq!(
        load(clock.clone(), 10).cache_stats().size,
        0,
        "another version"
    );

    // Written by a clock a day ahead: it would never expire.
    std::fs::write(&path, &written).unwrap();
    let behind = ManualClock::new();
    behind.0.fetch_sub(24 * 3600 * 1000, Ordering::SeqCst);
    let reloaded = load(behind.clone(), 10);
    let before = calls.load(Ordering::SeqCst);
    reloaded.search(&query("Now")).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before + 1,
        "a future entry is not fresh"
    );
    // A minute of skew is fine.
    let close = ManualClock::new();
    close.0.fetch_sub(30_000, Ordering::SeqCst);
    let reloaded = load(close, 10);
    let before = calls.load(Ordering::SeqCst);
    reloaded.search(&query("Now")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), before, "within the skew");

    // Past what one entry may take, for a cache of one entry.
    let padded = written.replacen("{", &format!("{{\"pad\":\"{}\",", "x".repeat(40 * 1024)), 1);
    std::fs::write(&path, padded).unwrap();
    assert_eq!(load(clock.clone(), 1).cache_stats().size, 0, "too large");
}

#[tokio::test]
async fn a_failed_save_stays_dirty_and_the_next_save_retries() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("cache");
    std::fs::write(&blocker, b"a file where the folder should be").unwrap();
    let path = blocker.join("entities.json");
    let cache = EntityCache::new(
        Arc::new(echo_graph(Arc::new(AtomicU64::new(0)))),
        ManualClock::new(),
        &settings(10, Some(path.clone())),
        None,
    );
    cache.search(&query("Dune")).await.unwrap();
    assert!(cache.save().is_err(), "the folder cannot be made");
    assert!(cache.is_dirty(), "kept dirty, so the next save retries");

    std::fs::remove_file(&blocker).unwrap();
    cache.save().unwrap();
    assert!(!cache.is_dirty());
    assert!(path.exists());
    assert!(!path.with_extension("json.tmp").exists());
}

/// A shared tier in memory: what several instances' caches would share.
#[derive(Default)]
struct MemoryTier {
    values: Mutex<HashMap<String, Vec<u8>>>,
    claims: Mutex<HashMap<String, ()>>,
    /// When set, answers nothing at all (Redis away): misses, claims granted.
    away: AtomicBool,
    waits: AtomicU64,
    writes: AtomicU64,
}

#[async_trait]
impl SharedTier for MemoryTier {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        if self.away.load(Ordering::SeqCst) {
            return None;
        }
        lock(&self.values).get(key).cloned()
    }
    async fn poll(&self, key: &str) -> Option<Vec<u8>> {
        self.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, _ttl: Duration) {
        if !self.away.load(Ordering::SeqCst) {
            self.writes.fetch_add(1, Ordering::SeqCst);
            lock(&self.values).insert(key.to_owned(), value);
        }
    }
    async fn claim(&self, key: &str) -> bool {
        self.away.load(Ordering::SeqCst) || lock(&self.claims).insert(key.to_owned(), ()).is_none()
    }
    async fn release(&self, key: &str) {
        lock(&self.claims).remove(key);
    }
    fn waited(&self) {
        self.waits.fetch_add(1, Ordering::SeqCst);
    }
    fn stats(&self) -> TierStats {
        TierStats {
            connected: !self.away.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            waits: self.waits.load(Ordering::SeqCst),
            ..TierStats::default()
        }
    }
}

fn instance(
    tier: &Arc<MemoryTier>,
    calls: &Arc<AtomicU64>,
    clock: Arc<ManualClock>,
) -> EntityCache {
    EntityCache::new(
        Arc::new(echo_graph(calls.clone())),
        clock,
        &settings(10, None),
        None,
    )
    .with_shared_tier(tier.clone())
}

#[tokio::test]
async fn what_one_instance_found_the_other_finds_in_the_shared_tier() {
    let tier = Arc::new(MemoryTier::default());
    let (on_a, on_b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clock = ManualClock::new();
    let a = instance(&tier, &on_a, clock.clone());
    let b = instance(&tier, &on_b, clock.clone());
    assert_eq!(a.search(&query("Heat")).await.unwrap(), found("Heat"));
    assert_eq!(b.search(&query("heat")).await.unwrap(), found("Heat"));
    assert_eq!(
        (on_a.load(Ordering::SeqCst), on_b.load(Ordering::SeqCst)),
        (1, 0)
    );
    let stats = b.cache_stats();
    assert_eq!((stats.size, stats.misses), (1, 1), "kept in B's own tier");
    assert_eq!(stats.shared.unwrap().writes, 1);
    assert!(lock(&tier.claims).is_empty(), "the claim was given back");
    // B's copy keeps A's age: it expires when A's does.
    clock.advance(Duration::from_secs(7 * 24 * 3600 + 1));
    lock(&tier.values).clear();
    b.search(&query("Heat")).await.unwrap();
    assert_eq!(on_b.load(Ordering::SeqCst), 1, "expired on B too");
}

#[tokio::test(start_paused = true)]
async fn a_search_claimed_elsewhere_is_waited_for_then_searched_if_it_never_comes() {
    let tier = Arc::new(MemoryTier::default());
    let calls = Arc::new(AtomicU64::new(0));
    let clock = ManualClock::new();
    let cache = instance(&tier, &calls, clock);
    // Another instance holds the claim and files its result 200 ms later.
    let name = Key::of(&query("Ran")).shared_name();
    assert!(tier.claim(&name).await);
    let other = tier.clone();
    let filer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let entry = SharedEntry {
            stored_at_ms: 1_700_000_000_000,
            entities: found("Ran").iter().map(StoredEntity::from).collect(),
            tags: Vec::new(),
        };
        other
            .put(
                &name,
                serde_json::to_vec(&entry).unwrap(),
                Duration::from_secs(60),
            )
            .await;
    });
    assert_eq!(cache.search(&query("Ran")).await.unwrap(), found("Ran"));
    filer.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "it waited for the other's");
    assert_eq!(tier.waits.load(Ordering::SeqCst), 1);

    // A claim whose holder never files anything holds no one up for good.
    assert!(tier.claim(&Key::of(&query("Ikiru")).shared_name()).await);
    let started = tokio::time::Instant::now();
    assert_eq!(cache.search(&query("Ikiru")).await.unwrap(), found("Ikiru"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "searched itself in the end"
    );
    assert!(started.elapsed() >= CLAIM_WAIT);
}

#[tokio::test]
async fn with_the_shared_tier_away_the_cache_works_on_its_own() {
    let tier = Arc::new(MemoryTier::default());
    tier.away.store(true, Ordering::SeqCst);
    let calls = Arc::new(AtomicU64::new(0));
    let cache = instance(&tier, &calls, ManualClock::new());
    cache.search(&query("Brazil")).await.unwrap();
    cache.search(&query("Brazil")).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "its own tier still answers"
    );
    let stats = cache.cache_stats();
    assert_eq!(stats.hits, 1);
    assert!(!stats.shared.unwrap().connected);
    // A corrupt shared entry is a miss, never an error.
    tier.away.store(false, Ordering::SeqCst);
    lock(&tier.values).insert(
        Key::of(&query("Tampopo")).shared_name(),
        b"not json".to_vec(),
    );
    assert_eq!(
        cache.search(&query("Tampopo")).await.unwrap(),
        found("Tampopo")
    );
}
