//! A simulated OpenAI Realtime model server (GA protocol) on loopback.
//!
//! Each WebSocket is one model session. It answers `session.update` with
//! `session.updated`, detects the caller's speech from the energy of the
//! μ-law appended to it (unless `turn_detection` is `null`: then the client
//! commits turns), reports the caller's turn with the scripted transcript,
//! and answers per its [`ModelScript`]: tool calls first (a function-call
//! response), then speech streamed as audio and transcript deltas at a
//! configurable pace. Like the `gpt-realtime-2` models it can split one
//! answer into several audio items (a preamble, then the rest): item B's
//! first delta comes before item A's `response.output_audio.done`, and
//! every item's done events come just before `response.done`
//! (protocols-2026.md §1.1). It honours `response.cancel`,
//! `conversation.item.truncate`, `conversation.item.delete`,
//! `conversation.item.retrieve`, `input_audio_buffer.commit` and `.clear`,
//! and, with `interrupt_response`, cancels its own response when the
//! caller starts talking. It refuses what the real service refuses (a
//! second active response, cancelling nothing, truncating past the audio,
//! an unknown item, `reasoning` sent to a model that does not reason) and
//! names the client event that caused an error by its `event_id`. Its
//! events have the shapes of OpenAI's published types
//! (`tests/fixtures/openai-realtime/`).
//!
//! Every client event but audio is recorded for tests, up to
//! [`MAX_RECORDED_EVENTS`] a session; audio only as a byte count.
//!
//! It misbehaves on demand ([`ModelFaults`]): it closes sessions with a
//! given code after a while, stalls, refuses responses with a passing
//! error, rejects the session configuration, sends malformed frames.
//!
//! A reconnected session's context (a system message, as QlooPhone sends
//! it) is read the way a model would use it: the caller's turns it lists
//! advance the script, the entities it lists are known by name and id,
//! and the caller is not greeted again.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use crate::audio::{self, BYTES_PER_MS, FRAME_BYTES};
use crate::casting::{Casting, Context};
use crate::script::{
    ModelScript, ScriptFaults, ScriptedCall, fill_ids, learn_ids, rounds, summarize, welcome,
};

/// Client events kept per session, and server events; more are counted,
/// not kept.
pub const MAX_RECORDED_EVENTS: usize = 2_000;

/// Ways the simulated model misbehaves, for the sessions in `sessions`
/// (numbered from 0 in connection order; none by default).
#[derive(Debug, Clone, Default)]
pub struct ModelFaults {
    /// Which sessions misbehave.
    pub sessions: std::ops::Range<usize>,
    /// Also every this-many-th session (the last of each group), for
    /// soaks.
    pub every: Option<usize>,
    /// Close the session with this WebSocket code after this long (1001
    /// is OpenAI's "maximum duration", 1011 an internal error).
    pub close_after: Option<(Duration, u16)>,
    /// Accept the upgrade, then never say anything (not even
    /// `session.created`), while still reading.
    pub stall: bool,
    /// Answer this many `response.create` with `rate_limit_exceeded`.
    pub refuse_responses: usize,
    /// Answer `session.update` with an `invalid_request_error`.
    pub reject_session_update: bool,
    /// Send a malformed frame after every this many events.
    pub malformed_every: Option<usize>,
    /// Close the session with this code while answering the caller's Nth
    /// utterance (from 1), right after the answer's first audio.
    pub close_in_turn: Option<(usize, u16)>,
}

impl ModelFaults {
    /// What a scenario's script asks for.
    pub fn from_script(faults: &ScriptFaults) -> Self {
        Self {
            close_in_turn: faults.close_in_turn.map(|turn| (turn, faults.close_code)),
            refuse_responses: faults.refuse_responses,
            malformed_every: faults.malformed_every,
            ..Self::default()
        }
    }

    /// Whether session `id` misbehaves.
    pub fn applies_to(&self, id: usize) -> bool {
        self.sessions.contains(&id) || self.every.is_some_and(|n| n > 0 && id % n == n - 1)
    }
}

/// Mean absolute amplitude above which a 20 ms frame counts as speech.
const VOICE_LOUDNESS: f64 = 800.0;
/// Speech must last this long before `speech_started` (debounce).
const SPEECH_CONFIRM_MS: u64 = 60;
/// How long a greeting waits for the caller's first tagged audio.
const FIRST_AUDIO_WAIT: Duration = Duration::from_millis(300);
/// How long it waits for a carried script once its first chunk has come.
const CARRIED_SCRIPT_WAIT: Duration = Duration::from_secs(3);

/// How the simulated model behaves.
#[derive(Debug, Clone)]
pub struct RealtimeOptions {
    /// What it hears and says, unless the caller picks a scenario.
    pub script: Arc<ModelScript>,
    /// Scripts a caller can pick by tagging its audio with their number
    /// (see [`audio::tag`]): how a simulated caller and the simulated model
    /// agree on a scenario through the real server, which relays the audio
    /// untouched.
    pub scenarios: Vec<(u16, Arc<ModelScript>)>,
    /// Speed of its speech relative to real time (2.0 streams twice as fast).
    pub pace: f64,
    /// Milliseconds of speech a character of answer takes.
    pub ms_per_char: u64,
    /// The API key it accepts; `None` accepts any Bearer token.
    pub api_key: Option<String>,
    /// Seed for chunk sizes.
    pub seed: u64,
    /// How it misbehaves.
    pub faults: ModelFaults,
    /// The SIP control plane whose calls' sidebands it serves
    /// (`?call_id=…`); without one, such a connection is refused.
    pub sip: Option<crate::sip::ControlPlane>,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        Self {
            script: Arc::new(ModelScript::default()),
            scenarios: Vec::new(),
            pace: 1.0,
            ms_per_char: 60,
            api_key: None,
            seed: 7,
            faults: ModelFaults::default(),
            sip: None,
        }
    }
}

