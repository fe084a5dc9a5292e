//! WebSocket upgrades with our own socket settings.
//!
//! warp's `ws()` builds every socket with tungstenite's default 128 KiB
//! read buffer and offers no way to change it. tungstenite zero-fills the
//! buffer's free capacity before each read, so every frame received cost a
//! 128 KiB `memset` (a third of the server's CPU at 100 calls) and every
//! open socket held 128 KiB (3,000 idle dashboards: 400 MB). This filter
//! does the same handshake (RFC 6455 §4.2, with tungstenite's accept key)
//! and hands the upgraded connection to tokio-tungstenite with the
//! [`WebSocketConfig`] each route chooses.

use std::future::Future;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use warp::http::{StatusCode, header};
use warp::{Filter, Rejection, Reply};

/// A WebSocket accepted by one of our routes.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// Read-buffer size for peers whose messages are small (Twilio's media
/// frames are about 300 bytes, dashboards send nothing): one read takes a
/// few frames, and the buffer grows on its own for a larger message.
pub const SMALL_READS: usize = 2 * 1024;

/// A request that is not a WebSocket upgrade where one is expected.
#[derive(Debug)]
pub(super) struct NotAnUpgrade;

impl warp::reject::Reject for NotAnUpgrade {}

/// A valid upgrade request, to be accepted with [`Upgrade::accept`].
pub(crate) struct Upgrade {
    accept_key: String,
    on_upgrade: OnUpgrade,
}

/// Passes a `GET` asking for a version 13 WebSocket (`Connection` naming
/// `upgrade` among its tokens, `Upgrade: websocket`, a key); rejects
/// anything else with [`NotAnUpgrade`].
pub(crate) fn upgrade() -> impl Filter<Extract = (Upgrade,), Error = Rejection> + Clone {
    warp::get()
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<OnUpgrade>())
        .and_then(
            |headers: warp::http::HeaderMap, on_upgrade: Option<OnUpgrade>| async move {
                let has = |name: header::HeaderName, wanted: &str| {
                    headers.get_all(name).iter().any(|value| {
                        value.to_str().is_ok_and(|value| {
                            value
                                .split(',')
                                .any(|token| token.trim().eq_ignore_ascii_case(wanted))
                        })
                    })
                };
                let key = headers.get(header::SEC_WEBSOCKET_KEY);
                let version = headers.get(header::SEC_WEBSOCKET_VERSION);
                match (key, on_upgrade) {
                    (Some(key), Some(on_upgrade))
                        if has(header::CONNECTION, "upgrade")
                            && has(header::UPGRADE, "websocket")
                            && version.is_some_and(|v| v == "13") =>
                    {
                        Ok(Upgrade {
                            accept_key: derive_accept_key(key.as_bytes()),
                            on_upgrade,
                        })
                    }
                    _ => Err(warp::reject::custom(NotAnUpgrade)),
                }
            },
        )
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and, once the connection has
    /// switched, runs `serve` on the socket built with `config`.
    pub(crate) fn accept<F, U>(self, config: WebSocketConfig, serve: F) -> impl Reply + use<F, U>
    where
        F: FnOnce(Socket) -> U + Send + 'static,
        U: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let socket = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    serve(socket).await;
                }
                Err(err) => tracing::debug!(error = %err, "WebSocket upgrade did not complete"),
            }
        });
        let reply = warp::reply::with_status(warp::reply(), StatusCode::SWITCHING_PROTOCOLS);
        let reply = warp::reply::with_header(reply, header::CONNECTION, "upgrade");
        let reply = warp::reply::with_header(reply, header::UPGRADE, "websocket");
        warp::reply::with_header(reply, header::SEC_WEBSOCKET_ACCEPT, self.accept_key)
    }
}

/// Socket settings for a peer that sends messages of at most `max_message`
/// bytes.
pub(crate) fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(SMALL_READS)
        .max_write_buffer_size(crate::ws::MAX_QUEUED)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}
