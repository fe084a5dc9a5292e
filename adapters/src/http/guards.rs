//! Filters in front of routes: Twilio's signature on the webhook and the
//! stream upgrade, and body limits. Each rejects with its own type, which
//! `recover` turns into the status.

use std::sync::Arc;

use url::Url;
use warp::{Filter, Rejection};

use super::{AppState, MAX_WEBHOOK_BODY, with_state};
use crate::privacy::mask_phone_numbers;
use crate::twilio::twiml;

/// A request that should carry Twilio's signature and does not.
#[derive(Debug)]
pub(super) struct BadSignature;

impl warp::reject::Reject for BadSignature {}

/// The URL Twilio requested for a webhook: the public origin, this path,
/// this query.
fn public_request_url(public_url: &Url, path: &str, query: &str) -> String {
    let origin = public_url.origin().ascii_serialization();
    if query.is_empty() {
        format!("{origin}{path}")
    } else {
        format!("{origin}{path}?{query}")
    }
}

/// Passes a webhook signed by Twilio (or any, when no token is set).
pub(super) fn signed_webhook(
    state: Arc<AppState>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::path::full()
        .and(query)
        .and(warp::header::optional::<String>("x-twilio-signature"))
        .and(body_within(MAX_WEBHOOK_BODY))
        .and(with_state(state))
        .and_then(
            |path: warp::path::FullPath,
             query: String,
             signature: Option<String>,
             body: bytes::Bytes,
             state: Arc<AppState>| async move {
                let Some(validator) = &state.signatures else {
                    return Ok(());
                };
                let url = public_request_url(&state.public_url, path.as_str(), &query);
                let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                match signature {
                    Some(signature) if validator.is_valid(&url, &params, &signature) => Ok(()),
                    _ => {
                        tracing::warn!(
                            url = %mask_phone_numbers(&url),
                            "webhook refused: missing or invalid X-Twilio-Signature"
                        );
                        Err(warp::reject::custom(BadSignature))
                    }
                }
            },
        )
        .untuple_one()
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
                    tracing::warn!(%url, "stream refused: missing or invalid X-Twilio-Signature");
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

/// The body, read up to `limit` bytes whatever the transfer encoding: a
/// declared `Content-Length` over it is refused before anything is read,
/// and a chunked body is refused as soon as it passes the limit, without
/// reading the rest. A request without a body (Twilio's GET webhooks)
/// passes with an empty one.
pub(super) fn body_within(
    limit: u64,
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
        .and_then(move |body| read_within(body, limit))
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
        let mut chunk = chunk.map_err(|_| warp::reject::custom(TooLarge))?;
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
