//! [`AudioInbound`] over one Twilio Media Stream WebSocket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_trait::async_trait;
use qloophone_domain::ports::{AudioInbound, LegError};
use qloophone_domain::ports::{PhoneCommand, PhoneEvent};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::http::websocket::Socket as WebSocket;
use crate::outbound::Outbound;

/// How long the closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

use super::stream_token::{StreamTokens, TokenError};
use super::wire::{Encoder, Inbound, decode, stream_token};

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

/// Frames a second a caller may send for long: Twilio sends 50 media
/// frames (and now and then a mark or a key press), so five times that is
/// far beyond any real stream.
const MEDIA_RATE: f64 = 250.0;
/// Frames a caller may send at once above that rate: ten seconds of audio,
/// for a stream catching up after a network stall.
const MEDIA_BURST: f64 = 500.0;

/// How fast a caller sends media: a token bucket that refills at
/// [`MEDIA_RATE`] up to [`MEDIA_BURST`]. One owner, on tokio's clock, so it
/// is tested under paused time; a rate-limiting crate would bring its own
/// clock and atomics this single-owner counter does not need.
#[derive(Debug)]
struct MediaPace {
    tokens: f64,
    at: Instant,
}

impl MediaPace {
    fn new() -> Self {
        Self {
            tokens: MEDIA_BURST,
            at: Instant::now(),
        }
    }

    /// Takes one frame; `false` once the caller has been too fast for too long.
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * MEDIA_RATE;
        self.at = now;
        self.tokens = (self.tokens + refill).min(MEDIA_BURST);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// The phone leg of one call.
pub struct TwilioLeg {
    socket: Option<WebSocket>,
    outbound: Outbound,
    encoder: Option<Encoder>,
    /// Where frames to Twilio are written; its buffer is reused.
    scratch: bytes::BytesMut,
    stats: LegStats,
    pace: MediaPace,
    tokens: Option<Arc<StreamTokens>>,
    redeeming: Option<Redeeming>,
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
    /// Wraps an upgraded `/call` socket. With `tokens`, the stream's
    /// `start` must carry a stream token for its call, or the leg closes
    /// before the call sees anything. A Twilio socket that takes nothing
    /// for `write_timeout` while audio waits is given up.
    pub fn new(
        socket: WebSocket,
        tokens: Option<Arc<StreamTokens>>,
        write_timeout: std::time::Duration,
    ) -> Self {
        Self {
            socket: Some(socket),
            outbound: Outbound::new(write_timeout),
            encoder: None,
            scratch: bytes::BytesMut::new(),
            stats: LegStats::default(),
            pace: MediaPace::new(),
            tokens,
            redeeming: None,
        }
    }

    /// Gives the socket up without waiting: its closing handshake runs on
    /// its own, bounded by [`CLOSE_TIMEOUT`].
    fn close_later(&mut self) {
        if let Some(socket) = self.socket.take() {
            tokio::spawn(close_socket(socket));
        }
    }

    /// The caller's `start`, passed on once the leg knows it may be.
    fn started(&mut self, start: PhoneEvent) -> PhoneEvent {
        if let PhoneEvent::Start(info) = &start {
            self.encoder = Some(Encoder::new(&info.stream_sid));
        }
        start
    }
}

/// A `start` whose stream token is being checked (with a shared ledger,
/// that is a round trip to Redis): the leg holds it across polls, so the
/// runner polling another input meanwhile loses nothing.
struct Redeeming {
    check: Pin<Box<dyn Future<Output = Result<(), TokenError>> + Send>>,
    start: PhoneEvent,
}

/// Closes a Twilio socket, giving a peer that takes nothing [`CLOSE_TIMEOUT`].
async fn close_socket(mut socket: WebSocket) {
    let close = socket.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "call ended".into(),
    }));
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
}

