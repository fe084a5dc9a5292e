//! The entity cache's shared tier: one Redis string per search, expiring
//! with the cache's TTL, and a short `SET NX` claim per search so that
//! identical searches on several instances reach Qloo once.
//!
//! Keys are `prefix:entity:<sha256 of the search>`: callers' words never
//! become Redis key names, and every key has the same length.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::Redis;
use crate::qloo::{SharedTier, TierStats};

/// How long a claim holds when its holder never gives it back (it crashed
/// or its search is slow): past this, another instance searches too.
const CLAIM_TTL: Duration = Duration::from_secs(3);

/// Redis as the entity cache's second tier.
#[derive(Debug)]
pub struct SharedEntities {
    redis: Redis,
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
    waits: AtomicU64,
}

impl SharedEntities {
    /// The tier on `redis`.
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            waits: AtomicU64::new(0),
        }
    }

    fn name(&self, kind: &str, key: &str) -> String {
        let digest = Sha256::digest(key.as_bytes());
        let mut name = self.redis.key(kind);
        name.push(':');
        for byte in digest {
            name.push_str(&format!("{byte:02x}"));
        }
        name
    }

    /// The entry for `key`: a find counts as a hit, a miss only when
    /// `count_miss` (a poll while another instance searches is no lookup).
    async fn fetch(&self, key: &str, count_miss: bool) -> Option<Vec<u8>> {
        // Away: not worth a deadline per lookup; the heartbeats notice
        // when it returns.
        if !self.redis.is_up() {
            return None;
        }
        let name = self.name("entity", key);
        match self
            .redis
            .run::<Option<Vec<u8>>>(redis::cmd("GET").arg(&name))
            .await
        {
            Some(Some(bytes)) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(bytes)
            }
            Some(None) => {
                if count_miss {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            None => {
                self.failed();
                None
            }
        }
    }

    fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl SharedTier for SharedEntities {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.fetch(key, true).await
    }

    async fn poll(&self, key: &str) -> Option<Vec<u8>> {
        self.fetch(key, false).await
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if !self.redis.is_up() {
            return;
        }
        let name = self.name("entity", key);
        let written = self
            .redis
            .run::<()>(
                redis::cmd("SET")
                    .arg(&name)
                    .arg(value)
                    .arg("EX")
                    .arg(ttl.as_secs().max(1)),
            )
            .await;
        if written.is_some() {
            self.writes.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed();
        }
    }

    async fn claim(&self, key: &str) -> bool {
        if !self.redis.is_up() {
            return true;
        }
        let name = self.name("entity-claim", key);
        let claim = redis::cmd("SET")
            .arg(&name)
            .arg(self.redis.instance().as_ref())
            .arg("NX")
            .arg("PX")
            .arg(u64::try_from(CLAIM_TTL.as_millis()).unwrap_or(u64::MAX))
            .clone();
        match self.redis.run::<Option<String>>(&claim).await {
            Some(Some(_)) => true,
            Some(None) => false,
            // Away: nobody to coordinate with; search.
            None => {
                self.failed();
                true
            }
        }
    }

    async fn release(&self, key: &str) {
        let name = self.name("entity-claim", key);
        if self
            .redis
            .run::<i64>(redis::cmd("DEL").arg(&name))
            .await
            .is_none()
        {
            self.failed();
        }
    }

    fn waited(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self) -> TierStats {
        TierStats {
            connected: self.redis.is_up(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
        }
    }
}
