//! The fleet: every instance's calls in progress, kept alive by
//! heartbeats, so a fleet-wide call limit holds and a crashed instance's
//! calls disappear by themselves; and stream tokens spent once fleet-wide.
//!
//! In Redis:
//! - `prefix:calls`, a sorted set of `instance|n` (one per call admitted),
//!   scored by when it expires. Admission prunes the expired, counts and
//!   adds in one script, so two instances admitting at once never both
//!   take the last place. Each heartbeat pushes this instance's expiries
//!   on (and, after Redis was away, adds its calls back); a crashed
//!   instance's calls expire [`expiry`](super::RedisSettings) after its
//!   last beat. A call is this instance's only once Redis has admitted it,
//!   and a heartbeat never adds back one that has left, so neither race
//!   with a heartbeat miscounts a place.
//! - `prefix:instances`, a sorted set of instance names scored the same
//!   way, and `prefix:instance-info`, a hash of what each instance said at
//!   its last beat (its calls, whether it drains, its own limit).
//! - `prefix:stream-call:<sha256>`, one key per call whose stream was
//!   opened, expiring after the one-stream window. A call recorded while
//!   Redis was away is recorded at the first heartbeat that finds it back.
//!
//! Times are Redis's own (`TIME` inside the scripts), so instances whose
//! clocks differ agree on what has expired.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use qloophone_domain::call::CallRegistry;
use redis::Script;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Redis, RedisSettings};
use crate::dashboard::DashboardHub;
use crate::twilio::per_call::SharedRecords;
use crate::twilio::stream_token::{Spend, TokenLedger};

const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
if limit > 0 and n >= limit then
  return {0, n}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return {1, n + 1}
";

const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], deadline, ARGV[2])
for i = 5, #ARGV do
  if ARGV[4] == 'add' then
    redis.call('ZADD', KEYS[1], deadline, ARGV[i])
  else
    redis.call('ZADD', KEYS[1], 'XX', deadline, ARGV[i])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, name in ipairs(gone) do
  redis.call('HDEL', KEYS[3], name)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return {redis.call('ZRANGE', KEYS[1], 0, -1), redis.call('HGETALL', KEYS[3])}
";

const LEAVE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return 1
";

/// What one instance said at its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    /// Its name.
    pub name: String,
    /// Its calls in the fleet's registry.
    #[serde(default)]
    pub calls: usize,
    /// Whether it is draining (turning new calls away).
    pub draining: bool,
    /// Its own call limit.
    pub max_calls: usize,
    /// Its version.
    pub version: String,
    /// Dashboards connected to it.
    #[serde(default)]
    pub dashboards: usize,
}

/// The fleet as of the last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetView {
    /// Calls in progress on every instance.
    pub calls: usize,
    /// The instances alive, by name.
    pub instances: Vec<InstanceView>,
    /// When this view was read.
    pub at: Option<SystemTime>,
}

/// Whether a call may start.
#[derive(Debug)]
pub enum Admission {
    /// It may: it holds this place in the fleet's registry until dropped.
    Admitted(Place),
    /// The fleet is at its limit, with this many calls.
    Full(usize),
    /// Redis did not answer: only this instance's own limit applies.
    Unchecked,
}

/// A call's place in the fleet's registry, given back when dropped.
#[derive(Debug)]
pub struct Place {
    fleet: Arc<Fleet>,
    member: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        // At once from the heartbeats; from Redis as soon as it answers
        // (or by expiry if it does not).
        lock(&self.fleet.own).remove(&self.member);
        let fleet = self.fleet.clone();
        let member = std::mem::take(&mut self.member);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let key = fleet.redis.key("calls");
                let _ = fleet
                    .redis
                    .run::<i64>(redis::cmd("ZREM").arg(&key).arg(&member))
                    .await;
            });
        }
    }
}

