//! Delivering reports: a bounded queue on disk, one file a report (its
//! exact body, named by its `webhook-id`), posted until the endpoint
//! takes it.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use standardwebhooks::Webhook;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use std::sync::Arc;

use qloophone_domain::ports::{CallEvent, CallEventRecord, Clock, EventSink, ReportState};
use qloophone_domain::types::LegId;

use super::{ReportSettings, ReportSettingsError, secret_key};
use crate::tls::Trust;

/// Waits before each retry: the first within seconds (a sink's brief
/// outage should cost seconds), then spaced out over about a day and a
/// half (after the Standard Webhooks example schedule).
const RETRY_AFTER: &[Duration] = &[
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
];
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Reports waiting to be written to the queue at most.
const INBOX: usize = 256;

/// Delivery's figures, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ReportMetrics {
    /// Reports the endpoint took.
    pub delivered: Counter,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: Counter,
    /// Reports given up: the queue full, retries exhausted, the endpoint
    /// gone (410), or not written.
    pub dropped: Counter,
    /// Reports waiting.
    pub queued: Gauge,
}

enum Message {
    Report(Value),
    Flush(oneshot::Sender<usize>),
}

/// Hands reports to the delivery task; cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryHandle {
    tx: mpsc::Sender<Message>,
    metrics: ReportMetrics,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Report(_) => "Report",
            Self::Flush(_) => "Flush",
        })
    }
}

impl DeliveryHandle {
    /// Queues `report`; never waits (a full inbox drops it, counted).
    pub fn send(&self, report: Value) {
        if self.tx.try_send(Message::Report(report)).is_err() {
            tracing::warn!("a call report was dropped: the delivery queue is not keeping up");
            self.count_dropped();
        }
    }

    /// Counts a report that will not be sent.
    pub fn count_dropped(&self) {
        self.metrics.dropped.inc();
    }

    /// Tries every waiting report once more, now, within `deadline`
    /// (during a drain); what is still waiting stays on disk for the next
    /// start. Returns how many are left.
    pub async fn flush(&self, deadline: Duration) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_err() {
            return 0;
        }
        tokio::time::timeout(deadline, rx)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0)
    }
}

struct Entry {
    id: String,
    body: Vec<u8>,
    attempts: usize,
    due: Instant,
}

/// The delivery task's state.
pub struct Delivery {
    url: String,
    webhook: Webhook,
    client: reqwest::Client,
    dir: PathBuf,
    max_queued: usize,
    queue: VecDeque<Entry>,
    metrics: ReportMetrics,
    /// Told how each report's delivery goes (the dashboards).
    observers: Option<(Arc<dyn EventSink>, Arc<dyn Clock>)>,
}

fn new_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_le_bytes()[..12]
            .try_into()
            .unwrap_or_default();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Gone,
    Retry(Option<Duration>),
}

impl Delivery {
    /// The delivery of reports per `settings` (which must name a URL and
    /// a valid secret), and the handle observers send reports with; run
    /// [`Delivery::run`] to deliver. Reports left on disk by an earlier
    /// run are queued first.
    ///
    /// # Errors
    /// A [`ReportSettingsError`] for a missing or bad secret.
    pub fn new(
        settings: &ReportSettings,
        metrics: ReportMetrics,
        trust: &Trust,
    ) -> Result<(Self, DeliveryHandle, MessageBox), ReportSettingsError> {
        let secret = settings
            .secret
            .as_ref()
            .ok_or(ReportSettingsError::NoSecret)?;
        let webhook = Webhook::from_bytes(secret_key(secret.expose())?)
            .map_err(|_| ReportSettingsError::BadSecret)?;
        let client = trust
            .http(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            // One request a call at most: no connection kept idle between.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(settings.timeout_ms))
            .build()
            .unwrap_or_default();
        let (tx, rx) = mpsc::channel(INBOX);
        let mut delivery = Self {
            url: settings.url.clone().unwrap_or_default(),
            webhook,
            client,
            dir: PathBuf::from(&settings.queue_dir),
            max_queued: settings.max_queued.max(1),
            queue: VecDeque::new(),
            metrics: metrics.clone(),
            observers: None,
        };
        delivery.load();
        Ok((delivery, DeliveryHandle { tx, metrics }, MessageBox(rx)))
    }

    /// Tells `sink` how each report's delivery goes, as an event of its
    /// call.
    #[must_use]
    pub fn with_observers(mut self, sink: Arc<dyn EventSink>, clock: Arc<dyn Clock>) -> Self {
        self.observers = Some((sink, clock));
        self
    }

    /// Tells the observers where the report `body` stands.
    fn tell(&self, body: &[u8], attempts: usize, state: ReportState) {
        let Some((sink, clock)) = &self.observers else {
            return;
        };
        let call = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|report| LegId::parse(report["data"]["stream_sid"].as_str()?).ok());
        if let Some(call) = call {
            sink.emit(CallEventRecord {
                call,
                at: clock.now(),
                event: CallEvent::Reported {
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    state,
                },
            });
        }
    }

