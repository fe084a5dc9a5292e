//! The HTTP/1.1 server under the routes: hyper's connection driver with
//! the limits warp's own `serve` does not set.
//!
//! warp 0.4's server runs hyper without a timer, so a client that opens a
//! connection and sends half a request line (or nothing) holds it forever.
//! Here every connection gets a header-read deadline, which hyper also
//! applies between keep-alive requests (so it is the idle timeout too), and
//! the number of connections still speaking HTTP is capped. Upgraded
//! WebSockets leave this count when they upgrade: `/call` is bounded by the
//! call limit and `/logs` by the dashboard cap.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::either::Either;

use super::{AppState, routes};
use crate::tls::Acceptor;

/// `[http]`: limits on HTTP connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// How long a client may take to send a request's headers, from the
    /// connection's start or the end of its previous request, in ms. Past
    /// it the connection is closed (hyper answers 408 when half a request
    /// arrived).
    pub header_read_timeout_ms: u64,
    /// How long a client may take to send a webhook's body, in ms; past it
    /// the request is answered 408.
    pub body_read_timeout_ms: u64,
    /// Connections at once still speaking HTTP (WebSockets leave the count
    /// when they upgrade). Past it new connections wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_connections: 4096,
        }
    }
}

impl HttpSettings {
    pub(super) fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    pub(super) fn body_read_timeout(&self) -> Duration {
        Duration::from_millis(self.body_read_timeout_ms)
    }
}

/// Serves the routes on `listener`, each connection through `tls` when
/// given (HTTPS and `wss://`) and on the next of `shards`, until `shutdown` completes, then stops
/// accepting and waits for the requests in flight (upgraded WebSockets are
/// not waited for: the call registry and the dashboard hub end those).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Acceptor>,
    shards: Shards,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let settings = state.http.clone();
    let header_deadline = settings.header_read_timeout();
    let routes = routes(state);
    let capacity = settings.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    // A permit per connection speaking HTTP: the cap, and on shutdown the
    // way to know when they have all finished.
    let open = Arc::new(Semaphore::new(capacity));
    let (stopping, stop) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        let connection = Connection {
            service: WithPeer {
                inner: TowerToHyperService::new(warp::service(routes.clone())),
                peer: Peer(peer),
            },
            tls: tls.clone(),
            header_deadline,
            stop: stop.clone(),
            permit,
        };
        shards.spawn(stream, move |stream| connection.run(stream));
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection has ended when every permit is back.
    let all = u32::try_from(capacity).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// The threads that drive connections (and the calls they carry): each
/// connection is handed to the one running the fewest tasks (a call keeps
/// several alive; a webhook's connection none for long), and every task it
/// starts (a call, its model connection, its timers) stays on that
/// thread, so a call's two sockets wake one thread and no work moves
/// between threads. With none, connections run on the runtime that
/// accepts them.
#[derive(Debug, Default)]
pub struct Shards {
    runtimes: Vec<tokio::runtime::Handle>,
    next: AtomicUsize,
}

impl Shards {
    /// Connections run where they are accepted.
    pub fn none() -> Self {
        Self::default()
    }

    /// Connections are dealt to `runtimes` (current-thread runtimes, each
    /// on a thread of its own).
    pub fn over(runtimes: Vec<tokio::runtime::Handle>) -> Self {
        Self {
            runtimes,
            next: AtomicUsize::new(0),
        }
    }

    /// How many threads connections are dealt to (0: the accepting one).
    pub fn len(&self) -> usize {
        self.runtimes.len()
    }

    /// Whether connections stay on the accepting runtime.
    pub fn is_empty(&self) -> bool {
        self.runtimes.is_empty()
    }

    /// The runtime with the fewest tasks alive, looking from a place that
    /// moves on each time, so ties are dealt in turn.
    fn least_busy(&self) -> usize {
        let count = self.runtimes.len();
        let from = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| (from + offset) % count)
            .min_by_key(|&index| self.runtimes[index].metrics().num_alive_tasks())
            .unwrap_or(0)
    }

    /// Runs `drive` on `stream` on the least busy shard (here when none).
    fn spawn<F, D>(&self, stream: TcpStream, drive: D)
    where
        D: FnOnce(TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        if self.runtimes.is_empty() {
            tokio::spawn(drive(stream));
            return;
        }
        let turn = self.least_busy();
        // A socket is registered with the reactor of the runtime that
        // polls it: it leaves the accepting one's and joins its shard's.
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "could not hand a connection over");
                return;
            }
        };
        self.runtimes[turn].spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => drive(stream).await,
                Err(err) => tracing::debug!(error = %err, "could not take a connection over"),
            }
        });
    }
}

/// One accepted connection, until it is driven.
struct Connection<S> {
    service: S,
    tls: Option<Acceptor>,
    header_deadline: Duration,
    stop: watch::Receiver<bool>,
    /// Its place among the connections speaking HTTP.
    permit: OwnedSemaphorePermit,
}

impl<S> Connection<S>
where
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send,
    S::ResBody: Send,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    async fn run(self, stream: TcpStream) {
        let Self {
            service,
            tls,
            header_deadline,
            mut stop,
            permit,
        } = self;
        let _permit = permit;
        let stream = match tls {
            None => Either::Left(stream),
            // The handshake has the deadline of a request's headers, and
            // runs here, not in the accepting loop.
            Some(tls) => match tokio::time::timeout(header_deadline, tls.accept(stream)).await {
                Ok(Ok(stream)) => Either::Right(stream),
                Ok(Err(err)) => {
                    tracing::debug!(error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            },
        };
        // hyper's own HTTP/1.1 driver rather than hyper-util's `auto`,
        // which first waits, with no deadline, to see whether the client
        // speaks HTTP/2. Twilio and browsers speak HTTP/1.1 here.
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_deadline)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut connection = std::pin::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
                // Finish the request in flight, take no more.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(err) = ended {
            // A peer that goes away or stalls is the peer's business.
            tracing::debug!(error = %err, "HTTP connection ended with an error");
        }
    }
}

/// Errors on a connection already reset are ignored; anything else (out of
/// file descriptors, usually) is logged and accepting pauses a moment, so
/// the loop does not spin while it lasts.
async fn accept_failed(err: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The address a request's connection came from, in its extensions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer(pub(super) std::net::SocketAddr);

/// A service that tells each request where its connection came from.
struct WithPeer<S> {
    inner: S,
    peer: Peer,
}

impl<S> hyper::service::Service<hyper::Request<hyper::body::Incoming>> for WithPeer<S>
where
    S: hyper::service::Service<hyper::Request<hyper::body::Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.peer);
        self.inner.call(request)
    }
}
