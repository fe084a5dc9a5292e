//! Twilio's REST side, as far as a bridge uses it: the Messages API
//! (protocols-2026.md §4). `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
//! takes a form with `To`, `From` and `Body` under HTTP Basic auth (the
//! account's SID and auth token, or an API key's SID and secret), checks
//! them as Twilio does (21211 for a `To` that is not E.164, 21603 without
//! `From`, 21602 without `Body`, 21617 past 1,600 characters, 21610 for a
//! number on its STOP list, 20003 for bad credentials), and answers 201
//! (or 200) with the message resource. `GET` on the same path lists what
//! was sent (filtered by `To`), as Twilio's does.
//!
//! Misbehaving on demand: answer 429 (with `Retry-After: 0`) to the
//! first requests, answer refusals in the RFC 9457 shape rather than the
//! legacy one, or take longer than the client waits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use warp::Filter;
use warp::http::StatusCode;

/// The sandbox's account (555 numbers and zero SIDs are fictional).
pub const SANDBOX_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
/// The sandbox's API key SID.
pub const SANDBOX_API_KEY: &str = "SK00000000000000000000000000000000";

/// Twilio's limit on a message body, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// How the simulated API behaves.
#[derive(Debug, Clone)]
pub struct TwilioApiOptions {
    /// The account messages are sent from.
    pub account_sid: String,
    /// Its auth token, when it signs in that way.
    pub auth_token: Option<String>,
    /// API keys (SID, secret) that may sign in for it.
    pub api_keys: Vec<(String, String)>,
    /// Numbers that replied STOP: a text to one is refused with 21610.
    pub stop_list: Vec<String>,
    /// Answer 200 rather than 201 to a message created.
    pub created_200: bool,
    /// Answer this many requests with 429 first.
    pub busy_first: u32,
    /// Refuse in the RFC 9457 shape (`type`, `title`, `detail`).
    pub rfc9457: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Default for TwilioApiOptions {
    fn default() -> Self {
        Self {
            account_sid: SANDBOX_ACCOUNT_SID.to_owned(),
            auth_token: None,
            api_keys: Vec::new(),
            stop_list: Vec::new(),
            created_200: false,
            busy_first: 0,
            rfc9457: false,
            delay: Duration::ZERO,
        }
    }
}

/// One message the API took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Its SID.
    pub sid: String,
    /// `To`.
    pub to: String,
    /// `From`.
    pub from: String,
    /// `Body`.
    pub body: String,
}

/// One request the API answered (taken or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The HTTP status answered.
    pub status: u16,
    /// Twilio's error code, when refused.
    pub code: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<SentMessage>,
    attempts: Vec<Attempt>,
    busy_left: u32,
}

/// The simulated Twilio REST API.
#[derive(Debug)]
pub struct TwilioApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TwilioApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `number` is E.164: `+`, then 8 to 15 digits, the first not 0.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn refusal(options: &TwilioApiOptions, status: u16, code: u32, message: &str) -> (u16, Value) {
    let more_info = format!("https://www.twilio.com/docs/errors/{code}");
    let body = if options.rfc9457 {
        json!({"type": more_info, "title": message, "status": status, "code": code, "detail": message, "instance": null})
    } else {
        json!({"code": code, "message": message, "more_info": more_info, "status": status})
    };
    (status, body)
}

