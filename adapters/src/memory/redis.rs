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