/// This instance's part in the fleet.
#[derive(Debug)]
pub struct Fleet {
    redis: Redis,
    limit: usize,
    expiry: Duration,
    heartbeat: Duration,
    version: String,
    own: Mutex<HashSet<String>>,
    next: AtomicU64,
    view: Mutex<FleetView>,
    feed_dropped: Arc<AtomicU64>,
    /// Whether another instance has dashboards (as of the last heartbeat).
    watched: Arc<AtomicBool>,
    /// Whether the next heartbeat adds this instance's calls to the
    /// registry rather than only pushing their expiry on: at start and
    /// after Redis was away (it may have lost them).
    rejoin: AtomicBool,
    /// Calls whose stream opened while Redis could not record it, with
    /// when their record would have expired: recorded at the next beat
    /// that reaches Redis.
    unrecorded: Mutex<Vec<(String, std::time::Instant)>>,
    admit: ScriptBox,
    beat: ScriptBox,
    leave: ScriptBox,
}

/// A script, printed by name only.
struct ScriptBox(Script);

impl std::fmt::Debug for ScriptBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Script")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

impl Fleet {
    /// This instance's part, on `redis`.
    pub fn new(redis: Redis, settings: &RedisSettings, version: &str) -> Arc<Self> {
        Arc::new(Self {
            redis,
            limit: settings.max_fleet_calls,
            expiry: Duration::from_millis(settings.expiry_ms.max(1)),
            heartbeat: Duration::from_millis(settings.heartbeat_ms.max(1)),
            version: version.to_owned(),
            own: Mutex::new(HashSet::new()),
            next: AtomicU64::new(0),
            view: Mutex::new(FleetView::default()),
            feed_dropped: Arc::default(),
            watched: Arc::default(),
            rejoin: AtomicBool::new(true),
            unrecorded: Mutex::new(Vec::new()),
            admit: ScriptBox(Script::new(ADMIT)),
            beat: ScriptBox(Script::new(BEAT)),
            leave: ScriptBox(Script::new(LEAVE)),
        })
    }

    /// The Redis it runs on.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }

    /// Counts the events the dashboard feed could not publish.
    pub fn feed_dropped(&self) -> &Arc<AtomicU64> {
        &self.feed_dropped
    }

    /// Turns `true` while another instance has dashboards connected (as
    /// of the last heartbeat): only then is model traffic worth publishing.
    pub fn watched(&self) -> &Arc<AtomicBool> {
        &self.watched
    }

    /// The figures `/metrics` reports.
    pub fn snapshot(&self) -> crate::metrics::FleetSnapshot {
        let view = self.view();
        crate::metrics::FleetSnapshot {
            redis_up: self.redis.is_up(),
            redis_failures: self.redis.failures(),
            calls: view.calls,
            limit: self.limit,
            instances: view.instances.len(),
            draining: view.instances.iter().filter(|i| i.draining).count(),
            feed_dropped: self.feed_dropped.load(Ordering::Relaxed),
        }
    }

    /// The fleet-wide call limit (0 for none).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The fleet as of the last heartbeat.
    pub fn view(&self) -> FleetView {
        lock(&self.view).clone()
    }

    /// Whether the last view says the fleet is full (for `/twiml`, which
    /// answers busy without waiting on Redis; `/call` checks for real).
    pub fn looks_full(&self) -> bool {
        self.limit > 0 && self.redis.is_up() && self.view().calls >= self.limit
    }

