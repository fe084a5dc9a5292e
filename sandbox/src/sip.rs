//! OpenAI's side of a call it answers over SIP (protocols-2026.md §7): the
//! control plane a bridge steers such a call through.
//!
//! - **Placing a call**: the caller dials in, and the control plane posts a
//!   `realtime.call.incoming` event to the bridge's webhook, signed per
//!   Standard Webhooks with the `standardwebhooks` library (§5.1, §7.2);
//!   on demand it redelivers the same delivery, sends it unsigned, stale or
//!   with a wrong signature.
//! - **REST** (`/v1/realtime/calls/{call_id}/accept|reject|hangup|refer`,
//!   Bearer auth, §7.3): empty 200s; 404 for an unknown or ended call; 400
//!   for an `accept` without `type`; a `refer` that transfers, fails with a
//!   500, or is silently ignored, as reported of the real one (§7.5).
//! - **The sideband** (`/v1/realtime?call_id=…`, §7.4), reached through
//!   the simulated Realtime server ([`crate::realtime`]), which hands such
//!   sockets here: GA events, without audio deltas (the audio travels over
//!   RTP, between the caller and OpenAI), `output_audio_buffer.started` and
//!   `.stopped` around each answer as its playback would last. The call's
//!   progress lives here, not in the socket: a sideband dropped on demand
//!   and attached again carries on where the call is.
//!
//! Both sides of the call are played from a [`ModelScript`]: the caller
//! says each turn's words (`speech_started`, `speech_stopped`, the
//! transcription), the model calls the turn's tools, waits for their
//! outputs and a `response.create`, then answers. After the last answer
//! the caller hangs up, unless the bridge ended the call first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use standardwebhooks::Webhook;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use warp::Filter;
use warp::http::StatusCode;

use crate::script::{ModelScript, fill_ids, learn_ids, rounds, summarize};

/// The webhook secret the sandbox signs with (`whsec_` and base64 of 24
/// bytes, as Standard Webhooks issues them).
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_c2FuZGJveC13ZWJob29rLXNlY3JldC0yNA==";

/// What the control plane's `refer` does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferOutcome {
    /// The caller is handed over: 200, and the call leaves OpenAI.
    #[default]
    Transfers,
    /// HTTP 500, the call goes on (reported, §7.5).
    Fails,
    /// 200, and nothing happens (reported, §7.5).
    Ignored,
}

/// How the control plane behaves.
#[derive(Debug, Clone)]
pub struct SipOptions {
    /// The API key REST calls must carry; `None` takes any Bearer token.
    pub api_key: Option<String>,
    /// The secret webhooks are signed with.
    pub webhook_secret: String,
    /// What `refer` does.
    pub refer: ReferOutcome,
    /// Milliseconds of speech a character of answer takes.
    pub ms_per_char: u64,
    /// Speed relative to real time.
    pub pace: f64,
}

impl Default for SipOptions {
    fn default() -> Self {
        Self {
            api_key: None,
            webhook_secret: SANDBOX_WEBHOOK_SECRET.to_owned(),
            refer: ReferOutcome::Transfers,
            ms_per_char: 60,
            pace: 1.0,
        }
    }
}

/// A delivery spoiled on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// No signature headers at all.
    Unsigned,
    /// Signed, but ten minutes ago (past the 300 s tolerance).
    Stale,
    /// Signed with another secret.
    WrongSecret,
}

/// A call to place.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlaceCall {
    /// Where the bridge takes OpenAI's webhooks.
    pub webhook_url: String,
    /// Both sides of the call.
    pub script: ModelScript,
    /// The caller's number, sent in the `From` header.
    #[serde(default = "default_from")]
    pub from: String,
    /// The number dialled, in `To`.
    #[serde(default = "default_to")]
    pub to: String,
    /// Send the same delivery (id, timestamp, signature) this many more
    /// times, as a retrying sender or a replaying attacker would.
    #[serde(default)]
    pub redeliver: usize,
    /// Spoil the delivery.
    #[serde(default)]
    pub tamper: Option<Tamper>,
    /// Send the same delivery to these webhooks too, after the first (a
    /// replay at another instance of a fleet).
    #[serde(default)]
    pub also_to: Vec<String>,
    /// Drop the sideband (a 1011 close) once the caller's Nth turn (from
    /// 1) has been answered and played.
    #[serde(default)]
    pub drop_sideband_after_turn: Option<usize>,
    /// The caller speaks over the answer to their Nth turn (from 1), a
    /// moment into it: OpenAI stops its audio and cancels the response,
    /// and the caller's next turn goes on.
    #[serde(default)]
    pub interrupt_turn: Option<usize>,
}

