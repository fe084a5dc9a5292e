//! [`VoiceModel`] over the OpenAI Realtime API: one WebSocket per call, on
//! the shared [`Leg`].

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

use super::settings::OpenAiSettings;
use super::wire;
use crate::secret::Secret;
use crate::tls::Trust;
use crate::ws::{ClientSocket, Codec, Leg, Liveness};

/// The OpenAI Realtime API.
#[derive(Debug, Clone)]
pub struct OpenAiRealtime {
    api_key: Secret,
    trust: Trust,
    endpoint: String,
    /// The `session.update` every session starts with (the same for
    /// every call).
    session_update: Arc<str>,
    traits: ModelTraits,
    ping_every: Duration,
    write_timeout: Duration,
}

impl OpenAiRealtime {
    /// A client for `settings`, configuring every session for `setup`,
    /// pinging a quiet session every `ping_every`, connecting with `trust`.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(
        settings: &OpenAiSettings,
        setup: &SessionSetup,
        ping_every: Duration,
        trust: Trust,
    ) -> Result<Self, url::ParseError> {
        let mut url = url::Url::parse(&settings.realtime_url)?;
        url.query_pairs_mut().append_pair("model", &settings.model);
        let detection = &settings.turn_detection;
        Ok(Self {
            endpoint: url.into(),
            session_update: wire::session_update(setup, settings, &settings.session_extras())
                .into(),
            traits: ModelTraits {
                // The server's turn detection cancels its own response
                // when `interrupt_response` is on; the bridge otherwise.
                interruption: Interruption::BridgeTruncates {
                    cancels: !detection.interrupt_response,
                },
                confirms_responses: true,
            },
            api_key: settings.api_key.clone().unwrap_or_else(|| Secret::new("")),
            trust,
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
impl VoiceModel for OpenAiRealtime {
    fn traits(&self) -> ModelTraits {
        self.traits
    }

    async fn open(
        &self,
        call: &CallInfo,
        _setup: &SessionSetup,
        context: Option<Arc<str>>,
    ) -> Result<Box<dyn ModelSession>, ModelError> {
        let socket = super::connect(&self.endpoint, &self.api_key, &self.trust).await?;
        let session = OpenAiSession::start(
            socket,
            &self.session_update,
            context,
            self.write_timeout,
            self.ping_every,
        )
        .await?;
        tracing::debug!(stream = %call.leg_id, "model session opened");
        Ok(Box::new(session))
    }
}

/// The Realtime API's events, decoded with [`wire::Decoder`], each with
/// its original text for observers.
#[derive(Debug, Default)]
pub struct RealtimeCodec {
    decoder: wire::Decoder,
}

impl Codec for RealtimeCodec {
    type Event = ModelFrame;
    type Command = ModelCommand;

    fn decode(&mut self, frame: Bytes) -> Result<Option<ModelFrame>, String> {
        let event = self.decoder.decode(&frame).map_err(|err| err.to_string())?;
        if let ModelEvent::Error { code, message, .. } = &event {
            tracing::warn!(code = code.as_deref().unwrap_or("none"), %message, "model error");
        }
        Ok(Some(ModelFrame {
            event,
            raw: RawFrame::new(frame),
        }))
    }

    fn encode(
        &mut self,
        command: ModelCommand,
        scratch: &mut BytesMut,
    ) -> Result<Option<Message>, LegError> {
        Ok(Some(Message::Text(wire::encode_text(&command, scratch))))
    }
}

/// One call's Realtime session.
pub(super) struct OpenAiSession {
    leg: Leg<ClientSocket, RealtimeCodec>,
}

impl OpenAiSession {
    /// A session on `socket`, configured with `session_update` and told
    /// `context` (a session taking over), both before anything else;
    /// pinged when quiet for `ping_every`.
    pub(super) async fn start(
        socket: ClientSocket,
        session_update: &str,
        context: Option<Arc<str>>,
        write_timeout: Duration,
        ping_every: Duration,
    ) -> Result<Self, ModelError> {
        let mut leg = Leg::new("model", socket, RealtimeCodec::default(), write_timeout)
            .pinged(Liveness::new(ping_every));
        let mut opening = vec![Message::text(session_update)];
        if let Some(context) = context {
            // What a session taking over must know, before any audio.
            opening.push(Message::text(wire::system_message(&context)));
        }
        for message in opening {
            leg.send_message(message)
                .map_err(|err| ModelError::Connect(err.to_string()))?;
        }
        leg.write_all()
            .await
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        Ok(Self { leg })
    }
}

#[async_trait]
impl ModelSession for OpenAiSession {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<ModelFrame>> {
        self.leg.poll_recv(cx)
    }

    fn send(&mut self, command: ModelCommand) -> Result<(), LegError> {
        self.leg.send(command)
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        self.leg.flush(cx)
    }

    async fn close(&mut self) -> Option<Usage> {
        // The Realtime API bills by response, each with its usage.
        self.leg.close(None).await;
        None
    }
}