/// Whether the Basic credentials sign in for the account.
fn signed_in(options: &TwilioApiOptions, authorization: Option<&str>) -> bool {
    let Some(encoded) = authorization.and_then(|value| value.strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = text.split_once(':') else {
        return false;
    };
    (user == options.account_sid && options.auth_token.as_deref() == Some(password))
        || options
            .api_keys
            .iter()
            .any(|(sid, secret)| sid == user && secret == password)
}

fn create(
    options: &TwilioApiOptions,
    state: &Mutex<State>,
    account: &str,
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> (u16, Value) {
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    if state.busy_left > 0 {
        state.busy_left -= 1;
        let answer = refusal(options, 429, 20429, "Too Many Requests");
        state.attempts.push(Attempt {
            status: 429,
            code: Some(20429),
        });
        return answer;
    }
    let to = form.get("To").map(String::as_str).unwrap_or_default();
    let from = form.get("From").map(String::as_str).unwrap_or_default();
    let body = form.get("Body").map(String::as_str).unwrap_or_default();
    let (status, value) = if account != options.account_sid || !signed_in(options, authorization) {
        refusal(options, 401, 20003, "Authenticate")
    } else if !is_e164(to) {
        refusal(
            options,
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        )
    } else if from.is_empty() {
        refusal(options, 400, 21603, "A 'From' phone number is required.")
    } else if body.is_empty() {
        refusal(options, 400, 21602, "Message body is required.")
    } else if body.chars().count() > MAX_BODY_CHARS {
        refusal(
            options,
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        )
    } else if options.stop_list.iter().any(|stop| stop == to) {
        refusal(
            options,
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        )
    } else {
        let sid = format!("SM{:032x}", state.sent.len() + 1);
        // GSM-7 fits 160 characters in one part and 153 a part beyond;
        // anything else (an emoji, a curly quote) is UCS-2: 70, then 67.
        let chars = body.chars().count();
        let gsm = body.chars().all(|c| c.is_ascii() && c != '`');
        let (one, each) = if gsm { (160, 153) } else { (70, 67) };
        let segments = if chars <= one {
            1
        } else {
            chars.div_ceil(each)
        };
        state.sent.push(SentMessage {
            sid: sid.clone(),
            to: to.to_owned(),
            from: from.to_owned(),
            body: body.to_owned(),
        });
        let status = if options.created_200 { 200 } else { 201 };
        (
            status,
            json!({
                "sid": sid,
                "account_sid": options.account_sid,
                "to": to,
                "from": from,
                "body": body,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": segments.to_string(),
                "num_media": "0",
                "error_code": null,
                "error_message": null,
                "price": null,
                "price_unit": "USD",
                "date_created": "Mon, 02 Nov 2026 10:15:00 +0000",
                "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", options.account_sid),
            }),
        )
    };
    state.attempts.push(Attempt {
        status,
        code: value["code"].as_u64().and_then(|c| u32::try_from(c).ok()),
    });
    (status, value)
}

impl TwilioApi {
    /// Serves on `listener` as `options` say.
    ///
    /// # Errors
    /// When the listener has no address.
    pub fn spawn(listener: TcpListener, options: TwilioApiOptions) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            busy_left: options.busy_first,
            ..State::default()
        }));
        let options = Arc::new(options);
        let (post_state, post_options) = (state.clone(), options.clone());
        let post = warp::post()
            .and(warp::path!(
                "2010-04-01" / "Accounts" / String / "Messages.json"
            ))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::content_length_limit(64 * 1024))
            .and(warp::body::bytes())
            .then(
                move |account: String, authorization: Option<String>, body: Bytes| {
                    let (state, options) = (post_state.clone(), post_options.clone());
                    async move {
                        tokio::time::sleep(options.delay).await;
                        let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                        let (status, value) =
                            create(&options, &state, &account, authorization.as_deref(), &form);
                        let reply = warp::reply::with_status(
                            warp::reply::json(&value),
                            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                        );
                        warp::reply::with_header(reply, "retry-after", "0")
                    }
                },
            );
        let (list_state, list_options) = (state.clone(), options);
        let list = warp::get()
            .and(warp::path!("2010-04-01" / "Accounts" / String / "Messages.json"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::query::<HashMap<String, String>>())
            .map(
                move |account: String, authorization: Option<String>, query: HashMap<String, String>| {
                    if account != list_options.account_sid
                        || !signed_in(&list_options, authorization.as_deref())
                    {
                        let (status, value) = refusal(&list_options, 401, 20003, "Authenticate");
                        return warp::reply::with_status(
                            warp::reply::json(&value),
                            StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
                        );
                    }
                    let state = list_state.lock().unwrap_or_else(PoisonError::into_inner);
                    let messages: Vec<Value> = state
                        .sent
                        .iter()
                        .filter(|m| query.get("To").is_none_or(|to| *to == m.to))
                        .map(|m| json!({"sid": m.sid, "to": m.to, "from": m.from, "body": m.body, "status": "delivered"}))
                        .collect();
                    warp::reply::with_status(
                        warp::reply::json(&json!({"messages": messages})),
                        StatusCode::OK,
                    )
                },
            );
        let task = tokio::spawn(warp::serve(post.or(list)).incoming(listener).run());
        Ok(Self { addr, state, task })
    }

    /// Its base URL (`TWILIO_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it took and answered, readable while it runs.
    pub fn records(&self) -> Records {
        Records(self.state.clone())
    }

    /// Messages taken, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.records().sent()
    }

    /// Every request answered, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.records().attempts()
    }
}

