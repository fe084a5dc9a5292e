//! Redis: what several instances behind one load balancer share.
//!
//! A call stays on the instance holding its two WebSockets; what callers
//! and operators expect to be shared goes through Redis:
//!
//! - [`SharedEntities`]: the entity cache's second tier, under each
//!   instance's LRU, with Redis expiry keeping the TTL and a short lock so
//!   identical searches on several instances reach Qloo once.
//! - [`feed`]: every instance's dashboard events on one capped stream;
//!   each instance feeds the others' into its own dashboards.
//! - [`Fleet`]: the calls in progress on each instance, kept alive by
//!   heartbeats, a fleet-wide call limit, and stream tokens spent once
//!   across the fleet.
//!
//! Redis is never on a call's critical path for longer than
//! [`RedisSettings::deadline_ms`]: every command runs under that deadline,
//! and a command that misses it, or finds Redis away, falls back to the
//! instance's own state (its LRU, its dashboards, its own call limit and
//! token ledger). Once a command has found Redis away, calls stop asking
//! it (no deadline spent per lookup) until a heartbeat finds it back. The
//! connection is made lazily and remade by itself, so a server starts
//! while Redis is away and picks it up when it returns.

mod entities;
pub mod feed;
mod fleet;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, Pipeline, Script};
use serde::{Deserialize, Serialize};

pub use entities::SharedEntities;
pub use fleet::{Admission, Fleet, FleetView, InstanceView, Place};

use crate::secret::Secret;

/// `[redis]`: shared state for running several instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `REDIS_URL` (`redis://[:password@]host:port[/db]`); none keeps every
    /// piece of state in-process.
    pub url: Option<Secret>,
    /// This instance's name on dashboards and in the registry; empty for
    /// the host name and a random suffix.
    pub instance: String,
    /// The prefix of every key, so several deployments can share a Redis.
    pub prefix: String,
    /// The longest any one Redis command may take, in ms.
    pub deadline_ms: u64,
    /// How often this instance says it is alive, in ms.
    pub heartbeat_ms: u64,
    /// How long an instance (and its calls) outlives its last heartbeat,
    /// in ms.
    pub expiry_ms: u64,
    /// Calls at once across every instance (0 for no fleet limit).
    pub max_fleet_calls: usize,
    /// Dashboard events kept on the shared stream (approximately).
    pub feed_length: usize,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            instance: String::new(),
            prefix: "qloophone".to_owned(),
            deadline_ms: 250,
            heartbeat_ms: 2_000,
            expiry_ms: 6_000,
            max_fleet_calls: 0,
            feed_length: 10_000,
        }
    }
}

impl RedisSettings {
    /// The instance's name: the configured one, or the host name with a
    /// random suffix (two replicas of one image share a host name).
    pub fn instance_name(&self) -> String {
        if !self.instance.trim().is_empty() {
            return self.instance.trim().to_owned();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|host| !host.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|host| host.trim().to_owned())
            })
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| "qloophone".to_owned());
        format!("{host}-{:04x}", fastrand::u16(..))
    }

    /// The deadline of one command.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.max(1))
    }
}

/// Why Redis could not be set up at all (a bad URL; an unreachable Redis
/// is not an error).
#[derive(Debug, thiserror::Error)]
#[error("redis.url (REDIS_URL): {0}")]
pub struct BadUrl(String);

/// A shared handle on one Redis: commands under a deadline, and whether
/// Redis answered the last one.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    manager: ConnectionManager,
    deadline: Duration,
    prefix: String,
    instance: Arc<str>,
    up: AtomicBool,
    /// Commands that failed or missed their deadline.
    failures: AtomicU64,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("instance", &self.inner.instance)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

fn manager_config(deadline: Duration, response: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(deadline))
        .set_response_timeout(Some(response))
        // Our own deadline bounds each command; the manager reconnects in
        // the background instead of retrying under a waiting call.
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
}

impl Redis {
    /// A handle on the Redis at `settings.url`, connecting lazily: this
    /// never waits for Redis, and succeeds while it is away.
    ///
    /// # Errors
    /// When there is no URL or it is not a Redis URL.
    pub fn open(settings: &RedisSettings, instance: &str) -> Result<Self, BadUrl> {
        let url = settings
            .url
            .as_ref()
            .ok_or_else(|| BadUrl("not set".to_owned()))?;
        // The error text may quote the URL, password and all: not shown.
        let client = redis::Client::open(url.expose())
            .map_err(|_| BadUrl("not a redis:// URL".to_owned()))?;
        let deadline = settings.deadline();
        let manager = ConnectionManager::new_lazy_with_config(
            client.clone(),
            manager_config(deadline, deadline),
        )
        .map_err(|err| BadUrl(err.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                deadline,
                prefix: settings.prefix.clone(),
                instance: instance.into(),
                up: AtomicBool::new(false),
                failures: AtomicU64::new(0),
            }),
        })
    }

    /// This instance's name.
    pub fn instance(&self) -> &Arc<str> {
        &self.inner.instance
    }

    /// Whether Redis answered the last command.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Relaxed)
    }

    /// Commands that failed or missed their deadline since start.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Relaxed)
    }

    /// `prefix:part`.
    pub fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.inner.prefix)
    }

    /// The deadline of one command.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// A connection of its own, for a blocking read that must not hold up
    /// the shared one, with replies allowed `block` longer than usual.
    fn dedicated(&self, block: Duration) -> Option<ConnectionManager> {
        ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            manager_config(self.inner.deadline, self.inner.deadline + block),
        )
        .ok()
    }

    /// Runs one command under the deadline; `None` when Redis is away, it
    /// failed or it took too long (counted, and a change of state logged).
    pub async fn run<T: FromRedisValue>(&self, cmd: &Cmd) -> Option<T> {
        let mut connection = self.inner.manager.clone();
        self.settle(
            tokio::time::timeout(self.inner.deadline, cmd.query_async(&mut connection)).await,
        )
    }

    /// Runs a pipeline under the deadline, as [`run`](Self::run).
    pub async fn pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Option<T> {
        let mut connection = self.inner.manager.clone();
        self.settle(
            tokio::time::timeout(self.inner.deadline, pipe.query_async(&mut connection)).await,
        )
    }

    /// Runs a script under the deadline, as [`run`](Self::run).
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Option<T> {
        let mut connection = self.inner.manager.clone();
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        self.settle(
            tokio::time::timeout(
                self.inner.deadline,
                invocation.invoke_async(&mut connection),
            )
            .await,
        )
    }

    fn settle<T>(
        &self,
        outcome: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match outcome {
            Ok(Ok(value)) => {
                self.mark(true, None);
                Some(value)
            }
            Ok(Err(err)) => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()
                    || err.is_timeout()
                {
                    self.mark(false, Some(&err.to_string()));
                } else {
                    tracing::warn!(error = %err, "redis command failed");
                }
                None
            }
            Err(_) => {
                self.inner.failures.fetch_add(1, Ordering::Relaxed);
                self.mark(false, Some("no answer within the deadline"));
                None
            }
        }
    }

    fn mark(&self, up: bool, why: Option<&str>) {
        let was = self.inner.up.swap(up, Ordering::Relaxed);
        match (was, up) {
            (false, true) => tracing::info!("redis reachable: sharing state with the fleet"),
            (true, false) => tracing::warn!(
                error = why.unwrap_or_default(),
                "redis lost: running on this instance's own state until it returns"
            ),
            _ => {}
        }
    }

    /// Asks Redis whether it is there, under the deadline.
    pub async fn ping(&self) -> bool {
        self.run::<String>(&redis::cmd("PING")).await.is_some()
    }
}
