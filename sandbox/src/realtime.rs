//! A simulated OpenAI Realtime model server (GA protocol) on loopback.
//!
//! Each WebSocket is one model session. It answers `session.update` with
//! `session.updated`, detects the caller's speech from the energy of the
//! μ-law appended to it, reports the caller's turn with the scripted
//! transcript, and answers per its [`ModelScript`]: tool calls first (a
//! function-call response), then speech streamed as audio and transcript
//! deltas at a configurable pace. It honours `response.cancel`,
//! `conversation.item.truncate` and, with `interrupt_response`, cancels its
//! own response when the caller starts talking. It refuses what the real
//! service refuses (a second active response, cancelling nothing,
//! truncating past the audio) with the real error codes.
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
use crate::inband::Reassembler;
use crate::script::{ModelScript, ScriptFaults, ScriptedCall, fill_ids, rounds, summarize};

/// Client events kept per session; more are counted, not kept.
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
}

impl Session {
    /// The events of one type.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
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
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Session>) -> R) -> R {
        f(&mut self.sessions.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn update(&self, id: usize, f: impl FnOnce(&mut Session)) {
        self.with(|sessions| {
            if let Some(session) = sessions.get_mut(id) {
                f(session);
            }
        });
    }

    /// Whether no session has played scenario `tag` before this one.
    fn first_to_play(&self, tag: u16) -> bool {
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
        model = request.uri().query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "model")
                .map(|(_, value)| value.into_owned())
        });
        Ok(response)
    };
    let mut socket = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        check,
        Some(crate::socket_config()),
    )
    .await?;
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

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(due).await;
    }
}

struct Speaking {
    response_id: String,
    item_id: String,
    chunks: VecDeque<(Vec<u8>, String)>,
    transcript: String,
    next_due: Instant,
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
    silence_ms: u64,
    prefix_ms: u64,
    interrupt: bool,
    create_response: bool,
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
    /// The input tokens the previous response read: cached for the next.
    last_input_tokens: u64,
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
    picked: bool,
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
    /// A scenario's model side coming in band, in the caller's audio.
    carried: Reassembler,
    /// When the greeting began to wait for the scenario.
    greeting_held_at: Option<Instant>,
    /// The greeting waited long enough: it plays whatever the scenario.
    hold_over: bool,
}