/// What the simulated API took and answered.
#[derive(Debug, Clone)]
pub struct Records(Arc<Mutex<State>>);

impl Records {
    /// Messages taken, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sent
            .clone()
    }

    /// Every request answered, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .attempts
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TwilioApiOptions {
        TwilioApiOptions {
            auth_token: Some("token".into()),
            api_keys: vec![(SANDBOX_API_KEY.into(), "secret".into())],
            stop_list: vec!["+15550100666".into()],
            ..TwilioApiOptions::default()
        }
    }

    async fn post(
        api: &TwilioApi,
        user: &str,
        password: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!(
                "{}/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json",
                api.url()
            ))
            .basic_auth(user, Some(password))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[tokio::test]
    async fn messages_are_checked_as_twilio_checks_them() {
        let api =
            TwilioApi::spawn(TcpListener::bind("127.0.0.1:0").await.unwrap(), options()).unwrap();
        let good = [
            ("To", "+15550123456"),
            ("From", "+15550100000"),
            ("Body", "Hi"),
        ];
        let (status, created) = post(&api, SANDBOX_ACCOUNT_SID, "token", &good).await;
        assert_eq!(status, 201);
        assert_eq!(created["num_segments"], "1");
        assert!(created["sid"].as_str().unwrap().starts_with("SM"));
        assert_eq!(post(&api, SANDBOX_API_KEY, "secret", &good).await.0, 201);
        assert_eq!(
            post(&api, SANDBOX_ACCOUNT_SID, "wrong", &good).await.1["code"],
            20003
        );
        let long = "x".repeat(1601);
        for (form, code) in [
            (
                vec![("To", "555-0123"), ("From", "+15550100000"), ("Body", "Hi")],
                21211,
            ),
            (vec![("To", "+15550123456"), ("Body", "Hi")], 21603),
            (
                vec![("To", "+15550123456"), ("From", "+15550100000")],
                21602,
            ),
            (
                vec![
                    ("To", "+15550123456"),
                    ("From", "+15550100000"),
                    ("Body", long.as_str()),
                ],
                21617,
            ),
            (
                vec![
                    ("To", "+15550100666"),
                    ("From", "+15550100000"),
                    ("Body", "Hi"),
                ],
                21610,
            ),
        ] {
            let (status, value) = post(&api, SANDBOX_ACCOUNT_SID, "token", &form).await;
            assert_eq!(
                (status, value["code"].as_u64()),
                (400, Some(code)),
                "{form:?}"
            );
        }
        assert_eq!(api.sent().len(), 2);
        assert_eq!(api.attempts().len(), 8);
    }

    #[tokio::test]
    async fn it_can_be_busy_and_speak_rfc9457() {
        let api = TwilioApi::spawn(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            TwilioApiOptions {
                busy_first: 1,
                rfc9457: true,
                ..options()
            },
        )
        .unwrap();
        let form = [
            ("To", "+15550100666"),
            ("From", "+15550100000"),
            ("Body", "Hi"),
        ];
        assert_eq!(post(&api, SANDBOX_ACCOUNT_SID, "token", &form).await.0, 429);
        let (status, value) = post(&api, SANDBOX_ACCOUNT_SID, "token", &form).await;
        assert_eq!(status, 400);
        assert_eq!(value["code"], 21610);
        assert!(value["title"].is_string() && value.get("more_info").is_none());
    }
}
