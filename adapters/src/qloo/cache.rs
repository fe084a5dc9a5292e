//! The entity cache: a [`TasteGraph`] decorator for search results, entity
//! searches and tag searches alike (a tag search's key is marked as such,
//! so the two never answer each other).
//!
//! A true LRU (the `lru` crate) with a time to live, sized in entries. Time
//! comes from the [`Clock`] port. Identical lookups made while one is on its
//! way upstream wait for that one instead of asking again; that lookup runs
//! as its own task, so a caller hanging up never decides its outcome, and an
//! error reaches only the callers that were waiting for it. The cache can be
//! written to a snapshot file (atomically: a temporary file, flushed, then a
//! rename; a failed save is retried at the next) and read back at start-up,
//! dropping what has expired; a corrupt snapshot is logged and ignored.
//!
//! Insights are not cached: they depend on every parameter and the caller's
//! context, and go straight through.

use qloophone_domain::ports::upstream;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use lru::LruCache;
use qloophone_domain::ports::{Clock, TasteGraph};
use qloophone_domain::ports::{
    Entity, FoundTag, Insights, InsightsQuery, SearchQuery, Tag, TagQuery, TasteError,
};
use qloophone_domain::{EntityId, TagId};
use serde::{Deserialize, Serialize};

use super::log::{ApiLog, LogEntry};
use super::wire;

/// Entity cache counters, for `/cache-stats` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held.
    pub size: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went past this instance's entries (to the shared tier,
    /// when there is one, then upstream).
    pub misses: u64,
    /// Entries pushed out to make room.
    pub evictions: u64,
    /// The shared tier's counters, when there is one.
    pub shared: Option<TierStats>,
}

/// The shared tier's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Whether it answered its last request.
    pub connected: bool,
    /// Lookups it answered (another instance had searched).
    pub hits: u64,
    /// Lookups it did not have.
    pub misses: u64,
    /// Results written to it.
    pub writes: u64,
    /// Requests it failed or did not answer in time.
    pub errors: u64,
    /// Lookups that waited for another instance's search of the same.
    pub waits: u64,
}

/// A second tier under the in-process entries, shared by several
/// instances (Redis). Every method answers within a short deadline: when
/// the tier is away, a lookup is a miss and a claim is granted.
#[async_trait]
pub trait SharedTier: Send + Sync {
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// As [`get`](Self::get), while waiting for another instance's search
    /// of `key`: finding nothing is not counted as a miss.
    async fn poll(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration);
    /// Claims the search for `key` for a short while: `false` when another
    /// instance is already searching for it.
    async fn claim(&self, key: &str) -> bool;
    /// Gives a claim back.
    async fn release(&self, key: &str);
    /// Counts a lookup that waited for another instance's search.
    fn waited(&self);
    /// The counters now.
    fn stats(&self) -> TierStats;
}

/// How long a lookup waits for another instance's search of the same thing
/// before searching itself.
const CLAIM_WAIT: Duration = Duration::from_millis(1500);
/// How often it looks for that search's result meanwhile.
const CLAIM_POLL: Duration = Duration::from_millis(40);

/// Something that can report cache counters.
pub trait CacheStatsSource: Send + Sync {
    /// The counters now.
    fn cache_stats(&self) -> CacheStats;
}

/// `[cache]`: the entity cache's size, freshness and snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Entries kept (at least 1).
    pub capacity: usize,
    /// How long an entry stays fresh, in seconds (7 days).
    pub ttl_secs: u64,
    /// Snapshot file; empty for none.
    pub snapshot: String,
    /// How often a changed cache is written to the snapshot, in seconds.
    pub save_interval_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            capacity: 500,
            ttl_secs: 7 * 24 * 3600,
            snapshot: "cache/entities.json".to_owned(),
            save_interval_secs: 30,
        }
    }
}

impl CacheSettings {
    /// How often a changed cache is written to its snapshot.
    pub fn save_interval(&self) -> Duration {
        Duration::from_secs(self.save_interval_secs)
    }
}

type Lookup = Shared<BoxFuture<'static, Result<Found, TasteError>>>;

/// A search the cache answers: for entities, or for tags.
#[derive(Clone)]
enum Ask {
    Entities(SearchQuery),
    Tags(TagQuery),
}

/// What a search found.
#[derive(Clone)]
enum Found {
    Entities(Vec<Entity>),
    Tags(Vec<FoundTag>),
}

impl Found {
    fn is_empty(&self) -> bool {
        match self {
            Self::Entities(entities) => entities.is_empty(),
            Self::Tags(tags) => tags.is_empty(),
        }
    }

