//! [`RedisMemory`]: the caller memory in Redis, shared by the instances:
//! one string per caller, `prefix:memory:<keyed hash>`, expiring with the
//! time to live. Every command is bounded by `redis.deadline_ms`; Redis
//! away is a [`MemoryError`], never a wait.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use qloophone_domain::PhoneNumber;
use qloophone_domain::ports::{CallerMemory, MemoryError, Remembered};

use super::{Keyer, Record};
use crate::redis::Redis;

/// The caller memory on a fleet's Redis.
#[derive(Debug)]
pub struct RedisMemory {
    redis: Redis,
    keyer: Keyer,
    ttl: Duration,
}

impl RedisMemory {
    /// The memory on `redis`.
    pub fn new(redis: Redis, keyer: Keyer, ttl: Duration) -> Self {
        Self { redis, keyer, ttl }
    }

    fn name(&self, caller: &PhoneNumber) -> String {
        self.redis
            .key(&format!("memory:{}", self.keyer.key(caller)))
    }
}

fn away() -> MemoryError {
    MemoryError("Redis did not answer".to_owned())
}

#[async_trait]
impl CallerMemory for RedisMemory {
    async fn recall(&self, caller: &PhoneNumber) -> Result<Option<Remembered>, MemoryError> {
        let value: Option<String> = self
            .redis
            .run(redis::cmd("GET").arg(self.name(caller)))
            .await
            .ok_or_else(away)?;
        Ok(value
            .and_then(|text| serde_json::from_str::<Record>(&text).ok())
            .map(|record| record.remembered()))
    }

    async fn remember(&self, caller: &PhoneNumber, what: &Remembered) -> Result<(), MemoryError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let value = serde_json::to_string(&Record::of(what, now_ms))
            .map_err(|err| MemoryError(err.to_string()))?;
        let _: () = self
            .redis
            .run(
                redis::cmd("SET")
                    .arg(self.name(caller))
                    .arg(value)
                    .arg("EX")
                    .arg(self.ttl.as_secs().max(1)),
            )
            .await
            .ok_or_else(away)?;
        Ok(())
    }

    async fn forget(&self, caller: &PhoneNumber) -> Result<bool, MemoryError> {
        let deleted: u64 = self
            .redis
            .run(redis::cmd("DEL").arg(self.name(caller)))
            .await
            .ok_or_else(away)?;
        Ok(deleted > 0)
    }
}

#[cfg(test)]
mod tests {
    use qloophone_domain::EntityId;
    use qloophone_domain::ports::Liked;

    use super::*;
    use crate::redis::RedisSettings;
    use crate::secret::Secret;

    /// Redis away: every operation is an error within the deadline (the
    /// call then tells the caller it did not work), never a wait.
    #[tokio::test]
    async fn with_redis_away_each_operation_fails_within_its_deadline() {
        // Nothing listens on port 1.
        let settings = RedisSettings {
            url: Some(Secret::new("redis://127.0.0.1:1")),
            deadline_ms: 100,
            ..RedisSettings::default()
        };
        let redis = Redis::open(&settings, "test").unwrap();
        let memory = RedisMemory::new(
            redis,
            Keyer::new(&Secret::new("sixteen-characters")),
            Duration::from_secs(60),
        );
        let caller = PhoneNumber::parse("+15550100777").unwrap();
        let likes = Remembered {
            likes: vec![Liked {
                id: EntityId::parse("M1").unwrap(),
                name: "The Matrix".into(),
            }],
        };
        let bounded = Duration::from_secs(2);
        let recall = tokio::time::timeout(bounded, memory.recall(&caller)).await;
        assert!(matches!(recall, Ok(Err(_))), "{recall:?}");
        let remember = tokio::time::timeout(bounded, memory.remember(&caller, &likes)).await;
        assert!(matches!(remember, Ok(Err(_))), "{remember:?}");
        let forget = tokio::time::timeout(bounded, memory.forget(&caller)).await;
        assert!(matches!(forget, Ok(Err(_))), "{forget:?}");
    }
}