    /// Takes a place in the fleet for a new call, unless the fleet is at
    /// its limit.
    pub async fn admit(self: &Arc<Self>) -> Admission {
        // Away: no deadline spent on it; the heartbeats notice its return.
        if !self.redis.is_up() {
            return Admission::Unchecked;
        }
        let member = format!(
            "{}|{}",
            self.redis.instance(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        // Not among this instance's calls until Redis admits it: a
        // heartbeat sent meanwhile would add it to the registry before the
        // script counts it, and it would count against itself (or, refused,
        // stay counted until it expires). Once admitted its expiry is far
        // off, so the next heartbeat is soon enough to keep it alive.
        let key = self.redis.key("calls");
        let answer: Option<(u8, usize)> = self
            .redis
            .script(
                &self.admit.0,
                &[&key],
                &[&self.limit.to_string(), &millis(self.expiry), &member],
            )
            .await;
        match answer {
            Some((1, _)) => {
                lock(&self.own).insert(member.clone());
                Admission::Admitted(Place {
                    fleet: self.clone(),
                    member,
                })
            }
            Some((_, calls)) => Admission::Full(calls),
            None => Admission::Unchecked,
        }
    }

    /// The registry's keys, as the scripts take them: the calls, the
    /// instances, what each instance said.
    fn registry_keys(&self) -> [String; 3] {
        [
            self.redis.key("calls"),
            self.redis.key("instances"),
            self.redis.key("instance-info"),
        ]
    }

    /// Says this instance is alive, with its calls and whether it drains,
    /// and reads the fleet back; `false` when Redis did not answer.
    pub async fn beat(&self, registry: &CallRegistry, dashboards: usize) -> bool {
        let name = self.redis.instance().to_string();
        let record = InstanceView {
            name: name.clone(),
            calls: registry.active(),
            draining: registry.is_draining(),
            max_calls: registry.max_calls(),
            version: self.version.clone(),
            dashboards,
        };
        let Ok(record) = serde_json::to_string(&record) else {
            return false;
        };
        // Only pushed on, never added back, unless Redis was away: a beat
        // that read this instance's calls just before one of them ended
        // would otherwise count it again, after its place was given back,
        // until it expired.
        let rejoin = self.rejoin.load(Ordering::Relaxed) || !self.redis.is_up();
        let members: Vec<String> = lock(&self.own).iter().cloned().collect();
        let expiry = millis(self.expiry);
        let mode = if rejoin { "add" } else { "refresh" };
        let mut args: Vec<&str> = vec![&expiry, &name, &record, mode];
        args.extend(members.iter().map(String::as_str));
        let keys = self.registry_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let answer: Option<(Vec<String>, Vec<String>)> =
            self.redis.script(&self.beat.0, &keys, &args).await;
        let Some((calls, info)) = answer else {
            self.rejoin.store(true, Ordering::Relaxed);
            return false;
        };
        if rejoin {
            self.rejoin.store(false, Ordering::Relaxed);
        }
        let mut instances: Vec<InstanceView> = info
            .chunks(2)
            .filter_map(|pair| serde_json::from_str(pair.get(1)?).ok())
            .collect();
        for instance in &mut instances {
            instance.calls = calls
                .iter()
                .filter(|member| {
                    member
                        .rsplit_once('|')
                        .is_some_and(|(owner, _)| owner == instance.name)
                })
                .count();
        }
        instances.sort_by(|a, b| a.name.cmp(&b.name));
        let watched = instances
            .iter()
            .any(|instance| instance.name != name && instance.dashboards > 0);
        self.watched.store(watched, Ordering::Relaxed);
        *lock(&self.view) = FleetView {
            calls: calls.len(),
            instances,
            at: Some(SystemTime::now()),
        };
        true
    }

    /// Beats every heartbeat until the task is dropped. An instance that
    /// leaves the fleet without its calls ending (it crashed) has those
    /// calls ended on `hub`'s dashboards.
    pub async fn run_heartbeats(self: Arc<Self>, registry: CallRegistry, hub: DashboardHub) {
        let mut ticker = tokio::time::interval(self.heartbeat);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            ticker.tick().await;
            if !self.beat(&registry, hub.clients()).await {
                continue;
            }
            self.record_unrecorded().await;
            let view = self.view();
            let alive: HashSet<String> = view.instances.iter().map(|i| i.name.clone()).collect();
            for gone in seen.difference(&alive) {
                let calls = hub.forget_instance(gone, SystemTime::now());
                tracing::warn!(instance = %gone, calls, "an instance left the fleet without a word");
            }
            seen = alive;
            seen.remove(self.redis.instance().as_ref());
        }
    }

    /// Takes this instance and its calls out of the registry (at the end
    /// of a graceful stop).
    pub async fn leave(&self) {
        let name = self.redis.instance().to_string();
        let members: Vec<String> = lock(&self.own).drain().collect();
        let mut args: Vec<&str> = vec![&name];
        args.extend(members.iter().map(String::as_str));
        let keys = self.registry_keys();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let _: Option<i64> = self.redis.script(&self.leave.0, &keys, &args).await;
    }
}

/// The most calls kept to record once Redis returns (an outage long
/// and busy enough to pass it loses the oldest: said in the log).
const MAX_UNRECORDED: usize = 10_000;

impl Fleet {
    /// Records a call's stream in Redis: `None` when Redis did not answer.
    async fn record_stream(&self, call_sid: &str, lifetime: Duration) -> Option<Spend> {
        if !self.redis.is_up() {
            return None;
        }
        let set = redis::cmd("SET")
            .arg(self.hashed_key("stream-call", call_sid))
            .arg(self.redis.instance().as_ref())
            .arg("NX")
            .arg("PX")
            .arg(whole_ms(lifetime))
            .clone();
        match self.redis.run::<Option<String>>(&set).await {
            Some(Some(_)) => Some(Spend::First),
            Some(None) => Some(Spend::Again),
            None => None,
        }
    }