    /// As stored in a snapshot or the shared tier.
    fn stored(&self) -> (Vec<StoredEntity>, Vec<(String, String)>) {
        match self {
            Self::Entities(entities) => (
                entities.iter().map(StoredEntity::from).collect(),
                Vec::new(),
            ),
            Self::Tags(tags) => (
                Vec::new(),
                tags.iter()
                    .map(|t| (t.id.as_str().to_owned(), t.name.clone()))
                    .collect(),
            ),
        }
    }

    fn entities(self) -> Vec<Entity> {
        match self {
            Self::Entities(entities) => entities,
            Self::Tags(_) => Vec::new(),
        }
    }

    fn tags(self) -> Vec<FoundTag> {
        match self {
            Self::Tags(tags) => tags,
            Self::Entities(_) => Vec::new(),
        }
    }
}

impl Ask {
    async fn upstream(&self, inner: &dyn TasteGraph) -> Result<Found, TasteError> {
        match self {
            Self::Entities(query) => inner.search(query).await.map(Found::Entities),
            Self::Tags(query) => inner.search_tags(query).await.map(Found::Tags),
        }
    }
}

/// How a tag search's key marks its `types`: entity types are URNs or
/// nothing, so no entity search has a key starting so.
const TAGS_MARK: &str = "tags:";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    text: String,
    types: String,
    take: u32,
}

/// Words as a key holds them: lower case, single spaces.
fn folded(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Key {
    /// The key in the shared tier: the same for the same search on every
    /// instance.
    fn shared_name(&self) -> String {
        format!("{}|{}|{}", self.text, self.types, self.take)
    }

    fn of(query: &SearchQuery) -> Self {
        Self {
            text: folded(&query.text),
            types: query
                .types
                .iter()
                .map(|&kind| wire::urn(kind))
                .collect::<Vec<_>>()
                .join(","),
            take: query.take,
        }
    }

    fn of_tags(query: &TagQuery) -> Self {
        Self {
            text: folded(&query.text),
            types: format!(
                "{TAGS_MARK}{}",
                query.parent.map(wire::urn).unwrap_or_default()
            ),
            take: query.take,
        }
    }

    fn is_tags(&self) -> bool {
        self.types.starts_with(TAGS_MARK)
    }
}

struct Stored {
    found: Found,
    stored_at: SystemTime,
}

impl Stored {
    /// What a snapshot or the shared tier holds for `key`, stored at
    /// `stored_at_ms` (Unix milliseconds); entries that no longer parse
    /// are left out.
    fn saved(
        key: &Key,
        entities: Vec<StoredEntity>,
        tags: Vec<(String, String)>,
        stored_at_ms: u64,
    ) -> Self {
        let found = if key.is_tags() {
            Found::Tags(
                tags.into_iter()
                    .filter_map(|(id, name)| {
                        Some(FoundTag {
                            id: TagId::parse(&id).ok()?,
                            name,
                        })
                    })
                    .collect(),
            )
        } else {
            Found::Entities(
                entities
                    .into_iter()
                    .filter_map(StoredEntity::into_entity)
                    .collect(),
            )
        };
        Self {
            found,
            stored_at: UNIX_EPOCH + Duration::from_millis(stored_at_ms),
        }
    }
}

struct State {
    entries: LruCache<Key, Stored>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// The entity cache in front of a taste graph.
pub struct EntityCache {
    inner: Arc<dyn TasteGraph>,
    snapshot: Option<PathBuf>,
    shelf: Arc<Shelf>,
    log: Option<ApiLog>,
    shared: Option<Arc<dyn SharedTier>>,
}

/// The entries and the lookups on their way upstream. Shared with those
/// lookups, which run as tasks of their own and file their results here
/// whether or not anyone still waits for them.
struct Shelf {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    state: Mutex<State>,
    inflight: Mutex<HashMap<Key, Lookup>>,
    dirty: AtomicBool,
}

impl std::fmt::Debug for EntityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityCache")
            .field("snapshot", &self.snapshot)
            .field("ttl", &self.shelf.ttl)
            .field("stats", &self.cache_stats())
            .finish_non_exhaustive()
    }
}

impl Shelf {
    /// Young enough to use: stored less than the TTL ago, and not from the
    /// future (past a minute of clock skew between instances), which would
    /// otherwise be fresh for ever.
    fn fresh(&self, stored: &Stored) -> bool {
        match self.clock.now().duration_since(stored.stored_at) {
            Ok(age) => age < self.ttl,
            Err(ahead) => ahead.duration() <= MAX_CLOCK_SKEW,
        }
    }

