//! `qloophone load --duplex`: both directions of every call loaded at once,
//! each frame stamped and timed.
//!
//! The generator plays both outside peers in one process, so one clock
//! times every frame: each call is a Twilio caller streaming a 20 ms μ-law
//! frame every 20 ms and echoing marks, and each model session (the server
//! is pointed at [`DuplexModel`]) streams a 20 ms audio delta every 20 ms
//! back. A stamp inside the μ-law bytes, which the server relays untouched,
//! carries the call, a sequence number and the time it was sent; the other
//! side reads it and records the latency, and whether the frame came in
//! order, on the right call, or at all.
//!
//! Each side keeps its counts and histograms to itself and hands them in
//! once, at its end, so the generator spends on a frame little more than
//! the socket work: a saturated generator would be mistaken for a slow
//! server, so its own CPU is reported beside the server's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_tungstenite::Connector;

use crate::tls::ServerTls;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{ServerUsage, proc_sample};

/// Bytes of μ-law in a 20 ms frame at 8 kHz.
const FRAME: usize = 160;
/// The stamp's first bytes: a frame without them is not ours.
const MAGIC: [u8; 2] = *b"QP";
/// Magic, call (u32), sequence (u32), sent at (u64 ns since the run began).
const STAMP: usize = 2 + 4 + 4 + 8;
/// The call number a session stamps before it knows its call.
const UNKNOWN_CALL: u32 = u32::MAX;
/// The 20 ms pace of both directions.
const TICK: Duration = Duration::from_millis(20);

/// What one frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    call: u32,
    seq: u32,
    sent_ns: u64,
}

impl Stamp {
    fn write(self, frame: &mut [u8; FRAME]) {
        frame[..2].copy_from_slice(&MAGIC);
        frame[2..6].copy_from_slice(&self.call.to_le_bytes());
        frame[6..10].copy_from_slice(&self.seq.to_le_bytes());
        frame[10..STAMP].copy_from_slice(&self.sent_ns.to_le_bytes());
    }

    fn read(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < STAMP || bytes[..2] != MAGIC {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        Some(Self {
            call: u32_at(2),
            seq: u32_at(6),
            sent_ns: u64::from_le_bytes(bytes[10..STAMP].try_into().expect("8 bytes")),
        })
    }
}

/// Decodes a base64 payload of one frame into `out`; `None` if it is not
/// one of ours.
fn decode_stamp(payload: &str, out: &mut [u8; FRAME + 4]) -> Option<Stamp> {
    let len = STANDARD.decode_slice(payload, out).ok()?;
    Stamp::read(&out[..len])
}

/// One direction's frames as one side of a call saw them.
#[derive(Debug)]
struct Tally {
    /// Frames received with our stamp.
    received: u64,
    /// The next sequence number expected.
    next: u32,
    /// Frames that came after a later one.
    out_of_order: u64,
    /// Frames stamped with another call.
    misrouted: u64,
    /// The highest sequence number seen, plus one.
    span: u64,
    latency_us: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            received: 0,
            next: 0,
            out_of_order: 0,
            misrouted: 0,
            span: 0,
            latency_us: Histogram::new(2).expect("2 significant figures is valid"),
        }
    }

    fn record(&mut self, stamp: Stamp, call: u32, now_ns: u64) {
        if stamp.call != call {
            self.misrouted += 1;
            return;
        }
        self.received += 1;
        if stamp.seq < self.next {
            self.out_of_order += 1;
        } else {
            self.next = stamp.seq + 1;
        }
        self.span = self.span.max(u64::from(stamp.seq) + 1);
        let _ = self
            .latency_us
            .record(now_ns.saturating_sub(stamp.sent_ns) / 1_000);
    }
}

/// Percentiles of a latency, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Micros {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