fn default_from() -> String {
    "+15550123456".to_owned()
}

fn default_to() -> String {
    "+15550100000".to_owned()
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Waiting for the bridge's answer.
    Ringing,
    /// Accepted: the model speaks with the caller.
    Accepted,
    /// Refused by the bridge.
    Rejected,
    /// Over.
    Ended,
}

/// Everything one call saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SipCall {
    /// OpenAI's id for it.
    pub call_id: String,
    /// Where it stands.
    pub status: CallStatus,
    /// Why it ended: `caller_hung_up`, `hangup` (the bridge's), `referred`.
    pub ended: Option<String>,
    /// The `accept` bodies received (more than one is a bug).
    pub accepts: Vec<Value>,
    /// The `reject` bodies received.
    pub rejects: Vec<Value>,
    /// `hangup`s received.
    pub hangups: usize,
    /// `refer` targets received.
    pub refers: Vec<String>,
    /// The statuses the bridge's webhook answered, one a delivery.
    pub webhook_statuses: Vec<u16>,
    /// Sidebands attached, in total.
    pub sidebands: usize,
    /// Every client event received on any of its sidebands, in order.
    pub events: Vec<Value>,
    /// Every server event sent on its sidebands, in order, up to
    /// [`crate::realtime::MAX_RECORDED_EVENTS`].
    pub sent: Vec<Value>,
    /// What was said, `caller: …` or `assistant: …`, in order.
    pub transcript: Vec<String>,
    /// Tool outputs received (call id, output).
    pub tool_outputs: Vec<(String, String)>,
    /// Hang-ups and refers that came while the caller was still hearing
    /// the assistant (its playback not yet over): a goodbye cut short.
    pub cut_off: usize,
    /// Whether the assistant's audio is playing to the caller now.
    #[serde(skip)]
    playing: bool,
    /// The caller's turns said so far.
    #[serde(skip)]
    turn: usize,
    #[serde(skip)]
    greeted: bool,
    /// Told the caller is a returning one: the greeting welcomes them.
    #[serde(skip)]
    returning: bool,
    #[serde(skip)]
    script: Arc<ModelScript>,
    #[serde(skip)]
    known: Vec<(String, String)>,
    #[serde(skip)]
    drop_after_turn: Option<usize>,
    #[serde(skip)]
    interrupt_turn: Option<usize>,
    /// Tells an attached sideband the call is over.
    #[serde(skip)]
    over: Option<Arc<tokio::sync::Notify>>,
}

