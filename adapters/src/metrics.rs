//! Prometheus metrics: an [`EventSink`] that counts what calls do, and the
//! `/metrics` text.
//!
//! Counting happens as events pass (cheap: the model's own events, most of
//! the traffic, are skipped at once); gauges of live state (calls, cache,
//! dashboards) are read when scraped.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use qloophone_domain::ports::{EventSink, MemoryEvent, TextFailure};
use qloophone_domain::{CallEvent, CallEventRecord};

use crate::qloo::CacheStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Next {
    next: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamEvent {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcome {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolName {
    tool: String,
}

/// A kind of model token: `input_text`, `input_audio`, `input_image`,
/// `cached_text`, `cached_audio`, `cached_image`, `output_text`,
/// `output_audio`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenKind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelName {
    api: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

fn relay_histogram() -> Histogram {
    // 10 µs to about 160 ms.
    Histogram::new(exponential_buckets(0.000_01, 2.0, 15))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

/// This process as `/proc` describes it (Linux; `None` elsewhere).
struct ProcessSample {
    cpu_seconds: f64,
    rss_bytes: u64,
    open_fds: u64,
    start_time_seconds: f64,
}

fn process_sample() -> Option<ProcessSample> {
    // USER_HZ and the page size are 100 and 4096 on every Linux we run on.
    const TICKS: f64 = 100.0;
    const PAGE: u64 = 4096;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |at: usize| fields.get(at).and_then(|v| v.parse::<f64>().ok());
    let cpu_seconds = (ticks(11)? + ticks(12)?) / TICKS;
    let started_ticks = ticks(19)?;
    let rss_bytes = fields.get(21)?.parse::<u64>().ok()? * PAGE;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse::<f64>()
        .ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(ProcessSample {
        cpu_seconds,
        rss_bytes,
        open_fds,
        start_time_seconds: boot + started_ticks / TICKS,
    })
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QlooRequest {
    endpoint: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: &'static str,
}

/// How one request to Qloo ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QlooOutcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer before the request's timeout.
    Timeout,
    /// The request failed before any answer (connection refused, reset).
    Error,
    /// The answer was longer than the limit: cut off, not read.
    TooLarge,
    /// The call that asked went away (hung up, drained) before the answer.
    Cancelled,
}

impl QlooOutcome {
    /// The `status` label: the status class (`2xx`, `4xx`, `5xx`; `429`
    /// apart), `timeout` or `error`, so upstream cannot grow the label set.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Status(429) => "429",
            Self::Status(200..=299) => "2xx",
            Self::Status(300..=399) => "3xx",
            Self::Status(400..=499) => "4xx",
            Self::Status(500..=599) => "5xx",
            Self::Status(_) => "other",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::TooLarge => "too_large",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Requests to Qloo by endpoint and outcome, and their latency: filled by
/// the Qloo client, exposed by [`Metrics`].
#[derive(Debug, Clone)]
pub struct QlooRequests {
    count: Family<QlooRequest, Counter>,
    latency: Family<Endpoint, Histogram, fn() -> Histogram>,
}

impl Default for QlooRequests {
    fn default() -> Self {
        Self {
            count: Family::default(),
            // 5 ms to about 20 s.
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 13))
            }),
        }
    }
}

impl QlooRequests {
    /// One request to `endpoint` (a path of the client's fixed set).
    pub fn observe(&self, endpoint: &'static str, outcome: QlooOutcome, latency: Duration) {
        self.count
            .get_or_create(&QlooRequest {
                endpoint,
                status: outcome.label(),
            })
            .inc();
        self.latency
            .get_or_create(&Endpoint { endpoint })
            .observe(latency.as_secs_f64());
    }
}

fn latency_histogram() -> Histogram {
    // 10 ms to about 20 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 12))
}

/// Live state read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Calls admitted and not ended.
    pub active_calls: usize,
    /// Dashboards connected.
    pub dashboards: usize,
    /// Whether the server is draining.
    pub draining: bool,
    /// The Qloo circuit breaker.
    pub qloo_breaker: crate::qloo::BreakerState,
    /// Entity cache counters.
    pub cache: CacheStats,
    /// Dashboard messages dropped since start (skipped by dashboards that
    /// fell behind, or left unsent to ones that stopped reading).
    pub dashboard_dropped: u64,
    /// The fleet, when instances share a Redis.
    pub fleet: Option<FleetSnapshot>,
}