impl Micros {
    fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// One direction over the whole run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Direction {
    /// Frames sent.
    pub sent: u64,
    /// Frames received on the right call.
    pub received: u64,
    /// Frames missing from what was received (gaps in the sequence: the
    /// last frames in flight when a call ends are not counted as lost).
    pub lost: u64,
    /// Frames that came after a later one.
    pub out_of_order: u64,
    /// Frames that arrived on another call.
    pub misrouted: u64,
    /// Sent to received, µs.
    pub latency_us: Micros,
}

#[derive(Debug)]
struct DirectionSum {
    sent: u64,
    received: u64,
    lost: u64,
    out_of_order: u64,
    misrouted: u64,
    latency_us: Histogram<u64>,
}

impl DirectionSum {
    fn new() -> Self {
        Self {
            sent: 0,
            received: 0,
            lost: 0,
            out_of_order: 0,
            misrouted: 0,
            latency_us: Histogram::new(2).expect("2 significant figures is valid"),
        }
    }

    fn add(&mut self, tally: &Tally) {
        self.received += tally.received;
        self.lost += tally.span.saturating_sub(tally.received);
        self.out_of_order += tally.out_of_order;
        self.misrouted += tally.misrouted;
        let _ = self.latency_us.add(&tally.latency_us);
    }

    fn report(&self) -> Direction {
        Direction {
            sent: self.sent,
            received: self.received,
            lost: self.lost,
            out_of_order: self.out_of_order,
            misrouted: self.misrouted,
            latency_us: Micros::of(&self.latency_us),
        }
    }
}

/// What the run's two sides hand in.
struct Totals {
    uplink: DirectionSum,
    downlink: DirectionSum,
    start_to_append_us: Histogram<u64>,
    connected: u64,
    failures: Vec<String>,
}

/// State shared by the callers and the model sessions.
struct Shared {
    epoch: Instant,
    /// When each call sent `start`, in ns since the epoch (0: not yet).
    started_ns: Vec<AtomicU64>,
    /// Model sessions not yet handed in.
    open_sessions: AtomicU64,
    totals: Mutex<Totals>,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn totals(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How to load the server in both directions.
#[derive(Debug, Clone)]
pub struct DuplexSettings {
    /// The server.
    pub url: String,
    /// Calls to place.
    pub calls: usize,
    /// Calls start evenly over this long.
    pub ramp: Duration,
    /// How long each call streams.
    pub duration: Duration,
    /// The server's process, to read its CPU and memory from `/proc`.
    pub server_pid: Option<u32>,
    /// The Twilio auth token to sign requests with, if the server checks.
    pub auth_token: Option<String>,
    /// Open this Media Stream URL directly instead of asking `/twiml` for
    /// one (for a bridge with another webhook, such as Twilio's Node
    /// sample, measured the same way).
    pub stream_url: Option<String>,
    /// Trust only this CA file's certificates on `wss://` streams (a server
    /// serving TLS with a certificate made for the run).
    pub ca_file: Option<std::path::PathBuf>,
}

/// The outcome of a full-duplex run.
#[derive(Debug, Clone, Serialize)]
pub struct DuplexReport {
    /// Calls placed.
    pub calls: usize,
    /// Calls whose audio reached the model and whose caller heard the
    /// model's audio.
    pub connected: u64,
    /// Why calls failed (first few).
    pub failures: Vec<String>,
    /// Seconds the run took.
    pub seconds: f64,
    /// Caller to model.
    pub uplink: Direction,
    /// Model to caller.
    pub downlink: Direction,
    /// The caller's `start` to its first frame reaching the model (the
    /// model's connect time included), µs.
    pub start_to_first_append_us: Micros,
    /// The server's usage, when its process id was given.
    pub server: Option<ServerUsage>,
    /// The server's resident memory while every call was held (sampled
    /// halfway between the last call's start and the first call's end),
    /// when its process id was given.
    pub held: Option<HeldMemory>,
    /// Server CPU per frame relayed (either way), µs.
    pub server_cpu_us_per_frame: Option<f64>,
    /// The generator's own CPU seconds (callers and model together).
    pub generator_cpu_seconds: f64,
    /// How much of a core the generator used over the run.
    pub generator_cores: f64,
    /// The generator used [`GENERATOR_BUSY`] of a core or more: the
    /// latencies then include its own queueing, not only the server's.
    pub generator_saturated: bool,
}

/// Resident memory by kind, in MiB: what the process allocated
/// (anonymous) apart from the pages of its own executable and libraries
/// (file-backed: shared with the page cache, reclaimable, and as large as
/// the binary's code the kernel mapped in).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct HeldMemory {
    /// `RssAnon`.
    pub anon_mib: f64,
    /// `RssFile`.
    pub file_mib: f64,
}

impl HeldMemory {
    fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let mib = |key: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(key))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        };
        Some(Self {
            anon_mib: mib("RssAnon:")?,
            file_mib: mib("RssFile:")?,
        })
    }
}

