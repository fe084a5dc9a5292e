//! The fleet's dashboard feed: every instance's call events on one capped
//! Redis stream (`prefix:feed`, `XADD … MAXLEN ~ feed_length`), each
//! instance reading the others' into its own [`DashboardHub`], so a
//! dashboard on any instance sees every call, labelled with its instance.
//!
//! - [`FeedSink`] is an [`EventSink`]: a call hands it an event and goes
//!   on (a bounded queue; when Redis cannot keep up, the newest events are
//!   dropped and counted, never waited for). A publisher task renders
//!   them once, as dashboards see them, and writes what [`FLUSH`] gathers
//!   in one round trip. Audio and relay timings stay local: they are the
//!   bulk of the bytes and nobody reads them across instances. The model's
//!   other traffic (transcript deltas and the like, which no late
//!   dashboard is replayed) is published only while another instance has
//!   a dashboard connected, as the heartbeats tell; the calls' stories
//!   always are, so a dashboard opening anywhere is told them.
//! - [`run_reader`] first reads the stream's recent past (so a dashboard
//!   connecting to an instance that just started sees the fleet's recent
//!   calls), then follows it with blocking reads on a connection of its
//!   own, and picks up where it was when Redis returns.
//!
//! Fields of each entry: `i` instance, `c` call, `k` its role in the
//! call's story ([`Role`]), `e` the envelope, `r` a model event's raw text.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use qloophone_domain::ports::EventSink;
use qloophone_domain::{CallEvent, CallEventRecord};
use redis::Value;
use tokio::sync::mpsc;

use super::Redis;
use crate::dashboard::history::Role;
use crate::dashboard::{DashboardHub, Format, LogsOptions, RemoteEvent, render_labelled};

/// Events waiting to be written; past this the newest are dropped.
const QUEUE: usize = 8192;
/// Events written in one round trip at most.
const BATCH: usize = 256;
/// How long events gather before they are written (and before the reader
/// asks again after a read): a tenth of the round trips, for a delay no
/// one watching a dashboard notices.
const FLUSH: Duration = Duration::from_millis(50);
/// How long one blocking read waits for news.
const BLOCK: Duration = Duration::from_secs(1);
/// Entries of the past read at start.
const PAST: usize = 2000;

/// Publishes this instance's call events to the fleet feed.
#[derive(Debug, Clone)]
pub struct FeedSink {
    queue: mpsc::Sender<CallEventRecord>,
    dropped: Arc<AtomicU64>,
    watched: Arc<AtomicBool>,
}

impl FeedSink {
    /// The sink, counting what it drops in `dropped` and publishing model
    /// traffic while `watched`, and the publisher task to spawn.
    pub fn new(
        redis: Redis,
        length: usize,
        dropped: Arc<AtomicU64>,
        watched: Arc<AtomicBool>,
    ) -> (Self, impl std::future::Future<Output = ()> + Send + 'static) {
        let (queue, events) = mpsc::channel(QUEUE);
        let publisher = publish(redis, length.max(1), events);
        (
            Self {
                queue,
                dropped,
                watched,
            },
            publisher,
        )
    }

