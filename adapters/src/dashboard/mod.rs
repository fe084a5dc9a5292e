//! `/logs`: live call events for monitoring dashboards.
//!
//! [`DashboardHub`] is the [`EventSink`]: calls hand it events and return at
//! once (a broadcast channel; a full channel overwrites the oldest event).
//! Each `/logs` client has its own task reading the channel; a client that
//! falls behind skips ahead and is told, one that stops reading is dropped.
//! Frames from dashboards are read and discarded, never forwarded to calls.
//!
//! Two forms:
//! - raw (default): the model's events as it sent them, which the original
//!   monitor renders. It knows only the beta names of two GA events, so each
//!   `conversation.item.added` is followed by a copy typed
//!   `conversation.item.created`, and each
//!   `response.output_audio_transcript.delta` by a copy typed
//!   `response.audio_transcript.delta`.
//! - envelope (`?format=envelope`): `{"call","at","event"}` for model events
//!   and the server's own (`call.started`, `call.state`, `turn`,
//!   `tool.called`, `barge_in`, `dtmf`, `error`, `model_reconnecting`,
//!   `model_reconnected`, `usage`, `call.ended`).
//!
//! Audio deltas are most of the bytes and are left out unless `?audio=1`.
//!
//! An envelope dashboard is first told the recent past ([`history`]): the
//! calls in progress and the last to end, as their server events, then
//! `{"type":"connection.replayed"}`, then everything live.
//!
//! With a fleet (Redis), the hub also carries the other instances' events
//! ([`Item::Remote`], from [`crate::redis::feed`]), already rendered there,
//! and every envelope says which instance its call is on (`"instance"`).

pub mod history;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use qloophone_domain::ports::{Clock, EventSink, MemoryEvent, TextFailure, Usage};
use qloophone_domain::{CallEvent, CallEventRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::http::websocket::Socket as WebSocket;
use history::{History, Role};

use crate::secret::Secret;
use crate::time::rfc3339;

/// How long one write to a dashboard may take before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// `[dashboard]`: the `/logs` dashboards and who may open them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardSettings {
    /// Events a slow dashboard may fall behind by before it skips ahead.
    pub buffer: usize,
    /// `DASHBOARD_TOKEN`: the key `/logs` (and `/metrics`, unless
    /// `metrics_public`) ask for, as `Authorization: Bearer …` or `?token=…`.
    /// Without one, dashboards are open (the sandbox, or `--insecure`).
    pub token: Option<Secret>,
    /// Browser origins allowed to open `/logs` besides the public URL's own
    /// (`*` for any). Requests without an `Origin` header are not browsers.
    pub allowed_origins: Vec<String>,
    /// Dashboards connected at once; more are refused with 503.
    pub max_clients: usize,
    /// Serve `/metrics` without the key (for scrapers on a private network).
    pub metrics_public: bool,
}

impl Default for DashboardSettings {
    fn default() -> Self {
        Self {
            buffer: 4096,
            token: None,
            // The original monitor's development server.
            allowed_origins: Vec::new(),
            max_clients: 32,
            metrics_public: false,
        }
    }
}

/// One event for dashboards: one of this instance's calls', or another
/// instance's, as the fleet feed brought it.
#[derive(Debug, Clone)]
pub enum Item {
    /// This instance's.
    Local(CallEventRecord),
    /// Another instance's.
    Remote(std::sync::Arc<RemoteEvent>),
}

/// Another instance's event, rendered there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEvent {
    /// The instance its call is on.
    pub instance: std::sync::Arc<str>,
    /// Its call's stream.
    pub call: String,
    /// What it is to the call's story.
    pub role: Role,
    /// Its envelope form, `instance` included.
    pub envelope: String,
    /// A model event's raw text, for raw dashboards.
    pub raw: Option<String>,
}

impl RemoteEvent {
    /// The key its call is filed under in the history.
    fn key(&self) -> String {
        format!("{}/{}", self.instance, self.call)
    }
}

