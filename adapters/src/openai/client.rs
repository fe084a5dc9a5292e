//! [`RealtimeModel`] over tokio-tungstenite: one WebSocket per call.

use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::SinkExt;
use qloophone_domain::RawFrame;
use qloophone_domain::ports::{
    CallInfo, ModelCommand, ModelEvent, ModelFrame, SessionSetup, TurnDetection,
};
use qloophone_domain::ports::{LegError, ModelError, ModelSession, Prices, RealtimeModel};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use serde::{Deserialize, Serialize};

use super::catalogue::{self, Catalogue, ModelSpec};
use super::wire;
use crate::outbound::{MAX_QUEUED, Outbound};
use crate::secret::Secret;

/// Largest event accepted from the model (audio deltas are a few KiB).
const MAX_MODEL_EVENT: usize = 4 * 1024 * 1024;
/// Read buffer for the model socket: a read takes an audio delta or two
/// (100 ms of μ-law is about 1.1 KiB of JSON), and a larger event grows it
/// on its own. tungstenite zero-fills what is free of it before each read
/// and keeps it for the session, so it is the larger part of a call's
/// memory: 16 KiB here held about 7 KiB more a call (measured: 38.6
/// against 31 KiB a call at 200 full-duplex calls).
const MODEL_READ_BUFFER: usize = 4 * 1024;

/// `[openai]`: where and how to reach the Realtime API, and how its
/// sessions are configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// `OPENAI_API_KEY`, sent as a Bearer token.
    pub api_key: Option<Secret>,
    /// `OPENAI_REALTIME_URL`: `wss://api.openai.com/v1/realtime` (or a
    /// simulator's `ws://` URL).
    pub realtime_url: String,
    /// `OPENAI_MODEL`, sent as `?model=`.
    pub model: String,
    /// `OPENAI_VOICE`.
    pub voice: String,
    /// Input transcription model.
    pub transcription_model: String,
    /// Noise reduction: `near_field`, `far_field`, or empty for none.
    pub noise_reduction: String,
    /// How long connecting may take, in ms.
    pub connect_timeout_ms: u64,
    /// Turn detection.
    pub turn_detection: TurnDetection,
    /// Times in a row a lost model session is reopened before the call
    /// gives up.
    pub reconnect_attempts: u32,
    /// How long a session may take to confirm its configuration, in ms.
    pub ready_timeout_ms: u64,
    /// How long a requested response may take to start, in ms.
    pub response_timeout_ms: u64,
    /// Age at which a session is replaced at a quiet moment, in seconds
    /// (OpenAI closes sessions at 60 minutes).
    pub session_rollover_secs: u64,
    /// How often the model socket is pinged, in ms; a socket that answers
    /// nothing for two intervals is given up and the session reopened.
    pub ping_interval_ms: u64,
    /// `reasoning.effort` for reasoning models (`minimal`, `low`,
    /// `medium`, `high`, `xhigh`); unset leaves the model's default. Only
    /// sent to a model the catalogue says reasons: configured for one that
    /// does not, the server refuses to start.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// The session's `truncation`: when a conversation outgrows the
    /// context, drop old items until this fraction of the window is left
    /// (more at once, less often, so the prompt cache stays warm). Sent to
    /// models the catalogue says take it; 0 leaves the service's default.
    pub truncation_retention_ratio: f64,
    /// `truncation.token_limits.post_instructions`: at most this many
    /// conversation tokens after the instructions and tools (a cap on a
    /// long call's cost per response). Unset: the model's whole window.
    pub truncation_max_tokens: Option<u32>,
    /// The models the server knows (prices, capabilities): the built-in
    /// table, with `[openai.models."NAME"]` adding or overriding entries.
    pub models: Catalogue,
}

/// How much a reasoning model thinks before it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningEffort {
    /// The least.
    Minimal,
    /// OpenAI's default and advice for voice.
    Low,
    /// More.
    Medium,
    /// Much more.
    High,
    /// The most.
    Xhigh,
}

impl ReasoningEffort {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Xhigh => "xhigh",
        }
    }
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            realtime_url: "wss://api.openai.com/v1/realtime".to_owned(),
            model: "gpt-realtime-2.1".to_owned(),
            voice: "marin".to_owned(),
            transcription_model: "gpt-4o-mini-transcribe".to_owned(),
            noise_reduction: "near_field".to_owned(),
            connect_timeout_ms: 5000,
            turn_detection: TurnDetection::default(),
            reconnect_attempts: 4,
            ready_timeout_ms: 5000,
            response_timeout_ms: 8000,
            session_rollover_secs: 55 * 60,
            ping_interval_ms: 10_000,
            reasoning_effort: None,
            truncation_retention_ratio: 0.8,
            truncation_max_tokens: None,
            models: catalogue::builtin(),
        }
    }
}

