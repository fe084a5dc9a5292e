//! Filters in front of routes: Twilio's signature on the webhook and the
//! stream upgrade, body limits, the dashboard key and browser origins. Each
//! rejects with its own type, which `recover` turns into the status.

use std::sync::Arc;

use url::Url;
use warp::{Filter, Rejection};

use super::refusals::{self, Refusals};
use super::server::Peer;
use super::{AppState, MAX_WEBHOOK_BODY, with_state};
use crate::twilio::twiml;

/// Refused requests' log lines, sampled across all guards.
static REFUSALS: std::sync::LazyLock<Refusals> = std::sync::LazyLock::new(Refusals::default);

/// A request that should carry Twilio's signature and does not.
#[derive(Debug)]
pub(super) struct BadSignature;

impl warp::reject::Reject for BadSignature {}

/// The URL Twilio requested for a webhook: the public origin and the path
/// a proxy mounts us under (the public URL's own), this path, this query.
fn public_request_url(public_url: &Url, path: &str, query: &str) -> String {
    let origin = public_url.origin().ascii_serialization();
    let prefix = twiml::mount_path(public_url);
    if query.is_empty() {
        format!("{origin}{prefix}{path}")
    } else {
        format!("{origin}{prefix}{path}?{query}")
    }
}

/// The webhook's parameters (its query's, then its form body's), passed
/// when Twilio signed the request (or always, when no token is set).
pub(super) fn signed_webhook(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Vec<(String, String)>,), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path::full()
        .and(query)
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(body_within(
            MAX_WEBHOOK_BODY,
            state.http.body_read_timeout(),
        ))
        .and(with_state(state))
        .and_then(
            |path: warp::path::FullPath,
             query: String,
             signature: Option<String>,
             body: bytes::Bytes,
             state: Arc<AppState>| async move {
                let form = |bytes: &[u8]| -> Vec<(String, String)> {
                    url::form_urlencoded::parse(bytes)
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                };
                let body_params = form(&body);
                if let Some(validator) = &state.signatures {
                    let url = public_request_url(&state.public_url, path.as_str(), &query);
                    let signed = signature.is_some_and(|signature| {
                        validator.is_valid(&url, &body_params, &signature)
                    });
                    if !signed {
                        if REFUSALS.admit() {
                            tracing::warn!(
                                url = %refusals::bounded(&url),
                                "webhook refused: missing or invalid X-Twilio-Signature"
                            );
                        }
                        return Err(warp::reject::custom(BadSignature));
                    }
                }
                let mut params = form(query.as_bytes());
                params.extend(body_params);
                Ok(params)
            },
        )
}

/// Passes a Media Stream upgrade signed by Twilio for the stream URL the
/// TwiML names (or any, when no token is set).
pub(super) fn signed_stream(
    state: Arc<AppState>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("x-twilio-signature")
        .and(with_state(state))
        .and_then(|signature: Option<String>, state: Arc<AppState>| async move {
            let Some(validator) = &state.signatures else {
                return Ok(());
            };
            let url = twiml::stream_url(&state.public_url);
            match signature {
                Some(signature) if validator.is_valid(&url, &[], &signature) => Ok(()),
                _ => {
                    if REFUSALS.admit() {
                        tracing::warn!(url = %refusals::bounded(url.as_str()), "stream refused: missing or invalid X-Twilio-Signature");
                    }
                    Err(warp::reject::custom(BadSignature))
                }
            }
        })
        .untuple_one()
}

/// A body larger than a route accepts.
#[derive(Debug)]
pub(super) struct TooLarge;

impl warp::reject::Reject for TooLarge {}

/// A body that broke off or was malformed on the wire (a bad chunk).
#[derive(Debug)]
pub(super) struct BadBody;

impl warp::reject::Reject for BadBody {}

/// A body that did not arrive in time.
#[derive(Debug)]
pub(super) struct SlowBody;

impl warp::reject::Reject for SlowBody {}

/// The body, read up to `limit` bytes whatever the transfer encoding: a
/// declared `Content-Length` over it is refused before anything is read,
/// and a chunked body is refused as soon as it passes the limit, without
/// reading the rest. A body still arriving after `deadline` is refused, so
/// a client trickling bytes cannot hold the request. A request without a
/// body (Twilio's GET webhooks) passes with an empty one.
pub(super) fn body_within(
    limit: u64,
    deadline: std::time::Duration,
) -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |length: Option<u64>| async move {
            match length {
                Some(length) if length > limit => Err(warp::reject::custom(TooLarge)),
                _ => Ok(()),
            }
        })
        .untuple_one()
        .and(warp::body::stream())
        .and_then(move |body| async move {
            tokio::time::timeout(deadline, read_within(body, limit))
                .await
                .map_err(|_| warp::reject::custom(SlowBody))?
        })
}

async fn read_within<S, B>(body: S, limit: u64) -> Result<bytes::Bytes, Rejection>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: bytes::Buf,
{
    use futures_util::StreamExt;

    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut read = bytes::BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(BadBody))?;
        if read.len() + chunk.remaining() > limit {
            return Err(warp::reject::custom(TooLarge));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            read.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(read.freeze())
}