/// The fleet's figures, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FleetSnapshot {
    /// Whether Redis answered its last command.
    pub redis_up: bool,
    /// Redis commands failed or late since start.
    pub redis_failures: u64,
    /// Calls in progress on every instance (as of the last heartbeat).
    pub calls: usize,
    /// The fleet-wide limit (0 for none).
    pub limit: usize,
    /// Instances alive.
    pub instances: usize,
    /// Of them, those draining.
    pub draining: usize,
    /// Events not published to the fleet feed (its queue was full).
    pub feed_dropped: u64,
}

/// The fleet's metrics, registered only when there is a fleet.
#[derive(Default)]
struct FleetMetrics {
    redis_up: Gauge,
    redis_failures: Counter,
    calls: Gauge,
    limit: Gauge,
    instances: Gauge,
    draining: Gauge,
    feed_dropped: Counter,
    shared_hits: Counter,
    shared_misses: Counter,
    shared_errors: Counter,
}

/// The metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    calls_started: Counter,
    calls_by_model: Family<ModelName, Counter>,
    calls_ended: Family<Reason, Counter>,
    after_stream: Family<Next, Counter>,
    handoffs: Family<Outcome, Counter>,
    texts: Family<Outcome, Counter>,
    holds: Family<Outcome, Counter>,
    memory: Family<Outcome, Counter>,
    streams_refused: Family<Outcome, Counter>,
    sip_webhooks: Family<Outcome, Counter>,
    stream_status: Family<StreamEvent, Counter>,
    model_tokens: Family<TokenKind, Counter>,
    tool_calls: Family<ToolOutcome, Counter>,
    tool_latency: Family<ToolName, Histogram, fn() -> Histogram>,
    barge_ins: Counter,
    unheard_items: Counter,
    errors: Counter,
    key_presses: Counter,
    model_reconnects: Counter,
    model_reconnect_gap: Histogram,
    relay_latency: Family<Direction, Histogram, fn() -> Histogram>,
    frames_relayed: Family<Direction, Counter>,
    model_connect: Histogram,
    first_audio: Histogram,
    dashboard_dropped: Counter,
    active_calls: Gauge,
    dashboards: Gauge,
    draining: Gauge,
    qloo_breaker: Gauge,
    cache_entries: Gauge,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_evictions: Counter,
    build_info: Family<Build, Gauge>,
    process_cpu: Counter<f64, std::sync::atomic::AtomicU64>,
    process_rss: Gauge,
    process_open_fds: Gauge,
    process_start: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// The tools offered to the model: the only values the `tool` label
    /// takes, so a model inventing names cannot grow the label set.
    known_tools: Vec<String>,
    fleet: std::sync::OnceLock<FleetMetrics>,
}

