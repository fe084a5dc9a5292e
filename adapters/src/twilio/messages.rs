//! [`TextMessages`] over Twilio's Messages REST API:
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, a form with
//! `To`, `From` and `Body`, HTTP Basic auth with the account's SID and
//! auth token or an API key and its secret (protocols-2026.md §4).
//!
//! Creating a message is not idempotent: a request that may have reached
//! Twilio is never sent again. Only one that never connected, or that
//! Twilio refused as too many (429), is tried again, within the caller's
//! deadline.

use std::time::Duration;

use async_trait::async_trait;
use qloophone_domain::ports::{TextFailure, TextMessage, TextMessages, TextReceipt};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::bounded::read_body;
use crate::secret::Secret;
use crate::tls::Trust;

/// Twilio's REST host for a region and edge (as Twilio's own libraries
/// build it): `api.twilio.com`, or `api.{edge}.{region}.twilio.com`.
pub fn api_url(region: Option<&str>, edge: Option<&str>) -> String {
    match (edge, region) {
        (None, None) => "https://api.twilio.com".to_owned(),
        (None, Some(region)) => format!("https://api.{region}.twilio.com"),
        (Some(edge), region) => {
            format!("https://api.{edge}.{}.twilio.com", region.unwrap_or("us1"))
        }
    }
}

/// How the client signs in.
#[derive(Clone)]
pub struct Credentials {
    /// The account the messages are sent from (`AC…`).
    pub account_sid: String,
    /// The Basic auth user: the account SID, or an API key's SID (`SK…`).
    pub user: String,
    /// Its password: the auth token, or the API key's secret.
    pub password: Secret,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Tries of a request that never reached Twilio, or that it refused as
/// too many, at most.
const TRIES: u32 = 3;
/// The wait before trying again, doubled each time (unless Twilio says).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait a `Retry-After` may ask for.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The longest answer read from the API (a message's JSON is about 1 KB).
const MAX_ANSWER: usize = 64 * 1024;

/// The Messages API client.
#[derive(Debug, Clone)]
pub struct TwilioMessages {
    client: reqwest::Client,
    url: String,
    credentials: Credentials,
    /// The sender for every text (`TWILIO_SMS_FROM`); else the number the
    /// caller dialled.
    from: Option<String>,
}

/// What Twilio answers a message created.
#[derive(Debug, Deserialize)]
struct Created {
    sid: Option<String>,
    num_segments: Option<String>,
}

/// What Twilio answers an error, in either of its shapes (the legacy
/// `{code, message, more_info, status}` and RFC 9457's `{type, title,
/// status, code, detail}`): the code is what matters.
#[derive(Debug, Deserialize)]
struct Refusal {
    code: Option<u32>,
}

impl TwilioMessages {
    /// A client of the API at `base` (`https://api.twilio.com`, a region's
    /// host, or a simulator), signing in with `credentials`, sending from
    /// `from` when given.
    pub fn new(
        base: &str,
        credentials: Credentials,
        from: Option<String>,
        timeout: Duration,
        trust: &Trust,
    ) -> Self {
        let client = trust
            .http(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            // One request a call at most: no connection kept idle between.
            .pool_max_idle_per_host(0)
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .build()
            .unwrap_or_default();
        Self {
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                base.trim_end_matches('/'),
                credentials.account_sid
            ),
            client,
            credentials,
            from,
        }
    }
}

/// What a refusal's code means for the caller.
fn failure_of(status: StatusCode, code: Option<u32>) -> TextFailure {
    match code {
        Some(21610) => TextFailure::OptedOut,
        Some(21211 | 21612 | 21614 | 21635 | 21408) => TextFailure::NotTextable,
        Some(_) => TextFailure::Refused,
        None if status.is_server_error() => TextFailure::MaybeSent,
        None => TextFailure::Refused,
    }
}

/// How long Twilio asked us to wait, bounded.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_BACKOFF))
}

