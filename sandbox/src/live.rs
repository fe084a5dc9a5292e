//! A simulated OpenAI GPT-Live server (primary WebSocket) on loopback,
//! after the behaviour contract of `gpt-live.md` §8.
//!
//! Each WebSocket to `/v1/live/sessions` is one session. The first frame
//! must be `session.start`, checked strictly (unknown keys, a model that is
//! not a GPT-Live one, an unknown voice, an audio format it does not take
//! are refused as the service refuses them); `session.started` follows
//! after a delay. Commands sent before it are refused. Its clock is the
//! caller's audio: every 100 ms of input audio it sends 100 ms of output,
//! speech when it is speaking, μ-law silence otherwise, so its audio is
//! paced as the real service's is and nothing happens while no audio
//! comes. It hears the caller by the energy of the audio (there is no
//! speech-start event: the caller's words come as transcript fragments),
//! stops itself a moment after the caller starts talking over it, and when
//! the caller stops answers per its [`ModelScript`]: tools through
//! Responses delegation (`session.delegation.created`, then
//! `response.event` envelopes, then it waits for every output and one
//! `response.create`), then speech with its transcript. A commentary or
//! instructions append with `delegation_id: null` makes it greet (or
//! answer again, after a reconnect). It reports usage in seconds every
//! minute of audio and at `session.closed`.
//!
//! Scenarios are picked by the caller's tagged audio as the Realtime
//! simulator picks them, and a session taking over reads its start-up
//! `input` (the context) the same way. It misbehaves on demand
//! ([`LiveFaults`]). Every client event but audio is recorded, and every
//! server event it sends, in the [`Recorder`] the Realtime simulator uses.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::audio::{self, BYTES_PER_MS, FRAME_BYTES};
use crate::casting::{Casting, Context};
use crate::realtime::{MAX_RECORDED_EVENTS, Recorder, Session, keep_sent};
use crate::script::{
    ModelScript, ScriptFaults, ScriptedCall, fill_ids, learn_ids, rounds, summarize,
};

/// Output audio sent per tick: 100 ms of μ-law.
const TICK_MS: u64 = 100;
/// Mean absolute amplitude above which a 20 ms frame counts as speech.
const VOICE_LOUDNESS: f64 = 800.0;
/// Speech must last this long before the caller counts as speaking.
const SPEECH_CONFIRM_MS: u64 = 60;
/// Silence that ends the caller's turn.
const TURN_SILENCE_MS: u64 = 500;
/// How long (of the session clock) a greeting waits for the caller's first
/// tagged audio, and for a carried script once it is coming.
const FIRST_AUDIO_WAIT_MS: u64 = 300;
const CARRIED_SCRIPT_WAIT_MS: u64 = 3_000;
/// Fields `session.start` takes (`gpt-live.md` §1.2: the object is strict).
const SESSION_FIELDS: &[&str] = &[
    "model",
    "instructions",
    "audio",
    "delegation",
    "input",
    "store",
    "client",
];
/// Built-in voices (`gpt-live.md` §1.2).
const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "beacon", "bossa", "brise", "cedar", "cinder", "coral", "delta",
    "echo", "flitz", "gleam", "harema", "juni", "marin", "meridian", "nira", "noeul", "nuri",
    "quartz", "ripple", "sage", "shimmer", "shitan", "sillage", "stone", "tempo", "verse",
    "vesper", "willow",
];

/// Ways the simulated server misbehaves, for the sessions in `sessions`
/// (numbered from 0 in connection order; none by default).
#[derive(Debug, Clone, Default)]
pub struct LiveFaults {
    /// Which sessions misbehave.
    pub sessions: std::ops::Range<usize>,
    /// Never say `session.started`.
    pub stall: bool,
    /// Answer `response.create` this many times with `rate_limit_exceeded`.
    pub refuse_responses: usize,
    /// Send a malformed frame after every this many events.
    pub malformed_every: Option<usize>,
    /// Close the session with this code while answering the caller's Nth
    /// utterance (from 1), right after the answer's first audio.
    pub close_in_turn: Option<(usize, u16)>,
    /// With `close_in_turn`: first say `session.closed` with this reason
    /// and the usage so far, as the service does when it ends a session
    /// itself (`expired` at its maximum duration, whose length
    /// gpt-live.md leaves unknown).
    pub closed_reason: Option<String>,
    /// Say this line while delegated tools still run, once they have run
    /// this long on its clock (ms), as a model that speaks on its own may
    /// ("still looking…"): the bridge's hold sound must stop for it.
    pub speak_while_tools: Option<(String, u64)>,
}

