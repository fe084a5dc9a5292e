//! One WebSocket leg for every peer: the phone (Twilio Media Streams) and
//! the voice models (OpenAI Realtime, GPT-Live) all run on [`Leg`].
//!
//! A leg owns its socket and its bounded outbound queue ([`Outbound`]),
//! and does what every leg does with them: `poll_recv` writes what is
//! queued, then reads the peer's next message, skips control frames,
//! counts and logs (once) what it cannot use, and hands text frames to the
//! leg's [`Codec`]; `send` encodes a command into the queue; `flush` starts
//! writing; `close` closes the socket within a bound. What differs between
//! peers is the codec (the wire format) and two optional guards:
//! [`Pace`] (a peer may not send frames far faster than it should: the
//! phone) and [`Liveness`] (a peer that says nothing is pinged, and given
//! up when even pings go unanswered: the models).
//!
//! The per-frame path through a leg is plain functions, generic over the
//! socket and codec: nothing is boxed or allocated per frame here.

mod outbound;

use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream};
use qloophone_domain::ports::LegError;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

pub use outbound::{MAX_QUEUED, Outbound, Stalled};

/// A WebSocket this server opened (to a voice model).
pub type ClientSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a closing handshake may take before the socket is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A peer's wire format: its frames decoded into the domain's events, the
/// domain's commands encoded into its frames.
pub trait Codec {
    /// What the peer says.
    type Event;
    /// What it is told.
    type Command;

    /// Decodes one text frame (the frame's buffer, which events may
    /// share): `Ok(Some)` for an event, `Ok(None)` for one this version
    /// does not use.
    ///
    /// # Errors
    /// A description of what is malformed.
    fn decode(&mut self, frame: Bytes) -> Result<Option<Self::Event>, String>;

    /// An event decoding a frame produced besides the one it returned (a
    /// frame can say two things), handed out before the next frame is
    /// read.
    fn pending(&mut self) -> Option<Self::Event> {
        None
    }

    /// Encodes `command` as a message, writing into `scratch`, whose
    /// buffer a message may take (it is reused once the socket copied it);
    /// `None` for a command this peer has no message for.
    ///
    /// # Errors
    /// [`LegError`] when the command cannot be sent yet (a phone stream
    /// not started).
    fn encode(
        &mut self,
        command: Self::Command,
        scratch: &mut BytesMut,
    ) -> Result<Option<Message>, LegError>;
}

/// Frames a peer may send: a token bucket that refills at `rate` a second
/// up to `burst`. One owner, on tokio's clock, so it is tested under
/// paused time; a rate-limiting crate would bring its own clock and
/// atomics this single-owner counter does not need.
#[derive(Debug)]
pub struct Pace {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Pace {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes one frame; `false` once the peer has been too fast for too
    /// long.
    pub fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.at = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// Pings a peer that says nothing, and tells a live one from a dead one:
/// a peer that answers nothing, not even pings, for two intervals is gone.
#[derive(Debug)]
pub struct Liveness {
    ping: tokio::time::Interval,
    every: Duration,
    last_heard: Instant,
}

impl Liveness {
    /// Pings every `every`.
    pub fn new(every: Duration) -> Self {
        let mut ping = tokio::time::interval(every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            ping,
            every,
            last_heard: Instant::now(),
        }
    }
}

/// What a leg saw that it did not pass on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ignored {
    unknown: u64,
    malformed: u64,
    binary: u64,
}

/// One peer's WebSocket: see the module docs.
pub struct Leg<S, C> {
    socket: Option<S>,
    outbound: Outbound,
    codec: C,
    /// Where messages are written; its buffer is reused.
    scratch: BytesMut,
    /// The peer's name in logs (`phone`, `model`).
    peer: &'static str,
    pace: Option<Pace>,
    liveness: Option<Liveness>,
    ignored: Ignored,
}

impl<S, C> std::fmt::Debug for Leg<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leg")
            .field("peer", &self.peer)
            .field("open", &self.socket.is_some())
            .field("ignored", &self.ignored)
            .finish_non_exhaustive()
    }
}