/// The share of a core above which the generator's own queueing shows in
/// the latencies it measures (it runs on one core of its own).
pub const GENERATOR_BUSY: f64 = 0.8;

impl DuplexReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} of {} calls connected, {:.1} s",
            self.connected, self.calls, self.seconds
        );
        for (name, d) in [("uplink", &self.uplink), ("downlink", &self.downlink)] {
            let l = d.latency_us;
            let _ = writeln!(
                out,
                "{name:8} sent {} received {} lost {} out of order {} misrouted {}; \
                 latency p50 {} µs p90 {} p99 {} p99.9 {} max {}",
                d.sent,
                d.received,
                d.lost,
                d.out_of_order,
                d.misrouted,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max
            );
        }
        let s = self.start_to_first_append_us;
        let _ = writeln!(
            out,
            "start to first append: p50 {} µs p99 {} max {}",
            s.p50, s.p99, s.max
        );
        if let Some(server) = self.server {
            let _ = writeln!(
                out,
                "server: {:.2} CPU s ({:.2} cores), {:.1} µs a frame, RSS {:.1} MiB (peak {:.1})",
                server.cpu_seconds,
                server.cores,
                self.server_cpu_us_per_frame.unwrap_or_default(),
                server.rss_mib,
                server.peak_rss_mib
            );
        }
        if let Some(held) = self.held {
            let _ = writeln!(
                out,
                "server with every call held: {:.1} MiB anonymous, {:.1} MiB of mapped files",
                held.anon_mib, held.file_mib
            );
        }
        let _ = writeln!(
            out,
            "generator: {:.2} CPU s ({:.2} cores)",
            self.generator_cpu_seconds, self.generator_cores
        );
        if self.generator_saturated {
            let _ = writeln!(
                out,
                "warning: the generator used {:.0} % of its core: the latencies include its \
                 own queueing; place fewer calls or give it a faster core",
                self.generator_cores * 100.0
            );
        }
        for failure in &self.failures {
            let _ = writeln!(out, "failure: {failure}");
        }
        out
    }
}

/// The model side of a full-duplex run: a Realtime server whose sessions
/// confirm their configuration, answer the first `response.create` with a
/// response that streams 20 ms of stamped audio every 20 ms for as long as
/// the session lasts, and time the caller's audio appended to them.
pub struct DuplexModel {
    addr: SocketAddr,
    tls: bool,
    task: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl DuplexModel {
    /// Where the server should point `OPENAI_REALTIME_URL`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/v1/realtime", self.addr)
    }
}

impl Drop for DuplexModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Deserialize)]
struct ClientEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    audio: Option<&'a str>,
}