/// A dashboard request without the right key.
#[derive(Debug)]
pub(super) struct NoKey;

impl warp::reject::Reject for NoKey {}

/// A source that sent too many wrong keys of late.
#[derive(Debug)]
pub(super) struct TooManyGuesses;

impl warp::reject::Reject for TooManyGuesses {}

/// A browser page from an origin not allowed to open dashboards.
#[derive(Debug)]
pub(super) struct BadOrigin;

impl warp::reject::Reject for BadOrigin {}

/// Passes a request carrying the dashboard key, as `Authorization: Bearer`
/// or, for browsers (which cannot set headers on a WebSocket), as a `token`
/// query parameter; passes any when no key is configured. Compared in
/// constant time. A source that sent too many wrong keys of late is
/// refused without its key being looked at ([`super::guesses`]).
pub(super) fn dashboard_key(
    state: Arc<AppState>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::header::optional::<String>("authorization")
        .and(query)
        .and(warp::ext::optional::<Peer>())
        .and(with_state(state))
        .and_then(
            |authorization: Option<String>,
             query: String,
             peer: Option<Peer>,
             state: Arc<AppState>| async move {
                let Some(expected) = &state.access.token else {
                    return Ok(());
                };
                let source = peer.map(|Peer(addr)| addr.ip());
                if let Some(source) = source
                    && state.guesses.exhausted(source)
                {
                    if REFUSALS.admit() {
                        tracing::warn!(
                            "dashboard refused: too many wrong keys from this source of late"
                        );
                    }
                    return Err(warp::reject::custom(TooManyGuesses));
                }
                let bearer = authorization
                    .as_deref()
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .map(str::to_owned);
                let given = bearer.or_else(|| {
                    url::form_urlencoded::parse(query.as_bytes())
                        .find(|(name, _)| name == "token")
                        .map(|(_, value)| value.into_owned())
                });
                let guessed = given.is_some();
                let matches = given.is_some_and(|given| {
                    subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.expose().as_bytes())
                        .into()
                });
                if matches {
                    Ok(())
                } else {
                    // A request without a key guesses nothing (a scraper
                    // not yet configured): only a wrong key counts.
                    if let Some(source) = source.filter(|_| guessed) {
                        state.guesses.wrong(source);
                    }
                    if REFUSALS.admit() {
                        tracing::warn!("dashboard refused: missing or wrong key");
                    }
                    Err(warp::reject::custom(NoKey))
                }
            },
        )
        .untuple_one()
}

/// Passes requests without an `Origin` (not a browser), and browsers on the
/// public URL's own origin, one of `dashboard.allowed_origins`, or a
/// loopback origin that is this server's own (the built-in dashboard
/// opened on the machine itself or through a tunnel: `Origin` and `Host`
/// name the same loopback address and port).
pub(super) fn allowed_origin(
    state: Arc<AppState>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::header::optional::<String>("host"))
        .and(with_state(state))
        .and_then(
            |origin: Option<String>, host: Option<String>, state: Arc<AppState>| async move {
                let Some(origin) = origin else {
                    return Ok(());
                };
                let own = state.public_url.origin().ascii_serialization();
                let allowed =
                    origin == own
                        || host
                            .as_deref()
                            .is_some_and(|host| own_loopback(&origin, host))
                        || state.access.allowed_origins.iter().any(|allowed| {
                            allowed == "*" || allowed.trim_end_matches('/') == origin
                        });
                if allowed {
                    Ok(())
                } else {
                    if REFUSALS.admit() {
                        tracing::warn!(origin = %refusals::bounded(&origin), "dashboard refused: origin not allowed");
                    }
                    Err(warp::reject::custom(BadOrigin))
                }
            },
        )
        .untuple_one()
}

/// Whether `origin` is `http://` a loopback host and `host` (the request's
/// `Host`) names it, port included: a page this server served itself.
fn own_loopback(origin: &str, host: &str) -> bool {
    let Some(authority) = origin.strip_prefix("http://") else {
        return false;
    };
    let name = authority
        .rsplit_once(':')
        .map_or(authority, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with('[') {
                name
            } else {
                authority
            }
        });
    let loopback = matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && authority.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::own_loopback;

    #[test]
    fn only_a_loopback_page_on_this_very_address_is_our_own() {
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://localhost:8080", "localhost:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://127.0.0.2", "127.0.0.2"),
        ] {
            assert!(own_loopback(origin, host), "{origin} on {host}");
        }
        for (origin, host) in [
            // Another local page (the original monitor's port) is not ours.
            ("http://localhost:3000", "localhost:8080"),
            // DNS rebinding: a foreign name resolving to us is not loopback.
            ("http://evil.example:8080", "evil.example:8080"),
            ("https://localhost:8080", "localhost:8080"),
            ("http://127.0.0.1:8080", "localhost:8080"),
            (
                "http://127.0.0.1.evil.example:80",
                "127.0.0.1.evil.example:80",
            ),
            ("null", "localhost:8080"),
        ] {
            assert!(!own_loopback(origin, host), "{origin} on {host}");
        }
    }
}