#[async_trait]
impl AudioInbound for TwilioLeg {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<PhoneEvent>> {
        loop {
            if let Some(redeeming) = self.redeeming.as_mut() {
                let checked = ready!(redeeming.check.as_mut().poll(cx));
                let Redeeming { start, .. } = self.redeeming.take().expect("just polled");
                if let Err(reason) = checked {
                    tracing::warn!(%reason, "stream refused: closing it before the call starts");
                    self.close_later();
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(self.started(start)));
            }
            let Some(socket) = self.socket.as_mut() else {
                return Poll::Ready(None);
            };
            // Queued audio goes on out while we wait for the caller.
            let message = match ready!(self.outbound.poll_next(socket, cx)) {
                Err(stalled) => {
                    tracing::warn!(error = %stalled, "the phone leg is not taking audio; ending the call");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => {
                    // An oversized frame lands here too ("message too long").
                    tracing::warn!(error = %err, "phone socket failed; ending the call");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                Ok(None) => {
                    self.socket = None;
                    return Poll::Ready(None);
                }
            };
            // Every data frame counts against the pace, so a flood of
            // garbage or binary frames is cut off as a media flood is.
            if (message.is_text() || message.is_binary()) && !self.pace.allow() {
                tracing::warn!(
                    limit_per_sec = MEDIA_RATE,
                    "the phone sends frames far faster than Twilio does; ending the call"
                );
                self.socket = None;
                return Poll::Ready(None);
            }
            let frame = match message {
                Message::Text(text) => bytes::Bytes::from(text),
                Message::Close(frame) => {
                    if let Some(frame) = frame {
                        tracing::debug!(code = u16::from(frame.code), reason = %frame.reason, "phone socket closed by peer");
                    }
                    return Poll::Ready(None);
                }
                Message::Binary(_) => {
                    self.stats.binary += 1;
                    if self.stats.binary == 1 {
                        tracing::warn!(
                            "binary frame on the phone socket ignored (Twilio sends text); \
                         more are counted, not logged"
                        );
                    }
                    continue;
                }
                // Ping and pong are answered by the socket itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            match decode(&frame) {
                Ok(Inbound::Event(event)) => {
                    if let PhoneEvent::Start(info) = &event
                        && let Some(tokens) = &self.tokens
                    {
                        let tokens = Arc::clone(tokens);
                        let call_sid = info.call_sid.as_ref().map(|sid| sid.as_str().to_owned());
                        let token = stream_token(&frame);
                        self.redeeming = Some(Redeeming {
                            check: Box::pin(async move {
                                tokens.redeem(call_sid.as_deref(), token.as_deref()).await
                            }),
                            start: event,
                        });
                        continue;
                    }
                    return Poll::Ready(Some(self.started(event)));
                }
                Ok(Inbound::Unknown(name)) => {
                    self.stats.unknown += 1;
                    tracing::debug!(event = %name, "unknown phone event ignored");
                }
                Err(err) => {
                    self.stats.malformed += 1;
                    // The first one says what is wrong; the rest are
                    // counted and summed up when the call ends.
                    if self.stats.malformed == 1 {
                        tracing::warn!(
                            error = %err,
                            bytes = frame.len(),
                            "malformed phone frame ignored; more are counted, not logged"
                        );
                    }
                }
            }
        }
    }

    fn send(&mut self, command: PhoneCommand) -> Result<(), LegError> {
        let (Some(socket), Some(encoder)) = (self.socket.as_mut(), self.encoder.as_ref()) else {
            return Err(LegError::Closed);
        };
        self.outbound.queue(
            socket,
            Message::Text(encoder.encode_text(&command, &mut self.scratch)),
        )
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        self.outbound
            .start(socket, cx)
            .map_err(|stalled| LegError::Write(stalled.to_string()))
    }

    async fn close(&mut self) {
        self.redeeming = None;
        if let Some(socket) = self.socket.take() {
            close_socket(socket).await;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn twilios_pace_always_passes_and_a_flood_is_stopped() {
        let mut pace = MediaPace::new();
        // Ten minutes at Twilio's 50 frames a second, with a burst of 400.
        for _ in 0..400 {
            assert!(pace.allow());
        }
        for _ in 0..30_000 {
            tokio::time::advance(Duration::from_millis(20)).await;
            assert!(pace.allow());
        }
        // A flood: no time passes between frames.
        let mut allowed = 0;
        while pace.allow() {
            allowed += 1;
            assert!(allowed <= 501, "the flood must be stopped at the burst");
        }
        assert!(
            allowed >= 400,
            "the burst refilled during the quiet stream ({allowed})"
        );
        // After a pause the caller may go on.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(pace.allow());
    }
}