    fn cached(&self, key: &Key) -> Option<Found> {
        let mut state = lock(&self.state);
        let fresh = state.entries.get(key).map(|stored| self.fresh(stored))?;
        if !fresh {
            state.entries.pop(key);
            return None;
        }
        state.hits += 1;
        state.entries.get(key).map(|stored| stored.found.clone())
    }

    fn store_at(&self, key: Key, found: Found, stored_at: SystemTime) {
        let mut state = lock(&self.state);
        let stored = Stored { found, stored_at };
        if let Some((evicted, _)) = state.entries.push(key.clone(), stored)
            && evicted != key
        {
            state.evictions += 1;
        }
        self.dirty.store(true, Ordering::Release);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EntityCache {
    /// A cache in front of `inner`, loading the snapshot if there is one.
    pub fn new(
        inner: Arc<dyn TasteGraph>,
        clock: Arc<dyn Clock>,
        settings: &CacheSettings,
        log: Option<ApiLog>,
    ) -> Self {
        let capacity = NonZeroUsize::new(settings.capacity).unwrap_or(NonZeroUsize::MIN);
        let cache = Self {
            inner,
            snapshot: Some(settings.snapshot.as_str())
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            shelf: Arc::new(Shelf {
                clock,
                ttl: Duration::from_secs(settings.ttl_secs),
                state: Mutex::new(State {
                    entries: LruCache::new(capacity),
                    hits: 0,
                    misses: 0,
                    evictions: 0,
                }),
                inflight: Mutex::new(HashMap::new()),
                dirty: AtomicBool::new(false),
            }),
            log,
            shared: None,
        };
        if let Some(path) = cache.snapshot.clone() {
            cache.load(&path);
        }
        cache
    }

    /// Puts `tier` under this instance's entries: a lookup they miss asks
    /// it before going upstream, and what comes from upstream is stored
    /// in it too.
    #[must_use]
    pub fn with_shared_tier(mut self, tier: Arc<dyn SharedTier>) -> Self {
        self.shared = Some(tier);
        self
    }

    /// Whether entries changed since the last save.
    pub fn is_dirty(&self) -> bool {
        self.shelf.dirty.load(Ordering::Acquire)
    }

    /// Writes the snapshot (when one is configured), atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.snapshot else {
            return Ok(());
        };
        let snapshot = {
            let state = lock(&self.shelf.state);
            Snapshot {
                version: SNAPSHOT_VERSION,
                entries: state
                    .entries
                    .iter()
                    .rev() // least recent first, so loading keeps the order
                    .map(|(key, stored)| {
                        let (entities, tags) = stored.found.stored();
                        SnapshotEntry {
                            query: key.text.clone(),
                            types: key.types.clone(),
                            take: key.take,
                            stored_at_ms: millis(stored.stored_at),
                            entities,
                            tags,
                        }
                    })
                    .collect(),
            }
        };
        // Cleared before writing, so a change made meanwhile marks it again;
        // set again when the write fails, so the next save retries.
        self.shelf.dirty.store(false, Ordering::Release);
        let written = write_atomically(path, &serde_json::to_vec(&snapshot)?);
        if written.is_err() {
            self.shelf.dirty.store(true, Ordering::Release);
        }
        written
    }

    /// The largest snapshot this cache could have written: its capacity
    /// in entries, each at most [`SNAPSHOT_ENTRY_BYTES`].
    fn snapshot_limit(&self) -> u64 {
        let capacity = lock(&self.shelf.state).entries.cap().get();
        (capacity as u64).saturating_mul(SNAPSHOT_ENTRY_BYTES)
    }

