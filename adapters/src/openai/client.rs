//! [`RealtimeModel`] over tokio-tungstenite: one WebSocket per call.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use qloophone_domain::RawFrame;
use qloophone_domain::call::messages::{
    CallInfo, ModelCommand, ModelEvent, ModelFrame, SessionSetup,
};
use qloophone_domain::ports::{LegError, ModelError, ModelSession, RealtimeModel};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::wire;

/// Where and how to reach the Realtime API.
#[derive(Clone)]
pub struct RealtimeSettings {
    /// `wss://api.openai.com/v1/realtime` (or a simulator's `ws://` URL).
    pub url: String,
    /// The model, sent as `?model=`.
    pub model: String,
    /// The API key, sent as a Bearer token.
    pub api_key: String,
    /// Largest event accepted from the model.
    pub max_message_bytes: usize,
}

impl std::fmt::Debug for RealtimeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeSettings")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &"***")
            .finish_non_exhaustive()
    }
}

/// The OpenAI Realtime API.
#[derive(Debug, Clone)]
pub struct OpenAiRealtime {
    settings: RealtimeSettings,
    endpoint: String,
}

impl OpenAiRealtime {
    /// A client for `settings`.
    ///
    /// # Errors
    /// When the URL does not parse.
    pub fn new(settings: RealtimeSettings) -> Result<Self, url::ParseError> {
        let mut url = url::Url::parse(&settings.url)?;
        url.query_pairs_mut().append_pair("model", &settings.model);
        Ok(Self {
            endpoint: url.into(),
            settings,
        })
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
        let bearer = HeaderValue::try_from(format!("Bearer {}", self.settings.api_key))
            .map_err(|_| ModelError::Connect("the API key is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", bearer);
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.settings.max_message_bytes))
            .max_frame_size(Some(self.settings.max_message_bytes));
        let (mut socket, _response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .map_err(|err| ModelError::Connect(err.to_string()))?;
        socket
            .send(Message::text(wire::session_update(setup)))
            .await
            .map_err(|err| ModelError::Connect(err.to_string()))?;
        tracing::debug!(stream = %call.stream_sid, "model session opened");
        Ok(Box::new(OpenAiSession {
            socket: Some(socket),
            malformed: 0,
        }))
    }
}

/// One call's model session.
struct OpenAiSession {
    socket: Option<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    malformed: u64,
}

#[async_trait]
impl ModelSession for OpenAiSession {
    async fn recv(&mut self) -> Option<ModelFrame> {
        loop {
            let socket = self.socket.as_mut()?;
            let message = match socket.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "model socket failed");
                    self.socket = None;
                    return None;
                }
                None => {
                    self.socket = None;
                    return None;
                }
            };
            match message {
                Message::Text(text) => {
                    let frame = Bytes::from(text);
                    match wire::decode(&frame) {
                        Ok(event) => {
                            if let ModelEvent::Error { code, message } = &event {
                                tracing::warn!(code = code.as_deref().unwrap_or("none"), %message, "model error");
                            }
                            return Some(ModelFrame {
                                event,
                                raw: RawFrame::new(frame),
                            });
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
                    return None;
                }
                Message::Binary(_) => tracing::warn!("binary model frame ignored"),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    async fn send(&mut self, command: ModelCommand) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        socket
            .send(Message::text(wire::encode(&command)))
            .await
            .map_err(|err| LegError::Write(err.to_string()))
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
