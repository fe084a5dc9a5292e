//! [`AudioInbound`] over one Twilio Media Stream WebSocket.

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use qloophone_domain::ports::{AudioInbound, LegError};
use qloophone_domain::ports::{PhoneCommand, PhoneEvent};
use warp::ws::{Message, WebSocket};

use super::wire::{Encoder, Inbound, decode};

/// What a leg saw that it did not pass on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LegStats {
    /// Frames of events this version does not know.
    pub unknown: u64,
    /// Frames that could not be decoded.
    pub malformed: u64,
    /// Binary frames (Twilio only sends text).
    pub binary: u64,
}

/// The phone leg of one call.
pub struct TwilioLeg {
    socket: Option<WebSocket>,
    encoder: Option<Encoder>,
    stats: LegStats,
}

impl std::fmt::Debug for TwilioLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioLeg")
            .field("open", &self.socket.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl TwilioLeg {
    /// Wraps an upgraded `/call` socket.
    pub fn new(socket: WebSocket) -> Self {
        Self {
            socket: Some(socket),
            encoder: None,
            stats: LegStats::default(),
        }
    }
}

#[async_trait]
impl AudioInbound for TwilioLeg {
    async fn recv(&mut self) -> Option<PhoneEvent> {
        loop {
            let socket = self.socket.as_mut()?;
            let message = match socket.next().await {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    // An oversized frame lands here too ("message too long").
                    tracing::warn!(error = %err, "phone socket failed; ending the call");
                    self.socket = None;
                    return None;
                }
                None => {
                    self.socket = None;
                    return None;
                }
            };
            if message.is_close() {
                if let Some((code, reason)) = message.close_frame() {
                    tracing::debug!(code, reason, "phone socket closed by peer");
                }
                return None;
            }
            if message.is_binary() {
                self.stats.binary += 1;
                tracing::warn!("binary frame on the phone socket ignored: Twilio sends text");
                continue;
            }
            if !message.is_text() {
                continue; // ping and pong are answered by the socket itself
            }
            let frame = message.into_bytes();
            match decode(&frame) {
                Ok(Inbound::Event(event)) => {
                    if let PhoneEvent::Start(info) = &event {
                        self.encoder = Some(Encoder::new(&info.stream_sid));
                    }
                    return Some(event);
                }
                Ok(Inbound::Unknown(name)) => {
                    self.stats.unknown += 1;
                    tracing::debug!(event = %name, "unknown phone event ignored");
                }
                Err(err) => {
                    self.stats.malformed += 1;
                    tracing::warn!(error = %err, bytes = frame.len(), "malformed phone frame ignored");
                }
            }
        }
    }

    async fn send(&mut self, command: PhoneCommand) -> Result<(), LegError> {
        let (Some(socket), Some(encoder)) = (self.socket.as_mut(), self.encoder.as_ref()) else {
            return Err(LegError::Closed);
        };
        socket
            .send(Message::text(encoder.encode(&command)))
            .await
            .map_err(|err| LegError::Write(err.to_string()))
    }

    async fn close(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket
                .send(Message::close_with(1000u16, "call ended"))
                .await;
            let _ = socket.close().await;
        }
        if self.stats != LegStats::default() {
            tracing::info!(
                unknown = self.stats.unknown,
                malformed = self.stats.malformed,
                binary = self.stats.binary,
                "phone frames ignored during the call"
            );
        }
    }
}