async fn model_session<S>(stream: S, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Ok(mut socket) =
        tokio_tungstenite::accept_async_with_config(stream, Some(crate::socket_config())).await
    else {
        shared.open_sessions.fetch_sub(1, Ordering::Relaxed);
        return;
    };
    let mut call = UNKNOWN_CALL;
    let mut uplink = Tally::new();
    let mut first_append = true;
    let mut wanted = false;
    let mut unasked_at = None;
    let mut streaming = false;
    let mut seq = 0_u32;
    let mut sent = 0_u64;
    let mut buf = [0_u8; FRAME + 4];
    let mut frame = [0xFF_u8; FRAME];
    let mut ticker = tokio::time::interval(TICK);
    let response_id = "resp_duplex";
    let item_id = "item_duplex";
    loop {
        tokio::select! {
            message = socket.next() => {
                let Some(Ok(message)) = message else { break };
                let Message::Text(text) = message else { continue };
                let Ok(event) = serde_json::from_str::<ClientEvent<'_>>(text.as_str()) else { continue };
                match event.kind {
                    "input_audio_buffer.append" => {
                        let Some(stamp) = event.audio.and_then(|a| decode_stamp(a, &mut buf)) else { continue };
                        let now = shared.now_ns();
                        if call == UNKNOWN_CALL {
                            call = stamp.call;
                        }
                        if first_append {
                            first_append = false;
                            if let Some(started) = shared.started_ns.get(call as usize) {
                                let started = started.load(Ordering::Relaxed);
                                if started > 0 {
                                    let _ = shared.totals().start_to_append_us.record(now.saturating_sub(started) / 1_000);
                                }
                            }
                        }
                        uplink.record(stamp, call, now);
                    }
                    "session.update" => {
                        // Confirm what was asked, tools included, as the real service does.
                        let asked: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                        let confirmed = json!({"type": "session.updated", "event_id": "event_duplex", "session": asked["session"]});
                        if socket.send(Message::text(confirmed.to_string())).await.is_err() { break }
                        // A bridge that never asks for a response (Twilio's
                        // Node sample waits for the caller) still hears the
                        // model speak, a moment later.
                        unasked_at.get_or_insert(tokio::time::Instant::now() + Duration::from_millis(100));
                    }
                    "response.create" => wanted = true,
                    _ => {}
                }
            }
            _ = ticker.tick(), if call != UNKNOWN_CALL && (wanted || unasked_at.is_some_and(|at| tokio::time::Instant::now() >= at)) => {
                if !streaming {
                    streaming = true;
                    let created = json!({"type": "response.created", "event_id": "event_duplex",
                        "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}});
                    if socket.send(Message::text(created.to_string())).await.is_err() { break }
                }
                Stamp { call, seq, sent_ns: shared.now_ns() }.write(&mut frame);
                seq += 1;
                let delta = format!(
                    r#"{{"type":"response.output_audio.delta","event_id":"event_duplex","response_id":"{response_id}","item_id":"{item_id}","output_index":0,"content_index":0,"delta":"{}"}}"#,
                    STANDARD.encode(frame)
                );
                if socket.send(Message::text(delta)).await.is_err() { break }
                sent += 1;
            }
        }
    }
    let mut totals = shared.totals();
    totals.downlink.sent += sent;
    totals.uplink.add(&uplink);
    shared.open_sessions.fetch_sub(1, Ordering::Relaxed);
}

#[derive(Deserialize)]
struct ServerFrame<'a> {
    #[serde(borrow)]
    event: &'a str,
    #[serde(default, borrow)]
    media: Option<MediaPart<'a>>,
    #[serde(default, borrow)]
    mark: Option<MarkPart<'a>>,
}

#[derive(Deserialize)]
struct MediaPart<'a> {
    #[serde(borrow)]
    payload: &'a str,
}

#[derive(Deserialize)]
struct MarkPart<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
}

