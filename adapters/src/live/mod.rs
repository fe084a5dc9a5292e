//! The voice-model leg over OpenAI's GPT-Live API (`gpt-live.md`): one
//! WebSocket per call to `/v1/live/sessions`, on the shared leg.
//!
//! - [`wire`]: `session.start`, and the server's events decoded into the
//!   domain's (audio numbered into utterances, transcript fragments into
//!   turns, delegated tool calls out of their envelopes, session time as
//!   usage).
//! - [`GptLive`] implements [`VoiceModel`]: GPT-Live stops itself when the
//!   caller speaks (the bridge truncates nothing, and clears Twilio's queue
//!   only when much is queued ahead of the caller), and speaks on its own
//!   (the greeting is a prompt, not a response).
//! - [`LiveSettings`]: the `live` section of the configuration.
//!
//! Until `session.started` the session holds what the call sends (caller
//! audio up to a bound, oldest dropped; commands kept), and sends it in
//! order once started. Closing sends `session.close` and waits, bounded,
//! for `session.closed` and its final usage.

mod settings;
pub mod wire;

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use qloophone_domain::RawFrame;
use qloophone_domain::ports::{CallInfo, ModelCommand, ModelEvent, ModelFrame, SessionSetup};
use qloophone_domain::ports::{Interruption, ModelTraits, Usage};
use qloophone_domain::ports::{LegError, ModelError, ModelSession, VoiceModel};
use tokio_tungstenite::tungstenite::Message;

pub use settings::LiveSettings;

use crate::secret::Secret;
use crate::tls::Trust;
use crate::ws::{ClientSocket, Codec, Leg, Liveness};

/// OpenAI's GPT-Live API.
#[derive(Debug, Clone)]
pub struct GptLive {
    api_key: Secret,
    trust: Trust,
    url: String,
    model: String,
    settings: LiveSettings,
    ping_every: Duration,
    write_timeout: Duration,
}

impl GptLive {
    /// A client opening sessions of `model` at `settings.url` with
    /// `api_key`, pinging a quiet session every `ping_every`.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(
        settings: &LiveSettings,
        model: &str,
        api_key: Option<&Secret>,
        ping_every: Duration,
        trust: Trust,
    ) -> Result<Self, url::ParseError> {
        url::Url::parse(&settings.url)?;
        Ok(Self {
            api_key: api_key.cloned().unwrap_or_else(|| Secret::new("")),
            trust,
            url: settings.url.clone(),
            model: model.to_owned(),
            settings: settings.clone(),
            ping_every: ping_every.max(Duration::from_millis(1)),
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
impl VoiceModel for GptLive {
    fn traits(&self) -> ModelTraits {
        ModelTraits {
            interruption: Interruption::ModelStops {
                clear_above_ms: self.settings.clear_above_ms,
            },
            confirms_responses: false,
        }
    }

    async fn open(
        &self,
        call: &CallInfo,
        setup: &SessionSetup,
        context: Option<Arc<str>>,
    ) -> Result<Box<dyn ModelSession>, ModelError> {
        let socket = crate::openai::connect(&self.url, &self.api_key, &self.trust).await?;
        let mut leg = Leg::new("model", socket, LiveCodec::default(), self.write_timeout)
            .pinged(Liveness::new(self.ping_every));
        let start = wire::session_start(&self.model, setup, &self.settings, context.as_deref());
        leg.send_message(Message::text(start))
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        leg.write_all()
            .await
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        tracing::debug!(stream = %call.leg_id, "live session opened");
        Ok(Box::new(LiveSession {
            leg,
            started: false,
            early_audio: VecDeque::new(),
            early_commands: Vec::new(),
            max_early_audio: self.settings.early_audio_frames,
            close_wait: Duration::from_millis(self.settings.close_timeout_ms),
        }))
    }
}

/// GPT-Live's events through [`wire::Decoder`], each with its original
/// text for observers.
#[derive(Debug, Default)]
pub struct LiveCodec {
    decoder: wire::Decoder,
}

impl Codec for LiveCodec {
    type Event = ModelFrame;
    type Command = ModelCommand;

    fn decode(&mut self, frame: Bytes) -> Result<Option<ModelFrame>, String> {
        let event = self.decoder.decode(&frame)?;
        if let ModelEvent::Error { code, message, .. } = &event {
            tracing::warn!(code = code.as_deref().unwrap_or("none"), %message, "model error");
        }
        Ok(Some(ModelFrame {
            event,
            raw: RawFrame::new(frame),
        }))
    }

    fn pending(&mut self) -> Option<ModelFrame> {
        self.decoder.pending().map(ModelFrame::bare)
    }

    fn encode(
        &mut self,
        command: ModelCommand,
        scratch: &mut BytesMut,
    ) -> Result<Option<Message>, LegError> {
        Ok(wire::encode(&command, scratch).map(Message::Text))
    }
}

/// One call's GPT-Live session.
struct LiveSession {
    leg: Leg<ClientSocket, LiveCodec>,
    /// Whether `session.started` came: before it, what the call sends is
    /// held.
    started: bool,
    early_audio: VecDeque<ModelCommand>,
    early_commands: Vec<ModelCommand>,
    max_early_audio: usize,
    close_wait: Duration,
}

impl LiveSession {
    /// Sends what was held before `session.started`, in order: the
    /// prompts and answers first, then the caller's audio.
    fn release(&mut self) {
        let held: Vec<ModelCommand> = self
            .early_commands
            .drain(..)
            .chain(self.early_audio.drain(..))
            .collect();
        for command in held {
            if let Err(err) = self.leg.send(command) {
                tracing::debug!(error = %err, "live session write failed");
            }
        }
    }
}

#[async_trait]
impl ModelSession for LiveSession {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ModelFrame>> {
        let frame = std::task::ready!(self.leg.poll_recv(cx));
        if !self.started && matches!(&frame, Some(f) if matches!(f.event, ModelEvent::Ready { .. }))
        {
            self.started = true;
            self.release();
        }
        Poll::Ready(frame)
    }

    fn send(&mut self, command: ModelCommand) -> Result<(), LegError> {
        if self.started {
            return self.leg.send(command);
        }
        if !self.leg.is_open() {
            return Err(LegError::Closed);
        }
        // Before `session.started` nothing may be sent (gpt-live.md §1.3):
        // kept, audio bounded (oldest dropped, as the call's own buffer does).
        if matches!(command, ModelCommand::AppendAudio(_)) {
            if self.early_audio.len() >= self.max_early_audio {
                self.early_audio.pop_front();
            }
            self.early_audio.push_back(command);
        } else {
            self.early_commands.push(command);
        }
        Ok(())
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        self.leg.flush(cx)
    }

    async fn close(&mut self) -> Option<Usage> {
        let mut billed = Usage::default();
        if self.started
            && self
                .leg
                .send_message(Message::text(wire::SESSION_CLOSE))
                .is_ok()
        {
            // Read on until `session.closed` (with the final usage) or the
            // socket's end, within the bound.
            let _ = tokio::time::timeout(self.close_wait, async {
                while let Some(frame) = std::future::poll_fn(|cx| self.leg.poll_recv(cx)).await {
                    if let ModelEvent::Usage(usage) = frame.event {
                        billed.add(&usage);
                    }
                    if self.leg.codec().decoder.closed() {
                        break;
                    }
                }
            })
            .await;
        }
        self.leg.close(None).await;
        (billed != Usage::default()).then_some(billed)
    }
}
