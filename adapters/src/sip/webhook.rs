//! OpenAI's webhooks (protocols-2026.md §7.2): each delivery's Standard
//! Webhooks signature checked with the `standardwebhooks` library (its
//! 300 s tolerance either way, constant-time comparison), then its
//! `webhook-id` spent once, fleet-wide when there is a fleet: a retried or
//! replayed delivery is answered, never acted on twice.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use qloophone_domain::types::{LegId, PhoneNumber};
use serde::Deserialize;
use standardwebhooks::{Webhook, WebhookError};
use warp::http::HeaderMap;

use crate::secret::Secret;
use crate::twilio::stream_token::{Spend, TokenLedger};

/// How long a delivery's id is remembered: past the signature's
/// tolerance either way, after which the delivery is refused as stale.
pub const REMEMBERED: Duration = Duration::from_secs(600);
/// The most delivery ids one instance remembers (the oldest forgotten
/// first; one still inside the tolerance then counts on the fleet's).
const MAX_REMEMBERED: usize = 65_536;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No `webhook-id`, `webhook-timestamp` or `webhook-signature`.
    #[error("unsigned")]
    Unsigned,
    /// Signed, but not by our secret, or not for these bytes.
    #[error("bad signature")]
    BadSignature,
    /// Its timestamp is outside the tolerance.
    #[error("stale or future timestamp")]
    Stale,
}

impl Refused {
    /// A short name for metrics and logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
        }
    }
}

/// A verified delivery: first of its id, or seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Never seen: act on it.
    First,
    /// This id was delivered before: answer it, do nothing.
    Duplicate,
}

/// Checks deliveries and remembers their ids.
pub struct Deliveries {
    webhook: Webhook,
    seen: Mutex<LruCache<String, Instant>>,
    ledger: Option<Arc<dyn TokenLedger>>,
}

impl std::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    /// Checks with `secret` (`whsec_…`).
    ///
    /// # Errors
    /// When the secret is not base64 after its prefix.
    pub fn new(secret: &Secret) -> Result<Self, String> {
        let webhook = Webhook::new(secret.expose()).map_err(|err| err.to_string())?;
        Ok(Self {
            webhook,
            seen: Mutex::new(LruCache::new(
                NonZeroUsize::new(MAX_REMEMBERED).expect("not zero"),
            )),
            ledger: None,
        })
    }

    /// Spends ids in `ledger` too, shared by the fleet.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn TokenLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Verifies `body` under `headers`, then spends its id.
    ///
    /// # Errors
    /// [`Refused`] for an unsigned, badly signed or stale delivery.
    pub async fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, Refused> {
        let id = header(headers, "webhook-id");
        let timestamp = header(headers, "webhook-timestamp");
        if id.is_none() || timestamp.is_none() || header(headers, "webhook-signature").is_none() {
            return Err(Refused::Unsigned);
        }
        self.webhook
            .verify(body, headers)
            .map_err(|err| match err {
                WebhookError::TimestampTooOldError | WebhookError::FutureTimestampError => {
                    Refused::Stale
                }
                _ => Refused::BadSignature,
            })?;
        let id = id.unwrap_or_default();
        let fresh = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            match seen.get(id) {
                Some(at) if now.duration_since(*at) < REMEMBERED => false,
                _ => {
                    seen.put(id.to_owned(), now);
                    true
                }
            }
        };
        if !fresh {
            return Ok(Delivery::Duplicate);
        }
        match &self.ledger {
            Some(ledger) => match ledger.spend(&format!("webhook:{id}"), REMEMBERED).await {
                Spend::Again => Ok(Delivery::Duplicate),
                Spend::First | Spend::Unknown => Ok(Delivery::First),
            },
            None => Ok(Delivery::First),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// An event OpenAI sent, as far as it matters here.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<EventData>,
}

#[derive(Debug, Deserialize)]
struct EventData {
    call_id: Option<String>,
    #[serde(default)]
    sip_headers: Vec<SipHeader>,
}

#[derive(Debug, Deserialize)]
struct SipHeader {
    name: String,
    value: String,
}

/// A call ringing at OpenAI, waiting for this server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// OpenAI's id for it (opaque).
    pub call_id: LegId,
    /// The caller's number, from the `From` header, when it holds one.
    /// Caller-supplied: never proof of anything.
    pub from: Option<PhoneNumber>,
    /// The number dialled, from `To`.
    pub to: Option<PhoneNumber>,
}

/// What a verified delivery asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// `realtime.call.incoming`.
    Call(IncomingCall),
    /// Any other event type (named), which this server does not act on.
    Other(String),
}