    /// Queues the reports a previous run left on disk, oldest first.
    fn load(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut found: Vec<(SystemTime, String, Vec<u8>)> = entries
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let id = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .to_owned();
                if !id.starts_with("msg_") {
                    return None;
                }
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, id, std::fs::read(&path).ok()?))
            })
            .collect();
        found.sort();
        let now = Instant::now();
        for (_, id, body) in found {
            self.queue.push_back(Entry {
                id,
                body,
                attempts: 0,
                due: now,
            });
        }
        if !self.queue.is_empty() {
            tracing::info!(
                waiting = self.queue.len(),
                "call reports left from the last run are queued for delivery"
            );
        }
        self.trim();
        self.count();
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn count(&self) {
        self.metrics
            .queued
            .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
    }

    /// Drops the oldest reports past the bound.
    fn trim(&mut self) {
        while self.queue.len() > self.max_queued {
            if let Some(old) = self.queue.pop_front() {
                tracing::warn!(id = %old.id, "call report dropped: the delivery queue is full");
                remove(&self.path(&old.id));
                self.metrics.dropped.inc();
            }
        }
    }

    /// Writes a new report to the queue (a temporary file renamed into
    /// place, so a crash leaves no half report).
    async fn enqueue(&mut self, report: &Value) {
        let id = new_id();
        let body = report.to_string().into_bytes();
        let written = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            let temporary = self.dir.join(format!(".{id}.tmp"));
            tokio::fs::write(&temporary, &body).await?;
            tokio::fs::rename(&temporary, self.path(&id)).await
        }
        .await;
        if let Err(err) = written {
            // Still sent from memory; only a restart could lose it.
            tracing::warn!(%err, dir = %self.dir.display(), "a call report could not be written to the queue");
        }
        self.queue.push_back(Entry {
            id,
            body,
            attempts: 0,
            due: Instant::now(),
        });
        self.trim();
        self.count();
    }

    async fn attempt(&self, entry: &Entry) -> Outcome {
        let timestamp = unix_now();
        let Ok(signature) = self.webhook.sign(&entry.id, timestamp, &entry.body) else {
            return Outcome::Gone; // not UTF-8: never ours
        };
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &entry.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(entry.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered,
            Ok(response) if response.status().as_u16() == 410 => Outcome::Gone,
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
                tracing::warn!(id = %entry.id, status = response.status().as_u16(), attempt = entry.attempts + 1, "call report not taken; it will be sent again");
                Outcome::Retry(retry_after)
            }
            Err(err) => {
                tracing::warn!(id = %entry.id, %err, attempt = entry.attempts + 1, "call report not delivered; it will be sent again");
                Outcome::Retry(None)
            }
        }
    }

    /// Tries the report at `index`; true when it left the queue.
    async fn try_one(&mut self, index: usize) -> bool {
        let outcome = self.attempt(&self.queue[index]).await;
        let entry = &mut self.queue[index];
        entry.attempts += 1;
        let state = match outcome {
            Outcome::Delivered => {
                self.metrics.delivered.inc();
                tracing::debug!(id = %entry.id, "call report delivered");
                ReportState::Delivered
            }
            Outcome::Gone => {
                tracing::error!(id = %entry.id, "the report endpoint answered 410 Gone: this report is dropped");
                self.metrics.dropped.inc();
                ReportState::GivenUp
            }
            Outcome::Retry(after) => {
                self.metrics.failed_attempts.inc();
                match RETRY_AFTER.get(entry.attempts - 1) {
                    Some(wait) => {
                        entry.due = Instant::now() + after.unwrap_or(*wait).max(*wait);
                        let entry = &self.queue[index];
                        self.tell(&entry.body, entry.attempts, ReportState::Retrying);
                        return false;
                    }
                    None => {
                        tracing::error!(id = %entry.id, attempts = entry.attempts, "call report given up after every retry");
                        self.metrics.dropped.inc();
                        ReportState::GivenUp
                    }
                }
            }
        };
        if let Some(done) = self.queue.remove(index) {
            self.tell(&done.body, done.attempts, state);
            remove(&self.path(&done.id));
        }
        self.count();
        true
    }

    /// Delivers until every handle is dropped.
    pub async fn run(mut self, inbox: MessageBox) {
        let MessageBox(mut rx) = inbox;
        loop {
            let next_due = self.queue.iter().map(|entry| entry.due).min();
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Report(report)) => self.enqueue(&report).await,
                    Some(Message::Flush(done)) => {
                        let mut index = 0;
                        while index < self.queue.len() {
                            if !self.try_one(index).await {
                                index += 1;
                            }
                        }
                        let _ = done.send(self.queue.len());
                    }
                    None => return,
                },
                () = sleep_until(next_due) => {
                    if let Some(index) = self.queue.iter().position(|entry| entry.due <= Instant::now()) {
                        self.try_one(index).await;
                    }
                }
            }
        }
    }
}

/// The receiving end of a [`DeliveryHandle`].
pub struct MessageBox(mpsc::Receiver<Message>);

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

fn remove(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%err, path = %path.display(), "a delivered report could not be removed from the queue");
    }
}