impl LiveFaults {
    fn from_script(faults: &ScriptFaults) -> Self {
        Self {
            close_in_turn: faults.close_in_turn.map(|turn| (turn, faults.close_code)),
            closed_reason: faults.closed_reason.clone(),
            refuse_responses: faults.refuse_responses,
            malformed_every: faults.malformed_every,
            ..Self::default()
        }
    }
}

/// How the simulated server behaves.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// What it hears and says, unless the caller picks a scenario.
    pub script: Arc<ModelScript>,
    /// Scripts a caller can pick by tagging its audio.
    pub scenarios: Vec<(u16, Arc<ModelScript>)>,
    /// Milliseconds of speech a character of answer takes.
    pub ms_per_char: u64,
    /// The API key it accepts; `None` accepts any Bearer token.
    pub api_key: Option<String>,
    /// How long after `session.start` it says `session.started` (the real
    /// service: 1.2 to 1.7 s).
    pub start_delay: Duration,
    /// How much of the session clock passes between the caller starting
    /// to talk over it and its falling silent (300 to 700 ms).
    pub stop_after_ms: u64,
    /// How it misbehaves.
    pub faults: LiveFaults,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            script: Arc::new(ModelScript::default()),
            scenarios: Vec::new(),
            ms_per_char: 60,
            api_key: None,
            start_delay: Duration::from_millis(100),
            stop_after_ms: 300,
            faults: LiveFaults::default(),
        }
    }
}

/// A running simulated GPT-Live server.
#[derive(Debug)]
pub struct LiveSim {
    addr: SocketAddr,
    recorder: Recorder,
    task: JoinHandle<()>,
}

impl LiveSim {
    /// Serves on `listener` until dropped.
    pub fn spawn(listener: TcpListener, options: LiveOptions) -> std::io::Result<Self> {
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

    /// The GPT-Live URL to configure a client with.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/live/sessions", self.addr)
    }

    /// What it received and sent.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl Drop for LiveSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, options: Arc<LiveOptions>, recorder: Recorder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let options = options.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            if let Err(err) = serve(stream, options, recorder).await {
                tracing::debug!(error = %err, "simulated live connection ended");
            }
        });
    }
}

async fn serve(
    stream: TcpStream,
    options: Arc<LiveOptions>,
    recorder: Recorder,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let expected_key = options.api_key.clone();
    // tungstenite's handshake callback type fixes this error type.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let refuse = |status: StatusCode, message: &str| {
            let mut error = ErrorResponse::new(Some(message.to_owned()));
            *error.status_mut() = status;
            error
        };
        if request.uri().path() != "/v1/live/sessions" {
            return Err(refuse(StatusCode::NOT_FOUND, "not found"));
        }
        let bearer = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (bearer, &expected_key) {
            (None, _) => Err(refuse(StatusCode::UNAUTHORIZED, "missing bearer token")),
            (Some(got), Some(want)) if got != want => {
                Err(refuse(StatusCode::UNAUTHORIZED, "incorrect API key"))
            }
            _ => Ok(response),
        }
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
            ..Session::default()
        });
        id
    });
    let mut hang_up = recorder.hang_ups();
    let mut conn = Conn::new(id, options.clone(), recorder.clone());
    if options.faults.sessions.contains(&id) {
        conn.faults = options.faults.clone();
    }
    let mut sent = 0usize;
    let result = async {
        loop {
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
                            "{\"type\": \"session.output_audio.delta\", \"delta\": 7",
                        ))
                        .await?;
                }
            }
            if let Some(code) = conn.close_now.take() {
                let frame = CloseFrame {
                    code: code.into(),
                    reason: "simulated close".into(),
                };
                let _ = socket.close(Some(frame)).await;
                break;
            }
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => conn.on_client(text.as_str()),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return Err(err),
                },
                () = sleep_until(conn.start_due), if conn.start_due.is_some() => conn.start(),
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