    fn load(&self, path: &Path) {
        let limit = self.snapshot_limit();
        let bytes = match read_within(path, limit) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                tracing::warn!(path = %path.display(), limit, "cache snapshot larger than this cache could have written ignored; starting empty");
                return;
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read the cache snapshot; starting empty");
                return;
            }
        };
        let snapshot: Snapshot = match serde_json::from_slice(&bytes) {
            Ok(snapshot) => snapshot,
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "corrupt cache snapshot ignored; starting empty");
                return;
            }
        };
        if snapshot.version != SNAPSHOT_VERSION {
            tracing::warn!(path = %path.display(), version = snapshot.version, "cache snapshot of another version ignored; starting empty");
            return;
        }
        let mut state = lock(&self.shelf.state);
        let mut loaded = 0;
        for entry in snapshot.entries {
            let key = Key {
                text: entry.query,
                types: entry.types,
                take: entry.take,
            };
            let stored = Stored::saved(&key, entry.entities, entry.tags, entry.stored_at_ms);
            if self.shelf.fresh(&stored) {
                state.entries.push(key, stored);
                loaded += 1;
            }
        }
        tracing::info!(entries = loaded, path = %path.display(), "entity cache loaded");
    }

    /// Starts the upstream search for `key` as a task of its own, so that
    /// its outcome never depends on the caller that started it staying on
    /// the line: a caller who hangs up is aborted, the task is not. The
    /// task files a good result and takes its in-flight entry away when it
    /// ends, so an error reaches only the callers that were waiting for it.
    ///
    /// It runs while `inflight` is locked by the caller; it takes that lock
    /// itself only once it has an answer, after the entry is in place.
    fn spawn_lookup(&self, key: Key, ask: Ask) -> Lookup {
        let inner = self.inner.clone();
        let shelf = self.shelf.clone();
        let shared = self.shared.clone();
        // Its requests count for the tool run that started it.
        let task = tokio::spawn(upstream::carry(async move {
            let result = match &shared {
                Some(tier) => {
                    search_shared(tier.as_ref(), inner.as_ref(), &shelf, &key, &ask).await
                }
                None => ask
                    .upstream(inner.as_ref())
                    .await
                    .map(|found| (found, None)),
            };
            lock(&shelf.inflight).remove(&key);
            match result {
                Ok((found, stored_at)) => {
                    if !found.is_empty() {
                        let stored_at = stored_at.unwrap_or_else(|| shelf.clock.now());
                        shelf.store_at(key, found.clone(), stored_at);
                    }
                    Ok(found)
                }
                Err(err) => Err(err),
            }
        }));
        async move {
            task.await.unwrap_or_else(|err| {
                Err(TasteError::Unreachable(format!(
                    "the lookup stopped: {err}"
                )))
            })
        }
        .boxed()
        .shared()
    }

    fn log_hit(&self, ask: &Ask) {
        if let Some(log) = &self.log {
            let (endpoint, params) = match ask {
                Ask::Entities(query) => ("/search", wire::search_params(query)),
                // The flag as the client sends it is not known here: the
                // line says what was looked up, not the request's bytes.
                Ask::Tags(query) => ("/v2/tags", wire::tags_params(query, false)),
            };
            log.record(&LogEntry::now(endpoint, params, "cached".into(), 0, "hit"));
        }
    }

    /// A search answered from the entries, from a lookup already on its
    /// way, or upstream (through the shared tier when there is one).
    async fn find(&self, key: Key, ask: Ask) -> Result<Found, TasteError> {
        if let Some(found) = self.shelf.cached(&key) {
            self.log_hit(&ask);
            return Ok(found);
        }
        // One lookup upstream per key: later callers share it. Counted as a
        // hit, since they cost nothing upstream.
        let lookup = {
            let mut inflight = lock(&self.shelf.inflight);
            if let Some(lookup) = inflight.get(&key) {
                lock(&self.shelf.state).hits += 1;
                lookup.clone()
            } else {
                lock(&self.shelf.state).misses += 1;
                let lookup = self.spawn_lookup(key.clone(), ask);
                inflight.insert(key, lookup.clone());
                lookup
            }
        };
        lookup.await
    }
}