    /// Events not published (the queue was full).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits, up to `timeout`, for the publisher to take every event
    /// queued (at shutdown, so the fleet sees the last calls end).
    pub async fn flushed(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, async {
            while self.queue.capacity() < self.queue.max_capacity() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

impl EventSink for FeedSink {
    /// Audio is not counted here, nor carried between instances.
    fn wants_audio(&self) -> bool {
        false
    }

    fn emit(&self, record: CallEventRecord) {
        match &record.event {
            CallEvent::Relayed { .. } | CallEvent::Model { audio: true, .. } => return,
            _ if Role::of(&record.event) == Role::Skip && !self.watched.load(Ordering::Relaxed) => {
                return;
            }
            _ => {}
        }
        if self.queue.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

const ENVELOPE: LogsOptions = LogsOptions {
    format: Format::Envelope,
    audio: false,
};

async fn publish(redis: Redis, length: usize, mut events: mpsc::Receiver<CallEventRecord>) {
    let key = redis.key("feed");
    let instance = redis.instance().clone();
    let mut batch = Vec::with_capacity(BATCH);
    let mut frames = Vec::with_capacity(1);
    loop {
        if events.recv_many(&mut batch, BATCH).await == 0 {
            return;
        }
        if batch.len() < BATCH {
            tokio::time::sleep(FLUSH).await;
            while batch.len() < BATCH {
                match events.try_recv() {
                    Ok(record) => batch.push(record),
                    Err(_) => break,
                }
            }
        }
        let mut pipe = redis::pipe();
        for record in batch.drain(..) {
            render_labelled(&record, ENVELOPE, Some(&instance), &mut frames);
            let Some(envelope) = frames.pop() else {
                continue;
            };
            frames.clear();
            let raw = match &record.event {
                CallEvent::Model { raw, .. } => std::str::from_utf8(raw.bytes()).ok(),
                _ => None,
            };
            let command = pipe
                .cmd("XADD")
                .arg(&key)
                .arg("MAXLEN")
                .arg("~")
                .arg(length)
                .arg("*")
                .arg("i")
                .arg(instance.as_ref())
                .arg("c")
                .arg(record.call.as_str())
                .arg("k")
                .arg(Role::of(&record.event).as_str())
                .arg("e")
                .arg(envelope);
            if let Some(raw) = raw {
                command.arg("r").arg(raw);
            }
            command.ignore();
        }
        // Lost while Redis is away: local dashboards still have them.
        let _: Option<()> = redis.pipe(&pipe).await;
    }
}

/// Follows the fleet feed into `hub`, forever (run it as a task).
pub async fn run_reader(redis: Redis, hub: DashboardHub) {
    let key = redis.key("feed");
    let own = redis.instance().clone();
    let Some(mut connection) = redis.dedicated(BLOCK) else {
        return;
    };
    let mut last: Option<String> = None;
    loop {
        let reply: redis::RedisResult<Value> = match &last {
            // The recent past first, newest first.
            None => {
                redis::cmd("XREVRANGE")
                    .arg(&key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(PAST)
                    .query_async(&mut connection)
                    .await
            }
            Some(after) => {
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(BATCH)
                    .arg("BLOCK")
                    .arg(u64::try_from(BLOCK.as_millis()).unwrap_or(1000))
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(after)
                    .query_async(&mut connection)
                    .await
            }
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                tracing::debug!(error = %err, "fleet feed read failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut entries = match &last {
            None => entries_of(&reply),
            Some(_) => match &reply {
                // XREAD: [[key, entries]], or nil after the block.
                Value::Array(streams) => streams
                    .iter()
                    .filter_map(|stream| match stream {
                        Value::Array(pair) => pair.get(1).map(entries_of),
                        _ => None,
                    })
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            },
        };
        if last.is_none() {
            entries.reverse();
            // An empty stream: everything after its start is news.
            last = Some(
                entries
                    .last()
                    .map_or_else(|| "0-0".to_owned(), |(id, _)| id.clone()),
            );
        } else if let Some((id, _)) = entries.last() {
            last = Some(id.clone());
        }
        let read = !entries.is_empty();
        for (_, fields) in entries {
            if let Some(event) = remote_event(&fields, &own) {
                hub.emit_remote(event);
            }
        }
        if read {
            // Lets the next events gather rather than reading them one by one.
            tokio::time::sleep(FLUSH).await;
        }
    }
}

/// `[[id, [field, value, …]], …]` as ids and fields.
fn entries_of(value: &Value) -> Vec<(String, Vec<(String, String)>)> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(parts) = entry else {
                return None;
            };
            let id = text(parts.first()?)?;
            let Value::Array(flat) = parts.get(1)? else {
                return None;
            };
            let fields = flat
                .chunks(2)
                .filter_map(|pair| Some((text(pair.first()?)?, text(pair.get(1)?)?)))
                .collect();
            Some((id, fields))
        })
        .collect()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

/// Another instance's event from a feed entry's fields; `None` for this
/// instance's own and for entries that are not ours to read.
fn remote_event(fields: &[(String, String)], own: &str) -> Option<RemoteEvent> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    };
    let instance = field("i")?;
    if instance == own {
        return None;
    }
    Some(RemoteEvent {
        instance: instance.into(),
        call: field("c")?.to_owned(),
        role: Role::parse(field("k").unwrap_or_default()),
        envelope: field("e")?.to_owned(),
        raw: field("r").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn entries_of_other_instances_become_remote_events_and_ours_are_skipped() {
        let entry = fields(&[
            ("i", "b"),
            ("c", "MZ1"),
            ("k", "start"),
            ("e", r#"{"instance":"b"}"#),
        ]);
        let event = remote_event(&entry, "a").unwrap();
        assert_eq!(event.instance.as_ref(), "b");
        assert_eq!(event.role, Role::Start);
        assert_eq!(event.raw, None);
        assert!(remote_event(&entry, "b").is_none(), "our own");
        assert!(
            remote_event(&fields(&[("i", "b")]), "a").is_none(),
            "incomplete"
        );
    }

    #[test]
    fn stream_replies_are_read_and_anything_else_is_empty() {
        let bulk = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("i"), bulk("b"), bulk("e"), bulk("{}")]),
        ])]);
        let entries = entries_of(&reply);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, "1-0");
        assert_eq!(entries[0].1[1], ("e".to_owned(), "{}".to_owned()));
        assert!(entries_of(&Value::Nil).is_empty());
        assert!(entries_of(&Value::Array(vec![Value::Nil])).is_empty());
    }
}