/// The caller's voice activity, on the session clock.
#[derive(Default)]
struct Vad {
    voiced_ms: u64,
    silent_ms: u64,
    speaking: bool,
    /// Voiced ms in this utterance (words are said as it goes on).
    said_ms: u64,
}

/// What the session is saying.
struct Speech {
    chunks: VecDeque<(Vec<u8>, String)>,
    /// Session clock at which it falls silent (the caller talked over it).
    stop_at: Option<u64>,
    /// Whether this answers the caller's turn (for a fault in that turn).
    answering_turn: bool,
}

/// A delegation to the Responses backend in progress.
struct Delegation {
    id: String,
    /// The answer once the tools are done.
    answer: String,
    rounds: VecDeque<Vec<ScriptedCall>>,
    /// When it began, on the session's clock.
    started_ms: u64,
    /// Whether something was said while its tools ran.
    spoke: bool,
}

struct Conn {
    id: usize,
    options: Arc<LiveOptions>,
    recorder: Recorder,
    outbox: Vec<Value>,
    seq: u64,
    faults: LiveFaults,
    close_now: Option<u16>,
    // the session
    start_due: Option<Instant>,
    started: bool,
    closing: bool,
    resource: Value,
    clock_ms: u64,
    next_tick_ms: u64,
    pending: Vec<u8>,
    vad: Vad,
    billed_minutes: u64,
    // the conversation
    casting: Casting,
    script: Arc<ModelScript>,
    turn: usize,
    heard_anything: bool,
    greeted: bool,
    /// Told the caller is a returning one: the greeting welcomes them back.
    returning: bool,
    /// A greeting (or an answer again) was asked for, at this clock.
    prompted: Option<(Prompt, u64)>,
    /// The turn a context said was being answered.
    resume_turn: Option<usize>,
    caller_words: VecDeque<String>,
    speech: Option<Speech>,
    delegation: Option<Delegation>,
    awaiting: HashSet<String>,
    answered: HashSet<String>,
    outputs: Vec<String>,
    known_ids: Vec<(String, String)>,
    refused: usize,
    backend_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    Greet,
    Again,
}

impl Conn {
    fn new(id: usize, options: Arc<LiveOptions>, recorder: Recorder) -> Self {
        let script = options.script.clone();
        let casting = Casting::new(options.scenarios.clone());
        Self {
            id,
            options,
            recorder,
            outbox: Vec::new(),
            seq: 0,
            faults: LiveFaults::default(),
            close_now: None,
            start_due: None,
            started: false,
            closing: false,
            resource: Value::Null,
            clock_ms: 0,
            next_tick_ms: TICK_MS,
            pending: Vec::new(),
            vad: Vad::default(),
            billed_minutes: 0,
            casting,
            script,
            turn: 0,
            heard_anything: false,
            greeted: false,
            returning: false,
            prompted: None,
            resume_turn: None,
            caller_words: VecDeque::new(),
            speech: None,
            delegation: None,
            awaiting: HashSet::new(),
            answered: HashSet::new(),
            outputs: Vec::new(),
            known_ids: Vec::new(),
            refused: 0,
            backend_tokens: 0,
        }
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{}_{}", self.id, self.seq)
    }

    fn emit(&mut self, mut event: Value) {
        let event_id = self.next_id("evt");
        if event.get("event_id").is_none() && event["type"] != "session.output_audio.delta" {
            event["event_id"] = Value::from(event_id);
        }
        self.outbox.push(event);
    }