impl SipCall {
    /// The client events of one type, from every sideband.
    pub fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }

    fn end(&mut self, why: &str) {
        if self.status != CallStatus::Ended {
            self.status = CallStatus::Ended;
            self.ended = Some(why.to_owned());
            if let Some(over) = &self.over {
                over.notify_waiters();
                over.notify_one();
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    calls: HashMap<String, SipCall>,
    placed: usize,
}

/// The control plane, shared by its REST server and the simulated Realtime
/// server's sideband sockets.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    options: Arc<SipOptions>,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    refer: Arc<Mutex<ReferOutcome>>,
}

impl ControlPlane {
    /// A control plane behaving per `options`.
    pub fn new(options: SipOptions) -> Self {
        Self {
            refer: Arc::new(Mutex::new(options.refer)),
            options: Arc::new(options),
            state: Arc::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// What `refer` does from now on.
    pub fn set_refer(&self, outcome: ReferOutcome) {
        *self.refer.lock().unwrap_or_else(PoisonError::into_inner) = outcome;
    }

    /// The secret its webhooks are signed with.
    pub fn webhook_secret(&self) -> &str {
        &self.options.webhook_secret
    }

    /// A snapshot of call `call_id`.
    pub fn call(&self, call_id: &str) -> Option<SipCall> {
        self.with(|state| state.calls.get(call_id).cloned())
    }

    /// Ends a call as the caller hanging up would.
    pub fn hang_up(&self, call_id: &str) {
        self.with(|state| {
            if let Some(call) = state.calls.get_mut(call_id) {
                call.end("caller_hung_up");
            }
        });
    }

    /// Rings the bridge: posts the incoming-call event (and any
    /// redeliveries) to its webhook and returns the call's id. The
    /// statuses it answered are in the call's record.
    ///
    /// # Errors
    /// When the event cannot be signed.
    pub async fn place(&self, call: PlaceCall) -> Result<String, String> {
        let number = self.with(|state| {
            state.placed += 1;
            state.placed
        });
        let nonce = fastrand::u64(..);
        let call_id = format!("rtc_u{number}_{nonce:016x}");
        let now = unix_now();
        let event = json!({
            "object": "event",
            "id": format!("evt_{nonce:016x}{number}"),
            "type": "realtime.call.incoming",
            "created_at": now,
            "data": {
                "call_id": call_id,
                "sip_headers": [
                    {"name": "From", "value": format!("\"Caller\" <sip:{}@sip.example.net>;tag=a1", call.from)},
                    {"name": "To", "value": format!("<sip:{}@sip.api.openai.com>", call.to)},
                    {"name": "Call-ID", "value": format!("{nonce:x}@sip.example.net")},
                ],
            },
        })
        .to_string();
        self.with(|state| {
            state.calls.insert(
                call_id.clone(),
                SipCall {
                    call_id: call_id.clone(),
                    status: CallStatus::Ringing,
                    ended: None,
                    accepts: Vec::new(),
                    rejects: Vec::new(),
                    hangups: 0,
                    refers: Vec::new(),
                    webhook_statuses: Vec::new(),
                    sidebands: 0,
                    events: Vec::new(),
                    sent: Vec::new(),
                    transcript: Vec::new(),
                    tool_outputs: Vec::new(),
                    cut_off: 0,
                    playing: false,
                    turn: 0,
                    greeted: false,
                    returning: false,
                    script: Arc::new(call.script.clone()),
                    known: Vec::new(),
                    drop_after_turn: call.drop_sideband_after_turn,
                    interrupt_turn: call.interrupt_turn,
                    over: Some(Arc::new(tokio::sync::Notify::new())),
                },
            );
        });
        let webhook_id = format!("wh_{nonce:016x}{number}");
        let (secret, timestamp) = match call.tamper {
            Some(Tamper::WrongSecret) => ("whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLTI0Yg==", now),
            Some(Tamper::Stale) => (self.options.webhook_secret.as_str(), now - 600),
            _ => (self.options.webhook_secret.as_str(), now),
        };
        let signature = Webhook::new(secret)
            .and_then(|hook| hook.sign(&webhook_id, timestamp, event.as_bytes()))
            .map_err(|err| err.to_string())?;
        let targets =
            std::iter::repeat_n(&call.webhook_url, call.redeliver + 1).chain(call.also_to.iter());
        for target in targets {
            let mut request = self
                .http
                .post(target)
                .header("content-type", "application/json")
                .header(
                    "user-agent",
                    "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
                )
                .body(event.clone());
            if call.tamper != Some(Tamper::Unsigned) {
                request = request
                    .header("webhook-id", &webhook_id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", &signature);
            }
            let status = request.send().await.map_or(0, |r| r.status().as_u16());
            self.with(|state| {
                if let Some(record) = state.calls.get_mut(&call_id) {
                    record.webhook_statuses.push(status);
                }
            });
        }
        Ok(call_id)
    }

    /// Whether a sideband may attach to `call_id`: an accepted call that
    /// has not ended.
    pub(crate) fn attachable(&self, call_id: &str) -> bool {
        self.with(|state| {
            state
                .calls
                .get(call_id)
                .is_some_and(|call| call.status == CallStatus::Accepted)
        })
    }

    /// Serves the REST side on `listener` until the task is dropped.
    ///
    /// # Errors
    /// When the listener has no address.
    pub fn serve(&self, listener: TcpListener) -> std::io::Result<SipServer> {
        let addr = listener.local_addr()?;
        let plane = self.clone();
        let rest = warp::post()
            .and(warp::path!("v1" / "realtime" / "calls" / String / String))
            .and(warp::header::optional::<String>("authorization"))
            // `hangup` has no body, and OpenAI's SDK sends none (nor a
            // length): a length is not required.
            .and(warp::body::bytes())
            .map(
                move |call_id: String, action: String, auth: Option<String>, body: Bytes| {
                    let (status, answer) = plane.rest(&call_id, &action, auth.as_deref(), &body);
                    warp::reply::with_status(warp::reply::json(&answer), status)
                },
            );
        let plane = self.clone();
        let placing = warp::post()
            .and(warp::path!("sim" / "calls"))
            .and(warp::body::content_length_limit(1024 * 1024))
            .and(warp::body::json())
            .then(move |call: PlaceCall| {
                let plane = plane.clone();
                async move {
                    match plane.place(call).await {
                        Ok(call_id) => warp::reply::with_status(
                            warp::reply::json(&json!({ "call_id": call_id })),
                            StatusCode::OK,
                        ),
                        Err(err) => warp::reply::with_status(
                            warp::reply::json(&json!({ "error": err })),
                            StatusCode::BAD_REQUEST,
                        ),
                    }
                }
            });
        let plane = self.clone();
        let record =
            warp::get()
                .and(warp::path!("sim" / "calls" / String))
                .map(move |call_id: String| match plane.call(&call_id) {
                    Some(call) => {
                        warp::reply::with_status(warp::reply::json(&call), StatusCode::OK)
                    }
                    None => warp::reply::with_status(
                        warp::reply::json(&json!({ "error": "no such call" })),
                        StatusCode::NOT_FOUND,
                    ),
                });
        let task = tokio::spawn(
            warp::serve(rest.or(placing).or(record))
                .incoming(listener)
                .run(),
        );
        Ok(SipServer { addr, task })
    }

    /// One REST call: its status and JSON body (`{}` or an error).
    fn rest(
        &self,
        call_id: &str,
        action: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let error = |status: StatusCode, kind: &str, message: &str| {
            (
                status,
                json!({"error": {"type": kind, "code": Value::Null, "message": message, "param": Value::Null}}),
            )
        };
        let bearer = auth.and_then(|value| value.strip_prefix("Bearer "));
        match (bearer, &self.options.api_key) {
            (None, _) => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request_error",
                    "You didn't provide an API key.",
                );
            }
            (Some(got), Some(want)) if got != want => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request_error",
                    "Incorrect API key provided.",
                );
            }
            _ => {}
        }
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(body) {
                Ok(body) => body,
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        "We could not parse the JSON body of your request.",
                    );
                }
            }
        };
        let refer = *self.refer.lock().unwrap_or_else(PoisonError::into_inner);
        self.with(|state| {
            let Some(call) = state.calls.get_mut(call_id) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "Call not found.",
                );
            };
            let ended = call.status == CallStatus::Ended || call.status == CallStatus::Rejected;
            if matches!(action, "hangup" | "refer") && call.playing {
                call.cut_off += 1;
            }
            match action {
                "accept" => {
                    if body["type"].as_str().is_none() {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            "Missing required parameter: 'type'.",
                        );
                    }
                    call.accepts.push(body);
                    if call.status != CallStatus::Ringing {
                        return error(
                            StatusCode::NOT_FOUND,
                            "invalid_request_error",
                            "Call not found or no longer ringing.",
                        );
                    }
                    call.status = CallStatus::Accepted;
                }
                "reject" => {
                    call.rejects.push(body);
                    if call.status != CallStatus::Ringing {
                        return error(
                            StatusCode::NOT_FOUND,
                            "invalid_request_error",
                            "Call not found or no longer ringing.",
                        );
                    }
                    call.status = CallStatus::Rejected;
                    call.ended = Some("rejected".to_owned());
                }
                "hangup" => {
                    call.hangups += 1;
                    if ended {
                        return error(
                            StatusCode::NOT_FOUND,
                            "invalid_request_error",
                            "Call not found.",
                        );
                    }
                    call.end("hangup");
                }
                "refer" => {
                    let Some(target) = body["target_uri"].as_str() else {
                        return error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request_error",
                            "Missing required parameter: 'target_uri'.",
                        );
                    };
                    call.refers.push(target.to_owned());
                    if ended {
                        return error(
                            StatusCode::NOT_FOUND,
                            "invalid_request_error",
                            "Call not found.",
                        );
                    }
                    match refer {
                        ReferOutcome::Transfers => call.end("referred"),
                        ReferOutcome::Fails => {
                            return error(
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "server_error",
                                "The server had an error while processing your request.",
                            );
                        }
                        ReferOutcome::Ignored => {}
                    }
                }
                _ => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "invalid_request_error",
                        "Unknown action.",
                    );
                }
            }
            (StatusCode::OK, json!({}))
        })
    }

    /// Runs one sideband socket for `call_id` until it closes, the call
    /// ends, or the call asks for it to be dropped.
    pub(crate) async fn sideband(&self, call_id: String, socket: WebSocketStream<TcpStream>) {
        let Some((over, script)) = self.with(|state| {
            let call = state.calls.get_mut(&call_id)?;
            call.sidebands += 1;
            Some((call.over.clone()?, call.script.clone()))
        }) else {
            return;
        };
        let mut side = Sideband {
            plane: self.clone(),
            call_id,
            socket,
            script,
            responses: 0,
            caller_talking: false,
        };
        let over = over.notified();
        tokio::pin!(over);
        let outcome = tokio::select! {
            () = &mut over => Ok(()),
            outcome = side.run() => outcome,
        };
        // A drop asked for closes with its code; otherwise the call is
        // over, and OpenAI closes its sideband.
        let _ = side_close(&mut side.socket, outcome.err().unwrap_or(1000)).await;
    }
}

