//! [`AudioInbound`] over one Twilio Media Stream WebSocket: the shared
//! [`Leg`] with Twilio's codec, Twilio's pace, and the stream token checked
//! in `start`. As it closes, it records why the call ended for the
//! `<Connect action>` Twilio asks next ([`StreamEnds`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use qloophone_domain::ports::{AudioInbound, EndReason, LegError};
use qloophone_domain::ports::{PhoneCommand, PhoneEvent};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::after_stream::{StreamEnd, StreamEnds};
use super::lines::{CallLines, Line};
use super::stream_token::{StreamTokens, TokenError};
use super::wire::{Encoder, Inbound, decode, stream_token};
use crate::http::websocket::Socket as WebSocket;
use crate::ws::{Codec, Leg, Pace};

/// Frames a second a caller may send for long: Twilio sends 50 media
/// frames (and now and then a mark or a key press), so five times that is
/// far beyond any real stream.
const MEDIA_RATE: f64 = 250.0;
/// Frames a caller may send at once above that rate: ten seconds of audio,
/// for a stream catching up after a network stall.
const MEDIA_BURST: f64 = 500.0;

/// Twilio's Media Streams frames: decoded with [`decode`], commands
/// encoded once the stream's id is known (from `start`).
#[derive(Debug, Default)]
pub struct TwilioCodec {
    encoder: Option<Encoder>,
    /// The stream token of the `start` just decoded.
    token: Option<String>,
}

impl Codec for TwilioCodec {
    type Event = PhoneEvent;
    type Command = PhoneCommand;

    fn decode(&mut self, frame: Bytes) -> Result<Option<PhoneEvent>, String> {
        match decode(&frame) {
            Ok(Inbound::Event(event)) => {
                if let PhoneEvent::Start(info) = &event {
                    self.token = stream_token(&frame);
                    self.encoder = Some(Encoder::new(&info.stream_sid));
                }
                Ok(Some(event))
            }
            Ok(Inbound::Unknown(name)) => {
                tracing::debug!(event = %name, "unknown phone event ignored");
                Ok(None)
            }
            Err(err) => Err(format!("{err} ({} bytes)", frame.len())),
        }
    }

    fn encode(
        &mut self,
        command: PhoneCommand,
        scratch: &mut BytesMut,
    ) -> Result<Option<Message>, LegError> {
        let encoder = self.encoder.as_ref().ok_or(LegError::Closed)?;
        Ok(Some(Message::Text(encoder.encode_text(&command, scratch))))
    }
}

/// The phone leg of one call.
pub struct TwilioLeg {
    leg: Leg<WebSocket, TwilioCodec>,
    tokens: Option<Arc<StreamTokens>>,
    /// The numbers kept by the webhook, when texts are on.
    lines: Option<Arc<CallLines>>,
    redeeming: Option<Redeeming>,
    /// The stream's token was refused: the leg reads nothing more, and its
    /// socket closes with the call.
    refused: bool,
    /// Where why the call ended is kept for Twilio's next question.
    ends: Arc<StreamEnds>,
    /// The call and stream ids of an accepted `start`.
    started: Option<(String, String)>,
}

impl std::fmt::Debug for TwilioLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioLeg").field("leg", &self.leg).finish()
    }
}

/// A `start` whose stream token is being checked and whose numbers are
/// being taken (with a fleet, round trips to Redis): the leg holds it
/// across polls, so the runner polling another input meanwhile loses
/// nothing.
struct Redeeming {
    check: Pin<Box<dyn Future<Output = Result<Option<Line>, TokenError>> + Send>>,
    start: PhoneEvent,
}

impl TwilioLeg {
    /// Wraps an upgraded `/call` socket. With `tokens`, the stream's
    /// `start` must carry a stream token for its call, or the leg closes
    /// before the call sees anything. A Twilio socket that takes nothing
    /// for `write_timeout` while audio waits is given up.
    /// Why the call ended is recorded in `ends` as the leg closes (for a
    /// stream whose `start` was accepted only). With `lines`, the call's
    /// numbers kept by its webhook join its `start`.
    pub fn new(
        socket: WebSocket,
        tokens: Option<Arc<StreamTokens>>,
        lines: Option<Arc<CallLines>>,
        write_timeout: std::time::Duration,
        ends: Arc<StreamEnds>,
    ) -> Self {
        Self {
            leg: Leg::new("phone", socket, TwilioCodec::default(), write_timeout)
                .paced(Pace::new(MEDIA_RATE, MEDIA_BURST)),
            tokens,
            lines,
            redeeming: None,
            refused: false,
            ends,
            started: None,
        }
    }

    /// Remembers the ids of a `start` the call is about to see.
    fn accept(&mut self, event: Option<PhoneEvent>) -> Poll<Option<PhoneEvent>> {
        if let Some(PhoneEvent::Start(info)) = &event
            && let Some(call_sid) = &info.call_sid
            && self.started.is_none()
        {
            self.started = Some((
                call_sid.as_str().to_owned(),
                info.stream_sid.as_str().to_owned(),
            ));
        }
        Poll::Ready(event)
    }
}

fn goodbye() -> CloseFrame {
    CloseFrame {
        code: CloseCode::Normal,
        reason: "call ended".into(),
    }
}

#[async_trait]
impl AudioInbound for TwilioLeg {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<PhoneEvent>> {
        if self.refused {
            return Poll::Ready(None);
        }
        if let Some(redeeming) = self.redeeming.as_mut() {
            let checked = ready!(redeeming.check.as_mut().poll(cx));
            let Redeeming { mut start, .. } = self.redeeming.take().expect("just polled");
            match checked {
                Err(reason) => {
                    tracing::warn!(%reason, "stream refused: closing it before the call starts");
                    // The call ends at once and closes the socket as it goes.
                    self.refused = true;
                    return Poll::Ready(None);
                }
                Ok(line) => {
                    if let (PhoneEvent::Start(info), Some(line)) = (&mut start, line) {
                        info.caller_number = Some(line.caller);
                        info.called_number = line.called;
                    }
                }
            }
            return self.accept(Some(start));
        }
        let event = ready!(self.leg.poll_recv(cx));
        if let Some(PhoneEvent::Start(info)) = &event
            && (self.tokens.is_some() || self.lines.is_some())
        {
            let tokens = self.tokens.clone();
            let lines = self.lines.clone();
            let call_sid = info.call_sid.as_ref().map(|sid| sid.as_str().to_owned());
            let token = self.leg.codec_mut().token.take();
            self.redeeming = Some(Redeeming {
                check: Box::pin(async move {
                    if let Some(tokens) = tokens {
                        tokens.redeem(call_sid.as_deref(), token.as_deref()).await?;
                    }
                    Ok(match (lines, call_sid) {
                        (Some(lines), Some(call_sid)) => lines.take(&call_sid).await,
                        _ => None,
                    })
                }),
                start: event.expect("matched"),
            });
            return self.poll_recv(cx);
        }
        self.accept(event)
    }

    fn send(&mut self, command: PhoneCommand) -> Result<(), LegError> {
        self.leg.send(command)
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        self.leg.flush(cx)
    }

    async fn close(&mut self, reason: EndReason) {
        self.redeeming = None;
        // Before the socket goes: Twilio asks what next as soon as it does.
        if let Some((call_sid, stream_sid)) = self.started.take() {
            self.ends
                .keep(&call_sid, StreamEnd { reason, stream_sid })
                .await;
        }
        self.leg.close(Some(goodbye())).await;
    }
}