/// What one model session received.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Connection number, from 0.
    pub id: usize,
    /// The `model` query parameter.
    pub model: Option<String>,
    /// Client events in order (audio replaced by `"bytes": n`).
    pub events: Vec<Value>,
    /// Caller audio received, in bytes.
    pub audio_in: usize,
    /// Tags found in the caller audio (see [`audio::tag`]).
    pub tags_in: BTreeSet<u16>,
    /// Whether the connection has closed.
    pub closed: bool,
    /// Client events not kept (past [`MAX_RECORDED_EVENTS`]).
    pub events_dropped: usize,
    /// Server events sent, in order (an audio delta's `delta` replaced by
    /// its length), up to [`MAX_RECORDED_EVENTS`].
    pub sent: Vec<Value>,
}

impl Session {
    /// The events of one type.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }

    /// The server events of one type it sent.
    pub fn sent_of_type(&self, kind: &str) -> Vec<&Value> {
        self.sent.iter().filter(|e| e["type"] == kind).collect()
    }

    /// Milliseconds of audio it generated for each assistant item, in the
    /// order the items began.
    pub fn audio_items(&self) -> Vec<(String, u64)> {
        let mut items: Vec<(String, u64)> = Vec::new();
        for delta in self.sent_of_type("response.output_audio.delta") {
            let id = delta["item_id"].as_str().unwrap_or_default();
            let bytes = delta["delta_bytes"].as_u64().unwrap_or(0);
            match items.iter_mut().find(|(item, _)| item == id) {
                Some((_, ms)) => *ms += bytes / BYTES_PER_MS as u64,
                None => items.push((id.to_owned(), bytes / BYTES_PER_MS as u64)),
            }
        }
        items
    }
}

/// The record of every session, shared with tests.
#[derive(Debug, Clone)]
pub struct Recorder {
    sessions: Arc<Mutex<Vec<Session>>>,
    /// Scenarios some session has already played.
    played: Arc<Mutex<HashSet<u16>>>,
    hang_up: tokio::sync::watch::Sender<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            sessions: Arc::default(),
            played: Arc::default(),
            hang_up: tokio::sync::watch::channel(0).0,
        }
    }
}

impl Recorder {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Vec<Session>) -> R) -> R {
        f(&mut self.sessions.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn update(&self, id: usize, f: impl FnOnce(&mut Session)) {
        self.with(|sessions| {
            if let Some(session) = sessions.get_mut(id) {
                f(session);
            }
        });
    }

    /// Whether no session has played scenario `tag` before this one.
    pub(crate) fn first_to_play(&self, tag: u16) -> bool {
        self.played
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tag)
    }

    /// A snapshot of every session so far.
    pub fn sessions(&self) -> Vec<Session> {
        self.with(|sessions| sessions.clone())
    }

    /// Sessions still open.
    pub fn open_sessions(&self) -> usize {
        self.with(|sessions| sessions.iter().filter(|s| !s.closed).count())
    }

    /// A receiver told when every open session is to be dropped.
    pub(crate) fn hang_ups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.hang_up.subscribe()
    }

    /// Drops every open session abruptly, as a failing service would.
    pub fn drop_all(&self) {
        self.hang_up.send_modify(|generation| *generation += 1);
    }
}

/// A running simulated model server.
#[derive(Debug)]
pub struct RealtimeSim {
    addr: SocketAddr,
    recorder: Recorder,
    task: JoinHandle<()>,
}

impl RealtimeSim {
    /// Serves on `listener` until dropped.
    pub fn spawn(listener: TcpListener, options: RealtimeOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let recorder = Recorder::default();
        let task = tokio::spawn(accept_loop(listener, Arc::new(options), recorder.clone()));
        Ok(Self {
            addr,
            recorder,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Realtime URL to configure a client with.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// What it received.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for RealtimeSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, options: Arc<RealtimeOptions>, recorder: Recorder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let options = options.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(err) = serve(stream, options, recorder).await {
                tracing::debug!(error = %err, "simulated model connection ended");
            }
        });
    }
}

async fn serve(
    stream: TcpStream,
    options: Arc<RealtimeOptions>,
    recorder: Recorder,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut model = None;
    let mut call_id = None;
    let expected_key = options.api_key.clone();
    // tungstenite's handshake callback type fixes this error type.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let refuse = |status: StatusCode, message: &str| {
            let mut error = ErrorResponse::new(Some(message.to_owned()));
            *error.status_mut() = status;
            error
        };
        if !request.uri().path().starts_with("/v1/realtime") {
            return Err(refuse(StatusCode::NOT_FOUND, "not found"));
        }
        let bearer = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (bearer, &expected_key) {
            (None, _) => return Err(refuse(StatusCode::UNAUTHORIZED, "missing bearer token")),
            (Some(got), Some(want)) if got != want => {
                return Err(refuse(StatusCode::UNAUTHORIZED, "incorrect API key"));
            }
            _ => {}
        }
        if request.headers().contains_key("openai-beta") {
            return Err(refuse(StatusCode::BAD_REQUEST, "beta_api_shape_disabled"));
        }
        let query = |name: &str| {
            request.uri().query().and_then(|query| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.into_owned())
            })
        };
        model = query("model");
        // A sideband: only for a call the control plane has accepted and
        // that goes on.
        call_id = query("call_id");
        if let Some(call) = &call_id {
            let open = options.sip.as_ref().is_some_and(|sip| sip.attachable(call));
            if !open {
                return Err(refuse(StatusCode::NOT_FOUND, "call not found"));
            }
        }
        Ok(response)
    };
    let mut socket = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check,
        Some(crate::socket_config()),
    )
    .await?;
    if let (Some(call_id), Some(sip)) = (call_id, &options.sip) {
        sip.sideband(call_id, socket).await;
        return Ok(());
    }
    let id = recorder.with(|sessions| {
        let id = sessions.len();
        sessions.push(Session {
            id,
            model: model.clone(),
            ..Session::default()
        });
        id
    });
    let mut hang_up = recorder.hang_up.subscribe();
    let faults = if options.faults.applies_to(id) {
        options.faults.clone()
    } else {
        ModelFaults::default()
    };
    let close_at = faults
        .close_after
        .map(|(after, code)| (Instant::now() + after, code));
    let mut conn = Conn::new(id, options, recorder.clone());
    conn.model = model.unwrap_or_default();
    conn.faults = faults;
    conn.emit(json!({"type": "session.created", "session": {"type": "realtime", "id": format!("sess_{id}")}}));
    let mut sent = 0usize;
    let result = async {
        loop {
            if conn.faults.stall {
                conn.outbox.clear();
            }
            for event in conn.outbox.drain(..) {
                socket.send(Message::text(event.to_string())).await?;
                recorder.update(id, |session| keep_sent(session, event));
                sent += 1;
                if conn
                    .faults
                    .malformed_every
                    .is_some_and(|every| sent.is_multiple_of(every.max(1)))
                {
                    socket
                        .send(Message::text(
                            "{\"type\": \"response.output_audio.delta\", \"delta\": 7",
                        ))
                        .await?;
                }
            }
            if let Some(code) = conn.close_now.take() {
                let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: code.into(),
                    reason: "simulated close".into(),
                };
                let _ = socket.close(Some(frame)).await;
                break;
            }
            let due = conn.next_due();
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => conn.on_client(text.as_str()),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(err),
                },
                () = sleep_until(due), if due.is_some() => conn.on_tick(),
                () = sleep_until(close_at.map(|(at, _)| at)), if close_at.is_some() => {
                    let code = close_at.map_or(1000, |(_, code)| code);
                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: "simulated close".into(),
                    };
                    let _ = socket.close(Some(frame)).await;
                    break;
                }
                _ = hang_up.changed() => break,
            }
        }
        Ok(())
    }
    .await;
    recorder.update(id, |session| session.closed = true);
    result
}