/// Reads a verified event.
///
/// # Errors
/// When it is not JSON of an event, or a call event lacks a usable
/// `call_id`.
pub fn parse(body: &[u8]) -> Result<Incoming, String> {
    let event: Event = serde_json::from_slice(body).map_err(|err| err.to_string())?;
    if event.kind != "realtime.call.incoming" {
        return Ok(Incoming::Other(event.kind));
    }
    let data = event.data.ok_or("no data")?;
    let call_id = data.call_id.ok_or("no call_id")?;
    let call_id = LegId::parse(&call_id).map_err(|err| err.to_string())?;
    let number = |name: &str| {
        data.sip_headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .and_then(|header| number_in(&header.value))
    };
    Ok(Incoming::Call(IncomingCall {
        call_id,
        from: number("From"),
        to: number("To"),
    }))
}

/// The E.164 number a SIP name-addr holds (`"Name" <sip:+1555…@host>`,
/// `tel:+1555…`), if its user part is one.
fn number_in(value: &str) -> Option<PhoneNumber> {
    let uri = value
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(value, |(uri, _)| uri);
    let user = uri
        .trim()
        .strip_prefix("sip:")
        .or_else(|| uri.trim().strip_prefix("sips:"))
        .or_else(|| uri.trim().strip_prefix("tel:"))?;
    let user = user.split(['@', ';']).next()?;
    PhoneNumber::parse(user).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signed(id: &str, timestamp: i64, body: &str, secret: &str) -> HeaderMap {
        let signature = Webhook::new(secret)
            .unwrap()
            .sign(id, timestamp, body.as_bytes())
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        headers
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn the_standard_webhooks_test_vector_signs_as_the_reference_says() {
        // protocols-2026.md §5.3: the library we verify with agrees.
        let signature = Webhook::new(SECRET)
            .unwrap()
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[tokio::test]
    async fn a_delivery_is_acted_on_once_and_spoiled_ones_are_refused() {
        let deliveries = Deliveries::new(&Secret::new(SECRET)).unwrap();
        let body = r#"{"type":"realtime.call.incoming"}"#;
        let headers = signed("wh_1", now(), body, SECRET);
        assert_eq!(
            deliveries.check(&headers, body.as_bytes()).await,
            Ok(Delivery::First)
        );
        assert_eq!(
            deliveries.check(&headers, body.as_bytes()).await,
            Ok(Delivery::Duplicate)
        );
        let tampered = r#"{"type":"realtime.call.incoming","x":1}"#;
        assert_eq!(
            deliveries.check(&headers, tampered.as_bytes()).await,
            Err(Refused::BadSignature)
        );
        let stale = signed("wh_2", now() - 600, body, SECRET);
        assert_eq!(
            deliveries.check(&stale, body.as_bytes()).await,
            Err(Refused::Stale)
        );
        let other = signed(
            "wh_3",
            now(),
            body,
            "whsec_bm90LXRoZS1zZWNyZXQtYXQtYWxsLTI0Yg==",
        );
        assert_eq!(
            deliveries.check(&other, body.as_bytes()).await,
            Err(Refused::BadSignature)
        );
        assert_eq!(
            deliveries.check(&HeaderMap::new(), body.as_bytes()).await,
            Err(Refused::Unsigned)
        );
    }

    #[test]
    fn an_incoming_call_is_read_with_its_numbers() {
        let body =
            br#"{"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1,
            "data":{"call_id":"rtc_u1_abc","sip_headers":[
              {"name":"From","value":"\"Ann\" <sip:+15550123456@sip.example.net>;tag=a"},
              {"name":"to","value":"<sip:+15550100000@sip.api.openai.com>"},
              {"name":"Call-ID","value":"x@y"}]}}"#;
        let Ok(Incoming::Call(call)) = parse(body) else {
            panic!("a call")
        };
        assert_eq!(call.call_id.as_str(), "rtc_u1_abc");
        assert_eq!(call.from.unwrap().expose(), "+15550123456");
        assert_eq!(call.to.unwrap().expose(), "+15550100000");
        assert_eq!(
            parse(br#"{"type":"realtime.call.incoming","data":{"call_id":"rtc_2","sip_headers":[{"name":"From","value":"sip:anonymous@x"}]}}"#),
            Ok(Incoming::Call(IncomingCall {
                call_id: LegId::parse("rtc_2").unwrap(),
                from: None,
                to: None
            }))
        );
        assert_eq!(
            parse(br#"{"type":"live.call.incoming","data":{}}"#),
            Ok(Incoming::Other("live.call.incoming".into()))
        );
        assert!(parse(br#"{"type":"realtime.call.incoming","data":{}}"#).is_err());
        assert!(parse(b"not json").is_err());
    }
}