    /// Records the streams opened while Redis was away, now that a beat
    /// found it back; one another instance had recorded meanwhile was
    /// opened twice, and is said so.
    pub async fn record_unrecorded(&self) {
        let pending = std::mem::take(&mut *lock(&self.unrecorded));
        let mut left = pending.into_iter();
        while let Some((call_sid, until)) = left.next() {
            let Some(lifetime) = until.checked_duration_since(std::time::Instant::now()) else {
                continue;
            };
            match self.record_stream(&call_sid, lifetime).await {
                Some(Spend::First | Spend::Unknown) => {}
                Some(Spend::Again) => tracing::error!(
                    "a call opened a stream on two instances while Redis was away (recorded now; the webhook may have been replayed)"
                ),
                None => {
                    // Away again: the rest wait for the next beat.
                    let mut unrecorded = lock(&self.unrecorded);
                    unrecorded.push((call_sid, until));
                    unrecorded.extend(left);
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl TokenLedger for Fleet {
    async fn spend(&self, call_sid: &str, lifetime: Duration) -> Spend {
        if let Some(spend) = self.record_stream(call_sid, lifetime).await {
            return spend;
        }
        let mut unrecorded = lock(&self.unrecorded);
        if unrecorded.len() >= MAX_UNRECORDED {
            unrecorded.remove(0);
            tracing::warn!(
                "too many streams opened while Redis is away: the oldest will not be recorded in the fleet"
            );
        }
        unrecorded.push((call_sid.to_owned(), std::time::Instant::now() + lifetime));
        Spend::Unknown
    }
}

/// What is kept of each call between Twilio's requests (why its stream
/// ended, its numbers until the stream starts), for whichever instance
/// Twilio reaches: one key a call and kind, made from the CallSid's hash,
/// expiring on Redis's clock.
#[async_trait::async_trait]
impl SharedRecords for Fleet {
    async fn put(&self, kind: &str, call_sid: &str, record: &str, lifetime: Duration) -> bool {
        if !self.redis.is_up() {
            return false;
        }
        let set = redis::cmd("SET")
            .arg(self.hashed_key(kind, call_sid))
            .arg(record)
            .arg("PX")
            .arg(whole_ms(lifetime))
            .clone();
        self.redis.run::<()>(&set).await.is_some()
    }

    async fn get(&self, kind: &str, call_sid: &str) -> Option<String> {
        if !self.redis.is_up() {
            return None;
        }
        let get = redis::cmd("GET")
            .arg(self.hashed_key(kind, call_sid))
            .clone();
        self.redis.run::<Option<String>>(&get).await.flatten()
    }

    async fn take(&self, kind: &str, call_sid: &str) -> Option<String> {
        if !self.redis.is_up() {
            return None;
        }
        let take = redis::cmd("GETDEL")
            .arg(self.hashed_key(kind, call_sid))
            .clone();
        self.redis.run::<Option<String>>(&take).await.flatten()
    }
}

impl Fleet {
    /// The key of `kind` for `text`, hashed: a key holds nothing a
    /// webhook or a stream sent (a token, a call id).
    fn hashed_key(&self, kind: &str, text: &str) -> String {
        let mut key = self.redis.key(kind);
        key.push(':');
        for byte in Sha256::digest(text.as_bytes()) {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }
}

/// A lifetime in whole milliseconds, at least one (Redis refuses `PX 0`).
fn whole_ms(lifetime: Duration) -> u64 {
    u64::try_from(lifetime.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