    fn error(
        &mut self,
        client_event_id: Option<&str>,
        code: &str,
        message: &str,
        param: Option<&str>,
    ) {
        let mut error = json!({"type": "invalid_request_error", "code": code, "message": message});
        if let Some(param) = param {
            error["param"] = Value::from(param);
        }
        if let Some(id) = client_event_id {
            error["client_event_id"] = Value::from(id);
        }
        self.emit(json!({"type": "error", "error": error}));
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

    fn on_client(&mut self, text: &str) {
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            self.error(None, "invalid_json", "The event is not valid JSON.", None);
            return;
        };
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        let client_id = event["event_id"].as_str().map(str::to_owned);
        let client_id = client_id.as_deref();
        if kind == "session.input_audio.append" {
            if self.started {
                self.on_audio(event["audio"].as_str().unwrap_or_default(), client_id);
            } else {
                self.error(
                    client_id,
                    "session_not_started",
                    "Wait for session.started before sending audio.",
                    None,
                );
            }
            return;
        }
        self.record(event.clone());
        if self.closing {
            self.error(
                client_id,
                "session_closing",
                "The session is closing.",
                None,
            );
            return;
        }
        match kind.as_str() {
            "session.start" if !self.started && self.start_due.is_none() => {
                self.on_start(&event["session"], client_id);
            }
            "session.start" => self.error(
                client_id,
                "session_already_started",
                "session.start was already sent.",
                None,
            ),
            _ if !self.started => self.error(
                client_id,
                "session_not_started",
                "Send session.start first and wait for session.started.",
                None,
            ),
            "session.commentary.append"
            | "session.instructions.append"
            | "session.thinking.append" => {
                self.on_append(&kind, &event, client_id);
            }
            "response.item.create" => self.on_item(&event["item"], client_id),
            "response.create" => self.on_response_create(client_id),
            "session.update" => {
                let resource = self.resource.clone();
                self.emit(json!({"type": "session.updated", "session": resource}));
            }
            "session.close" => self.close("close_requested"),
            other => {
                let message = format!("Unknown event type: '{other}'.");
                self.error(client_id, "unknown_event", &message, Some("type"));
            }
        }
    }

    /// `session.start`, checked as strictly as the service checks it.
    fn on_start(&mut self, session: &Value, client_id: Option<&str>) {
        let Some(fields) = session.as_object() else {
            self.error(
                client_id,
                "missing_required_parameter",
                "Missing required parameter: 'session'.",
                Some("session"),
            );
            return;
        };
        if let Some(unknown) = fields
            .keys()
            .find(|key| !SESSION_FIELDS.contains(&key.as_str()))
        {
            let param = format!("session.{unknown}");
            let message = format!("Unknown parameter: '{param}'.");
            self.error(client_id, "unknown_parameter", &message, Some(&param));
            return;
        }
        let model = session["model"].as_str().unwrap_or_default();
        if !model.starts_with("gpt-live-") || model.contains("transcribe") {
            let message = format!("The model '{model}' does not exist or is not a GPT-Live model.");
            self.error(client_id, "invalid_model", &message, Some("session.model"));
            return;
        }
        let format = &session["audio"]["format"];
        let format_ok = format.is_null()
            || matches!(
                (format["type"].as_str(), format["rate"].as_u64()),
                (Some("audio/pcmu" | "audio/pcma"), Some(8000))
                    | (Some("audio/pcm"), Some(16_000 | 24_000))
            );
        if !format_ok {
            self.error(
                client_id,
                "invalid_value",
                "Invalid audio format: rate is required and must fit the type.",
                Some("session.audio.format"),
            );
            return;
        }
        if let Some(voice) = session["audio"]["output"]["voice"].as_str()
            && !VOICES.contains(&voice)
        {
            let message = format!("The voice '{voice}' is not available.");
            self.error(
                client_id,
                "forbidden",
                &message,
                Some("session.audio.output.voice"),
            );
            return;
        }
        if let Some(text) = session["input"]
            .as_array()
            .and_then(|items| items.first())
            .and_then(|item| item["content"][0]["text"].as_str())
        {
            let context = Context::read(text);
            self.greeted |= context.greeted;
            self.returning |= context.returning;
            if context.callers > 0 {
                self.turn = self.turn.max(context.callers);
                self.heard_anything = true;
            }
            self.known_ids.extend(context.known);
            if context.resume {
                self.resume_turn = Some(context.callers);
            }
        }
        self.recorder
            .update(self.id, |recorded| recorded.model = Some(model.to_owned()));
        let mut resource = session.clone();
        resource["id"] = Value::from(format!("live_{}", self.id));
        resource["expires_at"] = Value::from(4_102_444_800_u64);
        resource["status"] = Value::from("active");
        self.resource = resource;
        if !self.faults.stall {
            self.start_due = Some(Instant::now() + self.options.start_delay);
        }
    }

