//! Writes that never hold a call up: both legs queue what they send in the
//! socket's own write buffer and push it out without waiting.
//!
//! tokio-tungstenite buffers every message given to `start_send` until a
//! flush, and refuses one that would take the buffer past
//! [`WebSocketConfig::max_write_buffer_size`]: that buffer is the leg's
//! bounded outbound queue. The call runner queues everything one wake-up
//! produced (an audio delta's media and mark, say) and then flushes once,
//! so they leave in one write. A flush that cannot finish at once is left
//! to carry on while the leg's `recv` is polled, so a slow peer never stops
//! the call from reading the other leg. A peer that takes nothing for the
//! write timeout has stopped reading: the leg gives it up.
//!
//! [`WebSocketConfig::max_write_buffer_size`]: tokio_tungstenite::tungstenite::protocol::WebSocketConfig::max_write_buffer_size

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use qloophone_domain::ports::LegError;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The most a leg holds for a peer that is not reading: about a minute and
/// a half of base64 μ-law in Twilio `media` messages, far more than a
/// response sends ahead of playback.
pub const MAX_QUEUED: usize = 1024 * 1024;

/// Why a leg's writes stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stalled {
    /// The peer took nothing for this long while writes were waiting.
    #[error("the peer took nothing for {0:?}")]
    TimedOut(Duration),
    /// The socket failed.
    #[error("write failed: {0}")]
    Failed(String),
}

