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

use super::admission::{LiveClaim, LiveStreams};
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
    /// `start` frames after the first, ignored.
    extra_starts: u64,
}

impl Codec for TwilioCodec {
    type Event = PhoneEvent;
    type Command = PhoneCommand;

    fn decode(&mut self, frame: Bytes) -> Result<Option<PhoneEvent>, String> {
        match decode(&frame) {
            Ok(Inbound::Event(event)) => {
                if let PhoneEvent::Start(info) = &event {
                    // One stream, one start: a second one (with another
                    // call's token or none) neither spends a token nor
                    // changes where our frames go, nor ends the call.
                    if self.encoder.is_some() {
                        self.extra_starts += 1;
                        if self.extra_starts == 1 {
                            tracing::warn!(
                                "a second start on a started stream ignored: its token is not spent, the stream keeps its id; more are counted, not logged"
                            );
                        }
                        return Ok(None);
                    }
                    self.token = stream_token(&frame);
                    self.encoder = Some(Encoder::new(&info.leg_id));
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

/// What a stream's `start` is checked against, and where what it leaves
/// is kept: shared by every stream of the server.
#[derive(Debug, Clone)]
pub struct StreamChecks {
    /// With them, `start` must carry a stream token for its call.
    pub tokens: Option<Arc<StreamTokens>>,
    /// The numbers kept by the webhook, when texts are on.
    pub lines: Option<Arc<CallLines>>,
    /// Where why the call ended is kept for Twilio's next question.
    pub ends: Arc<StreamEnds>,
    /// The ids of the live streams: a second stream for either is refused.
    pub live: Arc<LiveStreams>,
}

/// Why a stream never became a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// Its stream token did not pass.
    Token,
    /// Its `callSid` or `streamSid` is another live stream's.
    Duplicate,
    /// It closed (or flooded, and was closed) before a `start`.
    Closed,
}

impl NotStarted {
    /// A short, stable name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Duplicate => "duplicate",
            Self::Closed => "closed",
        }
    }
}

/// The phone leg of one call.
pub struct TwilioLeg {
    leg: Leg<WebSocket, TwilioCodec>,
    checks: StreamChecks,
    redeeming: Option<Redeeming>,
    /// The stream's `start` was refused: the leg reads nothing more, and
    /// its socket closes with the call.
    refused: Option<NotStarted>,
    /// The accepted `start`, read before the call began, handed to it
    /// first.
    pending: Option<PhoneEvent>,
    /// The call and stream ids of an accepted `start`.
    started: Option<(String, String)>,
    /// Those ids, held as this instance's live stream's.
    claim: Option<LiveClaim>,
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
    claim: LiveClaim,
}

impl TwilioLeg {
    /// Wraps an upgraded `/call` socket. With `checks.tokens`, the
    /// stream's `start` must carry a stream token for its call, or the leg
    /// closes before the call sees anything; a `start` naming a live
    /// stream's call or stream id is refused too. A Twilio socket that
    /// takes nothing for `write_timeout` while audio waits is given up.
    /// Why the call ended is recorded in `checks.ends` as the leg closes
    /// (for a stream whose `start` was accepted only). With
    /// `checks.lines`, the call's numbers kept by its webhook join its
    /// `start`.
    pub fn new(
        socket: WebSocket,
        checks: StreamChecks,
        write_timeout: std::time::Duration,
    ) -> Self {
        Self {
            leg: Leg::new("phone", socket, TwilioCodec::default(), write_timeout)
                .paced(Pace::new(MEDIA_RATE, MEDIA_BURST)),
            checks,
            redeeming: None,
            refused: None,
            pending: None,
            started: None,
            claim: None,
        }
    }

    /// Reads the stream up to its accepted `start`, which the call is then
    /// handed first; what comes before it (Twilio's `connected`) is
    /// dropped. Cancel-safe: what it has read is kept in the leg.
    ///
    /// # Errors
    /// Why the stream will never start.
    pub async fn until_started(&mut self) -> Result<(), NotStarted> {
        loop {
            match std::future::poll_fn(|cx| self.poll_recv(cx)).await {
                Some(start @ PhoneEvent::Start(_)) => {
                    self.pending = Some(start);
                    return Ok(());
                }
                Some(_) => {}
                None => return Err(self.refused.unwrap_or(NotStarted::Closed)),
            }
        }
    }

    /// Whether a `start` has arrived (and is being checked, or passed).
    pub fn start_seen(&self) -> bool {
        self.redeeming.is_some() || self.started.is_some()
    }

    /// Refuses the stream's `start`.
    fn refuse(&mut self, why: NotStarted) -> Poll<Option<PhoneEvent>> {
        self.refused = Some(why);
        Poll::Ready(None)
    }

    /// Remembers the ids of a `start` the call is about to see.
    fn accept(&mut self, event: Option<PhoneEvent>) -> Poll<Option<PhoneEvent>> {
        if let Some(PhoneEvent::Start(info)) = &event
            && self.started.is_none()
        {
            self.started = Some((
                info.call_sid
                    .as_ref()
                    .map(|sid| sid.as_str().to_owned())
                    .unwrap_or_default(),
                info.leg_id.as_str().to_owned(),
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
        if let Some(start) = self.pending.take() {
            return Poll::Ready(Some(start));
        }
        if self.refused.is_some() {
            return Poll::Ready(None);
        }
        if let Some(redeeming) = self.redeeming.as_mut() {
            let checked = ready!(redeeming.check.as_mut().poll(cx));
            let Redeeming {
                mut start, claim, ..
            } = self.redeeming.take().expect("just polled");
            match checked {
                Err(reason) => {
                    tracing::warn!(%reason, "stream refused: closing it before the call starts");
                    // The call ends at once and closes the socket as it goes.
                    return self.refuse(NotStarted::Token);
                }
                Ok(line) => {
                    if let (PhoneEvent::Start(info), Some(line)) = (&mut start, line) {
                        info.caller_number = Some(line.caller);
                        info.called_number = line.called;
                    }
                }
            }
            self.claim = Some(claim);
            return self.accept(Some(start));
        }
        let event = ready!(self.leg.poll_recv(cx));
        if let Some(PhoneEvent::Start(info)) = &event {
            let call_sid = info.call_sid.as_ref().map(|sid| sid.as_str().to_owned());
            // Before the token: a duplicate spends nothing.
            let claim = match self
                .checks
                .live
                .claim(call_sid.as_deref(), info.leg_id.as_str())
            {
                Ok(claim) => claim,
                Err(taken) => {
                    tracing::warn!(%taken, "stream refused: the running one goes on");
                    return self.refuse(NotStarted::Duplicate);
                }
            };
            if self.checks.tokens.is_none() && self.checks.lines.is_none() {
                self.claim = Some(claim);
                return self.accept(event);
            }
            let tokens = self.checks.tokens.clone();
            let lines = self.checks.lines.clone();
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
                claim,
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
        if let Some((call_sid, stream_sid)) = self.started.take()
            && !call_sid.is_empty()
        {
            self.checks
                .ends
                .keep(&call_sid, StreamEnd { reason, stream_sid })
                .await;
        }
        self.leg.close(Some(goodbye())).await;
        self.claim = None;
    }
}