/// The fan-out point for call events.
#[derive(Debug, Clone)]
pub struct DashboardHub {
    events: broadcast::Sender<Item>,
    closed: tokio::sync::watch::Sender<bool>,
    /// Held while a kept event is filed and sent, so a dashboard
    /// subscribing under it sees each event once: replayed or live.
    history: std::sync::Arc<std::sync::Mutex<History>>,
    /// Messages dashboards did not get (see [`Subscription::dropped`]).
    dropped: std::sync::Arc<AtomicU64>,
    /// This instance's name on envelopes, with a fleet.
    instance: Option<std::sync::Arc<str>>,
    /// Dashboards that asked for the model's audio (`?audio=1`).
    audio_watchers: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A dashboard watching the model's audio, for as long as it is held.
#[derive(Debug)]
pub struct AudioWatch(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for AudioWatch {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one dashboard reads: the recent past, then every event live.
#[derive(Debug)]
pub struct Subscription {
    /// Every event from the moment of subscribing.
    pub events: broadcast::Receiver<Item>,
    /// The kept events of the recent past (see [`history`]), none of them
    /// also in `events`.
    pub past: Vec<Item>,
    /// This instance's name, for the envelopes of its own events.
    pub instance: Option<std::sync::Arc<str>>,
    /// Counts messages this dashboard did not get: events it skipped when
    /// it fell behind, and the one it was not sent when it was dropped for
    /// not reading.
    pub dropped: std::sync::Arc<AtomicU64>,
}

impl DashboardHub {
    /// A hub keeping up to `settings.buffer` events for slow clients.
    pub fn new(settings: &DashboardSettings) -> Self {
        let (events, _) = broadcast::channel(settings.buffer.max(1));
        let (closed, _) = tokio::sync::watch::channel(false);
        Self {
            events,
            closed,
            history: std::sync::Arc::default(),
            dropped: std::sync::Arc::default(),
            instance: None,
            audio_watchers: std::sync::Arc::default(),
        }
    }

    /// Counts a dashboard that wants the model's audio until the watch is
    /// dropped: calls hand audio events over only while one does.
    pub fn watch_audio(&self) -> AudioWatch {
        self.audio_watchers.fetch_add(1, Ordering::Relaxed);
        AudioWatch(self.audio_watchers.clone())
    }

    /// Labels this instance's envelopes with `name` (with a fleet).
    #[must_use]
    pub fn with_instance(mut self, name: std::sync::Arc<str>) -> Self {
        self.instance = Some(name);
        self
    }

    /// This instance's label, with a fleet.
    pub fn instance(&self) -> Option<&std::sync::Arc<str>> {
        self.instance.as_ref()
    }

    /// Hands dashboards another instance's event.
    pub fn emit_remote(&self, event: RemoteEvent) {
        let key = event.key();
        let role = event.role;
        let item = Item::Remote(std::sync::Arc::new(event));
        if role == Role::Skip {
            let _ = self.events.send(item);
        } else {
            let mut history = self.lock_history();
            history.file(key, role, item.clone());
            let _ = self.events.send(item);
        }
    }

    /// Ends, for dashboards, the calls of `instance` still in progress:
    /// it left the fleet without saying they ended (it crashed). Returns
    /// how many there were.
    pub fn forget_instance(&self, instance: &str, at: std::time::SystemTime) -> usize {
        let prefix = format!("{instance}/");
        let calls = self.lock_history().live_under(&prefix);
        for key in &calls {
            let call = &key[prefix.len()..];
            let envelope = json!({
                "instance": instance,
                "call": call,
                "at": rfc3339(at),
                "event": {"type": "call.ended", "reason": "instance_lost"},
            });
            self.emit_remote(RemoteEvent {
                instance: instance.into(),
                call: call.to_owned(),
                role: Role::End,
                envelope: envelope.to_string(),
                raw: None,
            });
        }
        calls.len()
    }

    /// Messages dashboards did not get since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A new dashboard's [`Subscription`].
    pub fn subscribe_with_history(&self) -> Subscription {
        let history = self.lock_history();
        Subscription {
            events: self.events.subscribe(),
            past: history.replay(),
            dropped: self.dropped.clone(),
            instance: self.instance.clone(),
        }
    }

    fn lock_history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells every dashboard to finish sending what it has and hang up
    /// (at shutdown, once the calls are over).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// A receiver that turns `true` when the hub closes.
    pub fn closed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Item> {
        self.events.subscribe()
    }

    /// Dashboards connected now.
    pub fn clients(&self) -> usize {
        self.events.receiver_count()
    }
}

impl EventSink for DashboardHub {
    fn wants_audio(&self) -> bool {
        self.audio_watchers.load(Ordering::Relaxed) > 0
    }

    fn emit(&self, record: CallEventRecord) {
        // No receivers is not an error: nobody is watching.
        if History::keeps(&record.event) {
            let mut history = self.lock_history();
            history.record(&record);
            let _ = self.events.send(Item::Local(record));
        } else {
            let _ = self.events.send(Item::Local(record));
        }
    }
}

/// Options of one `/logs` client, from its query string.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct LogsOptions {
    /// `format=envelope`
    #[serde(default, deserialize_with = "envelope")]
    pub format: Format,
    /// `audio=1`
    #[serde(default, deserialize_with = "flag")]
    pub audio: bool,
}

/// The form events are sent in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// The model's events, as the original monitor expects.
    #[default]
    Raw,
    /// Every event, wrapped with its call and time.
    Envelope,
}

fn envelope<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Format, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(if text.eq_ignore_ascii_case("envelope") {
        Format::Envelope
    } else {
        Format::Raw
    })
}