    fn start(&mut self) {
        self.start_due = None;
        self.started = true;
        let resource = self.resource.clone();
        self.emit(json!({"type": "session.started", "session": resource}));
    }

    fn on_append(&mut self, kind: &str, event: &Value, client_id: Option<&str>) {
        if event.get("delegation_id").is_none() || event["content"].as_str().is_none() {
            self.error(
                client_id,
                "missing_required_parameter",
                "delegation_id (null for none) and content are required.",
                Some("delegation_id"),
            );
            return;
        }
        if !event["delegation_id"].is_null() {
            self.error(
                client_id,
                "invalid_value",
                "delegation_id must be null under Responses delegation.",
                Some("delegation_id"),
            );
            return;
        }
        let content = event["content"].as_str().unwrap_or_default();
        let acknowledged = kind.replace(".append", ".appended");
        let at = self.clock_ms;
        let mut ack = json!({"type": acknowledged, "start_ms": at, "end_ms": at});
        if let Some(id) = client_id {
            ack["client_event_id"] = Value::from(id);
        }
        self.emit(ack);
        if kind == "session.thinking.append" {
            return;
        }
        // An instruction to speak: the greeting, or the last request again.
        let prompt = if content.contains("again") {
            Prompt::Again
        } else {
            Prompt::Greet
        };
        self.prompted = Some((prompt, self.clock_ms));
    }