/// A search through the shared tier: its entry if another instance has
/// searched already; else, once this instance holds the claim (or another
/// instance's search has not answered within [`CLAIM_WAIT`]), the search
/// upstream, whose result is stored in the tier for the others. Returns
/// the entities and, for a shared entry, when it was first stored (so its
/// freshness runs from then, not from when this instance copied it).
async fn search_shared(
    tier: &dyn SharedTier,
    inner: &dyn TasteGraph,
    shelf: &Shelf,
    key: &Key,
    ask: &Ask,
) -> Result<(Found, Option<SystemTime>), TasteError> {
    let name = key.shared_name();
    let shared = |bytes: Option<Vec<u8>>| {
        let entry: SharedEntry = serde_json::from_slice(&bytes?).ok()?;
        let stored = Stored::saved(key, entry.entities, entry.tags, entry.stored_at_ms);
        (shelf.fresh(&stored) && !stored.found.is_empty())
            .then_some((stored.found, Some(stored.stored_at)))
    };
    if let Some(found) = shared(tier.get(&name).await) {
        return Ok(found);
    }
    let claimed = tier.claim(&name).await;
    if !claimed {
        tier.waited();
        let until = tokio::time::Instant::now() + CLAIM_WAIT;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(CLAIM_POLL).await;
            if let Some(found) = shared(tier.poll(&name).await) {
                return Ok(found);
            }
        }
    }
    let result = ask.upstream(inner).await;
    if let Ok(found) = &result
        && !found.is_empty()
    {
        let (entities, tags) = found.stored();
        let entry = SharedEntry {
            stored_at_ms: millis(shelf.clock.now()),
            entities,
            tags,
        };
        if let Ok(bytes) = serde_json::to_vec(&entry) {
            tier.put(&name, bytes, shelf.ttl).await;
        }
    }
    if claimed {
        tier.release(&name).await;
    }
    result.map(|found| (found, None))
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk,
/// renames it over `path`, then flushes the directory: a crash leaves the
/// old snapshot or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // Makes the rename itself durable; not every platform can open a
    // directory, and the data is already safe, so a failure here is ignored.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl CacheStatsSource for EntityCache {
    fn cache_stats(&self) -> CacheStats {
        let state = lock(&self.shelf.state);
        CacheStats {
            size: state.entries.len(),
            hits: state.hits,
            misses: state.misses,
            evictions: state.evictions,
            shared: self.shared.as_ref().map(|tier| tier.stats()),
        }
    }
}

#[async_trait]
impl TasteGraph for EntityCache {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Entity>, TasteError> {
        self.find(Key::of(query), Ask::Entities(query.clone()))
            .await
            .map(Found::entities)
    }

    async fn insights(&self, query: &InsightsQuery) -> Result<Insights, TasteError> {
        self.inner.insights(query).await
    }

    async fn search_tags(&self, query: &TagQuery) -> Result<Vec<FoundTag>, TasteError> {
        self.find(Key::of_tags(query), Ask::Tags(query.clone()))
            .await
            .map(Found::tags)
    }

    fn place_kind(&self, words: &str) -> Option<FoundTag> {
        self.inner.place_kind(words)
    }
}

/// The snapshot format this build writes and reads.
const SNAPSHOT_VERSION: u32 = 1;

/// The most bytes one entry of a snapshot may take (its query and up to a
/// search's entities, with their tags and descriptions: a few KiB in
/// practice).
const SNAPSHOT_ENTRY_BYTES: u64 = 32 * 1024;

/// How far in the future an entry's time may be (another instance's clock
/// a little ahead) and still count.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The file at `path`, if it is at most `limit` bytes (`None` past it,
/// read no further).
fn read_within(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;

    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > limit {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    version: u32,
    entries: Vec<SnapshotEntry>,
}

/// One search's result in the shared tier.
#[derive(Serialize, Deserialize)]
struct SharedEntry {
    stored_at_ms: u64,
    #[serde(default)]
    entities: Vec<StoredEntity>,
    /// A tag search's tags, (id, name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotEntry {
    query: String,
    types: String,
    take: u32,
    stored_at_ms: u64,
    #[serde(default)]
    entities: Vec<StoredEntity>,
    /// A tag search's tags, (id, name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntity {
    entity_id: String,
    name: String,
    /// Qloo's URN, as the snapshot has always held it.
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    popularity: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disambiguation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    year: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    people: Vec<String>,
}

impl From<&Entity> for StoredEntity {
    fn from(entity: &Entity) -> Self {
        Self {
            entity_id: entity
                .id
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            name: entity.name.clone(),
            kind: entity.kind.map(wire::urn).unwrap_or_default().to_owned(),
            popularity: entity.popularity,
            tags: entity
                .tags
                .iter()
                .map(|t| (t.id.clone(), t.name.clone()))
                .collect(),
            description: entity.description.clone(),
            address: entity.address.clone(),
            disambiguation: entity.disambiguation.clone(),
            year: entity.year,
            people: entity.people.clone(),
        }
    }
}

impl StoredEntity {
    fn into_entity(self) -> Option<Entity> {
        Some(Entity {
            id: Some(EntityId::parse(&self.entity_id).ok()?),
            name: self.name,
            kind: wire::kind_of(&self.kind),
            popularity: self.popularity,
            tags: self
                .tags
                .into_iter()
                .map(|(id, name)| Tag { id, name })
                .collect(),
            description: self.description,
            address: self.address,
            disambiguation: self.disambiguation,
            year: self.year,
            people: self.people,
            ..Entity::default()
        })
    }
}

#[cfg(test)]
mod tests;
