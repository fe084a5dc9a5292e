//! [`FileMemory`]: the caller memory in one JSON file, written atomically
//! after each change, read at start-up (expired records dropped; a file
//! that cannot be read is moved aside, never overwritten unread).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use qloophone_domain::PhoneNumber;
use qloophone_domain::ports::{CallerMemory, Clock, MemoryError, Remembered};
use serde::{Deserialize, Serialize};

use super::{Keyer, Record};

/// Callers kept at most; past it the longest unchanged is dropped.
const MAX_CALLERS: usize = 100_000;
/// The largest file read (each record is well under 4 KiB).
const MAX_FILE_BYTES: u64 = MAX_CALLERS as u64 * 4096;
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    callers: HashMap<String, Record>,
}

/// The caller memory in a file (or, with no path, in this process only).
pub struct FileMemory {
    path: Option<PathBuf>,
    keyer: Keyer,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    callers: Mutex<HashMap<String, Record>>,
    /// Writes go one at a time, each of the whole state then.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for FileMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMemory")
            .field("path", &self.path)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileMemory {
    /// The memory at `path` (`None`: in memory only), loading what it holds.
    pub fn open(path: Option<PathBuf>, keyer: Keyer, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let memory = Self {
            path,
            keyer,
            ttl,
            clock,
            callers: Mutex::new(HashMap::new()),
            writing: tokio::sync::Mutex::new(()),
        };
        if let Some(path) = memory.path.clone() {
            memory.load(&path);
        }
        memory
    }

    fn now_ms(&self) -> u64 {
        self.clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    fn fresh(&self, record: &Record, now_ms: u64) -> bool {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        now_ms.saturating_sub(record.stored_at_ms) < ttl_ms
    }

    fn load(&self, path: &Path) {
        let bytes = match read_within(path, MAX_FILE_BYTES) {
            Ok(Some(bytes)) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            other => {
                let why = other
                    .err()
                    .map_or("too large".to_owned(), |e| e.to_string());
                set_aside(path, &why);
                return;
            }
        };
        match serde_json::from_slice::<Stored>(&bytes) {
            Ok(stored) if stored.version == VERSION => {
                let now = self.now_ms();
                let mut callers = lock(&self.callers);
                callers.extend(
                    stored
                        .callers
                        .into_iter()
                        .filter(|(_, record)| self.fresh(record, now)),
                );
                tracing::info!(callers = callers.len(), path = %path.display(), "caller memory loaded");
            }
            Ok(stored) => set_aside(path, &format!("version {}", stored.version)),
            Err(err) => set_aside(path, &err.to_string()),
        }
    }

    /// Writes the whole state, when there is a file.
    async fn save(&self) -> Result<(), MemoryError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let _one_at_a_time = self.writing.lock().await;
        let bytes = {
            let callers = lock(&self.callers);
            serde_json::to_vec(&Stored {
                version: VERSION,
                callers: callers.clone(),
            })
            .map_err(|err| MemoryError(err.to_string()))?
        };
        tokio::task::spawn_blocking(move || crate::qloo::write_atomically(&path, &bytes))
            .await
            .map_err(|err| MemoryError(err.to_string()))?
            .map_err(|err| {
                tracing::warn!(error = %err, "caller memory: cannot write its file");
                MemoryError(err.to_string())
            })
    }
}

/// Moves an unreadable file aside (`.unreadable`), so nothing in it is
/// lost to the next write.
fn set_aside(path: &Path, why: &str) {
    let aside = path.with_extension("json.unreadable");
    let moved = std::fs::rename(path, &aside);
    tracing::warn!(path = %path.display(), aside = %aside.display(), reason = why, moved = moved.is_ok(),
        "caller memory file unreadable: moved aside, starting empty");
}

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

#[async_trait]
impl CallerMemory for FileMemory {
    async fn recall(&self, caller: &PhoneNumber) -> Result<Option<Remembered>, MemoryError> {
        let key = self.keyer.key(caller);
        let now = self.now_ms();
        let mut callers = lock(&self.callers);
        match callers.get(&key) {
            Some(record) if self.fresh(record, now) => Ok(Some(record.remembered())),
            Some(_) => {
                // Expired: gone now (the file follows at the next write).
                callers.remove(&key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn remember(&self, caller: &PhoneNumber, what: &Remembered) -> Result<(), MemoryError> {
        let key = self.keyer.key(caller);
        let now = self.now_ms();
        {
            let mut callers = lock(&self.callers);
            callers.retain(|_, record| self.fresh(record, now));
            if callers.len() >= MAX_CALLERS && !callers.contains_key(&key) {
                let oldest = callers
                    .iter()
                    .min_by_key(|(_, r)| r.stored_at_ms)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    callers.remove(&oldest);
                }
            }
            callers.insert(key, Record::of(what, now));
        }
        self.save().await
    }

    async fn forget(&self, caller: &PhoneNumber) -> Result<bool, MemoryError> {
        let key = self.keyer.key(caller);
        let existed = lock(&self.callers).remove(&key).is_some();
        self.save().await?;
        Ok(existed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::SystemTime;

    use qloophone_domain::EntityId;
    use qloophone_domain::ports::Liked;

    use super::*;
    use crate::secret::Secret;

    struct ManualClock(AtomicU64);

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    fn likes() -> Remembered {
        Remembered {
            likes: vec![Liked {
                id: EntityId::parse("M1").unwrap(),
                name: "The Matrix".into(),
            }],
        }
    }

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap()
    }

    fn open(path: &Path, clock: &Arc<ManualClock>) -> FileMemory {
        FileMemory::open(
            Some(path.to_owned()),
            Keyer::new(&Secret::new("sixteen-characters")),
            Duration::from_secs(3600),
            clock.clone(),
        )
    }

    #[tokio::test]
    async fn kept_in_the_file_under_the_hash_until_forgotten_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callers.json");
        let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000_000)));
        let memory = open(&path, &clock);
        let caller = number("+15550100777");
        assert_eq!(memory.recall(&caller).await.unwrap(), None);
        memory.remember(&caller, &likes()).await.unwrap();
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(!file.contains("5550100777"), "never the number: {file}");
        assert!(file.contains("The Matrix"));
        // Another process reading the file finds it; another number does not.
        let reopened = open(&path, &clock);
        assert_eq!(reopened.recall(&caller).await.unwrap(), Some(likes()));
        assert_eq!(
            reopened.recall(&number("+15550100778")).await.unwrap(),
            None
        );
        // Forgotten at once, in the file too.
        assert!(reopened.forget(&caller).await.unwrap());
        assert!(!reopened.forget(&caller).await.unwrap());
        assert_eq!(open(&path, &clock).recall(&caller).await.unwrap(), None);
        // Expired after its time to live.
        memory.remember(&caller, &likes()).await.unwrap();
        clock.0.fetch_add(3_600_001, Ordering::SeqCst);
        assert_eq!(memory.recall(&caller).await.unwrap(), None);
        assert_eq!(open(&path, &clock).recall(&caller).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unreadable_file_is_set_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callers.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000_000)));
        let memory = open(&path, &clock);
        memory
            .remember(&number("+15550100777"), &likes())
            .await
            .unwrap();
        let aside = std::fs::read(path.with_extension("json.unreadable")).unwrap();
        assert_eq!(aside, b"{ not json");
        // In memory only: nothing written anywhere.
        let transient = FileMemory::open(
            None,
            Keyer::new(&Secret::new("sixteen-characters")),
            Duration::from_secs(60),
            clock,
        );
        transient
            .remember(&number("+15550100777"), &likes())
            .await
            .unwrap();
        assert!(
            transient
                .recall(&number("+15550100777"))
                .await
                .unwrap()
                .is_some()
        );
    }
}