/// One caller: `/twiml`, the stream, 20 ms stamped frames for `duration`,
/// marks echoed as they come, then `stop`.
async fn caller(
    settings: DuplexSettings,
    index: usize,
    shared: Arc<Shared>,
    tls: Option<Connector>,
) -> Result<(), String> {
    let call = u32::try_from(index).map_err(|_| "too many calls".to_owned())?;
    let call_sid = format!("CA{index:032x}");
    let token = settings.auth_token.as_deref();
    let (url, parameters) = match &settings.stream_url {
        Some(url) => (url.clone(), Vec::new()),
        None => crate::phone::ask_for_stream(&settings.url, &call_sid, token)
            .await
            .map_err(|err| err.to_string())?,
    };
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            url.as_str(),
        )
        .map_err(|err| err.to_string())?;
    if let Some(token) = token
        && let Ok(value) = crate::signature::sign(token, &url, &[]).parse()
    {
        request.headers_mut().insert("x-twilio-signature", value);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(crate::socket_config()),
        true,
        tls,
    )
    .await
    .map_err(|err| format!("{url}: {err}"))?;
    let stream_sid = format!("MZ{index:032x}");
    let parameters: serde_json::Map<String, serde_json::Value> = parameters
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let connected = json!({"event": "connected", "protocol": "Call", "version": "1.0.0"});
    let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid, "start": {
        "accountSid": "AC00000000000000000000000000000000", "streamSid": stream_sid, "callSid": call_sid,
        "tracks": ["inbound"], "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
    socket
        .send(Message::text(connected.to_string()))
        .await
        .map_err(|err| err.to_string())?;
    shared.started_ns[index].store(shared.now_ns().max(1), Ordering::Relaxed);
    socket
        .send(Message::text(start.to_string()))
        .await
        .map_err(|err| err.to_string())?;

    let mut downlink = Tally::new();
    let mut buf = [0_u8; FRAME + 4];
    let mut frame = [0xFF_u8; FRAME];
    let mut seq = 0_u32;
    let mut sent = 0_u64;
    let mut ticker = tokio::time::interval(TICK);
    let deadline = tokio::time::sleep(settings.duration);
    tokio::pin!(deadline);
    let mut failure = None;
    loop {
        tokio::select! {
            () = &mut deadline => break,
            _ = ticker.tick() => {
                Stamp { call, seq, sent_ns: shared.now_ns() }.write(&mut frame);
                let media = format!(
                    r#"{{"event":"media","sequenceNumber":"{}","streamSid":"{stream_sid}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":"{}"}}}}"#,
                    seq + 2,
                    seq + 1,
                    u64::from(seq) * 20,
                    STANDARD.encode(frame)
                );
                seq += 1;
                if let Err(err) = socket.send(Message::text(media)).await {
                    failure = Some(format!("sending: {err}"));
                    break;
                }
                sent += 1;
            }
            message = socket.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => {
                        failure = Some("the server ended the call".to_owned());
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => {
                        failure = Some(err.to_string());
                        break;
                    }
                };
                let Ok(event) = serde_json::from_str::<ServerFrame<'_>>(text.as_str()) else { continue };
                match (event.event, event.media, event.mark) {
                    ("media", Some(media), _) => {
                        if let Some(stamp) = decode_stamp(media.payload, &mut buf) {
                            downlink.record(stamp, call, shared.now_ns());
                        }
                    }
                    // Playback of a 20 ms frame ends about when the next
                    // arrives: echo at once, as Twilio would then.
                    ("mark", _, Some(mark)) => {
                        let echo = json!({"event": "mark", "streamSid": stream_sid, "mark": {"name": mark.name}});
                        if socket.send(Message::text(echo.to_string())).await.is_err() {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if failure.is_none() {
        let stop = json!({"event": "stop", "streamSid": stream_sid, "stop": {
            "accountSid": "AC00000000000000000000000000000000", "callSid": call_sid}});
        let _ = socket.send(Message::text(stop.to_string())).await;
        let _ = socket.close(None).await;
        // What is still in flight either way drains before the tallies close.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && let Ok(event) = serde_json::from_str::<ServerFrame<'_>>(text.as_str())
                    && let Some(media) = event.media
                    && let Some(stamp) = decode_stamp(media.payload, &mut buf)
                {
                    downlink.record(stamp, call, shared.now_ns());
                }
            }
        })
        .await;
    }
    let mut totals = shared.totals();
    totals.uplink.sent += sent;
    totals.downlink.add(&downlink);
    if failure.is_none() && downlink.received > 0 {
        totals.connected += 1;
    }
    match failure {
        Some(why) => Err(why),
        None if downlink.received == 0 => Err("heard nothing from the model".to_owned()),
        None => Ok(()),
    }
}

/// Starts the model side on `listen`, for the server to be pointed at.
///
/// # Errors
/// When the address cannot be bound.
pub async fn start_model(
    listen: SocketAddr,
    calls: usize,
    tls: Option<ServerTls>,
) -> std::io::Result<DuplexModel> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let tls_on = tls.is_some();
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        started_ns: (0..calls).map(|_| AtomicU64::new(0)).collect(),
        open_sessions: AtomicU64::new(0),
        totals: Mutex::new(Totals {
            uplink: DirectionSum::new(),
            downlink: DirectionSum::new(),
            start_to_append_us: Histogram::new(2).expect("2 significant figures is valid"),
            connected: 0,
            failures: Vec::new(),
        }),
    });
    let accepting = shared.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            accepting.open_sessions.fetch_add(1, Ordering::Relaxed);
            let shared = accepting.clone();
            match tls.clone() {
                None => drop(tokio::spawn(model_session(stream, shared))),
                Some(tls) => drop(tokio::spawn(async move {
                    match tls.accept(stream).await {
                        Ok(stream) => model_session(stream, shared).await,
                        Err(_) => {
                            shared.open_sessions.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                })),
            }
        }
    });
    Ok(DuplexModel {
        addr,
        tls: tls_on,
        task,
        shared,
    })
}