impl Conn {
    fn new(id: usize, options: Arc<RealtimeOptions>, recorder: Recorder) -> Self {
        let seed = options.seed.wrapping_add(id as u64);
        let script = options.script.clone();
        Self {
            id,
            options,
            recorder,
            rng: fastrand::Rng::with_seed(seed),
            outbox: Vec::new(),
            seq: 0,
            silence_ms: 500,
            prefix_ms: 300,
            interrupt: true,
            create_response: true,
            input_ms: 0,
            pending: Vec::new(),
            vad: Vad::default(),
            turn: 0,
            heard_anything: false,
            greeted: false,
            context_tokens: 0,
            last_input_tokens: 0,
            speaking: None,
            generated_ms: HashMap::new(),
            awaiting: HashSet::new(),
            outputs: Vec::new(),
            pending_answer: None,
            pending_rounds: VecDeque::new(),
            known_ids: Vec::new(),
            script,
            picked: false,
            faults: ModelFaults::default(),
            refused: 0,
            close_now: None,
            resume_turn: None,
            deferred_response: false,
            carried: Reassembler::default(),
            greeting_held_at: None,
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
        self.emit(json!({"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message, "param": null, "event_id": null
        }}));
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
                + if self.carried.in_progress() {
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
        !self.picked
            && !self.hold_over
            && !self.greeted
            && !self.heard_anything
            && !self.options.scenarios.is_empty()
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
        self.record(event.clone());
        match kind.as_str() {
            "session.update" => self.on_session_update(&event["session"]),
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
        let detection = &session["audio"]["input"]["turn_detection"];
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
        for frame in bytes.chunks(FRAME_BYTES) {
            let Some(tag) = audio::read_tag(frame) else {
                continue;
            };
            if let Some(payload) = self.carried.accept(frame) {
                match serde_json::from_slice::<ModelScript>(&payload) {
                    Ok(script) => self.adopt(tag, Some(Arc::new(script))),
                    Err(err) => {
                        tracing::warn!(error = %err, "a carried scenario script does not parse");
                    }
                }
            } else if !self.picked && !self.carried.in_progress() {
                let script = self
                    .options
                    .scenarios
                    .iter()
                    .find(|(id, _)| *id == tag)
                    .map(|(_, script)| script.clone());
                self.adopt(tag, script);
            }
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
        self.picked = true;
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
        self.emit(json!({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": null}));
        let item = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "user",
                          "status": "completed", "content": [{"type": "input_audio", "transcript": null}]});
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": item}),
        );
        self.emit(
            json!({"type": "conversation.item.done", "previous_item_id": null, "item": item}),
        );
        let script = self.script.clone();
        let turn = script.turns.get(self.turn);
        self.turn += 1;
        self.heard_anything = true;
        let heard = turn.map_or("(inaudible)", |t| t.heard.as_str());
        self.emit(
            json!({"type": "conversation.item.input_audio_transcription.completed",
                         "item_id": item_id, "content_index": 0, "transcript": heard}),
        );
        if !self.create_response || self.speaking.is_some() {
            return;
        }
        match turn {
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
            self.script.greeting.clone()
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

    /// Starts an audio response saying `text`.
    fn say(&mut self, text: &str) {
        let response_id = self.next_id("resp");
        let item_id = self.next_id("item");
        let item = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                          "status": "in_progress", "content": []});
        self.emit(json!({"type": "response.created", "response": {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": []}}));
        self.emit(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": item}));
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": item}),
        );
        self.emit(json!({"type": "response.content_part.added", "response_id": response_id, "item_id": item_id,
                         "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": ""}}));
        let chunks = self.chunks(text);
        self.generated_ms.insert(item_id.clone(), 0);
        self.speaking = Some(Speaking {
            response_id,
            item_id,
            chunks,
            transcript: String::new(),
            next_due: Instant::now(),
        });
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
        let pace = self.options.pace.max(0.01);
        let Some(speaking) = self.speaking.as_mut() else {
            return;
        };
        let Some((bytes, words)) = speaking.chunks.pop_front() else {
            self.finish("completed", None);
            return;
        };
        let ms = (bytes.len() / BYTES_PER_MS) as u64;
        speaking.transcript.push_str(&words);
        speaking.next_due += Duration::from_secs_f64(ms as f64 / 1000.0 / pace);
        let (response_id, item_id) = (speaking.response_id.clone(), speaking.item_id.clone());
        *self.generated_ms.entry(item_id.clone()).or_default() += ms;
        let delta = audio::encode(&bytes);
        self.emit(json!({"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id,
                         "output_index": 0, "content_index": 0, "delta": delta}));
        if let Some((turn, code)) = self.faults.close_in_turn
            && turn == self.turn
            && self.heard_anything
        {
            self.faults.close_in_turn = None;
            self.close_now = Some(code);
        }
        if !words.is_empty() {
            self.emit(json!({"type": "response.output_audio_transcript.delta", "response_id": response_id,
                             "item_id": item_id, "output_index": 0, "content_index": 0, "delta": words}));
        }
    }

    /// A response's `usage`, shaped as the GA server reports it: each
    /// response reads the whole conversation (the instructions and tools,
    /// about 600 tokens, the text so far, and the caller's audio at 10
    /// tokens a second), of which what the previous one read is cached; it
    /// writes about a token per four characters of text and 20 tokens a
    /// second of audio.
    fn usage(&mut self, output_chars: usize, output_audio_ms: u64) -> Value {
        let input_text = 600 + self.context_tokens;
        let input_audio = self.input_ms / 100;
        let cached = self.last_input_tokens.min(input_text + input_audio);
        let output_text = (output_chars as u64).div_ceil(4);
        let output_audio = output_audio_ms / 50;
        self.context_tokens += output_text;
        self.last_input_tokens = input_text + input_audio;
        json!({
            "total_tokens": input_text + input_audio + output_text + output_audio,
            "input_tokens": input_text + input_audio,
            "output_tokens": output_text + output_audio,
            "input_token_details": {"text_tokens": input_text, "audio_tokens": input_audio, "cached_tokens": cached,
                                    "cached_tokens_details": {"text_tokens": cached.min(input_text), "audio_tokens": cached.saturating_sub(input_text)}},
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        })
    }

    fn cancel(&mut self, reason: &str) {
        self.finish("cancelled", Some(reason));
    }

    fn finish(&mut self, status: &str, reason: Option<&str>) {
        let Some(speaking) = self.speaking.take() else {
            return;
        };
        let Speaking {
            response_id,
            item_id,
            transcript,
            ..
        } = speaking;
        let item_status = if status == "completed" {
            "completed"
        } else {
            "incomplete"
        };
        let item = json!({"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant", "status": item_status,
                          "content": [{"type": "output_audio", "transcript": transcript}]});
        self.emit(json!({"type": "response.output_audio.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}));
        self.emit(json!({"type": "response.output_audio_transcript.done", "response_id": response_id, "item_id": item_id,
                         "output_index": 0, "content_index": 0, "transcript": transcript}));
        self.emit(json!({"type": "response.content_part.done", "response_id": response_id, "item_id": item_id,
                         "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": transcript}}));
        self.emit(json!({"type": "response.output_item.done", "response_id": response_id, "output_index": 0, "item": item}));
        self.emit(
            json!({"type": "conversation.item.done", "previous_item_id": null, "item": item}),
        );
        let details = reason.map(|reason| json!({"type": status, "reason": reason}));
        let spoken_ms = self.generated_ms.get(&item_id).copied().unwrap_or(0);
        let usage = self.usage(transcript.len(), spoken_ms);
        self.emit(json!({"type": "response.done", "response": {"id": response_id, "object": "realtime.response", "usage": usage,
                         "status": status, "status_details": details, "output": [item]}}));
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
        if let Some(speaking) = self.speaking.as_mut()
            && speaking.item_id == item_id
        {
            speaking.chunks.clear();
        }
        self.emit(json!({"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0, "audio_end_ms": end}));
    }

    /// What a model makes of a context message: the turns already taken
    /// (the script goes on after them), that the caller was greeted, and
    /// the entities found, by name and id (`- name: id` lines).
    fn read_context(&mut self, text: &str) {
        let callers = text
            .lines()
            .filter(|line| line.starts_with("Caller: "))
            .count();
        if text.contains("Carry on") {
            self.greeted = true;
        }
        if callers > 0 {
            self.turn = self.turn.max(callers);
            self.heard_anything = true;
        }
        for line in text.lines() {
            if let Some((name, id)) = line
                .strip_prefix("- ")
                .and_then(|rest| rest.rsplit_once(": "))
            {
                self.known_ids.push((name.to_owned(), id.to_owned()));
            }
        }
        // Asked to answer the last request again: do that turn's work anew
        // (its tool calls, with the ids now known) on the next response,
        // once the scenario is known.
        if text.contains("middle of answering") && callers > 0 {
            self.resume_turn = Some(callers);
            if self.picked || self.options.scenarios.is_empty() {
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
            if let Ok(value) = serde_json::from_str::<Value>(&output)
                && let (Some(name), Some(id)) =
                    (value["name"].as_str(), value["entity_id"].as_str())
            {
                self.known_ids.push((name.to_owned(), id.to_owned()));
            }
            self.outputs.push(output);
        }
        let mut added = item.clone();
        added["id"] = Value::from(self.next_id("item"));
        self.emit(
            json!({"type": "conversation.item.added", "previous_item_id": null, "item": added}),
        );
        self.emit(
            json!({"type": "conversation.item.done", "previous_item_id": null, "item": added}),
        );
    }
}
