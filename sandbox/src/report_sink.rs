//! A receiver of call reports, as an operator's endpoint would be
//! (protocols-2026.md §5): every delivery's Standard Webhooks signature is
//! checked with the `standardwebhooks` library (the one a receiver in Rust
//! would use, not ours), it answers a scripted sequence of statuses (500,
//! 500, then 200, say; or 410, or a redirect it expects not to be
//! followed), and it records what came for tests and scenarios.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::Value;
use standardwebhooks::Webhook;
use tokio::net::TcpListener;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};

/// The path reports are posted to.
pub const PATH: &str = "/reports";

/// One delivery attempt received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: Option<String>,
    /// `webhook-timestamp`.
    pub timestamp: Option<String>,
    /// Whether the signature verified, or why not.
    pub verified: Result<(), String>,
    /// What the sink answered.
    pub status: u16,
    /// The body, as JSON (`Null` when it was not JSON).
    pub body: Value,
}

#[derive(Debug, Default)]
struct State {
    /// Statuses still to answer, in order; then 200.
    statuses: Vec<u16>,
    /// Every report's first this-many attempts are answered 500.
    fail_each: usize,
    /// Attempts seen by `webhook-id`.
    seen: std::collections::HashMap<String, usize>,
    deliveries: Vec<Delivery>,
}

/// The simulated report endpoint.
#[derive(Debug)]
pub struct ReportSink {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReportSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ReportSink {
    /// Serves on `listener`, verifying with `secret` (`whsec_…`) and
    /// answering `statuses` in order before answering 200.
    ///
    /// # Errors
    /// When the listener has no address, or the secret is not base64.
    pub fn spawn(listener: TcpListener, secret: &str, statuses: Vec<u16>) -> std::io::Result<Self> {
        Self::spawn_with(listener, secret, statuses, 0)
    }

    /// As [`spawn`](Self::spawn), answering 500 to the first `fail_each`
    /// attempts of every report (by its `webhook-id`) after `statuses`.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub fn spawn_with(
        listener: TcpListener,
        secret: &str,
        statuses: Vec<u16>,
        fail_each: usize,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let webhook = Arc::new(
            Webhook::new(secret)
                .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?,
        );
        let state = Arc::new(Mutex::new(State {
            statuses,
            fail_each,
            ..State::default()
        }));
        let shared = state.clone();
        let route = warp::post()
            .and(warp::path("reports"))
            .and(warp::path::end())
            .and(warp::header::headers_cloned())
            .and(warp::body::content_length_limit(4 * 1024 * 1024))
            .and(warp::body::bytes())
            .map(move |headers: HeaderMap, body: Bytes| {
                let verified = webhook
                    .verify(&body, &headers)
                    .map_err(|err| err.to_string());
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned)
                };
                let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let id = header("webhook-id").unwrap_or_default();
                let fail_each = state.fail_each;
                let seen = state.seen.entry(id).or_default();
                *seen += 1;
                let seen = *seen;
                let status = if !state.statuses.is_empty() {
                    state.statuses.remove(0)
                } else if seen <= fail_each {
                    500
                } else {
                    200
                };
                state.deliveries.push(Delivery {
                    id: header("webhook-id"),
                    timestamp: header("webhook-timestamp"),
                    verified,
                    status,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let reply = warp::reply::with_status(warp::reply(), status);
                // A redirect names somewhere the sender must not go.
                warp::reply::with_header(reply, "location", "http://127.0.0.1:9/elsewhere")
            });
        let task = tokio::spawn(warp::serve(route).incoming(listener).run());
        Ok(Self { addr, state, task })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where reports are to be posted.
    pub fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Every attempt received, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deliveries
            .clone()
    }

    /// Statuses to answer next, in order (then 200).
    pub fn answer(&self, statuses: Vec<u16>) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .statuses = statuses;
    }
}

/// Whether `text` holds what looks like a whole phone number: `+` and
/// eight or more digits in a row.
pub fn holds_a_phone_number(text: &str) -> bool {
    text.split('+')
        .skip(1)
        .any(|after| after.bytes().take_while(u8::is_ascii_digit).count() >= 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks test vector (protocols-2026.md §5.3; the
    /// library's Go tests).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_library_signs_the_spec_test_vector() {
        let signature = Webhook::new(SECRET)
            .unwrap()
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[tokio::test]
    async fn deliveries_are_verified_answered_as_scripted_and_recorded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = ReportSink::spawn(listener, SECRET, vec![500, 307]).unwrap();
        let body = r#"{"type":"call.ended"}"#;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .to_string();
        let signature = Webhook::new(SECRET)
            .unwrap()
            .sign("msg_1", now.parse().unwrap(), body.as_bytes())
            .unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let post = |signature: &str| {
            client
                .post(sink.url())
                .header("webhook-id", "msg_1")
                .header("webhook-timestamp", &now)
                .header("webhook-signature", signature)
                .body(body)
                .send()
        };
        assert_eq!(post(&signature).await.unwrap().status(), 500);
        assert_eq!(post("v1,bm9wZQ==").await.unwrap().status(), 307);
        assert_eq!(post(&signature).await.unwrap().status(), 200);
        let deliveries = sink.deliveries();
        assert_eq!(deliveries.len(), 3);
        assert!(deliveries[0].verified.is_ok());
        assert!(deliveries[1].verified.is_err(), "a forged signature");
        assert_eq!(deliveries[2].id.as_deref(), Some("msg_1"));
        assert_eq!(deliveries[2].body["type"], "call.ended");
    }

    #[test]
    fn whole_numbers_are_found_and_masked_ones_are_not() {
        assert!(holds_a_phone_number(r#"{"caller":"+15551234567"}"#));
        assert!(!holds_a_phone_number(r#"{"caller":"+1******4567"}"#));
        assert!(!holds_a_phone_number(r#"{"cost": 1e+5}"#));
    }
}