/// Places the calls against a server pointed at `model` and reports.
///
/// # Errors
/// When `settings.ca_file` cannot be read.
pub async fn run(settings: &DuplexSettings, model: DuplexModel) -> std::io::Result<DuplexReport> {
    let shared = model.shared.clone();
    let tls = settings
        .ca_file
        .as_deref()
        .map(crate::tls::client_trusting)
        .transpose()?;
    let me = std::process::id();
    let generator_before = proc_sample(me);
    let before = settings.server_pid.and_then(proc_sample);
    let started = Instant::now();
    let gap = settings
        .ramp
        .checked_div(u32::try_from(settings.calls.max(1)).unwrap_or(u32::MAX))
        .unwrap_or_default();
    let calls: Vec<_> = (0..settings.calls.min(shared.started_ns.len()))
        .map(|index| {
            let settings = settings.clone();
            let shared = shared.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                tokio::time::sleep(gap * u32::try_from(index).unwrap_or(u32::MAX)).await;
                caller(settings, index, shared, tls).await
            })
        })
        .collect();
    // Every call is held from the last one's start to the first one's end.
    let held = settings.server_pid.map(|pid| {
        let at = (settings.ramp + settings.duration) / 2;
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            HeldMemory::of(pid)
        })
    });
    let mut failures = Vec::new();
    for call in calls {
        let outcome = call.await.map_err(|err| err.to_string()).and_then(|r| r);
        if let Err(why) = outcome
            && failures.len() < 10
        {
            failures.push(why);
        }
    }
    // The server closes each model session as its call ends; wait for the
    // sessions to hand in their tallies.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if shared.open_sessions.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    drop(model);
    let held = match held {
        Some(sample) => sample.await.ok().flatten(),
        None => None,
    };
    let totals = shared.totals();
    let uplink = totals.uplink.report();
    let downlink = totals.downlink.report();
    let server = match (before, settings.server_pid.and_then(proc_sample)) {
        (Some((cpu_before, _, _)), Some((cpu_after, rss, peak))) => Some(ServerUsage {
            cpu_seconds: cpu_after - cpu_before,
            cores: (cpu_after - cpu_before) / seconds.max(0.001),
            rss_mib: rss,
            peak_rss_mib: peak,
        }),
        _ => None,
    };
    let relayed = uplink.received + downlink.received;
    let generator_cpu_seconds = match (generator_before, proc_sample(me)) {
        (Some((before, _, _)), Some((after, _, _))) => after - before,
        _ => 0.0,
    };
    let generator_cores = generator_cpu_seconds / seconds.max(0.001);
    failures.extend(totals.failures.iter().cloned());
    Ok(DuplexReport {
        calls: settings.calls,
        connected: totals.connected,
        failures,
        seconds,
        uplink,
        downlink,
        start_to_first_append_us: Micros::of(&totals.start_to_append_us),
        server_cpu_us_per_frame: server
            .filter(|_| relayed > 0)
            .map(|s| s.cpu_seconds * 1e6 / relayed as f64),
        server,
        held,
        generator_cpu_seconds,
        generator_cores,
        generator_saturated: generator_cores >= GENERATOR_BUSY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(generator_cores: f64) -> DuplexReport {
        DuplexReport {
            calls: 1,
            connected: 1,
            failures: vec![],
            seconds: 10.0,
            uplink: Direction::default(),
            downlink: Direction::default(),
            start_to_first_append_us: Micros::default(),
            server: None,
            held: None,
            server_cpu_us_per_frame: None,
            generator_cpu_seconds: generator_cores * 10.0,
            generator_cores,
            generator_saturated: generator_cores >= GENERATOR_BUSY,
        }
    }

    #[test]
    fn held_memory_is_read_by_kind() {
        let own = HeldMemory::of(std::process::id()).expect("this process's status");
        // A test binary has both: its heap and the pages of its own code.
        assert!(own.anon_mib > 0.0 && own.file_mib > 0.0, "{own:?}");
        assert_eq!(HeldMemory::of(u32::MAX), None);
    }

    #[test]
    fn a_busy_generator_is_told_apart_from_a_slow_server() {
        let calm = report(0.5).summary();
        assert!(
            calm.contains("generator: 5.00 CPU s (0.50 cores)"),
            "{calm}"
        );
        assert!(!calm.contains("warning"), "{calm}");
        let busy = report(0.9).summary();
        assert!(
            busy.contains("warning: the generator used 90 % of its core"),
            "{busy}"
        );
        let json = serde_json::to_value(report(0.9)).unwrap();
        assert_eq!(json["generator_saturated"], true);
    }

    #[test]
    fn a_stamp_survives_base64_and_is_read_back() {
        let mut frame = [0xFF_u8; FRAME];
        let stamp = Stamp {
            call: 7,
            seq: 123_456,
            sent_ns: 9_876_543_210,
        };
        stamp.write(&mut frame);
        let payload = STANDARD.encode(frame);
        let mut buf = [0_u8; FRAME + 4];
        assert_eq!(decode_stamp(&payload, &mut buf), Some(stamp));
        assert_eq!(
            decode_stamp(&STANDARD.encode([0xFF_u8; FRAME]), &mut buf),
            None
        );
        assert_eq!(decode_stamp("not base64!", &mut buf), None);
    }

    #[test]
    fn a_tally_counts_order_gaps_and_strangers() {
        let mut tally = Tally::new();
        let at = |seq| Stamp {
            call: 1,
            seq,
            sent_ns: 0,
        };
        for seq in [0, 1, 3, 2, 5] {
            tally.record(at(seq), 1, 1_000);
        }
        tally.record(Stamp { call: 2, ..at(6) }, 1, 1_000);
        assert_eq!(tally.received, 5);
        assert_eq!(tally.out_of_order, 1, "2 came after 3");
        assert_eq!(tally.misrouted, 1);
        let mut sum = DirectionSum::new();
        sum.add(&tally);
        assert_eq!(sum.lost, 1, "4 never came");
    }
}