impl OpenAiSettings {
    /// How long connecting may take.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Noise reduction, if any.
    pub fn noise_reduction(&self) -> Option<String> {
        Some(self.noise_reduction.clone()).filter(|kind| !kind.is_empty())
    }

    /// What the catalogue knows of the configured model, if anything.
    pub fn model_spec(&self) -> Option<&ModelSpec> {
        catalogue::lookup(&self.models, &self.model)
    }

    /// What the configured model's tokens cost, when the catalogue knows.
    pub fn prices(&self) -> Option<Prices> {
        self.model_spec().map(ModelSpec::prices)
    }

    /// What is wrong with these settings for the configured model: the
    /// setting and the problem.
    ///
    /// # Errors
    /// A reasoning effort for a model that does not reason (or that the
    /// catalogue does not know), a retention ratio outside 0 to 1, a token
    /// limit past the model's window.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let spec = self.model_spec();
        if let Some(effort) = self.reasoning_effort {
            match spec {
                Some(spec) if !spec.reasoning => {
                    return Err((
                        "openai.reasoning_effort",
                        format!(
                            "is {:?}, but the model {:?} (openai.model, OPENAI_MODEL) is not a reasoning model and would refuse a session configured with it: unset it, or choose a reasoning model such as gpt-realtime-2.1",
                            effort.as_str(),
                            self.model
                        ),
                    ));
                }
                None => {
                    return Err((
                        "openai.reasoning_effort",
                        format!(
                            "is {:?}, but the model {:?} (openai.model, OPENAI_MODEL) is not in the model catalogue, so whether it takes reasoning is unknown: describe it under [openai.models.\"{}\"] with reasoning = true, or unset the effort",
                            effort.as_str(),
                            self.model,
                            self.model
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !(0.0..=1.0).contains(&self.truncation_retention_ratio) {
            return Err((
                "openai.truncation_retention_ratio",
                "must be between 0 and 1 (0: the service's default truncation)".to_owned(),
            ));
        }
        if let (Some(limit), Some(spec)) = (self.truncation_max_tokens, spec) {
            let room = spec.context_tokens.saturating_sub(spec.max_output_tokens);
            if limit == 0 || limit > room {
                return Err((
                    "openai.truncation_max_tokens",
                    format!(
                        "is {limit}; for {} it must be between 1 and {room} (its context window less its longest response)",
                        self.model
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What a `session.update` adds for this model beyond what every
    /// model takes: its reasoning effort and its truncation, each only
    /// where the catalogue says the model takes it.
    pub fn session_extras(&self) -> wire::SessionExtras {
        let spec = self.model_spec();
        let reasoning = self
            .reasoning_effort
            .filter(|_| spec.is_some_and(|spec| spec.reasoning))
            .map(ReasoningEffort::as_str);
        let truncation = spec
            .filter(|spec| spec.retention_truncation && self.truncation_retention_ratio > 0.0)
            .map(|_| wire::Truncation {
                retention_ratio: self.truncation_retention_ratio,
                max_tokens: self.truncation_max_tokens,
            });
        wire::SessionExtras {
            reasoning_effort: reasoning,
            truncation,
        }
    }
}

/// The OpenAI Realtime API.
#[derive(Debug, Clone)]
pub struct OpenAiRealtime {
    api_key: Secret,
    endpoint: String,
    extras: wire::SessionExtras,
    ping_every: Duration,
    write_timeout: Duration,
}

impl OpenAiRealtime {
    /// A client for `settings`.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(settings: &OpenAiSettings) -> Result<Self, url::ParseError> {
        let mut url = url::Url::parse(&settings.realtime_url)?;
        url.query_pairs_mut().append_pair("model", &settings.model);
        Ok(Self {
            endpoint: url.into(),
            extras: settings.session_extras(),
            api_key: settings.api_key.clone().unwrap_or_else(|| Secret::new("")),
            ping_every: Duration::from_millis(settings.ping_interval_ms.max(1)),
            write_timeout: Duration::from_secs(2),
        })
    }

    /// Gives a session up once its socket has taken nothing for `timeout`
    /// while events wait (two seconds unless set).
    #[must_use]
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }
}

#[async_trait]
impl RealtimeModel for OpenAiRealtime {
    async fn open(
        &self,
        call: &CallInfo,
        setup: &SessionSetup,
    ) -> Result<Box<dyn ModelSession>, ModelError> {
        let mut request = self
            .endpoint
            .as_str()
            .into_client_request()
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        let bearer = HeaderValue::try_from(format!("Bearer {}", self.api_key.expose()))
            .map_err(|_| ModelError::Connect("the API key is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", bearer);
        // tungstenite zero-fills its read buffer's free capacity before each
        // read; its default 128 KiB made every model event cost a 128 KiB
        // memset. The model's events are a few KiB; the buffer grows for a
        // larger one.
        let config = WebSocketConfig::default()
            .read_buffer_size(MODEL_READ_BUFFER)
            .max_write_buffer_size(MAX_QUEUED)
            .max_message_size(Some(MAX_MODEL_EVENT))
            .max_frame_size(Some(MAX_MODEL_EVENT));
        let (mut socket, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(connect_error)?;
        socket
            .send(Message::text(wire::session_update(setup, &self.extras)))
            .await
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        tracing::debug!(stream = %call.stream_sid, "model session opened");
        let mut ping = tokio::time::interval(self.ping_every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Box::new(OpenAiSession {
            socket: Some(socket),
            malformed: 0,
            ping,
            ping_every: self.ping_every,
            last_heard: Instant::now(),
            outbound: Outbound::new(self.write_timeout),
            decoder: wire::Decoder::default(),
            scratch: bytes::BytesMut::new(),
        }))
    }
}

/// Why the upgrade failed: a refusal that names the key, the model or the
/// account (401, 403, 404) will not change on a retry; anything else may.
fn connect_error(err: tokio_tungstenite::tungstenite::Error) -> ModelError {
    use tokio_tungstenite::tungstenite::Error;
    match &err {
        Error::Http(response) if matches!(response.status().as_u16(), 401 | 403 | 404) => {
            ModelError::Rejected(format!("HTTP {}", response.status()))
        }
        _ => ModelError::Connect(err.to_string()),
    }
}

/// One call's model session.
struct OpenAiSession {
    socket: Option<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    malformed: u64,
    /// Pings the socket; the Realtime API sends nothing while nobody
    /// talks, so its pongs are how a live socket is told from a dead one.
    ping: tokio::time::Interval,
    ping_every: Duration,
    last_heard: Instant,
    outbound: Outbound,
    decoder: wire::Decoder,
    /// Where appends are written; its buffer is reused.
    scratch: bytes::BytesMut,
}

#[async_trait]
impl ModelSession for OpenAiSession {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ModelFrame>> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Poll::Ready(None);
            };
            // Queued events go on out while we wait for the model.
            let next = match self.outbound.poll_next(socket, cx) {
                Poll::Ready(Ok(next)) => next,
                Poll::Ready(Err(stalled)) => {
                    tracing::warn!(error = %stalled, "the model socket is not taking events; giving it up");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    ready!(self.ping.poll_tick(cx));
                    if self.last_heard.elapsed() > self.ping_every * 2 {
                        tracing::warn!(
                            silent_for = ?self.last_heard.elapsed(),
                            "the model socket answers nothing, not even pings; giving it up"
                        );
                        self.socket = None;
                        return Poll::Ready(None);
                    }
                    if let Err(err) = self.outbound.queue(socket, Message::Ping(Bytes::new())) {
                        tracing::warn!(error = %err, "cannot ping the model socket");
                        self.socket = None;
                        return Poll::Ready(None);
                    }
                    continue;
                }
            };
            self.last_heard = Instant::now();
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "model socket failed");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                None => {
                    self.socket = None;
                    return Poll::Ready(None);
                }
            };
            match message {
                Message::Text(text) => {
                    let frame = Bytes::from(text);
                    match self.decoder.decode(&frame) {
                        Ok(event) => {
                            if let ModelEvent::Error { code, message, .. } = &event {
                                tracing::warn!(code = code.as_deref().unwrap_or("none"), %message, "model error");
                            }
                            return Poll::Ready(Some(ModelFrame {
                                event,
                                raw: RawFrame::new(frame),
                            }));
                        }
                        Err(err) => {
                            self.malformed += 1;
                            tracing::warn!(error = %err, "malformed model event ignored");
                        }
                    }
                }
                Message::Close(frame) => {
                    match frame {
                        Some(frame) => tracing::info!(
                            code = u16::from(frame.code),
                            reason = %frame.reason,
                            "model closed the session"
                        ),
                        None => tracing::info!("model closed the session"),
                    }
                    self.socket = None;
                    return Poll::Ready(None);
                }
                Message::Binary(_) => tracing::warn!("binary model frame ignored"),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    fn send(&mut self, command: ModelCommand) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        self.outbound.queue(
            socket,
            Message::Text(wire::encode_text(&command, &mut self.scratch)),
        )
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        self.outbound
            .start(socket, cx)
            .map_err(|stalled| LegError::Write(stalled.to_string()))
    }

    async fn close(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            // A peer that never answers the close must not hold the call.
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
        }
        if self.malformed > 0 {
            tracing::info!(
                malformed = self.malformed,
                "model events ignored during the call"
            );
        }
    }
}