async fn side_close(
    socket: &mut WebSocketStream<TcpStream>,
    code: u16,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    socket
        .close(Some(CloseFrame {
            code: code.into(),
            reason: if code == 1000 {
                "call ended".into()
            } else {
                "simulated drop".into()
            },
        }))
        .await
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `input_audio_buffer.speech_started` for the caller's item `item`.
fn speech_started(item: &str) -> Value {
    json!({"type": "input_audio_buffer.speech_started", "event_id": "evt_ss", "audio_start_ms": 0, "item_id": item})
}

/// `response.created` for `response`.
fn response_created(response: &str) -> Value {
    json!({"type": "response.created", "event_id": "evt_rc", "response": {
        "object": "realtime.response", "id": response, "status": "in_progress", "output": []}})
}

/// `response.done` for `response`, with its usage: text in, text out and
/// audio out tokens.
fn response_done(response: &str, text_in: u64, text_out: u64, audio_out: u64) -> Value {
    json!({"type": "response.done", "event_id": "evt_rd", "response": {
        "object": "realtime.response", "id": response, "status": "completed", "output": [],
        "usage": {"total_tokens": text_in + text_out + audio_out, "input_tokens": text_in,
            "output_tokens": text_out + audio_out,
            "input_token_details": {"text_tokens": text_in, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out}}}})
}

/// The control plane's REST server.
#[derive(Debug)]
pub struct SipServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SipServer {
    /// Its `OPENAI_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Where calls are placed (`POST /sim/calls`) and read back.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a sideband stopped: the WebSocket close code to send.
type Dropped = u16;

/// One sideband socket playing its call's script.
struct Sideband {
    plane: ControlPlane,
    call_id: String,
    socket: WebSocketStream<TcpStream>,
    script: Arc<ModelScript>,
    responses: usize,
    /// The caller began speaking over the last answer: their next turn's
    /// speech has started already.
    caller_talking: bool,
}

impl Sideband {
    fn update<R>(&self, f: impl FnOnce(&mut SipCall) -> R) -> Option<R> {
        self.plane
            .with(|state| state.calls.get_mut(&self.call_id).map(f))
    }

    async fn send(&mut self, event: Value) -> Result<(), Dropped> {
        self.socket
            .send(Message::text(event.to_string()))
            .await
            .map_err(|_| 1006_u16)?;
        self.update(|call| {
            if call.sent.len() < crate::realtime::MAX_RECORDED_EVENTS {
                call.sent.push(event);
            }
        });
        Ok(())
    }

    /// The next client event, recorded; `session.update` is answered
    /// here. `Err` when the socket is gone.
    async fn next_event(&mut self) -> Result<Value, Dropped> {
        loop {
            let message = self.socket.next().await;
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(1000),
                Some(Ok(_)) => continue,
            };
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
                self.send(json!({"type": "error", "event_id": "evt_err", "error": {"type": "invalid_request_error", "code": "invalid_json", "message": "Invalid JSON"}})).await?;
                continue;
            };
            self.update(|call| call.events.push(event.clone()));
            if event["type"] == "session.update" {
                let mut session = event["session"].clone();
                session["type"] = json!("realtime");
                session["id"] = json!(format!("sess_{}", self.call_id));
                self.send(
                    json!({"type": "session.updated", "event_id": "evt_su", "session": session}),
                )
                .await?;
                continue;
            }
            if event["type"] == "conversation.item.create" && event["item"]["role"] == "system" {
                // What a model makes of the call so far, or of a caller
                // remembered: the ids it may use, a welcome back.
                let text = event["item"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default();
                let context = crate::casting::Context::read(text);
                self.update(|call| {
                    call.known.extend(context.known);
                    call.returning |= context.returning;
                });
            }
            if event["type"] == "conversation.item.create"
                && event["item"]["type"] == "function_call_output"
            {
                let id = event["item"]["call_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let output = event["item"]["output"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.update(|call| {
                    learn_ids(&output, &mut call.known);
                    call.tool_outputs.push((id, output));
                });
            }
            return Ok(event);
        }
    }

    /// Waits for a `response.create`.
    async fn response_asked(&mut self) -> Result<(), Dropped> {
        loop {
            if self.next_event().await?["type"] == "response.create" {
                return Ok(());
            }
        }
    }

    async fn run(&mut self) -> Result<(), Dropped> {
        self.send(json!({"type": "session.created", "event_id": "evt_sc", "session": {"type": "realtime", "id": format!("sess_{}", self.call_id)}}))
            .await?;
        let greeted = self
            .update(|call| std::mem::replace(&mut call.greeted, true))
            .unwrap_or(true);
        // A new call's bridge asks for the greeting; a sideband attached
        // again goes on with the call (what the bridge asks of it then is
        // answered as it comes).
        if !greeted {
            self.response_asked().await?;
            let returning = self.update(|call| call.returning).unwrap_or(false);
            let greeting = crate::script::welcome(returning, &self.script.greeting);
            self.speak(&greeting).await?;
        }
        loop {
            let Some((number, turn)) = self.update(|call| {
                call.turn += 1;
                (call.turn, call.script.turns.get(call.turn - 1).cloned())
            }) else {
                return Ok(());
            };
            let Some(turn) = turn else {
                // Nothing left to say: the caller hangs up, a moment after
                // the last words, unless the bridge ended the call first.
                self.pause(self.paced(1500)).await?;
                self.plane.hang_up(&self.call_id);
                return Ok(());
            };
            self.pause(self.paced(400)).await?;
            self.caller_says(&turn.heard).await?;
            let mut outputs = Vec::new();
            for round in rounds(&turn.tool_calls) {
                let before = self.update(|call| call.tool_outputs.len()).unwrap_or(0);
                let calls = self.call_tools(&round).await?;
                // Each output, then a response asked for.
                loop {
                    self.response_asked().await?;
                    let got = self
                        .update(|call| call.tool_outputs[before..].to_vec())
                        .unwrap_or_default();
                    if calls.iter().all(|id| got.iter().any(|(got, _)| got == id)) {
                        outputs.extend(got.into_iter().map(|(_, output)| output));
                        break;
                    }
                }
            }
            let answer = turn.answer.replace("{tool_output}", &summarize(&outputs));
            let interrupted = self
                .update(|call| call.interrupt_turn == Some(number))
                .unwrap_or(false);
            if interrupted {
                self.spoken_over(&answer).await?;
            } else {
                self.speak(&answer).await?;
            }
            let drop = self
                .update(|call| call.drop_after_turn == Some(number))
                .unwrap_or(false);
            if drop {
                self.update(|call| call.drop_after_turn = None);
                return Err(1011);
            }
        }
    }

    /// Waits `long`, reading (and recording) what the bridge sends
    /// meanwhile; a response it asks for is answered with the fallback.
    async fn pause(&mut self, long: Duration) -> Result<(), Dropped> {
        let done = tokio::time::sleep(long);
        tokio::pin!(done);
        loop {
            tokio::select! {
                () = &mut done => return Ok(()),
                event = self.next_event() => {
                    if event?["type"] == "response.create" {
                        let words = self.script.fallback.clone();
                        self.speak(&words).await?;
                    }
                }
            }
        }
    }

    fn paced(&self, ms: u64) -> Duration {
        Duration::from_millis(ms).div_f64(self.plane.options.pace.max(0.01))
    }

    /// The caller's words, as OpenAI's turn detection and transcription
    /// report them.
    async fn caller_says(&mut self, words: &str) -> Result<(), Dropped> {
        let item = format!("item_caller_{}", fastrand::u32(..));
        if !std::mem::take(&mut self.caller_talking) {
            self.send(speech_started(&item)).await?;
        }
        let spoken = self.paced(words.len() as u64 * 40);
        self.pause(spoken).await?;
        self.send(json!({"type": "input_audio_buffer.speech_stopped", "event_id": "evt_sp", "audio_end_ms": 0, "item_id": item}))
            .await?;
        self.send(json!({"type": "conversation.item.input_audio_transcription.completed", "event_id": "evt_tr", "item_id": item, "content_index": 0, "transcript": words,
            "usage": {"type": "duration", "seconds": spoken.as_secs_f64()}}))
            .await?;
        self.update(|call| call.transcript.push(format!("caller: {words}")));
        Ok(())
    }

    fn response_id(&mut self) -> String {
        self.responses += 1;
        format!("resp_{}_{}", self.call_id, self.responses)
    }

    /// A response of function calls; their ids.
    async fn call_tools(
        &mut self,
        calls: &[crate::script::ScriptedCall],
    ) -> Result<Vec<String>, Dropped> {
        let response = self.response_id();
        self.send(response_created(&response)).await?;
        let known = self.update(|call| call.known.clone()).unwrap_or_default();
        let mut ids = Vec::new();
        for (index, scripted) in calls.iter().enumerate() {
            let call_id = format!("call_{}_{index}", self.responses);
            let arguments = fill_ids(&scripted.arguments.to_string(), &known);
            self.send(json!({"type": "response.output_item.done", "event_id": "evt_oi", "response_id": response, "output_index": index, "item": {
                "id": format!("item_fc_{}_{index}", self.responses), "type": "function_call", "status": "completed",
                "call_id": call_id, "name": scripted.name, "arguments": arguments}}))
                .await?;
            ids.push(call_id);
        }
        self.send(response_done(&response, 50, 10, 0)).await?;
        Ok(ids)
    }

    /// A spoken response the caller talks over a moment into its
    /// playback: OpenAI stops its audio (`output_audio_buffer.cleared`)
    /// and cancels the response, its server-side turn detection
    /// interrupting as the session asked.
    async fn spoken_over(&mut self, words: &str) -> Result<(), Dropped> {
        let response = self.response_id();
        self.send(response_created(&response)).await?;
        self.send(json!({"type": "output_audio_buffer.started", "event_id": "evt_ab", "response_id": response}))
            .await?;
        self.update(|call| call.playing = true);
        let heard = self.paced(words.len() as u64 * self.plane.options.ms_per_char / 4);
        self.pause(heard).await?;
        let item = format!("item_caller_{}", fastrand::u32(..));
        self.send(speech_started(&item)).await?;
        self.caller_talking = true;
        self.update(|call| {
            call.playing = false;
            call.transcript
                .push(format!("assistant (talked over): {words}"));
        });
        self.send(json!({"type": "output_audio_buffer.cleared", "event_id": "evt_ac", "response_id": response}))
            .await?;
        let mut done = response_done(&response, 100, 0, words.len() as u64 / 4);
        done["response"]["status"] = json!("cancelled");
        done["response"]["status_details"] =
            json!({"type": "cancelled", "reason": "turn_detected"});
        self.send(done).await
    }

    /// A spoken response: its transcript, and the playback OpenAI does
    /// itself told as `output_audio_buffer.started` and `.stopped`.
    async fn speak(&mut self, words: &str) -> Result<(), Dropped> {
        let response = self.response_id();
        let item = format!("item_say_{}", self.responses);
        self.send(response_created(&response)).await?;
        self.send(json!({"type": "output_audio_buffer.started", "event_id": "evt_ab", "response_id": response}))
            .await?;
        self.update(|call| call.playing = true);
        self.send(json!({"type": "response.output_audio_transcript.done", "event_id": "evt_td", "response_id": response, "item_id": item, "output_index": 0, "content_index": 0, "transcript": words}))
            .await?;
        self.send(response_done(&response, 100, 0, words.len() as u64))
            .await?;
        self.update(|call| call.transcript.push(format!("assistant: {words}")));
        // The caller hears it at OpenAI's end, in real time.
        let playing = self.paced(words.len() as u64 * self.plane.options.ms_per_char);
        let heard = tokio::time::sleep(playing);
        tokio::pin!(heard);
        loop {
            tokio::select! {
                () = &mut heard => break,
                event = self.next_event() => {
                    if event?["type"] == "output_audio_buffer.clear" {
                        break;
                    }
                }
            }
        }
        self.update(|call| call.playing = false);
        self.send(json!({"type": "output_audio_buffer.stopped", "event_id": "evt_as", "response_id": response}))
            .await
    }
}