/// Keeps a sent event for tests, an audio delta without its audio.
pub(crate) fn keep_sent(session: &mut Session, mut event: Value) {
    if session.sent.len() >= MAX_RECORDED_EVENTS {
        return;
    }
    if (event["type"] == "response.output_audio.delta"
        || event["type"] == "session.output_audio.delta")
        && let Some(delta) = event["delta"].as_str()
    {
        let bytes = audio::decode(delta).map_or(0, |bytes| bytes.len());
        event["delta"] = Value::from("");
        event["delta_bytes"] = Value::from(bytes);
    }
    session.sent.push(event);
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

/// A spoken response: one or more audio items, played one after another.
struct Speaking {
    response_id: String,
    items: Vec<SpokenItem>,
    /// The item being generated.
    current: usize,
    next_due: Instant,
}

/// One audio item of a spoken response.
struct SpokenItem {
    item_id: String,
    chunks: VecDeque<(Vec<u8>, String)>,
    transcript: String,
    /// Whether `response.output_item.added` was sent for it.
    begun: bool,
}

#[derive(Default)]
struct Vad {
    voiced_ms: u64,
    silent_ms: u64,
    speaking: bool,
    last_voice_end_ms: u64,
    item_id: String,
}

struct Conn {
    id: usize,
    options: Arc<RealtimeOptions>,
    recorder: Recorder,
    rng: fastrand::Rng,
    outbox: Vec<Value>,
    seq: u64,
    // session configuration
    /// The `model` the session was opened with.
    model: String,
    silence_ms: u64,
    prefix_ms: u64,
    interrupt: bool,
    create_response: bool,
    /// False with `turn_detection: null`: no speech detection; the
    /// client commits turns.
    detect_speech: bool,
    /// The `event_id` of the client event being handled, for errors.
    client_event_id: Option<String>,
    /// Items in the conversation, by id (what `retrieve` and `delete`
    /// find).
    conversation: HashMap<String, Value>,
    /// Input audio since the last commit, in ms (for manual commits).
    uncommitted_ms: u64,
    /// A turn the client committed, waiting for its `response.create`.
    committed: Option<Option<usize>>,
    // input
    input_ms: u64,
    pending: Vec<u8>,
    vad: Vad,
    // conversation
    turn: usize,
    heard_anything: bool,
    greeted: bool,
    /// Text tokens in the conversation so far (what the next response
    /// reads besides the instructions and the caller's audio).
    context_tokens: u64,
    /// The text and audio input tokens the previous response read: cached
    /// for the next.
    last_input_tokens: (u64, u64),
    speaking: Option<Speaking>,
    generated_ms: HashMap<String, u64>,
    awaiting: HashSet<String>,
    outputs: Vec<String>,
    pending_answer: Option<String>,
    pending_rounds: VecDeque<Vec<ScriptedCall>>,
    /// Names and ids tools returned in this session.
    known_ids: Vec<(String, String)>,
    /// This session's script (the default, or the scenario picked).
    script: Arc<ModelScript>,
    /// Which scenario the caller's audio picks.
    casting: Casting,
    faults: ModelFaults,
    refused: usize,
    /// Close the socket with this code once the outbox is sent.
    close_now: Option<u16>,
    /// The caller's turn a context message said was being answered, until
    /// the scenario is known.
    resume_turn: Option<usize>,
    /// A `response.create` that waits for `resume_turn`, or a greeting
    /// that waits for the scenario.
    deferred_response: bool,
    /// When the greeting began to wait for the scenario.
    greeting_held_at: Option<Instant>,
    /// Told the caller is a returning one: the greeting welcomes them back.
    returning: bool,
    /// The greeting waited long enough: it plays whatever the scenario.
    hold_over: bool,
}

impl Conn {
    fn new(id: usize, options: Arc<RealtimeOptions>, recorder: Recorder) -> Self {
        let seed = options.seed.wrapping_add(id as u64);
        let script = options.script.clone();
        let casting = Casting::new(options.scenarios.clone());
        Self {
            id,
            options,
            recorder,
            rng: fastrand::Rng::with_seed(seed),
            outbox: Vec::new(),
            seq: 0,
            model: String::new(),
            silence_ms: 500,
            prefix_ms: 300,
            interrupt: true,
            create_response: true,
            detect_speech: true,
            client_event_id: None,
            conversation: HashMap::new(),
            uncommitted_ms: 0,
            committed: None,
            input_ms: 0,
            pending: Vec::new(),
            vad: Vad::default(),
            turn: 0,
            heard_anything: false,
            greeted: false,
            context_tokens: 0,
            last_input_tokens: (0, 0),
            speaking: None,
            generated_ms: HashMap::new(),
            awaiting: HashSet::new(),
            outputs: Vec::new(),
            pending_answer: None,
            pending_rounds: VecDeque::new(),
            known_ids: Vec::new(),
            script,
            casting,
            faults: ModelFaults::default(),
            refused: 0,
            close_now: None,
            resume_turn: None,
            deferred_response: false,
            greeting_held_at: None,
            returning: false,
            hold_over: false,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{}_{}", self.id, self.seq)
    }

    fn emit(&mut self, mut event: Value) {
        let event_id = self.next_id("event");
        event["event_id"] = Value::from(event_id);
        self.outbox.push(event);
    }

    fn error(&mut self, code: &str, message: &str) {
        let caused_by = self.client_event_id.clone();
        self.emit(json!({"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message, "param": null, "event_id": caused_by
        }}));
    }

    /// How an answer is split into audio items: as the script says, or,
    /// for the `gpt-realtime-2` models, an answer of several sentences in
    /// two (a preamble sentence, then the rest), as those models do; one
    /// item for the others.
    fn split(&self, text: &str) -> Vec<String> {
        match self.script.audio_items {
            Some(parts) => split_answer(text, parts, true),
            None if self.model.starts_with("gpt-realtime-2") => split_answer(text, 2, false),
            None => vec![text.to_owned()],
        }
    }

    /// Whether the session's model reasons (and so takes `reasoning`).
    fn reasons(&self) -> bool {
        self.model.starts_with("gpt-realtime-2")
    }

    fn record(&self, event: Value) {
        self.recorder.update(self.id, |session| {
            if session.events.len() < MAX_RECORDED_EVENTS {
                session.events.push(event);
            } else {
                session.events_dropped += 1;
            }
        });
    }

    fn next_due(&self) -> Option<Instant> {
        let speech = self.speaking.as_ref().map(|s| s.next_due);
        match (speech, self.greeting_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Until when a held greeting waits for the scenario: a moment for the
    /// caller's first tagged audio, longer once a carried script is coming.
    fn greeting_deadline(&self) -> Option<Instant> {
        let held_at = self.greeting_held_at?;
        Some(
            held_at
                + if self.casting.carrying() {
                    CARRIED_SCRIPT_WAIT
                } else {
                    FIRST_AUDIO_WAIT
                },
        )
    }

    /// Whether a greeting asked for now should wait for the scenario: a
    /// scenario may bring its own greeting, and a carried one takes a few
    /// frames to arrive.
    fn hold_greeting(&self) -> bool {
        !self.casting.picked()
            && !self.hold_over
            && !self.greeted
            && !self.heard_anything
            && self.casting.has_scenarios()
    }

    fn on_client(&mut self, text: &str) {
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            self.error("invalid_json", "The event is not valid JSON.");
            return;
        };
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        if kind == "input_audio_buffer.append" {
            self.on_audio(event["audio"].as_str().unwrap_or_default());
            return;
        }
        self.client_event_id = event["event_id"].as_str().map(str::to_owned);
        self.record(event.clone());
        match kind.as_str() {
            "session.update" => self.on_session_update(&event["session"]),
            "input_audio_buffer.commit" => self.on_commit(),
            "input_audio_buffer.clear" => {
                self.pending.clear();
                self.uncommitted_ms = 0;
                self.vad = Vad::default();
                self.emit(json!({"type": "input_audio_buffer.cleared"}));
            }
            "conversation.item.retrieve" => {
                let item_id = event["item_id"].as_str().unwrap_or_default();
                match self.conversation.get(item_id).cloned() {
                    Some(item) => {
                        self.emit(json!({"type": "conversation.item.retrieved", "item": item}));
                    }
                    None => self.error(
                        "item_retrieve_invalid_item_id",
                        "No conversation item with that id.",
                    ),
                }
            }
            "conversation.item.delete" => self.on_delete(&event),
            "response.create" => self.on_response_create(),
            "response.cancel" => {
                if self.speaking.is_some() {
                    self.cancel("client_cancelled");
                } else {
                    self.error(
                        "response_cancel_not_active",
                        "There is no active response to cancel.",
                    );
                }
            }
            "conversation.item.truncate" => self.on_truncate(&event),
            "conversation.item.create" => self.on_item_create(&event["item"]),
            other => {
                let message = format!("Invalid value: '{other}'.");
                self.error("invalid_value", &message);
            }
        }
    }

    fn on_session_update(&mut self, session: &Value) {
        if self.faults.reject_session_update {
            self.error(
                "invalid_value",
                "Invalid value: 'audio/pcmu' is not a supported format.",
            );
            return;
        }
        if session.get("reasoning").is_some() && !self.reasons() {
            // The service refuses the whole configuration and ends the
            // session (protocols-2026.md §2.2).
            self.error(
                "unknown_parameter",
                "Unknown parameter: 'session.reasoning'. This model does not support reasoning.",
            );
            self.close_now = Some(1008);
            return;
        }
        let detection = &session["audio"]["input"]["turn_detection"];
        match session["audio"]["input"].get("turn_detection") {
            Some(Value::Null) => self.detect_speech = false,
            Some(_) => self.detect_speech = true,
            None => {}
        }
        if let Some(ms) = detection["silence_duration_ms"].as_u64() {
            self.silence_ms = ms;
        }
        if let Some(ms) = detection["prefix_padding_ms"].as_u64() {
            self.prefix_ms = ms;
        }
        if let Some(flag) = detection["interrupt_response"].as_bool() {
            self.interrupt = flag;
        }
        if let Some(flag) = detection["create_response"].as_bool() {
            self.create_response = flag;
        }
        if session["type"] != "realtime" {
            self.error(
                "missing_required_parameter",
                "Missing required parameter: 'session.type'.",
            );
            return;
        }
        let mut effective = session.clone();
        effective["id"] = Value::from(format!("sess_{}", self.id));
        effective["object"] = Value::from("realtime.session");
        self.emit(json!({"type": "session.updated", "session": effective}));
    }

    fn on_audio(&mut self, text: &str) {
        let Ok(bytes) = audio::decode(text) else {
            self.error("invalid_value", "Invalid base64 audio.");
            return;
        };
        let tag = audio::read_tag(&bytes);
        if let Some((tag, script)) = self.casting.hear(&bytes) {
            self.adopt(tag, script);
        }
        self.recorder.update(self.id, |session| {
            session.audio_in += bytes.len();
            session.tags_in.extend(tag);
        });
        self.pending.extend_from_slice(&bytes);
        while self.pending.len() >= FRAME_BYTES {
            let frame: Vec<u8> = self.pending.drain(..FRAME_BYTES).collect();
            self.on_frame(&frame);
        }
    }

    /// Plays scenario `tag` from now on: its script when known (shipped,
    /// or carried in band), else the default one. Whatever waited for the
    /// scenario goes on.
    fn adopt(&mut self, tag: u16, script: Option<Arc<ModelScript>>) {
        if let Some(script) = script {
            if !script.faults.is_none() && self.recorder.first_to_play(tag) {
                self.faults = ModelFaults::from_script(&script.faults);
            }
            self.script = script;
        }
        self.greeting_held_at = None;
        self.resume();
    }

    /// Voice activity, one 20 ms frame at a time, on the input audio clock.
    fn on_frame(&mut self, frame: &[u8]) {
        let frame_ms = (frame.len() / BYTES_PER_MS) as u64;
        self.input_ms += frame_ms;
        self.uncommitted_ms += frame_ms;
        if !self.detect_speech {
            return;
        }
        if audio::loudness(frame) > VOICE_LOUDNESS {
            self.vad.voiced_ms += frame_ms;
            self.vad.silent_ms = 0;
            self.vad.last_voice_end_ms = self.input_ms;
            if !self.vad.speaking && self.vad.voiced_ms >= SPEECH_CONFIRM_MS {
                self.vad.speaking = true;
                self.vad.item_id = self.next_id("item");
                let start = (self.input_ms - self.vad.voiced_ms).saturating_sub(self.prefix_ms);
                let item_id = self.vad.item_id.clone();
                self.emit(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": start, "item_id": item_id}));
                if self.interrupt && self.speaking.is_some() {
                    self.cancel("turn_detected");
                }
            }
        } else {
            self.vad.voiced_ms = 0;
            if self.vad.speaking {
                self.vad.silent_ms += frame_ms;
                if self.vad.silent_ms >= self.silence_ms {
                    self.vad.speaking = false;
                    self.end_of_turn();
                }
            }
        }
    }

    fn end_of_turn(&mut self) {
        let item_id = self.vad.item_id.clone();
        let end = self.vad.last_voice_end_ms;
        self.emit(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end, "item_id": item_id}));
        let turn = self.commit_turn(item_id);
        if !self.create_response || self.speaking.is_some() {
            return;
        }
        self.answer(turn);
    }

    /// `input_audio_buffer.commit`: the caller's turn as the client says
    /// it ended (with turn detection off, the only way one ends). The
    /// answer waits for the client's `response.create`.
    fn on_commit(&mut self) {
        if self.uncommitted_ms == 0 {
            self.error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer is empty.",
            );
            return;
        }
        let item_id = self.next_id("item");
        self.vad = Vad::default();
        let turn = self.commit_turn(item_id);
        self.committed = Some(turn);
    }

    /// The caller's turn ends: its audio becomes a user item, transcribed
    /// as the script says it was heard. Returns the turn it answers, if the
    /// script has one.
    fn commit_turn(&mut self, item_id: String) -> Option<usize> {
        let seconds = self.uncommitted_ms as f64 / 1000.0;
        self.uncommitted_ms = 0;
        self.emit(json!({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": null}));
        let item = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                          "status": "completed", "content": [{"type": "input_audio", "transcript": null}]});
        self.conversation.insert(item_id.clone(), item.clone());
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": item}),
        );
        self.emit(
            json!({"type": "conversation.item.done", "previous_item_id": null, "item": item}),
        );
        let index = self.turn;
        self.turn += 1;
        self.heard_anything = true;
        let heard = self
            .script
            .turns
            .get(index)
            .map_or("(inaudible)", |t| t.heard.as_str())
            .to_owned();
        self.emit(
            json!({"type": "conversation.item.input_audio_transcription.completed",
                   "item_id": item_id, "content_index": 0, "transcript": heard,
                   "usage": {"type": "duration", "seconds": seconds}}),
        );
        (index < self.script.turns.len()).then_some(index)
    }

    /// Answers turn `index` (or, past the script, with its fallback): its
    /// tool calls first, else its words.
    fn answer(&mut self, index: Option<usize>) {
        let script = self.script.clone();
        match index.and_then(|index| script.turns.get(index)) {
            Some(turn) if !turn.tool_calls.is_empty() => {
                self.pending_answer = Some(turn.answer.clone());
                self.pending_rounds = rounds(&turn.tool_calls).into();
                if let Some(first) = self.pending_rounds.pop_front() {
                    self.call_tools(&first);
                }
            }
            Some(turn) => {
                let answer = turn.answer.clone();
                self.say(&answer);
            }
            None => {
                let fallback = script.fallback.clone();
                self.say(&fallback);
            }
        }
    }

    fn on_response_create(&mut self) {
        // A reconnected session learns its scenario from the caller's
        // first tagged audio, which comes after the context: the answer
        // waits for it.
        if self.resume_turn.is_some() {
            self.deferred_response = true;
            return;
        }
        if self.hold_greeting() {
            self.deferred_response = true;
            self.greeting_held_at.get_or_insert_with(Instant::now);
            return;
        }
        if self.refused < self.faults.refuse_responses {
            self.refused += 1;
            self.emit(json!({"type": "error", "error": {
                "type": "rate_limit_error", "code": "rate_limit_exceeded",
                "message": "Rate limit reached for requests.", "param": null, "event_id": null
            }}));
            return;
        }
        if self.speaking.is_some() {
            self.error(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress.",
            );
            return;
        }
        if let Some(turn) = self.committed.take() {
            // A turn the client committed by hand.
            self.answer(turn);
            return;
        }
        if self.pending_answer.is_some()
            && !self.pending_rounds.is_empty()
            && self.awaiting.is_empty()
        {
            if let Some(round) = self.pending_rounds.pop_front() {
                self.call_tools(&round);
            }
            return;
        }
        let text = if !self.greeted && !self.heard_anything {
            self.greeted = true;
            welcome(self.returning, &self.script.greeting)
        } else if let Some(answer) = self.pending_answer.take() {
            answer.replace("{tool_output}", &summarize(&self.outputs))
        } else {
            "Anything else I can find for you?".to_owned()
        };
        self.say(&text);
    }

    fn call_tools(&mut self, calls: &[ScriptedCall]) {
        // The answer speaks of the last round's results.
        self.outputs.clear();
        let response_id = self.next_id("resp");
        self.emit(json!({"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}}));
        let mut output = Vec::new();
        for (index, call) in calls.iter().enumerate() {
            let item_id = self.next_id("item");
            let call_id = self.next_id("call");
            let arguments = fill_ids(&call.arguments.to_string(), &self.known_ids);
            let pending = json!({"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                                 "name": call.name, "call_id": call_id, "arguments": ""});
            self.emit(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": index, "item": pending}));
            self.emit(json!({"type": "conversation.item.added", "previous_item_id": null, "item": pending}));
            self.emit(json!({"type": "response.function_call_arguments.delta", "response_id": response_id, "item_id": item_id,
                             "output_index": index, "call_id": call_id, "delta": arguments}));
            self.emit(json!({"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id,
                             "output_index": index, "call_id": call_id, "name": call.name, "arguments": arguments}));
            let done = json!({"id": item_id, "object": "realtime.item", "type": "function_call", "status": "completed",
                              "name": call.name, "call_id": call_id, "arguments": arguments});
            self.emit(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": index, "item": done}));
            self.emit(
                json!({"type": "conversation.item.done", "previous_item_id": null, "item": done}),
            );
            self.awaiting.insert(call_id);
            self.conversation.insert(item_id, done.clone());
            output.push(done);
        }
        let arguments: usize = output
            .iter()
            .map(|item| item["arguments"].as_str().map_or(0, str::len))
            .sum();
        let usage = self.usage(arguments, 0);
        self.emit(json!({"type": "response.done", "response": {"id": response_id, "object": "realtime.response",
                         "status": "completed", "status_details": null, "output": output, "usage": usage}}));
    }

    /// Starts an audio response saying `text`, split into as many audio
    /// items as this model uses.
    fn say(&mut self, text: &str) {
        let response_id = self.next_id("resp");
        self.emit(json!({"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}}));
        let items = self
            .split(text)
            .into_iter()
            .map(|part| {
                let item_id = self.next_id("item");
                SpokenItem {
                    chunks: self.chunks(&part),
                    item_id,
                    transcript: String::new(),
                    begun: false,
                }
            })
            .collect();
        let mut speaking = Speaking {
            response_id,
            items,
            current: 0,
            next_due: Instant::now(),
        };
        self.begin_item(&mut speaking);
        self.speaking = Some(speaking);
    }

    /// Announces the current item of `speaking`: it starts now, whether or
    /// not the items before it are announced done (they are not, until
    /// just before `response.done`).
    fn begin_item(&mut self, speaking: &mut Speaking) {
        let index = speaking.current;
        let Some(item) = speaking.items.get_mut(index) else {
            return;
        };
        item.begun = true;
        let item_id = item.item_id.clone();
        let response_id = speaking.response_id.clone();
        let added = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                           "status": "in_progress", "content": []});
        self.conversation.insert(item_id.clone(), added.clone());
        self.generated_ms.insert(item_id.clone(), 0);
        self.emit(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": index, "item": added}));
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": added}),
        );
        self.emit(json!({"type": "response.content_part.added", "response_id": response_id, "item_id": item_id,
                         "output_index": index, "content_index": 0, "part": {"type": "audio", "transcript": ""}}));
    }

    /// Audio of `text` in chunks of 40 to 200 ms, words spread over them.
    fn chunks(&mut self, text: &str) -> VecDeque<(Vec<u8>, String)> {
        let total_ms = (text.chars().count() as u64 * self.options.ms_per_char).max(200);
        let mut sizes = Vec::new();
        let mut left = total_ms;
        while left > 0 {
            let size = self.rng.u64(40..=200).min(left);
            sizes.push(size);
            left -= size;
        }
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        let mut chunks = VecDeque::new();
        let mut offset = 0;
        let mut word = 0;
        let mut elapsed = 0;
        for size in sizes {
            elapsed += size;
            let samples = (size as usize) * BYTES_PER_MS;
            let mut bytes = audio::voice(samples, offset, 170.0, 0.35);
            #[allow(clippy::cast_possible_truncation)]
            audio::tag(&mut bytes, self.id as u16);
            offset += samples;
            let until = ((elapsed * words.len() as u64) / total_ms) as usize;
            let piece: String = words[word..until.min(words.len())].concat();
            word = until.min(words.len());
            chunks.push_back((bytes, piece));
        }
        chunks
    }

    fn on_tick(&mut self) {
        if self
            .greeting_deadline()
            .is_some_and(|deadline| deadline <= Instant::now())
        {
            // No scenario came in time: greet as the default script does.
            self.greeting_held_at = None;
            self.hold_over = true;
            if std::mem::take(&mut self.deferred_response) {
                self.on_response_create();
            }
            return;
        }
        let pace = self.script.pace.unwrap_or(self.options.pace).max(0.01);
        let Some(mut speaking) = self.speaking.take() else {
            return;
        };
        // The next chunk, moving on to the next item when one is spoken.
        let chunk = loop {
            let Some(item) = speaking.items.get_mut(speaking.current) else {
                break None;
            };
            if let Some(chunk) = item.chunks.pop_front() {
                break Some(chunk);
            }
            speaking.current += 1;
            self.begin_item(&mut speaking);
        };
        let Some((bytes, words)) = chunk else {
            self.speaking = Some(speaking);
            self.finish("completed", None);
            return;
        };
        let ms = (bytes.len() / BYTES_PER_MS) as u64;
        speaking.next_due += Duration::from_secs_f64(ms as f64 / 1000.0 / pace);
        let index = speaking.current;
        let item = &mut speaking.items[index];
        item.transcript.push_str(&words);
        let (response_id, item_id) = (speaking.response_id.clone(), item.item_id.clone());
        self.speaking = Some(speaking);
        *self.generated_ms.entry(item_id.clone()).or_default() += ms;
        let delta = audio::encode(&bytes);
        self.emit(json!({"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id,
                         "output_index": index, "content_index": 0, "delta": delta}));
        if let Some((turn, code)) = self.faults.close_in_turn
            && turn == self.turn
            && self.heard_anything
        {
            self.faults.close_in_turn = None;
            self.close_now = Some(code);
        }
        if !words.is_empty() {
            self.emit(json!({"type": "response.output_audio_transcript.delta", "response_id": response_id,
                             "item_id": item_id, "output_index": index, "content_index": 0, "delta": words}));
        }
    }

    /// A response's `usage`, shaped as the GA server reports it: each
    /// response reads the whole conversation (the instructions and tools,
    /// about 600 tokens, the text so far, and the caller's audio at 10
    /// tokens a second), of which the text and audio the previous one read
    /// are cached, each reported by modality; it writes about a token per
    /// four characters of text and 20 tokens a second of audio.
    fn usage(&mut self, output_chars: usize, output_audio_ms: u64) -> Value {
        let input_text = 600 + self.context_tokens;
        let input_audio = self.input_ms / 100;
        let (read_text, read_audio) = self.last_input_tokens;
        let (cached_text, cached_audio) = (read_text.min(input_text), read_audio.min(input_audio));
        let cached = cached_text + cached_audio;
        let output_text = (output_chars as u64).div_ceil(4);
        let output_audio = output_audio_ms / 50;
        self.context_tokens += output_text;
        self.last_input_tokens = (input_text, input_audio);
        json!({
            "total_tokens": input_text + input_audio + output_text + output_audio,
            "input_tokens": input_text + input_audio,
            "output_tokens": output_text + output_audio,
            "input_token_details": {"text_tokens": input_text, "audio_tokens": input_audio, "cached_tokens": cached,
                                    "cached_tokens_details": {"text_tokens": cached_text, "audio_tokens": cached_audio, "image_tokens": 0}},
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        })
    }

    fn cancel(&mut self, reason: &str) {
        self.finish("cancelled", Some(reason));
    }

    /// Ends the response being spoken: every item begun gets its done
    /// events (in a burst, as the service sends them), then
    /// `response.done` lists them all.
    fn finish(&mut self, status: &str, reason: Option<&str>) {
        let Some(speaking) = self.speaking.take() else {
            return;
        };
        let Speaking {
            response_id, items, ..
        } = speaking;
        let item_status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let mut output = Vec::new();
        let mut spoken_ms = 0;
        let mut spoken_chars = 0;
        for (index, item) in items.into_iter().enumerate().filter(|(_, item)| item.begun) {
            let SpokenItem {
                item_id,
                transcript,
                ..
            } = item;
            let done = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": item_status,
                              "content": [{"type": "output_audio", "transcript": transcript}]});
            self.emit(json!({"type": "response.output_audio.done", "response_id": response_id, "item_id": item_id, "output_index": index, "content_index": 0}));
            self.emit(json!({"type": "response.output_audio_transcript.done", "response_id": response_id, "item_id": item_id,
                             "output_index": index, "content_index": 0, "transcript": transcript}));
            self.emit(json!({"type": "response.content_part.done", "response_id": response_id, "item_id": item_id,
                             "output_index": index, "content_index": 0, "part": {"type": "audio", "transcript": transcript}}));
            self.emit(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": index, "item": done}));
            self.emit(
                json!({"type": "conversation.item.done", "previous_item_id": null, "item": done}),
            );
            if let Some(kept) = self.conversation.get_mut(&item_id) {
                *kept = done.clone();
            }
            spoken_ms += self.generated_ms.get(&item_id).copied().unwrap_or(0);
            spoken_chars += transcript.len();
            output.push(done);
        }
        let details = reason.map(|reason| json!({"type": status, "reason": reason}));
        let usage = self.usage(spoken_chars, spoken_ms);
        self.emit(json!({"type": "response.done", "response": {"id": response_id, "object": "realtime.response", "usage": usage,
                         "status": status, "status_details": details, "output": output}}));
    }

    fn on_truncate(&mut self, event: &Value) {
        let item_id = event["item_id"].as_str().unwrap_or_default().to_owned();
        let end = event["audio_end_ms"].as_u64();
        let Some(&generated) = self.generated_ms.get(&item_id) else {
            self.error(
                "item_truncate_invalid_item_id",
                "No assistant message item with that id.",
            );
            return;
        };
        let Some(end) = end else {
            self.error(
                "invalid_value",
                "audio_end_ms must be a non-negative integer.",
            );
            return;
        };
        if end > generated {
            let message = format!("audio_end_ms {end} is longer than the audio ({generated} ms).");
            self.error("invalid_value", &message);
            return;
        }
        if let Some(item) = self.speaking.as_mut().and_then(|speaking| {
            speaking
                .items
                .iter_mut()
                .find(|item| item.item_id == item_id)
        }) {
            item.chunks.clear();
        }
        self.emit(json!({"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0, "audio_end_ms": end}));
    }

    /// `conversation.item.delete`: an item that exists leaves the
    /// conversation (`conversation.item.deleted`); an unknown one is an
    /// error. Deleting an item of the response still being generated is
    /// refused too: whether the service allows it is not known
    /// (protocols-2026.md §8), so the simulator takes the stricter reading.
    fn on_delete(&mut self, event: &Value) {
        let item_id = event["item_id"].as_str().unwrap_or_default().to_owned();
        let in_progress = self
            .speaking
            .as_ref()
            .is_some_and(|speaking| speaking.items.iter().any(|item| item.item_id == item_id));
        if in_progress {
            self.error(
                "item_delete_in_progress",
                "The item belongs to a response still in progress.",
            );
            return;
        }
        if self.conversation.remove(&item_id).is_none() {
            self.error(
                "item_delete_invalid_item_id",
                "No conversation item with that id.",
            );
            return;
        }
        self.generated_ms.remove(&item_id);
        self.emit(json!({"type": "conversation.item.deleted", "item_id": item_id}));
    }

    /// What a model makes of a context message: the turns already taken
    /// (the script goes on after them), that the caller was greeted, and
    /// the entities found, by name and id (`- name: id` lines).
    fn read_context(&mut self, text: &str) {
        let context = Context::read(text);
        self.greeted |= context.greeted;
        self.returning |= context.returning;
        if context.callers > 0 {
            self.turn = self.turn.max(context.callers);
            self.heard_anything = true;
        }
        self.known_ids.extend(context.known);
        // Asked to answer the last request again: do that turn's work anew
        // (its tool calls, with the ids now known) on the next response,
        // once the scenario is known.
        if context.resume {
            self.resume_turn = Some(context.callers);
            if self.casting.picked() || !self.casting.has_scenarios() {
                self.resume();
            }
        }
    }

    /// Takes up the turn a context message said was being answered.
    fn resume(&mut self) {
        if let Some(callers) = self.resume_turn.take() {
            let script = self.script.clone();
            if let Some(turn) = script.turns.get(callers - 1) {
                self.pending_answer = Some(turn.answer.clone());
                self.pending_rounds = rounds(&turn.tool_calls).into();
            }
        }
        if std::mem::take(&mut self.deferred_response) {
            self.on_response_create();
        }
    }

    fn on_item_create(&mut self, item: &Value) {
        if item["type"] == "message" && item["role"] == "system" {
            let text = item["content"][0]["text"].as_str().unwrap_or_default();
            self.read_context(text);
        }
        if item["type"] == "function_call_output" {
            let output = item["output"].as_str().map_or(0, str::len) as u64;
            self.context_tokens += output.div_ceil(4);
            let call_id = item["call_id"].as_str().unwrap_or_default();
            if !self.awaiting.remove(call_id) {
                self.error(
                    "invalid_value",
                    "No function call with that call_id is waiting for output.",
                );
                return;
            }
            let output = item["output"].as_str().unwrap_or_default().to_owned();
            learn_ids(&output, &mut self.known_ids);
            self.outputs.push(output);
        }
        let mut added = item.clone();
        let item_id = self.next_id("item");
        added["id"] = Value::from(item_id.clone());
        self.conversation.insert(item_id, added.clone());
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": added}),
        );
        self.emit(
            json!({"type": "conversation.item.done", "previous_item_id": null, "item": added}),
        );
    }
}

/// `text` as `parts` audio items: the first sentences one an item (a
/// spoken preamble first) and the rest in the last. With fewer sentences
/// than items, one item, unless `anyhow`: then it is split between clauses
/// or, failing that, words, evenly.
fn split_answer(text: &str, parts: usize, anyhow: bool) -> Vec<String> {
    let pieces = |separators: &[char]| -> Vec<&str> {
        text.split_inclusive(separators)
            .filter(|piece| !piece.trim().is_empty())
            .collect()
    };
    if parts <= 1 {
        return vec![text.to_owned()];
    }
    let sentences = pieces(&['.', '!', '?']);
    let chosen = if sentences.len() >= parts {
        sentences
    } else if !anyhow {
        return vec![text.to_owned()];
    } else if pieces(&[',', ';', ':']).len() >= parts {
        pieces(&[',', ';', ':'])
    } else if pieces(&[' ']).len() >= parts {
        pieces(&[' '])
    } else {
        return vec![text.to_owned()];
    };
    // The first parts - 1 items take one piece each, the last the rest:
    // a preamble, then the answer.
    let mut out: Vec<String> = chosen[..parts - 1]
        .iter()
        .map(|piece| piece.trim().to_owned())
        .collect();
    out.push(chosen[parts - 1..].concat().trim().to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::split_answer;

    #[test]
    fn answers_split_at_sentences_a_preamble_first() {
        assert_eq!(
            split_answer("Sure. Try Dune. Or Arrival.", 2, false),
            ["Sure.", "Try Dune. Or Arrival."]
        );
        assert_eq!(
            split_answer("Sure. Try Dune. Or Arrival.", 3, false),
            ["Sure.", "Try Dune.", "Or Arrival."]
        );
        assert_eq!(split_answer("Try Dune.", 2, false), ["Try Dune."]);
        assert_eq!(
            split_answer("Sure. Try Dune.", 1, true),
            ["Sure. Try Dune."]
        );
    }

    #[test]
    fn asked_for_more_items_than_sentences_it_splits_at_clauses_then_words() {
        assert_eq!(
            split_answer("Try Dune, or Arrival.", 2, true),
            ["Try Dune,", "or Arrival."]
        );
        assert_eq!(split_answer("Try Dune now", 2, true), ["Try", "Dune now"]);
        assert_eq!(split_answer("Dune", 2, true), ["Dune"]);
    }
}