#[async_trait]
impl TextMessages for TwilioMessages {
    async fn send(&self, message: TextMessage) -> Result<TextReceipt, TextFailure> {
        let from = self
            .from
            .clone()
            .or_else(|| message.from.as_ref().map(|n| n.expose().to_owned()));
        let Some(from) = from else {
            tracing::warn!("no sender for a text: set TWILIO_SMS_FROM");
            return Err(TextFailure::Refused);
        };
        let form = [
            ("To", message.to.expose()),
            ("From", from.as_str()),
            ("Body", message.body.as_str()),
        ];
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=TRIES {
            let sent = self
                .client
                .post(&self.url)
                .basic_auth(
                    &self.credentials.user,
                    Some(self.credentials.password.expose()),
                )
                .form(&form)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                // It never reached Twilio: safe to try again.
                Err(err) if err.is_connect() && attempt < TRIES => {
                    tracing::debug!(error = %err, attempt, "text request did not connect");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    continue;
                }
                Err(err) if err.is_connect() => {
                    tracing::warn!(error = %err, "the text service could not be reached");
                    return Err(TextFailure::Unavailable);
                }
                // It may have: never again.
                Err(err) => {
                    tracing::warn!(error = %err, "text request not answered: it may have been sent");
                    return Err(TextFailure::MaybeSent);
                }
            };
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < TRIES {
                let wait = retry_after(&response).unwrap_or(backoff);
                tracing::debug!(?wait, attempt, "text service busy: trying again");
                tokio::time::sleep(wait).await;
                backoff *= 2;
                continue;
            }
            if status.is_success() {
                let created = read_body(response, MAX_ANSWER)
                    .await
                    .ok()
                    .and_then(|body| serde_json::from_slice::<Created>(&body).ok());
                let receipt = TextReceipt {
                    id: created
                        .as_ref()
                        .and_then(|c| c.sid.clone())
                        .unwrap_or_default(),
                    segments: created
                        .and_then(|c| c.num_segments)
                        .and_then(|n| n.parse().ok()),
                };
                tracing::info!(
                    to = %message.to,
                    message = %receipt.id,
                    segments = receipt.segments,
                    "text sent"
                );
                return Ok(receipt);
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                tracing::warn!("text service still busy: not sent");
                return Err(TextFailure::Unavailable);
            }
            let code = read_body(response, MAX_ANSWER)
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<Refusal>(&body).ok())
                .and_then(|refusal| refusal.code);
            let failure = failure_of(status, code);
            tracing::warn!(
                to = %message.to,
                status = status.as_u16(),
                code,
                failure = failure.as_str(),
                "text refused"
            );
            return Err(failure);
        }
        Err(TextFailure::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_region_and_edge_as_twilio_builds_them() {
        assert_eq!(api_url(None, None), "https://api.twilio.com");
        assert_eq!(api_url(Some("ie1"), None), "https://api.ie1.twilio.com");
        assert_eq!(
            api_url(Some("ie1"), Some("dublin")),
            "https://api.dublin.ie1.twilio.com"
        );
        assert_eq!(
            api_url(None, Some("ashburn")),
            "https://api.ashburn.us1.twilio.com"
        );
    }

    #[test]
    fn refusals_say_what_the_caller_can_be_told() {
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(failure_of(bad, Some(21610)), TextFailure::OptedOut);
        assert_eq!(failure_of(bad, Some(21614)), TextFailure::NotTextable);
        assert_eq!(failure_of(bad, Some(21211)), TextFailure::NotTextable);
        assert_eq!(
            failure_of(StatusCode::UNAUTHORIZED, Some(20003)),
            TextFailure::Refused
        );
        assert_eq!(failure_of(bad, None), TextFailure::Refused);
        assert_eq!(
            failure_of(StatusCode::BAD_GATEWAY, None),
            TextFailure::MaybeSent
        );
    }
}