    fn on_audio(&mut self, text: &str, client_id: Option<&str>) {
        let Ok(bytes) = audio::decode(text) else {
            self.error(
                client_id,
                "invalid_audio",
                "Invalid base64 audio.",
                Some("audio"),
            );
            return;
        };
        if bytes.is_empty() {
            self.error(
                client_id,
                "invalid_audio",
                "Audio must not be empty.",
                Some("audio"),
            );
            return;
        }
        let tag = audio::read_tag(&bytes);
        if let Some((tag, Some(script))) = self.casting.hear(&bytes) {
            if !script.faults.is_none() && self.recorder.first_to_play(tag) {
                self.faults = LiveFaults::from_script(&script.faults);
            }
            self.script = script;
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

    /// 20 ms of the caller: the clock moves on, the caller is heard, and
    /// every 100 ms the session sends 100 ms of its own audio.
    fn on_frame(&mut self, frame: &[u8]) {
        let frame_ms = (frame.len() / BYTES_PER_MS) as u64;
        self.clock_ms += frame_ms;
        self.hear(frame, frame_ms);
        while self.clock_ms >= self.next_tick_ms {
            self.next_tick_ms += TICK_MS;
            self.tick();
        }
        let minutes = self.clock_ms / 60_000;
        if minutes > self.billed_minutes {
            self.billed_minutes = minutes;
            let seconds = self.clock_ms as f64 / 1000.0;
            self.emit(json!({"type": "session.usage.updated", "usage": {"seconds": seconds}}));
        }
    }

    fn hear(&mut self, frame: &[u8], frame_ms: u64) {
        if audio::loudness(frame) > VOICE_LOUDNESS {
            self.vad.voiced_ms += frame_ms;
            self.vad.silent_ms = 0;
            if !self.vad.speaking && self.vad.voiced_ms >= SPEECH_CONFIRM_MS {
                self.vad.speaking = true;
                self.vad.said_ms = 0;
                self.caller_starts();
            }
            if self.vad.speaking {
                self.vad.said_ms += frame_ms;
                // A word every 200 ms of speech.
                if self.vad.said_ms.is_multiple_of(200) {
                    self.say_caller_words(1);
                }
            }
        } else {
            self.vad.voiced_ms = 0;
            if self.vad.speaking {
                self.vad.silent_ms += frame_ms;
                if self.vad.silent_ms >= TURN_SILENCE_MS {
                    self.vad.speaking = false;
                    self.say_caller_words(usize::MAX);
                    self.caller_done();
                }
            }
        }
    }

    /// The caller started an utterance: over the session's speech, it
    /// falls silent a moment later (the model stops itself).
    fn caller_starts(&mut self) {
        self.heard_anything = true;
        let script = self.script.clone();
        let heard = script
            .turns
            .get(self.turn)
            .map_or("(inaudible)", |turn| turn.heard.as_str());
        self.caller_words = heard.split_inclusive(' ').map(str::to_owned).collect();
        self.turn += 1;
        let stop_at = self.clock_ms + self.options.stop_after_ms;
        if let Some(speech) = self.speech.as_mut() {
            speech.stop_at.get_or_insert(stop_at);
        }
    }

    /// Up to `count` more of the caller's words, as a transcript fragment.
    fn say_caller_words(&mut self, count: usize) {
        let words: String = (0..count)
            .map_while(|_| self.caller_words.pop_front())
            .collect();
        if words.is_empty() {
            return;
        }
        let at = self.clock_ms;
        self.emit(
            json!({"type": "session.input_transcript.delta", "delta": words,
                         "start_ms": at.saturating_sub(200), "end_ms": at}),
        );
    }

    /// The caller's turn is over: answer it.
    fn caller_done(&mut self) {
        if self.delegation.is_some() {
            return; // already at work on an earlier request
        }
        let index = self.turn - 1;
        self.answer(index, true);
    }

    /// Answers turn `index`: its tools first (delegated), else its words.
    fn answer(&mut self, index: usize, answering_turn: bool) {
        let script = self.script.clone();
        match script.turns.get(index) {
            Some(turn) if !turn.tool_calls.is_empty() => {
                let id = self.next_id("item_delegation");
                let mut rounds: VecDeque<Vec<ScriptedCall>> = rounds(&turn.tool_calls).into();
                let first = rounds.pop_front().unwrap_or_default();
                self.delegation = Some(Delegation {
                    id: id.clone(),
                    answer: turn.answer.clone(),
                    rounds,
                    started_ms: self.clock_ms,
                    spoke: false,
                });
                self.outputs.clear();
                let response_id = self.next_id("resp");
                self.emit(json!({"type": "session.delegation.created", "offset_ms": self.clock_ms,
                    "delegation": {"id": id, "type": "delegation", "target": "responses", "response_id": response_id}}));
                self.backend_response(&response_id, &first, None);
            }
            Some(turn) => {
                let answer = turn.answer.clone();
                self.speak(&answer, answering_turn);
            }
            None => {
                let fallback = script.fallback.clone();
                self.speak(&fallback, answering_turn);
            }
        }
    }

    /// One response of the delegated backend: tool calls, or (none) the
    /// answer's text; as `response.event` envelopes.
    fn backend_response(&mut self, response_id: &str, calls: &[ScriptedCall], text: Option<&str>) {
        let delegation_id = self.delegation.as_ref().map(|d| d.id.clone());
        let wrap = |event: Value| json!({"type": "response.event", "delegation_id": delegation_id, "event": event});
        let created = wrap(
            json!({"type": "response.created", "response": {"id": response_id, "object": "response",
                                  "status": "in_progress", "model": "gpt-5.6-luna", "output": []}}),
        );
        self.emit(created);
        let mut written = 0;
        for call in calls {
            let item_id = self.next_id("fc");
            let call_id = self.next_id("call");
            let arguments = fill_ids(&call.arguments.to_string(), &self.known_ids);
            written += arguments.len();
            let done = wrap(
                json!({"type": "response.output_item.done", "output_index": 0,
                "item": {"id": item_id, "type": "function_call", "status": "completed",
                         "call_id": call_id, "name": call.name, "arguments": arguments}}),
            );
            self.emit(done);
            self.awaiting.insert(call_id);
        }
        if let Some(text) = text {
            written += text.len();
            let delta = wrap(json!({"type": "response.output_text.delta", "delta": text}));
            self.emit(delta);
        }
        // The backend reads the conversation so far and writes a token per
        // four characters.
        let input = 600 + self.backend_tokens;
        let output = (written as u64).div_ceil(4);
        let cached = self.backend_tokens.min(input);
        self.backend_tokens = input + output;
        let completed = wrap(
            json!({"type": "response.completed", "response": {"id": response_id, "object": "response",
            "status": "completed", "model": "gpt-5.6-luna", "output": [],
            "usage": {"input_tokens": input, "input_tokens_details": {"cached_tokens": cached},
                      "output_tokens": output, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": input + output}}}),
        );
        self.emit(completed);
    }

    fn on_item(&mut self, item: &Value, client_id: Option<&str>) {
        if item["type"] != "function_call_output" {
            return;
        }
        let call_id = item["call_id"].as_str().unwrap_or_default();
        if !self.awaiting.contains(call_id) || self.answered.contains(call_id) {
            self.error(
                client_id,
                "invalid_value",
                "No function call with that call_id is waiting for output.",
                Some("item.call_id"),
            );
            return;
        }
        self.answered.insert(call_id.to_owned());
        let output = item["output"].as_str().unwrap_or_default().to_owned();
        learn_ids(&output, &mut self.known_ids);
        self.outputs.push(output);
    }

    fn on_response_create(&mut self, client_id: Option<&str>) {
        if self.refused < self.faults.refuse_responses {
            self.refused += 1;
            self.emit(json!({"type": "error", "error": {"type": "rate_limit_error", "code": "rate_limit_exceeded",
                "message": "Rate limit reached for requests.", "client_event_id": client_id}}));
            return;
        }
        if self
            .awaiting
            .iter()
            .any(|call| !self.answered.contains(call))
        {
            self.error(
                client_id,
                "response_outputs_missing",
                "Every function call needs its output before response.create.",
                None,
            );
            return;
        }
        let Some(delegation) = self.delegation.as_mut() else {
            self.error(
                client_id,
                "no_delegation",
                "There is no delegated response to continue.",
                None,
            );
            return;
        };
        self.awaiting.clear();
        self.answered.clear();
        let next = delegation.rounds.pop_front();
        let response_id = self.next_id("resp");
        match next {
            Some(calls) => {
                self.outputs.clear();
                self.backend_response(&response_id, &calls, None);
            }
            None => {
                let delegation = self.delegation.take().expect("checked");
                let text = delegation
                    .answer
                    .replace("{tool_output}", &summarize(&self.outputs));
                self.backend_response(&response_id, &[], Some(&text));
                // The voice model says the backend's answer in its own words.
                self.speak(&text, true);
            }
        }
    }

    /// Starts saying `text`: 100 ms chunks with their words.
    fn speak(&mut self, text: &str, answering_turn: bool) {
        let total_ms = (text.chars().count() as u64 * self.options.ms_per_char).max(TICK_MS);
        let chunks = total_ms.div_ceil(TICK_MS);
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        let mut out = VecDeque::new();
        let mut word = 0;
        for n in 0..chunks {
            let samples = TICK_MS as usize * BYTES_PER_MS;
            let bytes = audio::voice(samples, n as usize * samples, 170.0, 0.35);
            let until = (((n + 1) * words.len() as u64) / chunks) as usize;
            let piece: String = words[word..until.min(words.len())].concat();
            word = until.min(words.len());
            out.push_back((bytes, piece));
        }
        self.speech = Some(Speech {
            chunks: out,
            stop_at: None,
            answering_turn,
        });
    }

    /// 100 ms of the session's audio: its speech, else silence.
    fn tick(&mut self) {
        self.maybe_speak_prompted();
        self.maybe_speak_while_tools();
        let now = self.clock_ms;
        let mut chunk = None;
        let mut fault = false;
        if let Some(speech) = self.speech.as_mut() {
            if speech.stop_at.is_some_and(|at| now >= at) {
                self.speech = None; // it stopped itself: the rest is unsaid
            } else if let Some(next) = speech.chunks.pop_front() {
                fault = speech.answering_turn;
                chunk = Some(next);
                if speech.chunks.is_empty() {
                    self.speech = None;
                }
            } else {
                self.speech = None;
            }
        }
        let (mut bytes, words) = chunk.unwrap_or_else(|| {
            (
                audio::silence(TICK_MS as usize * BYTES_PER_MS),
                String::new(),
            )
        });
        #[allow(clippy::cast_possible_truncation)]
        audio::tag(&mut bytes, self.id as u16);
        self.emit(json!({"type": "session.output_audio.delta", "delta": audio::encode(&bytes)}));
        if !words.is_empty() {
            self.emit(
                json!({"type": "session.output_transcript.delta", "delta": words,
                             "start_ms": now.saturating_sub(TICK_MS), "end_ms": now}),
            );
        }
        if fault
            && let Some((turn, code)) = self.faults.close_in_turn
            && turn == self.turn
        {
            self.faults.close_in_turn = None;
            if let Some(reason) = self.faults.closed_reason.take() {
                self.say_closed(&reason);
            }
            self.close_now = Some(code);
        }
    }

    /// Says [`LiveFaults::speak_while_tools`]'s line once, when its tools
    /// have run long enough and it is quiet.
    fn maybe_speak_while_tools(&mut self) {
        let Some((line, after)) = self.faults.speak_while_tools.clone() else {
            return;
        };
        let now = self.clock_ms;
        let due = self
            .delegation
            .as_mut()
            .filter(|d| !d.spoke && now.saturating_sub(d.started_ms) >= after);
        if let Some(delegation) = due
            && self.speech.is_none()
        {
            delegation.spoke = true;
            self.speak(&line, false);
        }
    }

    /// Speaks what a prompt asked for, once the scenario is known (or has
    /// been waited for long enough).
    fn maybe_speak_prompted(&mut self) {
        let Some((prompt, at)) = self.prompted else {
            return;
        };
        if self.speech.is_some() || self.delegation.is_some() {
            return;
        }
        let waited = self.clock_ms.saturating_sub(at);
        let wait = if self.casting.carrying() {
            CARRIED_SCRIPT_WAIT_MS
        } else {
            FIRST_AUDIO_WAIT_MS
        };
        if !self.casting.picked() && self.casting.has_scenarios() && waited < wait {
            return;
        }
        self.prompted = None;
        match prompt {
            Prompt::Greet if !self.greeted && !self.heard_anything => {
                self.greeted = true;
                let greeting = crate::script::welcome(self.returning, &self.script.greeting);
                self.speak(&greeting, false);
            }
            Prompt::Again => {
                if let Some(callers) = self.resume_turn.take() {
                    self.answer(callers - 1, true);
                }
            }
            Prompt::Greet => {}
        }
    }

    /// Ends the session: the rest of its speech, then `session.closed`
    /// with the final usage, then the socket closes.
    fn close(&mut self, reason: &str) {
        self.closing = true;
        self.say_closed(reason);
        self.close_now = Some(1000);
    }

    /// `session.closed` with the session's whole usage.
    fn say_closed(&mut self, reason: &str) {
        let resource = self.resource.clone();
        let seconds = self.clock_ms as f64 / 1000.0;
        self.emit(json!({"type": "session.closed", "reason": reason, "session": resource, "usage": {"seconds": seconds}}));
    }
}