fn flag<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(matches!(text.as_str(), "1" | "true" | "yes" | "on"))
}

/// Serves one dashboard until it goes away or `shutdown` turns `true`
/// (then it sends the events already waiting and closes).
pub async fn serve_client(
    mut socket: WebSocket,
    subscription: Subscription,
    options: LogsOptions,
    clock: &dyn Clock,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let hello = json!({"type": "connection.established", "timestamp": rfc3339(clock.now())});
    if send(&mut socket, hello.to_string()).await.is_err() {
        return;
    }
    let Subscription {
        mut events,
        past,
        dropped,
        instance,
    } = subscription;
    let instance = instance.as_deref();
    let mut frames = Vec::with_capacity(2);
    if options.format == Format::Envelope {
        for item in &past {
            render_item(item, options, instance, &mut frames);
        }
        for frame in frames.drain(..) {
            if send(&mut socket, frame).await.is_err() {
                return;
            }
        }
        let replayed = json!({"type": "connection.replayed", "events": past.len()});
        if send(&mut socket, replayed.to_string()).await.is_err() {
            return;
        }
    }
    drop(past);
    loop {
        if *shutdown.borrow_and_update() {
            // Send what is already waiting (the last calls' ends), then go.
            while let Ok(item) = events.try_recv() {
                render_item(&item, options, instance, &mut frames);
            }
            for frame in frames.drain(..) {
                if send(&mut socket, frame).await.is_err() {
                    return;
                }
            }
            let _ = socket
                .close(Some(CloseFrame {
                    code: CloseCode::Away,
                    reason: "server shutting down".into(),
                }))
                .await;
            return;
        }
        tokio::select! {
            changed = shutdown.changed() => if changed.is_err() {
                break;
            },
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {} // dashboards do not steer calls
                Some(Err(_)) | None => break,
            },
            event = events.recv() => match event {
                Ok(item) => {
                    render_item(&item, options, instance, &mut frames);
                    for frame in frames.drain(..) {
                        if send(&mut socket, frame).await.is_err() {
                            tracing::info!("dropping a dashboard that stopped reading");
                            dropped.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "dashboard fell behind");
                    dropped.fetch_add(skipped, Ordering::Relaxed);
                    let notice = json!({"type": "connection.lagged", "skipped": skipped});
                    if send(&mut socket, notice.to_string()).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    let _ = socket.close(None).await;
}

async fn send(socket: &mut WebSocket, text: String) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, socket.send(Message::text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// The frames a client with `options` gets for `item`; this instance's
/// envelopes say `instance` when there is one.
pub fn render_item(
    item: &Item,
    options: LogsOptions,
    instance: Option<&str>,
    out: &mut Vec<String>,
) {
    match item {
        Item::Local(record) => render_labelled(record, options, instance, out),
        Item::Remote(event) => match options.format {
            Format::Raw => {
                if let Some(raw) = &event.raw {
                    out.push(raw.clone());
                    if let Some(copy) = beta_copy(raw) {
                        out.push(copy);
                    }
                }
            }
            Format::Envelope => out.push(event.envelope.clone()),
        },
    }
}

/// The frames a client with `options` gets for `record`.
pub fn render(record: &CallEventRecord, options: LogsOptions, out: &mut Vec<String>) {
    render_labelled(record, options, None, out);
}

/// As [`render`], each envelope saying it comes from `instance`.
pub fn render_labelled(
    record: &CallEventRecord,
    options: LogsOptions,
    instance: Option<&str>,
    out: &mut Vec<String>,
) {
    if let CallEvent::Model { audio, raw } = &record.event {
        if *audio && !options.audio {
            return;
        }
        let Ok(text) = std::str::from_utf8(raw.bytes()) else {
            return;
        };
        match options.format {
            Format::Raw => {
                out.push(text.to_owned());
                if let Some(copy) = beta_copy(text) {
                    out.push(copy);
                }
            }
            Format::Envelope => match instance {
                None => out.push(format!(
                    r#"{{"call":{},"at":"{}","event":{text}}}"#,
                    quoted(record.call.as_str()),
                    rfc3339(record.at)
                )),
                Some(instance) => out.push(format!(
                    r#"{{"instance":{},"call":{},"at":"{}","event":{text}}}"#,
                    quoted(instance),
                    quoted(record.call.as_str()),
                    rfc3339(record.at)
                )),
            },
        }
        return;
    }
    if options.format == Format::Raw {
        return;
    }
    let event = match &record.event {
        // Per-frame timing is for /metrics, not for people watching calls.
        CallEvent::Model { .. } | CallEvent::Relayed { .. } => return,
        CallEvent::Started {
            call_sid,
            caller,
            model,
            api,
        } => json!({
            "type": "call.started",
            "call_sid": call_sid.as_ref().map(|sid| sid.as_str()),
            "caller": caller.as_ref().map(|caller| caller.as_str()),
            "model": &**model,
            "api": &**api,
        }),
        CallEvent::ModelConnected { took } => {
            json!({"type": "model_connected", "took_ms": took.as_secs_f64() * 1000.0})
        }
        CallEvent::FirstAudio { after } => json!({"type": "first_audio", "after_ms": after.get()}),
        CallEvent::Activity { activity } => {
            json!({"type": "call.state", "state": activity.as_str()})
        }
        CallEvent::Turn { speaker, text } => {
            json!({"type": "turn", "speaker": speaker.as_str(), "text": &**text})
        }
        CallEvent::ToolCalled {
            name,
            arguments,
            result,
            is_error,
            latency,
            upstream_requests,
        } => json!({
            "type": "tool.called",
            "name": &**name,
            "arguments": as_json(arguments),
            "result": as_json(result),
            "is_error": is_error,
            "latency_ms": latency.as_secs_f64() * 1000.0,
            "qloo_requests": upstream_requests,
        }),
        CallEvent::BargeIn {
            item_id,
            audio_end,
            unheard,
        } => json!({
            "type": "barge_in",
            "item_id": item_id.as_str(),
            "audio_end_ms": audio_end.get(),
            "unheard_items": unheard,
        }),
        CallEvent::Dtmf { digit } => json!({"type": "dtmf", "digit": digit.to_string()}),
        CallEvent::Memory { what } => match what {
            MemoryEvent::Recalled(likes) => {
                json!({"type": "memory", "action": "recalled", "likes": likes})
            }
            MemoryEvent::Stored(likes) => {
                json!({"type": "memory", "action": "stored", "likes": likes})
            }
            MemoryEvent::Forgotten(existed) => {
                json!({"type": "memory", "action": "forgotten", "existed": existed})
            }
            MemoryEvent::Failed => json!({"type": "memory", "action": "failed"}),
        },
        CallEvent::Hold { stopped_by } => match stopped_by {
            None => json!({"type": "hold", "playing": true}),
            Some(by) => json!({"type": "hold", "playing": false, "stopped_by": by.as_str()}),
        },
        CallEvent::Error { message } => json!({"type": "error", "message": &**message}),
        CallEvent::ModelReconnecting { attempt } => {
            json!({"type": "model_reconnecting", "attempt": attempt})
        }
        CallEvent::ModelReconnected { gap } => {
            json!({"type": "model_reconnected", "gap_ms": gap.get()})
        }
        CallEvent::Usage {
            response,
            total,
            cost_micros,
        } => json!({
            "type": "usage",
            "response": usage_json(response),
            "total": usage_json(total),
            // null when the model's prices are not known.
            "cost_usd": cost_micros.map(dollars),
        }),
        CallEvent::Ended { reason } => json!({"type": "call.ended", "reason": reason.as_str()}),
        CallEvent::Handoff { outcome } => json!({"type": "handoff", "outcome": outcome.as_str()}),
        CallEvent::StreamFailed { error } => {
            json!({"type": "stream.failed", "error": &**error})
        }
        CallEvent::Texted {
            failure,
            picks,
            segments,
        } => json!({
            "type": "texted",
            "sent": failure.is_none(),
            "failure": failure.map(TextFailure::as_str),
            "picks": picks,
            "segments": segments,
        }),
        CallEvent::Reported { attempts, state } => json!({
            "type": "reported",
            "attempts": attempts,
            "state": state.as_str(),
        }),
    };
    let mut envelope =
        json!({"call": record.call.as_str(), "at": rfc3339(record.at), "event": event});
    if let Some(instance) = instance {
        envelope["instance"] = Value::from(instance);
    }
    out.push(envelope.to_string());
}

/// Millionths of a dollar as dollars.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 micro-dollars
fn dollars(micros: u64) -> f64 {
    micros as f64 / 1e6
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_text_tokens": usage.input_text,
        "input_audio_tokens": usage.input_audio,
        "input_image_tokens": usage.input_image,
        "cached_input_tokens": usage.cached_input(),
        "cached_text_tokens": usage.cached_text,
        "cached_audio_tokens": usage.cached_audio,
        "cached_image_tokens": usage.cached_image,
        "output_text_tokens": usage.output_text,
        "output_audio_tokens": usage.output_audio,
        "session_ms": usage.session_ms,
        "total_tokens": usage.total(),
    })
}

/// The beta-named copy the original monitor needs, if this event has one.
fn beta_copy(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    let kind = serde_json::from_str::<Kind<'_>>(text).ok()?.kind;
    let beta = match kind.as_ref() {
        "conversation.item.added" => "conversation.item.created",
        "response.output_audio_transcript.delta" => "response.audio_transcript.delta",
        _ => return None,
    };
    let mut value: Value = serde_json::from_str(text).ok()?;
    value["type"] = Value::from(beta);
    Some(value.to_string())
}

fn as_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings always encode")
}

#[cfg(test)]
mod tests;