/// The write side of one leg's socket: whether something queued is still
/// to be flushed, and since when the peer has not taken it.
pub struct Outbound {
    timeout: Duration,
    unflushed: bool,
    waiting: bool,
    deadline: Pin<Box<Sleep>>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("timeout", &self.timeout)
            .field("unflushed", &self.unflushed)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Writes that give the peer up after `timeout` without progress.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            unflushed: false,
            waiting: false,
            deadline: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Queues `message` in the socket's write buffer; never waits.
    ///
    /// # Errors
    /// [`LegError::Backlogged`] when the buffer is full; [`LegError::Write`]
    /// when the socket has failed or is closing.
    pub fn queue<S>(&mut self, socket: &mut S, message: Message) -> Result<(), LegError>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        match Pin::new(socket).start_send(message) {
            Ok(()) => {
                self.unflushed = true;
                Ok(())
            }
            Err(WsError::WriteBufferFull(_)) => Err(LegError::Backlogged),
            Err(err) => Err(LegError::Write(err.to_string())),
        }
    }

    /// Carries on writing what is queued: `Ready(Ok)` once all of it is
    /// written, `Pending` while the peer is taking it (the task is woken to
    /// go on), `Ready(Err)` when the socket failed or the peer has taken
    /// nothing for the write timeout.
    pub fn poll_write<S>(
        &mut self,
        socket: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Stalled>>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        if !self.unflushed {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(socket).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                self.waiting = false;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(Stalled::Failed(err.to_string()))),
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    self.deadline.as_mut().reset(Instant::now() + self.timeout);
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(Stalled::TimedOut(self.timeout))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// What both legs' `poll_recv` do first: carries on writing what is
    /// queued, then polls `socket` for the peer's next message.
    /// `Ready(Err)` when the writes have stalled (see
    /// [`poll_write`](Self::poll_write)).
    pub fn poll_next<S>(
        &mut self,
        socket: &mut S,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Result<Message, WsError>>, Stalled>>
    where
        S: Sink<Message, Error = WsError> + Stream<Item = Result<Message, WsError>> + Unpin,
    {
        if let Poll::Ready(Err(stalled)) = self.poll_write(socket, cx) {
            return Poll::Ready(Err(stalled));
        }
        Pin::new(socket).poll_next(cx).map(Ok)
    }

    /// Starts writing what is queued and returns without waiting for the
    /// peer; the rest goes out while [`poll_write`](Self::poll_write) is
    /// polled again (`cx`'s task is woken for it).
    ///
    /// # Errors
    /// [`Stalled`] when the socket failed or the peer has stopped reading.
    pub fn start<S>(&mut self, socket: &mut S, cx: &mut Context<'_>) -> Result<(), Stalled>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        match self.poll_write(socket, cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(done) => done,
        }
    }

    /// [`start`](Self::start) from async code (the tests' form).
    #[cfg(test)]
    async fn flush<S>(&mut self, socket: &mut S) -> Result<(), Stalled>
    where
        S: Sink<Message, Error = WsError> + Unpin,
    {
        std::future::poll_fn(|cx| Poll::Ready(self.start(socket, cx))).await
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

    use super::*;

    /// A server-side WebSocket over loopback with small kernel buffers
    /// (accepted sockets inherit the listener's), and the raw peer socket,
    /// which reads only when the test says so.
    async fn pair(max_queued: usize) -> (WebSocketStream<TcpStream>, TcpStream) {
        let listener = TcpSocket::new_v4().unwrap();
        listener.set_send_buffer_size(4096).unwrap();
        listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listener.listen(4).unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = TcpSocket::new_v4().unwrap();
        peer.set_recv_buffer_size(4096).unwrap();
        let (peer, accepted) = tokio::join!(peer.connect(addr), listener.accept());
        let (ours, _) = accepted.unwrap();
        let config = WebSocketConfig::default()
            .write_buffer_size(8 * 1024)
            .max_write_buffer_size(max_queued);
        let socket = WebSocketStream::from_raw_socket(ours, Role::Server, Some(config)).await;
        (socket, peer.unwrap())
    }

    fn frame() -> Message {
        Message::text("x".repeat(1000))
    }

    #[tokio::test]
    async fn queued_messages_leave_together_at_one_flush() {
        let (mut socket, mut peer) = pair(MAX_QUEUED).await;
        let mut out = Outbound::new(Duration::from_secs(2));
        out.queue(&mut socket, Message::text("a")).unwrap();
        out.queue(&mut socket, Message::text("b")).unwrap();
        // Nothing is written before the flush.
        let mut buf = [0_u8; 16];
        let early = tokio::time::timeout(Duration::from_millis(50), peer.read(&mut buf)).await;
        assert!(early.is_err(), "written before the flush: {early:?}");
        out.flush(&mut socket).await.unwrap();
        // Two unmasked text frames of one byte each: 0x81 0x01 'a', 0x81 0x01 'b'.
        let mut got = [0_u8; 6];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, &[0x81, 1, b'a', 0x81, 1, b'b']);
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_fills_the_queue_and_then_is_refused() {
        let (mut socket, _peer) = pair(64 * 1024).await;
        let mut out = Outbound::new(Duration::from_secs(60));
        let mut queued = 0;
        let refused = loop {
            match out.queue(&mut socket, frame()) {
                Ok(()) => queued += 1,
                Err(err) => break err,
            }
            out.flush(&mut socket).await.unwrap();
            assert!(queued < 10_000, "the queue never filled");
        };
        assert_eq!(refused, LegError::Backlogged);
        assert!(queued > 20, "only {queued} messages fitted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_takes_nothing_for_the_timeout_is_given_up() {
        let (mut socket, mut peer) = pair(MAX_QUEUED).await;
        let mut out = Outbound::new(Duration::from_secs(2));
        // Fill the kernel's buffers until a flush cannot finish.
        loop {
            out.queue(&mut socket, frame()).unwrap();
            let done =
                std::future::poll_fn(|cx| Poll::Ready(out.poll_write(&mut socket, cx))).await;
            if done.is_pending() {
                break;
            }
        }
        // While the peer reads nothing, the writes wait and then give up.
        let stalled = std::future::poll_fn(|cx| out.poll_write(&mut socket, cx)).await;
        assert_eq!(stalled, Err(Stalled::TimedOut(Duration::from_secs(2))));
        // A peer that reads again is not what this socket sees any more,
        // but reading must not panic either.
        let mut buf = vec![0_u8; 1 << 16];
        let _ = tokio::time::timeout(Duration::from_millis(10), peer.read(&mut buf)).await;
        let _ = peer.shutdown().await;
        let _ = socket.next().await;
    }

    #[tokio::test]
    async fn a_slow_peer_that_keeps_reading_gets_everything() {
        let (mut socket, mut peer) = pair(MAX_QUEUED).await;
        let mut out = Outbound::new(Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0_u8; 512];
            loop {
                match peer.read(&mut buf).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total += n,
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        });
        for _ in 0..200 {
            out.queue(&mut socket, frame()).unwrap();
            out.flush(&mut socket).await.unwrap();
        }
        std::future::poll_fn(|cx| out.poll_write(&mut socket, cx))
            .await
            .unwrap();
        drop(socket);
        // 200 frames of 1000 bytes, each with a 4-byte header.
        assert_eq!(reader.await.unwrap(), 200 * 1004);
    }
}