impl<S, C> Leg<S, C>
where
    S: Sink<Message, Error = WsError> + Stream<Item = Result<Message, WsError>> + Unpin,
    C: Codec,
{
    /// A leg over `socket` speaking `codec`; a peer that takes nothing for
    /// `write_timeout` while messages wait is given up.
    pub fn new(peer: &'static str, socket: S, codec: C, write_timeout: Duration) -> Self {
        Self {
            socket: Some(socket),
            outbound: Outbound::new(write_timeout),
            codec,
            scratch: BytesMut::new(),
            peer,
            pace: None,
            liveness: None,
            ignored: Ignored::default(),
        }
    }

    /// Ends the leg when the peer sends data frames faster than `pace`.
    #[must_use]
    pub fn paced(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    /// Pings a quiet peer, and gives up one that answers nothing.
    #[must_use]
    pub fn pinged(mut self, liveness: Liveness) -> Self {
        self.liveness = Some(liveness);
        self
    }

    /// The codec, for what it keeps of the conversation.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// The codec, to change what it keeps.
    pub fn codec_mut(&mut self) -> &mut C {
        &mut self.codec
    }

    /// Whether the socket is still open.
    pub fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// The peer's next event: `Ready(None)` once the leg has closed.
    /// Polling it also carries on writing what was queued.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<C::Event>> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(event) = self.codec.pending() {
                return Poll::Ready(Some(event));
            }
            // Queued messages go on out while we wait for the peer.
            let next = match self.outbound.poll_next(socket, cx) {
                Poll::Ready(Ok(next)) => next,
                Poll::Ready(Err(stalled)) => {
                    tracing::warn!(peer = self.peer, error = %stalled, "the peer is not taking what is sent; giving it up");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    let Some(liveness) = self.liveness.as_mut() else {
                        return Poll::Pending;
                    };
                    std::task::ready!(liveness.ping.poll_tick(cx));
                    if liveness.last_heard.elapsed() > liveness.every * 2 {
                        tracing::warn!(
                            peer = self.peer,
                            silent_for = ?liveness.last_heard.elapsed(),
                            "the peer answers nothing, not even pings; giving it up"
                        );
                        self.socket = None;
                        return Poll::Ready(None);
                    }
                    if let Err(err) = self.outbound.queue(socket, Message::Ping(Bytes::new())) {
                        tracing::warn!(peer = self.peer, error = %err, "cannot ping the peer");
                        self.socket = None;
                        return Poll::Ready(None);
                    }
                    continue;
                }
            };
            if let Some(liveness) = self.liveness.as_mut() {
                liveness.last_heard = Instant::now();
            }
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    // An oversized frame lands here too ("message too long").
                    tracing::warn!(peer = self.peer, error = %err, "socket failed");
                    self.socket = None;
                    return Poll::Ready(None);
                }
                None => {
                    self.socket = None;
                    return Poll::Ready(None);
                }
            };
            // Every frame but a close counts against the pace, so a flood
            // of garbage, binary frames or pings (each of which the socket
            // answers) is cut off as a media flood is.
            if !message.is_close() && self.pace.as_mut().is_some_and(|pace| !pace.allow()) {
                tracing::warn!(
                    "the {} sends frames far faster than it should; closing its leg",
                    self.peer
                );
                self.socket = None;
                return Poll::Ready(None);
            }
            match message {
                Message::Text(text) => match self.codec.decode(Bytes::from(text)) {
                    Ok(Some(event)) => return Poll::Ready(Some(event)),
                    Ok(None) => self.ignored.unknown += 1,
                    Err(problem) => {
                        self.ignored.malformed += 1;
                        // The first one says what is wrong; the rest are
                        // counted and summed up when the leg closes.
                        if self.ignored.malformed == 1 {
                            tracing::warn!(error = %problem, "malformed {} frame ignored; more are counted, not logged", self.peer);
                        }
                    }
                },
                Message::Binary(_) => {
                    self.ignored.binary += 1;
                    if self.ignored.binary == 1 {
                        tracing::warn!(
                            peer = self.peer,
                            "binary frame ignored (the peer speaks text); more are counted, not logged"
                        );
                    }
                }
                Message::Close(frame) => {
                    match frame {
                        Some(frame) => tracing::info!(
                            peer = self.peer,
                            code = u16::from(frame.code),
                            reason = %frame.reason,
                            "the peer closed the socket"
                        ),
                        None => tracing::info!(peer = self.peer, "the peer closed the socket"),
                    }
                    self.socket = None;
                    return Poll::Ready(None);
                }
                // Pings are answered by the socket itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Queues a command for the peer; never waits.
    ///
    /// # Errors
    /// [`LegError::Backlogged`] when the peer has stopped taking what was
    /// sent and the queue is full; another [`LegError`] when the leg can
    /// no longer be written to.
    pub fn send(&mut self, command: C::Command) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        match self.codec.encode(command, &mut self.scratch)? {
            Some(message) => self.outbound.queue(socket, message),
            None => Ok(()),
        }
    }

    /// Queues a message as it is (a handshake the codec does not make).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_message(&mut self, message: Message) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        self.outbound.queue(socket, message)
    }

    /// Starts writing what is queued without waiting for the peer.
    ///
    /// # Errors
    /// [`LegError`] when the leg can no longer be written to.
    pub fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        self.outbound
            .start(socket, cx)
            .map_err(|stalled| LegError::Write(stalled.to_string()))
    }

    /// Writes everything queued, waiting for the peer to take it (a
    /// session's opening messages: written before the call's audio joins
    /// them, the socket's write buffer stays their size, not theirs and a
    /// backlog of audio's).
    ///
    /// # Errors
    /// [`LegError`] when the socket failed or the peer took nothing for
    /// the write timeout.
    pub async fn write_all(&mut self) -> Result<(), LegError> {
        let socket = self.socket.as_mut().ok_or(LegError::Closed)?;
        std::future::poll_fn(|cx| self.outbound.poll_write(socket, cx))
            .await
            .map_err(|stalled| LegError::Write(stalled.to_string()))
    }

    /// Closes the socket with `frame`, giving a peer that takes nothing
    /// [`CLOSE_TIMEOUT`]; says what was ignored during the leg's life.
    pub async fn close(&mut self, frame: Option<CloseFrame>) {
        if let Some(socket) = self.socket.take() {
            close_socket(socket, frame).await;
        }
        if self.ignored != Ignored::default() {
            tracing::info!(
                unknown = self.ignored.unknown,
                malformed = self.ignored.malformed,
                binary = self.ignored.binary,
                "{} frames ignored during the call",
                self.peer
            );
        }
    }
}

/// Closes a socket with `frame`, giving a peer that takes nothing
/// [`CLOSE_TIMEOUT`].
pub async fn close_socket<S>(mut socket: S, frame: Option<CloseFrame>)
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let close = async {
        let _ = socket.send(Message::Close(frame)).await;
        let _ = socket.close().await;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_steady_pace_always_passes_and_a_flood_is_stopped() {
        let mut pace = Pace::new(250.0, 500.0);
        // Ten minutes at 50 frames a second, after a burst of 400.
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
        // After a pause the peer may go on.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(pace.allow());
    }
}