/// The `tool` label of a tool the model was never offered.
const UNKNOWN_TOOL: &str = "unknown";

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every metric, registered; `known_tools` are the tools offered to the
    /// model (any other name is counted as `unknown`).
    pub fn new(known_tools: Vec<String>, qloo: &QlooRequests) -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("qloophone");
        let metrics = Self {
            registry: Mutex::new(Registry::default()),
            calls_started: Counter::default(),
            calls_by_model: Family::default(),
            calls_ended: Family::default(),
            after_stream: Family::default(),
            handoffs: Family::default(),
            texts: Family::default(),
            holds: Family::default(),
            memory: Family::default(),
            streams_refused: Family::default(),
            sip_webhooks: Family::default(),
            stream_status: Family::default(),
            model_tokens: Family::default(),
            tool_calls: Family::default(),
            tool_latency: Family::new_with_constructor(latency_histogram),
            barge_ins: Counter::default(),
            unheard_items: Counter::default(),
            errors: Counter::default(),
            key_presses: Counter::default(),
            model_reconnects: Counter::default(),
            model_reconnect_gap: latency_histogram(),
            relay_latency: Family::new_with_constructor(relay_histogram),
            frames_relayed: Family::default(),
            model_connect: latency_histogram(),
            first_audio: latency_histogram(),
            dashboard_dropped: Counter::default(),
            active_calls: Gauge::default(),
            dashboards: Gauge::default(),
            draining: Gauge::default(),
            qloo_breaker: Gauge::default(),
            cache_entries: Gauge::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_evictions: Counter::default(),
            build_info: Family::default(),
            process_cpu: Counter::default(),
            process_rss: Gauge::default(),
            process_open_fds: Gauge::default(),
            process_start: Gauge::default(),
            known_tools,
            fleet: std::sync::OnceLock::new(),
        };
        registry.register(
            "calls_started",
            "Calls whose stream started",
            metrics.calls_started.clone(),
        );
        registry.register(
            "model_calls",
            "Calls whose stream started, by the voice model answering them",
            metrics.calls_by_model.clone(),
        );
        registry.register(
            "calls_ended",
            "Calls ended, by reason",
            metrics.calls_ended.clone(),
        );
        registry.register(
            "after_stream",
            "Twilio's questions at the end of a stream (<Connect action>), by what it was told to do next: hangup, goodbye, apology or dial",
            metrics.after_stream.clone(),
        );
        registry.register(
            "handoffs",
            "Transfers to a person, by outcome (answered, busy, no_answer, failed)",
            metrics.handoffs.clone(),
        );
        registry.register(
            "texts",
            "Texts of a caller's picks, by outcome (sent, opted_out, not_textable, refused, unavailable, maybe_sent)",
            metrics.texts.clone(),
        );
        registry.register(
            "caller_memory",
            "Caller memory operations, by outcome (recalled: a returning caller's likes; stored: after a yes; forgotten: at the caller's request; failed: the store did not answer)",
            metrics.memory.clone(),
        );
        registry.register(
            "hold_sounds",
            "Hold sounds played while tools worked, by what stopped them (tool: the tools answered; model: the assistant spoke; caller: the caller spoke; call: the model session was lost or the call closed)",
            metrics.holds.clone(),
        );
        registry.register(
            "streams_refused",
            "Media Streams that never became a call, by outcome (timed_out and evicted: no start in time or another newer stream took its waiting place; token: its stream token did not pass; duplicate: its callSid or streamSid is another live stream's; busy: every line taken; closed: gone before starting)",
            metrics.streams_refused.clone(),
        );
        registry.register(
            "sip_webhooks",
            "Deliveries to the SIP door (POST /openai/webhook), by outcome (call: an incoming call acted on; duplicate: a delivery seen before; other_event; unsigned, bad_signature, stale, malformed: refused), and calls it answered that did not go on (busy: rejected at capacity; gone: ended before the accept; failed: the accept failed)",
            metrics.sip_webhooks.clone(),
        );
        registry.register(
            "stream_status_callbacks",
            "Twilio's stream status callbacks, by event (stream-started, stream-stopped, stream-error, other)",
            metrics.stream_status.clone(),
        );
        registry.register(
            "model_tokens",
            "Tokens the voice model billed, by kind (the cached kinds are part of the input counts)",
            metrics.model_tokens.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls, by tool and outcome",
            metrics.tool_calls.clone(),
        );
        registry.register(
            "tool_latency_seconds",
            "Tool call latency",
            metrics.tool_latency.clone(),
        );
        registry.register(
            "barge_ins",
            "Times a caller spoke over the agent",
            metrics.barge_ins.clone(),
        );
        registry.register(
            "barge_in_unheard_items",
            "Assistant audio items a barge-in kept from the caller and deleted from the conversation (later items of the interrupted answer)",
            metrics.unheard_items.clone(),
        );
        registry.register(
            "call_errors",
            "Errors reported in calls (model errors and others)",
            metrics.errors.clone(),
        );
        registry.register(
            "key_presses",
            "DTMF key presses",
            metrics.key_presses.clone(),
        );
        registry.register(
            "model_reconnects",
            "Model sessions reopened after a loss (each attempt)",
            metrics.model_reconnects.clone(),
        );
        registry.register(
            "model_reconnect_gap_seconds",
            "How long calls went without a model while it was reopened",
            metrics.model_reconnect_gap.clone(),
        );
        registry.register(
            "relay_latency_seconds",
            "How long the server held a relayed audio frame, from the call receiving it to its \
             write being flushed to the other leg, by direction (one frame in 16 is timed)",
            metrics.relay_latency.clone(),
        );
        registry.register(
            "frames_relayed",
            "Audio frames taken in from one leg for the other, by direction (uplink: caller to \
             model, buffered audio included; downlink: model to caller)",
            metrics.frames_relayed.clone(),
        );
        registry.register_with_unit(
            "model_connect",
            "How long a model session took to open, from asking to its socket being ready \
             (reconnects included)",
            prometheus_client::registry::Unit::Seconds,
            metrics.model_connect.clone(),
        );
        registry.register_with_unit(
            "first_audio",
            "From the model hearing the caller stop speaking to the answer's first audio going \
             to the caller, on the phone's media clock",
            prometheus_client::registry::Unit::Seconds,
            metrics.first_audio.clone(),
        );
        registry.register(
            "qloo_requests",
            "Requests sent to Qloo, by endpoint and outcome (status class, 429, timeout, error)",
            qloo.count.clone(),
        );
        registry.register_with_unit(
            "qloo_request_latency",
            "Qloo request latency, by endpoint",
            prometheus_client::registry::Unit::Seconds,
            qloo.latency.clone(),
        );
        registry.register(
            "dashboard_dropped_messages",
            "Dashboard messages dropped: skipped by dashboards that fell behind, or unsent to ones \
             that stopped reading",
            metrics.dashboard_dropped.clone(),
        );
        registry.register(
            "active_calls",
            "Calls in progress",
            metrics.active_calls.clone(),
        );
        registry.register(
            "dashboards",
            "Dashboards connected to /logs",
            metrics.dashboards.clone(),
        );
        registry.register(
            "draining",
            "1 while the server drains before stopping",
            metrics.draining.clone(),
        );
        registry.register(
            "qloo_breaker",
            "Qloo circuit breaker: 0 closed, 1 half-open (probing), 2 open (failing fast)",
            metrics.qloo_breaker.clone(),
        );
        registry.register(
            "cache_entries",
            "Entity cache entries",
            metrics.cache_entries.clone(),
        );
        registry.register(
            "cache_hits",
            "Entity cache hits since start",
            metrics.cache_hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Entity cache misses since start",
            metrics.cache_misses.clone(),
        );
        registry.register(
            "cache_evictions",
            "Entity cache evictions since start",
            metrics.cache_evictions.clone(),
        );
        metrics
            .build_info
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "This build: its version as a label, value 1",
            metrics.build_info.clone(),
        );
        // The process metrics are named as every Prometheus client names
        // them, without the service's prefix.
        root.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            metrics.process_cpu.clone(),
        );
        root.register_with_unit(
            "process_resident_memory",
            "Resident memory size in bytes",
            prometheus_client::registry::Unit::Bytes,
            metrics.process_rss.clone(),
        );
        root.register(
            "process_open_fds",
            "Number of open file descriptors",
            metrics.process_open_fds.clone(),
        );
        root.register_with_unit(
            "process_start_time",
            "Start time of the process since the Unix epoch in seconds",
            prometheus_client::registry::Unit::Seconds,
            metrics.process_start.clone(),
        );
        *metrics
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = root;
        metrics
    }

    /// The text exposition, with live state as given.
    pub fn render(&self, now: Snapshot) -> String {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.active_calls.set(gauge(now.active_calls as u64));
        self.dashboards.set(gauge(now.dashboards as u64));
        self.draining.set(i64::from(now.draining));
        self.qloo_breaker.set(now.qloo_breaker.level());
        self.cache_entries.set(gauge(now.cache.size as u64));
        // The cache keeps its own totals: the counters take them as they are.
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        self.cache_hits.inner().store(now.cache.hits, relaxed);
        self.cache_misses.inner().store(now.cache.misses, relaxed);
        self.cache_evictions
            .inner()
            .store(now.cache.evictions, relaxed);
        self.dashboard_dropped
            .inner()
            .store(now.dashboard_dropped, relaxed);
        if let Some(process) = process_sample() {
            self.process_cpu
                .inner()
                .store(process.cpu_seconds.to_bits(), relaxed);
            self.process_rss.set(gauge(process.rss_bytes));
            self.process_open_fds.set(gauge(process.open_fds));
            self.process_start.set(process.start_time_seconds);
        }
        if let (Some(fleet), Some(now)) = (self.fleet.get(), now.fleet) {
            fleet.redis_up.set(i64::from(now.redis_up));
            fleet
                .redis_failures
                .inner()
                .store(now.redis_failures, relaxed);
            fleet.calls.set(gauge(now.calls as u64));
            fleet.limit.set(gauge(now.limit as u64));
            fleet.instances.set(gauge(now.instances as u64));
            fleet.draining.set(gauge(now.draining as u64));
            fleet.feed_dropped.inner().store(now.feed_dropped, relaxed);
        }
        if let (Some(fleet), Some(shared)) = (self.fleet.get(), now.cache.shared) {
            fleet.shared_hits.inner().store(shared.hits, relaxed);
            fleet.shared_misses.inner().store(shared.misses, relaxed);
            fleet.shared_errors.inner().store(shared.errors, relaxed);
        }
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Metrics {
    /// Adds the call reports' delivery figures (when reports are on).
    pub fn register_reports(&self, reports: &crate::report::ReportMetrics) {
        let mut root = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let registry = root.sub_registry_with_prefix("qloophone");
        registry.register(
            "reports_delivered",
            "Call reports the report endpoint took",
            reports.delivered.clone(),
        );
        registry.register(
            "report_failed_attempts",
            "Call report deliveries that failed (each retry counts)",
            reports.failed_attempts.clone(),
        );
        registry.register(
            "reports_dropped",
            "Call reports given up (queue full, retries exhausted, endpoint gone)",
            reports.dropped.clone(),
        );
        registry.register(
            "reports_queued",
            "Call reports waiting for delivery",
            reports.queued.clone(),
        );
    }

    /// Adds the fleet's metrics (when instances share a Redis).
    pub fn register_fleet(&self) {
        let fleet = FleetMetrics::default();
        let mut root = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let registry = root.sub_registry_with_prefix("qloophone");
        registry.register("redis_up", "1 while Redis answers", fleet.redis_up.clone());
        registry.register(
            "redis_failures",
            "Redis commands that failed or missed their deadline since start",
            fleet.redis_failures.clone(),
        );
        registry.register(
            "fleet_calls",
            "Calls in progress on every instance (as of the last heartbeat)",
            fleet.calls.clone(),
        );
        registry.register(
            "fleet_max_calls",
            "The fleet-wide call limit (0 for none)",
            fleet.limit.clone(),
        );
        registry.register(
            "fleet_instances",
            "Instances alive in the fleet",
            fleet.instances.clone(),
        );
        registry.register(
            "fleet_draining_instances",
            "Instances of the fleet draining",
            fleet.draining.clone(),
        );
        registry.register(
            "fleet_feed_dropped_events",
            "Call events not published to the fleet's dashboard feed (its queue was full)",
            fleet.feed_dropped.clone(),
        );
        registry.register(
            "shared_cache_hits",
            "Entity lookups answered by the shared (Redis) tier since start",
            fleet.shared_hits.clone(),
        );
        registry.register(
            "shared_cache_misses",
            "Entity lookups the shared (Redis) tier did not have since start",
            fleet.shared_misses.clone(),
        );
        registry.register(
            "shared_cache_errors",
            "Shared (Redis) tier requests failed or late since start",
            fleet.shared_errors.clone(),
        );
        let _ = self.fleet.set(fleet);
    }
}

impl Metrics {
    /// Twilio asked what follows a stream and was told `next`.
    pub fn after_stream(&self, next: &'static str) {
        self.after_stream.get_or_create(&Next { next }).inc();
    }

    /// A transfer ended for a call whose stream is not known here.
    pub fn emit_handoff(&self, outcome: qloophone_domain::ports::HandoffOutcome) {
        self.handoffs
            .get_or_create(&Outcome {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A Media Stream never became a call, for `outcome` (one of a closed
    /// set).
    pub fn stream_refused(&self, outcome: &'static str) {
        self.streams_refused
            .get_or_create(&Outcome { outcome })
            .inc();
    }

    /// A delivery to the SIP door, by `outcome` (one of a closed set:
    /// `call`, `duplicate`, `other_event`, `unsigned`, `bad_signature`,
    /// `stale`, `malformed`; then, for calls, `busy`, `gone`, `failed`).
    pub fn sip_webhook(&self, outcome: &'static str) {
        self.sip_webhooks.get_or_create(&Outcome { outcome }).inc();
    }

    /// Twilio reported a stream's `event` (one of a closed set).
    pub fn stream_status(&self, event: &'static str) {
        self.stream_status
            .get_or_create(&StreamEvent { event })
            .inc();
    }
}

impl EventSink for Metrics {
    /// Audio is not counted here, nor carried between instances.
    fn wants_audio(&self) -> bool {
        false
    }

    fn emit(&self, record: CallEventRecord) {
        match &record.event {
            CallEvent::Model { .. }
            | CallEvent::Activity { .. }
            | CallEvent::Turn { .. }
            // Counted by delivery itself (`register_reports`).
            | CallEvent::Reported { .. }
            // Counted as the callbacks arrive (`stream_status`).
            | CallEvent::StreamFailed { .. } => {}
            CallEvent::Handoff { outcome } => self.emit_handoff(*outcome),
            CallEvent::Texted { failure, .. } => {
                self.texts
                    .get_or_create(&Outcome {
                        outcome: failure.map_or("sent", TextFailure::as_str),
                    })
                    .inc();
            }
            CallEvent::Started { model, api, .. } => {
                self.calls_started.inc();
                self.calls_by_model
                    .get_or_create(&ModelName {
                        api: api.to_string(),
                        model: model.to_string(),
                    })
                    .inc();
            }
            CallEvent::Usage { response, .. } => {
                for (kind, tokens) in [
                    ("input_text", response.input_text),
                    ("input_audio", response.input_audio),
                    ("input_image", response.input_image),
                    ("cached_text", response.cached_text),
                    ("cached_audio", response.cached_audio),
                    ("cached_image", response.cached_image),
                    ("output_text", response.output_text),
                    ("output_audio", response.output_audio),
                ] {
                    self.model_tokens
                        .get_or_create(&TokenKind { kind })
                        .inc_by(tokens);
                }
            }
            CallEvent::Ended { reason } => {
                self.calls_ended
                    .get_or_create(&Reason {
                        reason: reason.as_str().to_owned(),
                    })
                    .inc();
            }
            CallEvent::ToolCalled {
                name,
                is_error,
                latency,
                ..
            } => {
                let outcome = if *is_error { "error" } else { "ok" };
                let tool = self
                    .known_tools
                    .iter()
                    .find(|known| known.as_str() == &**name)
                    .map_or(UNKNOWN_TOOL, String::as_str);
                self.tool_calls
                    .get_or_create(&ToolOutcome {
                        tool: tool.to_owned(),
                        outcome: outcome.to_owned(),
                    })
                    .inc();
                self.tool_latency
                    .get_or_create(&ToolName {
                        tool: tool.to_owned(),
                    })
                    .observe(latency.as_secs_f64());
            }
            CallEvent::BargeIn { unheard, .. } => {
                self.barge_ins.inc();
                self.unheard_items.inc_by(u64::from(*unheard));
            }
            CallEvent::Error { .. } => {
                self.errors.inc();
            }
            CallEvent::Dtmf { .. } => {
                self.key_presses.inc();
            }
            CallEvent::Memory { what } => {
                let outcome = match what {
                    MemoryEvent::Recalled(_) => "recalled",
                    MemoryEvent::Stored(_) => "stored",
                    MemoryEvent::Forgotten(_) => "forgotten",
                    MemoryEvent::Failed => "failed",
                };
                self.memory.get_or_create(&Outcome { outcome }).inc();
            }
            CallEvent::Hold { stopped_by } => {
                if let Some(by) = stopped_by {
                    self.holds
                        .get_or_create(&Outcome {
                            outcome: by.as_str(),
                        })
                        .inc();
                }
            }
            CallEvent::ModelReconnecting { .. } => {
                self.model_reconnects.inc();
            }
            CallEvent::Relayed {
                direction,
                frames,
                latency,
            } => {
                let direction = Direction {
                    direction: direction.as_str(),
                };
                self.frames_relayed
                    .get_or_create(&direction)
                    .inc_by(u64::from(*frames));
                if let Some(latency) = latency {
                    self.relay_latency
                        .get_or_create(&direction)
                        .observe(latency.as_secs_f64());
                }
            }
            CallEvent::ModelConnected { took } => self.model_connect.observe(took.as_secs_f64()),
            CallEvent::FirstAudio { after } => {
                #[allow(clippy::cast_precision_loss)]
                self.first_audio.observe(after.get() as f64 / 1000.0);
            }
            CallEvent::ModelReconnected { gap } => {
                #[allow(clippy::cast_precision_loss)]
                self.model_reconnect_gap.observe(gap.get() as f64 / 1000.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use qloophone_domain::ports::RelayDirection;
    use qloophone_domain::{AudioMs, EndReason, ItemId, LegId, RawFrame};

    use super::*;

    fn record(event: CallEvent) -> CallEventRecord {
        CallEventRecord {
            call: LegId::parse("MZ1").unwrap(),
            at: SystemTime::now(),
            event,
        }
    }

    #[test]
    fn qloo_statuses_collapse_to_a_fixed_label_set() {
        let label = |outcome| QlooOutcome::label(outcome);
        assert_eq!(label(QlooOutcome::Status(204)), "2xx");
        assert_eq!(label(QlooOutcome::Status(302)), "3xx");
        assert_eq!(label(QlooOutcome::Status(404)), "4xx");
        assert_eq!(label(QlooOutcome::Status(429)), "429");
        assert_eq!(label(QlooOutcome::Status(502)), "5xx");
        assert_eq!(label(QlooOutcome::Status(999)), "other");
        assert_eq!(label(QlooOutcome::Error), "error");
    }

    #[test]
    fn events_are_counted_and_live_state_is_reported() {
        let qloo = QlooRequests::default();
        let metrics = Metrics::new(vec!["search_entity".to_owned()], &qloo);
        qloo.observe(
            "/search",
            QlooOutcome::Status(200),
            Duration::from_millis(40),
        );
        qloo.observe(
            "/search",
            QlooOutcome::Status(503),
            Duration::from_millis(40),
        );
        qloo.observe("/v2/insights", QlooOutcome::Timeout, Duration::from_secs(3));
        metrics.emit(record(CallEvent::ModelConnected {
            took: Duration::from_millis(120),
        }));
        metrics.emit(record(CallEvent::FirstAudio {
            after: AudioMs::new(640),
        }));
        metrics.emit(record(CallEvent::Started {
            call_sid: None,
            caller: None,
            model: "gpt-realtime-2.1".into(),
            api: "realtime".into(),
        }));
        metrics.emit(record(CallEvent::Model {
            audio: true,
            raw: RawFrame::default(),
        }));
        for is_error in [false, false, true] {
            metrics.emit(record(CallEvent::ToolCalled {
                name: "search_entity".into(),
                arguments: "{}".into(),
                result: "{}".into(),
                is_error,
                latency: Duration::from_millis(300),
                upstream_requests: 1,
            }));
        }
        for invented in ["drop_table", "x".repeat(200).as_str()] {
            metrics.emit(record(CallEvent::ToolCalled {
                name: invented.into(),
                arguments: "{}".into(),
                result: "{}".into(),
                is_error: true,
                latency: Duration::from_millis(1),
                upstream_requests: 0,
            }));
        }
        metrics.emit(record(CallEvent::BargeIn {
            item_id: ItemId::parse("i").unwrap(),
            audio_end: AudioMs::new(10),
            unheard: 2,
        }));
        metrics.emit(record(CallEvent::Dtmf { digit: '1' }));
        metrics.emit(record(CallEvent::Error {
            message: "x".into(),
        }));
        for direction in [
            RelayDirection::Uplink,
            RelayDirection::Uplink,
            RelayDirection::Downlink,
        ] {
            metrics.emit(record(CallEvent::Relayed {
                direction,
                frames: 16,
                latency: Some(Duration::from_micros(150)),
            }));
        }
        // The end's remainder: counted, not timed.
        metrics.emit(record(CallEvent::Relayed {
            direction: RelayDirection::Downlink,
            frames: 5,
            latency: None,
        }));
        for _ in 0..2 {
            metrics.emit(record(CallEvent::Usage {
                response: qloophone_domain::ports::Usage {
                    input_text: 600,
                    input_audio: 10,
                    cached_text: 5,
                    cached_audio: 3,
                    output_text: 20,
                    output_audio: 40,
                    ..Default::default()
                },
                total: qloophone_domain::ports::Usage::default(),
                cost_micros: None,
            }));
        }
        metrics.emit(record(CallEvent::Ended {
            reason: EndReason::PhoneStopped,
        }));
        let text = metrics.render(Snapshot {
            active_calls: 2,
            dashboards: 1,
            draining: false,
            qloo_breaker: crate::qloo::BreakerState::Open,
            cache: CacheStats {
                size: 3,
                hits: 4,
                misses: 5,
                evictions: 0,
                shared: None,
            },
            dashboard_dropped: 7,
            fleet: None,
        });
        for line in [
            "qloophone_calls_started_total 1",
            "qloophone_frames_relayed_total{direction=\"uplink\"} 32",
            "qloophone_frames_relayed_total{direction=\"downlink\"} 21",
            "# UNIT qloophone_model_connect_seconds seconds",
            "qloophone_model_connect_seconds_count 1",
            "qloophone_first_audio_seconds_count 1",
            "qloophone_first_audio_seconds_bucket{le=\"0.64\"} 1",
            "qloophone_qloo_requests_total{endpoint=\"/search\",status=\"2xx\"} 1",
            "qloophone_qloo_requests_total{endpoint=\"/search\",status=\"5xx\"} 1",
            "qloophone_qloo_requests_total{endpoint=\"/v2/insights\",status=\"timeout\"} 1",
            "qloophone_qloo_request_latency_seconds_count{endpoint=\"/search\"} 2",
            "qloophone_dashboard_dropped_messages_total 7",
            "qloophone_model_tokens_total{kind=\"input_text\"} 1200",
            "qloophone_model_tokens_total{kind=\"input_audio\"} 20",
            "qloophone_model_tokens_total{kind=\"cached_text\"} 10",
            "qloophone_model_tokens_total{kind=\"cached_audio\"} 6",
            "qloophone_model_calls_total{api=\"realtime\",model=\"gpt-realtime-2.1\"} 1",
            "qloophone_barge_in_unheard_items_total 2",
            "qloophone_model_tokens_total{kind=\"output_text\"} 40",
            "qloophone_model_tokens_total{kind=\"output_audio\"} 80",
            "qloophone_calls_ended_total{reason=\"phone_stopped\"} 1",
            "qloophone_tool_calls_total{tool=\"search_entity\",outcome=\"ok\"} 2",
            "qloophone_tool_calls_total{tool=\"search_entity\",outcome=\"error\"} 1",
            "qloophone_tool_latency_seconds_count{tool=\"search_entity\"} 3",
            "qloophone_tool_calls_total{tool=\"unknown\",outcome=\"error\"} 2",
            "qloophone_barge_ins_total 1",
            "qloophone_call_errors_total 1",
            "qloophone_key_presses_total 1",
            "qloophone_relay_latency_seconds_count{direction=\"uplink\"} 2",
            "qloophone_relay_latency_seconds_count{direction=\"downlink\"} 1",
            "qloophone_relay_latency_seconds_bucket{le=\"0.00016\",direction=\"uplink\"} 2",
            "qloophone_active_calls 2",
            "qloophone_dashboards 1",
            "qloophone_draining 0",
            "qloophone_qloo_breaker 2",
            "qloophone_cache_entries 3",
            "qloophone_cache_hits_total 4",
            "qloophone_cache_misses_total 5",
            "# TYPE qloophone_cache_hits counter",
            "qloophone_build_info{version=\"",
            "# TYPE process_cpu_seconds counter",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        assert!(
            !text.contains("drop_table"),
            "invented names never become labels"
        );
    }
}
