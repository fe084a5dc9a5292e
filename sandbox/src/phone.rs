//! `qloophone call`: a simulated phone call against a running server.
//!
//! It asks `/twiml` for the stream URL exactly as Twilio would (a form
//! POST), connects to it as the simulated caller playing a [`Scenario`], and
//! follows the call on `/logs?format=envelope` to print a readable
//! transcript: who said what, each tool call with its arguments, result and
//! latency, barge-ins, key presses, how it ended. Then it checks the
//! scenario's expectations and can write what the caller heard to a WAV.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use audio_codec_algorithms::decode_ulaw;
use futures_util::StreamExt;
use quick_xml::events::Event;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::signature;

use crate::caller::{CallReport, CallerError, CallerOptions, place_call};
use crate::scenario::Scenario;

/// How to place the call.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// The server, e.g. `http://localhost:8081`.
    pub url: String,
    /// What to play.
    pub scenario: Scenario,
    /// Where to write what was heard.
    pub wav: Option<PathBuf>,
    /// Speed relative to real time (match the server's sandbox pace).
    pub speed: f64,
    /// The Twilio auth token the server checks signatures with, if any:
    /// requests are then signed as Twilio signs them.
    pub auth_token: Option<String>,
    /// The dashboard key the server asks `/logs` for, if any.
    pub dashboard_token: Option<String>,
    /// How a person a call is handed to answers (else the scenario's
    /// `callee`, else they pick up).
    pub callee: Option<Callee>,
    /// The server's hold sound (μ-law samples), to tell it from the
    /// assistant's audio; unknown, hold audio counts as the assistant's.
    pub hold_sound: Option<std::sync::Arc<[u8]>>,
}

/// Follows `/logs` for the events of the call `key` names (known at once,
/// or once the call is placed), sent on the receiver up to its end (or,
/// with a report to see delivered, until its delivery is settled).
async fn follow_logs(
    base: &str,
    settings: &CallSettings,
    key: Arc<OnceLock<String>>,
) -> Result<
    (
        String,
        tokio::task::JoinHandle<()>,
        mpsc::UnboundedReceiver<Value>,
    ),
    CallError,
> {
    let logs_url = format!(
        "{}/logs?format=envelope",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let logs_error = |reason: String| CallError::Logs {
        url: logs_url.clone(),
        reason,
    };
    let mut request = logs_url
        .as_str()
        .into_client_request()
        .map_err(|err| logs_error(err.to_string()))?;
    if let Some(token) = &settings.dashboard_token {
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| logs_error("the dashboard key is not a valid header value".into()))?;
        request.headers_mut().insert("authorization", bearer);
    }
    let (mut logs, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|err| logs_error(err.to_string()))?;
    // Wait for the greeting so no event of ours is missed.
    let _ = tokio::time::timeout(Duration::from_secs(5), logs.next()).await;
    let (events_tx, events_rx) = mpsc::unbounded_channel::<Value>();
    let wait_report = settings.scenario.expect.report_attempts.is_some();
    // Events of calls not yet known to be ours are kept until it is.
    let mut early: Vec<Value> = Vec::new();
    let follow = tokio::spawn(async move {
        while let Some(Ok(message)) = logs.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(envelope) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let Some(key) = key.get() else {
                if early.len() < 10_000 {
                    early.push(envelope);
                }
                continue;
            };
            for envelope in early.drain(..).chain(std::iter::once(envelope)) {
                if envelope["call"] == key.as_str() {
                    let last = if wait_report {
                        report_settled(&envelope["event"])
                    } else {
                        envelope["event"]["type"] == "call.ended"
                    };
                    if events_tx.send(envelope["event"].clone()).is_err() || last {
                        return;
                    }
                }
            }
        }
    });
    Ok((logs_url, follow, events_rx))
}

/// Why a call could not be placed at all.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// `/twiml` did not answer well.
    #[error("the webhook {url} failed: {reason}")]
    Webhook {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server is at its call limit.
    #[error("the server turned the call away: {0}")]
    Busy(String),
    /// `/logs` could not be followed.
    #[error("could not follow the call on {url}: {reason}")]
    Logs {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The SIP control plane could not be reached, or would not ring.
    #[error("the SIP control plane {url} failed: {reason}")]
    Control {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The scenario is about the audio a bridge relays: it has no SIP
    /// call to play.
    #[error("{0} does not play over SIP (its point is in the relayed audio)")]
    NotOverSip(String),
    /// The stream failed.
    #[error(
        "{0} (is PUBLIC_URL the address this server is reached at? The stream URL comes from it)"
    )]
    Stream(#[from] CallerError),
    /// The WAV could not be written.
    #[error("could not write {path}: {reason}")]
    Wav {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
}

/// What happened.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The caller's side.
    pub report: CallReport,
    /// The call's events as observers saw them (`event` objects).
    pub events: Vec<Value>,
    /// Expectations that were not met.
    pub failures: Vec<String>,
    /// What Twilio was told once the stream ended (when the call's TwiML
    /// named an action and it answered).
    pub after: Option<AfterStream>,
}

impl CallOutcome {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// TwiML as the simulated phone reads it (the verbs it knows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Twiml {
    /// `<Stream url>`.
    pub stream: Option<String>,
    /// The stream's `<Parameter>`s.
    pub parameters: Vec<(String, String)>,
    /// `<Connect action>`: asked when the stream ends.
    pub action: Option<String>,
    /// `<Stream statusCallback>`.
    pub status_callback: Option<String>,
    /// What `<Say>` says, in order.
    pub says: Vec<String>,
    /// `<Dial>`.
    pub dial: Option<DialVerb>,
    /// Whether it ends with `<Hangup/>`.
    pub hangup: bool,
}

/// A `<Dial>` verb.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialVerb {
    /// `action`: told how the dial went.
    pub action: Option<String>,
    /// `timeout`, in seconds (Twilio's default 30).
    pub timeout_secs: u32,
    /// The `<Number>`s rung.
    pub numbers: Vec<String>,
}

impl Twiml {
    /// What it does, in a word: `stream`, `dial`, `say` (then hang up) or
    /// `hangup`.
    pub fn next(&self) -> &'static str {
        if self.stream.is_some() {
            "stream"
        } else if self.dial.is_some() {
            "dial"
        } else if !self.says.is_empty() {
            "say"
        } else {
            "hangup"
        }
    }
}

/// Reads TwiML.
///
/// # Errors
/// When it is not XML.
pub fn parse_twiml(xml: &str) -> Result<Twiml, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut twiml = Twiml::default();
    let mut text_of: Option<&'static str> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(element) | Event::Empty(element)) => {
                let attribute = |name: &[u8]| {
                    element
                        .attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                };
                match element.name().as_ref() {
                    b"Connect" => twiml.action = attribute(b"action"),
                    b"Stream" => {
                        twiml.stream = attribute(b"url");
                        twiml.status_callback = attribute(b"statusCallback");
                    }
                    b"Parameter" => {
                        if let (Some(name), Some(value)) = (attribute(b"name"), attribute(b"value"))
                        {
                            twiml.parameters.push((name, value));
                        }
                    }
                    b"Say" => {
                        twiml.says.push(String::new());
                        text_of = Some("say");
                    }
                    b"Dial" => {
                        twiml.dial = Some(DialVerb {
                            action: attribute(b"action"),
                            timeout_secs: attribute(b"timeout")
                                .and_then(|t| t.parse().ok())
                                .unwrap_or(30),
                            numbers: Vec::new(),
                        });
                    }
                    b"Number" => {
                        if let Some(dial) = twiml.dial.as_mut() {
                            dial.numbers.push(String::new());
                        }
                        text_of = Some("number");
                    }
                    b"Hangup" => twiml.hangup = true,
                    _ => {}
                }
            }
            Ok(Event::Text(text)) => {
                push_text(&mut twiml, text_of, &String::from_utf8_lossy(text.as_ref()));
            }
            // quick-xml hands entities (`&apos;`, `&#39;`) over apart.
            Ok(Event::GeneralRef(entity)) => {
                let name = String::from_utf8_lossy(entity.as_ref()).into_owned();
                let resolved = match entity.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    _ => quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned),
                };
                push_text(
                    &mut twiml,
                    text_of,
                    &resolved.unwrap_or_else(|| format!("&{name};")),
                );
            }
            Ok(Event::End(_)) => text_of = None,
            Ok(Event::Eof) => break,
            Err(err) => return Err(format!("not TwiML: {err}")),
            Ok(_) => {}
        }
    }
    Ok(twiml)
}

/// Adds text to the verb being read.
fn push_text(twiml: &mut Twiml, text_of: Option<&'static str>, text: &str) {
    match text_of {
        Some("say") => {
            if let Some(said) = twiml.says.last_mut() {
                said.push_str(text);
            }
        }
        Some("number") => {
            if let Some(number) = twiml.dial.as_mut().and_then(|dial| dial.numbers.last_mut()) {
                number.push_str(text.trim());
            }
        }
        _ => {}
    }
}

fn random_sid(prefix: &str) -> String {
    format!(
        "{prefix}{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// The caller's number on simulated calls (a fictional 555-01xx one).
pub const CALLER_NUMBER: &str = "+15550100000";
/// The number they call.
const CALLED_NUMBER: &str = "+15550199999";
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// Posts a Twilio webhook: `form` to `url`, signed with `auth_token` when
/// there is one, as Twilio signs. Returns the TwiML it answers.
async fn twilio_webhook(
    url: &str,
    form: &[(&str, &str)],
    auth_token: Option<&str>,
) -> Result<String, String> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(token) = auth_token {
        let params: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request = request.header("x-twilio-signature", signature::sign(token, url, &params));
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    response.text().await.map_err(|err| err.to_string())
}

/// Asks the server's voice webhook what to do with a new call, as Twilio
/// does: a form POST to `/twiml`.
///
/// # Errors
/// [`CallError::Webhook`] when the webhook fails or answers something
/// that is not TwiML, [`CallError::Busy`] when it turns the call away.
pub async fn ask_for_call(
    base: &str,
    call_sid: &str,
    auth_token: Option<&str>,
) -> Result<Twiml, CallError> {
    ask_for_call_from(base, call_sid, CALLER_NUMBER, auth_token).await
}

/// As [`ask_for_call`], from the number `from`.
///
/// # Errors
/// As [`ask_for_call`].
pub async fn ask_for_call_from(
    base: &str,
    call_sid: &str,
    from: &str,
    auth_token: Option<&str>,
) -> Result<Twiml, CallError> {
    let webhook = format!("{}/twiml", base.trim_end_matches('/'));
    let form = [
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", CALLED_NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ];
    let webhook_error = |reason: String| CallError::Webhook {
        url: webhook.clone(),
        reason,
    };
    let xml = twilio_webhook(&webhook, &form, auth_token)
        .await
        .map_err(webhook_error)?;
    let twiml = parse_twiml(&xml).map_err(webhook_error)?;
    match twiml.next() {
        "stream" => Ok(twiml),
        "say" => Err(CallError::Busy(twiml.says.join(" "))),
        _ => Err(webhook_error("the TwiML has no <Stream>".to_owned())),
    }
}

/// Asks the server's voice webhook for a call's stream, as Twilio does: a
/// form POST to `/twiml`. Returns the stream URL and its `<Parameter>`s.
///
/// # Errors
/// As [`ask_for_call`].
pub async fn ask_for_stream(
    base: &str,
    call_sid: &str,
    auth_token: Option<&str>,
) -> Result<(String, Vec<(String, String)>), CallError> {
    let twiml = ask_for_call(base, call_sid, auth_token).await?;
    Ok((twiml.stream.unwrap_or_default(), twiml.parameters))
}

/// How the person a call is handed to answers (`<Dial>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Callee {
    /// Picks up; they talk, then hang up.
    #[default]
    Answers,
    /// The line is busy.
    Busy,
    /// It rings until the dial's timeout.
    NoAnswer,
}

impl std::str::FromStr for Callee {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "answers" => Ok(Self::Answers),
            "busy" => Ok(Self::Busy),
            "no-answer" => Ok(Self::NoAnswer),
            _ => Err(format!("{text:?}: answers, busy or no-answer")),
        }
    }
}

/// What Twilio was told after the stream, and after a `<Dial>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterStream {
    /// The `<Connect action>`'s answer.
    pub twiml: Twiml,
    /// The number dialled, how the person answered (Twilio's
    /// `DialCallStatus`) and the `<Dial action>`'s answer.
    pub dial: Option<(String, &'static str, Twiml)>,
}

/// Plays Twilio's side once the stream ended: asks `action` what next
/// (`CallStatus` in progress unless the caller hung up), prints it, and
/// answers a `<Dial>` as `callee`, telling its `action` how it went.
async fn follow_action(
    action: &str,
    call_sid: &str,
    from: &str,
    caller_hung_up: bool,
    callee: Callee,
    auth_token: Option<&str>,
    out: &mut (dyn Write + Send),
) -> Result<AfterStream, String> {
    let status = if caller_hung_up {
        "completed"
    } else {
        "in-progress"
    };
    let standard = [
        ("CallSid", call_sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", CALLED_NUMBER),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("ApiVersion", "2010-04-01"),
    ];
    let twiml = parse_twiml(&twilio_webhook(action, &standard, auth_token).await?)?;
    print_twiml(out, "after", &twiml);
    let mut after = AfterStream { twiml, dial: None };
    let Some(dial) = after.twiml.dial.clone() else {
        return Ok(after);
    };
    let number = dial.numbers.first().cloned().unwrap_or_default();
    let (dial_status, duration, bridged) = match callee {
        Callee::Answers => ("completed", "42", "true"),
        Callee::Busy => ("busy", "0", "false"),
        Callee::NoAnswer => ("no-answer", "0", "false"),
    };
    let _ = writeln!(
        out,
        "  dial    {number}: {}",
        match callee {
            Callee::Answers => "answered, talked 42 s, hung up".to_owned(),
            Callee::Busy => "busy".to_owned(),
            Callee::NoAnswer => format!("rang {} s, no answer", dial.timeout_secs),
        }
    );
    let Some(dial_action) = dial.action else {
        return Ok(after);
    };
    let dial_sid = random_sid("CA");
    let mut form = standard.to_vec();
    form.extend([
        ("DialCallStatus", dial_status),
        ("DialCallSid", dial_sid.as_str()),
        ("DialCallDuration", duration),
        ("DialBridged", bridged),
    ]);
    let reply = parse_twiml(&twilio_webhook(&dial_action, &form, auth_token).await?)?;
    print_twiml(out, "then", &reply);
    after.dial = Some((number, dial_status, reply));
    Ok(after)
}

fn print_twiml(out: &mut (dyn Write + Send), label: &str, twiml: &Twiml) {
    for said in &twiml.says {
        let _ = writeln!(out, "  {label:<7} Twilio says: {said}");
    }
    match &twiml.dial {
        Some(dial) => {
            let _ = writeln!(
                out,
                "  {label:<7} Twilio dials {} (rings up to {} s)",
                dial.numbers.join(", "),
                dial.timeout_secs
            );
        }
        None if twiml.hangup || twiml.says.is_empty() => {
            let _ = writeln!(out, "  {label:<7} Twilio hangs up");
        }
        None => {}
    }
}

/// Places the call and prints its transcript to `out` as it happens.
///
/// # Errors
/// [`CallError`] when the call cannot be placed or followed.
pub async fn place(
    settings: &CallSettings,
    out: &mut (dyn Write + Send),
) -> Result<CallOutcome, CallError> {
    let base = settings.url.trim_end_matches('/');
    let call_sid = random_sid("CA");
    let from = settings
        .scenario
        .caller_number
        .as_deref()
        .unwrap_or(CALLER_NUMBER);
    let offer = ask_for_call_from(base, &call_sid, from, settings.auth_token.as_deref()).await?;
    let stream_url = offer.stream.clone().unwrap_or_default();
    let parameters = offer.parameters.clone();

    let stream_sid = random_sid("MZ");
    let stream_sid_for_status = stream_sid.clone();
    let key = Arc::new(OnceLock::new());
    let _ = key.set(stream_sid.clone());
    let wait_report = settings.scenario.expect.report_attempts.is_some();
    let (logs_url, follow, mut events_rx) = follow_logs(base, settings, key).await?;

    let scenario = &settings.scenario;
    let _ = writeln!(
        out,
        "calling {base} ({}): {}",
        scenario.name, scenario.description
    );
    let _ = writeln!(out, "  stream  {stream_url}");
    let signature = settings
        .auth_token
        .as_deref()
        .map(|token| signature::sign(token, &stream_url, &[]));
    // Twilio says a stream started once its upgrade succeeded.
    let (upgraded_tx, mut upgraded_rx) = mpsc::unbounded_channel::<()>();
    let caller = CallerOptions {
        signature,
        url: stream_url,
        tag: scenario.tag(),
        speed: settings.speed,
        stream_sid,
        call_sid: call_sid.clone(),
        media_format: ("audio/x-mulaw".to_owned(), 8000, 1),
        parameters,
        carry: scenario.carried(),
        upgraded: Some(upgraded_tx),
        hold_sound: settings.hold_sound.clone(),
    };
    let steps = scenario.caller.clone();
    let call = tokio::spawn(async move { place_call(caller, &steps).await });
    let mut events = Vec::new();
    let mut call = std::pin::pin!(call);
    let report = loop {
        tokio::select! {
            Some(()) = upgraded_rx.recv() => {
                if let Some(status) = &offer.status_callback {
                    let form = [
                        ("AccountSid", ACCOUNT_SID),
                        ("CallSid", call_sid.as_str()),
                        ("StreamSid", stream_sid_for_status.as_str()),
                        ("StreamEvent", "stream-started"),
                    ];
                    if let Err(reason) = twilio_webhook(status, &form, settings.auth_token.as_deref()).await {
                        let _ = writeln!(out, "  status  the stream status callback failed: {reason}");
                    }
                }
            }
            Some(event) = events_rx.recv() => {
                print_event(out, &event);
                events.push(event);
            }
            finished = &mut call => {
                let finished = finished.map_err(|err| CallError::Logs { url: logs_url.clone(), reason: err.to_string() })?;
                // Twilio reports the stream's end, or its failure.
                if let Some(status) = &offer.status_callback {
                    let (event, error) = match &finished {
                        Ok(_) => ("stream-stopped", String::new()),
                        Err(err) => ("stream-error", err.to_string()),
                    };
                    let form = [
                        ("AccountSid", ACCOUNT_SID),
                        ("CallSid", call_sid.as_str()),
                        ("StreamSid", stream_sid_for_status.as_str()),
                        ("StreamEvent", event),
                        ("StreamError", error.as_str()),
                    ];
                    let form: Vec<(&str, &str)> = form.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                    if let Err(reason) = twilio_webhook(status, &form, settings.auth_token.as_deref()).await {
                        let _ = writeln!(out, "  status  the stream status callback failed: {reason}");
                    }
                }
                break finished?;
            }
        }
    };
    // The server reports the end shortly after the caller hangs up.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(event) = events_rx.recv().await {
            print_event(out, &event);
            let ended = event["type"] == "call.ended";
            events.push(event);
            if ended {
                break;
            }
        }
    })
    .await;

    // Twilio's side once the stream is over.
    let after = match &offer.action {
        Some(action) => {
            let callee = settings.callee.or(scenario.callee).unwrap_or_default();
            match follow_action(
                action,
                &call_sid,
                from,
                !report.closed_by_server,
                callee,
                settings.auth_token.as_deref(),
                out,
            )
            .await
            {
                Ok(after) => Some(after),
                Err(reason) => {
                    let _ = writeln!(out, "  after   the action URL failed: {reason}");
                    None
                }
            }
        }
        None => None,
    };

    // A report is retried after seconds: waited for, bounded.
    if wait_report {
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(event) = events_rx.recv().await {
                print_event(out, &event);
                let settled = report_settled(&event);
                events.push(event);
                if settled {
                    break;
                }
            }
        })
        .await;
    }
    follow.abort();
    if let Some(path) = &settings.wav {
        write_wav(path, &report.heard)?;
        let _ = writeln!(
            out,
            "  wav     {} ({} ms heard)",
            path.display(),
            report.heard.len() / 8
        );
    }
    let mut failures = check(&scenario.expect, &events, &report);
    failures.extend(check_after(
        &scenario.expect,
        offer.action.is_some(),
        after.as_ref(),
    ));
    if failures.is_empty() {
        let _ = writeln!(
            out,
            "PASS {}: every expectation met, {:.1} s of audio heard",
            scenario.name,
            report.bytes_heard as f64 / 8000.0
        );
    } else {
        let _ = writeln!(out, "FAIL {}:", scenario.name);
        for failure in &failures {
            let _ = writeln!(out, "  - {failure}");
        }
    }
    Ok(CallOutcome {
        report,
        events,
        failures,
        after,
    })
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

/// One line a result: names found, or the error.
fn summary(result: &Value) -> String {
    if let Some(error) = result["error"].as_str() {
        return format!("error: {error}");
    }
    for key in ["recommendations", "venues"] {
        if let Some(items) = result[key].as_array() {
            let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
            return names.join(", ");
        }
    }
    match (result["name"].as_str(), result["type"].as_str()) {
        (Some(name), Some(kind)) => format!("{name} ({})", kind.trim_start_matches("urn:entity:")),
        _ => short(&result.to_string(), 80),
    }
}

fn print_event(out: &mut (dyn Write + Send), event: &Value) {
    let kind = event["type"].as_str().unwrap_or_default();
    let line = match kind {
        // What each side said, whichever the voice model's API.
        "turn" => {
            let who = if event["speaker"] == "caller" {
                "caller"
            } else {
                "agent "
            };
            format!("  {who}  {}", event["text"].as_str().unwrap_or("…"))
        }
        "tool.called" => {
            let mut line = format!(
                "  tool    {} {} -> {}",
                event["name"].as_str().unwrap_or("?"),
                short(&event["arguments"].to_string(), 120),
                summary(&event["result"])
            );
            let _ = write!(
                line,
                " ({:.0} ms)",
                event["latency_ms"].as_f64().unwrap_or(0.0)
            );
            line
        }
        "barge_in" => match event["unheard_items"].as_u64() {
            Some(unheard) if unheard > 0 => format!(
                "  barge-in: the caller spoke over the agent at {} ms; {unheard} later part(s) of the answer never played",
                event["audio_end_ms"]
            ),
            _ => format!(
                "  barge-in: the caller spoke over the agent at {} ms",
                event["audio_end_ms"]
            ),
        },
        "dtmf" => format!("  key     {}", event["digit"].as_str().unwrap_or("?")),
        "memory" => format!(
            "  memory  {}{}",
            event["action"].as_str().unwrap_or("?"),
            event["likes"]
                .as_u64()
                .map(|n| format!(" ({n} liked)"))
                .unwrap_or_default()
        ),
        "hold" if event["playing"] == true => "  hold    the hold sound plays".to_owned(),
        "hold" => format!(
            "  hold    stopped ({})",
            event["stopped_by"].as_str().unwrap_or("?")
        ),
        "model_reconnected" => format!("  model   session reopened after {} ms", event["gap_ms"]),
        "error" => format!("  error   {}", event["message"].as_str().unwrap_or("?")),
        "call.ended" => format!("  ended   {}", event["reason"].as_str().unwrap_or("?")),
        "texted" if event["sent"] == true => format!(
            "  text    the picks texted to the caller ({} picks)",
            event["picks"]
        ),
        "texted" => format!(
            "  text    not sent: {}",
            event["failure"].as_str().unwrap_or("?")
        ),
        "reported" => format!(
            "  report  {} (attempt {})",
            event["state"].as_str().unwrap_or("?"),
            event["attempts"]
        ),
        _ => return,
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Whether `event` settles a call report's delivery (taken or given up).
fn report_settled(event: &Value) -> bool {
    event["type"] == "reported" && event["state"] != "retrying"
}

/// Every unmet expectation, in words.
pub fn check(
    expect: &crate::scenario::Expectations,
    events: &[Value],
    report: &CallReport,
) -> Vec<String> {
    let mut failures = Vec::new();
    let of = |kind: &'static str| events.iter().filter(move |e| e["type"] == kind);
    let tools: Vec<&Value> = of("tool.called").collect();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    let mut position = 0;
    for wanted in &expect.tools {
        match names[position..].iter().position(|n| n == wanted) {
            Some(at) => position += at + 1,
            None => {
                failures.push(format!(
                    "expected the tools {:?} in order; called {names:?}",
                    expect.tools
                ));
                break;
            }
        }
    }
    // Every call: the hold sound never plays under the assistant.
    if report.hold_overlaps > 0 {
        failures.push(format!(
            "the assistant's audio arrived {} time(s) while hold audio was still queued",
            report.hold_overlaps
        ));
    }
    if let Some(wanted) = &expect.memory {
        let done: Vec<&str> = of("memory").filter_map(|e| e["action"].as_str()).collect();
        if done != *wanted {
            failures.push(format!(
                "expected the caller memory to have {wanted:?}; it had {done:?}"
            ));
        }
    }
    if let Some(wanted) = &expect.hold {
        let stops: Vec<&str> = of("hold")
            .filter(|e| e["playing"] == false)
            .filter_map(|e| e["stopped_by"].as_str())
            .collect();
        if stops != *wanted {
            failures.push(format!(
                "expected the hold sound stopped by {wanted:?}; it was stopped by {stops:?}"
            ));
        }
        if !wanted.is_empty() && report.hold_bytes_heard == 0 {
            failures.push("expected the hold sound heard; none of it played".to_owned());
        }
        if wanted.is_empty() && report.hold_bytes_received > 0 {
            failures.push(format!(
                "expected no hold sound; {} bytes of it came",
                report.hold_bytes_received
            ));
        }
    }
    if expect.no_tools && !names.is_empty() {
        failures.push(format!("expected no tool calls; called {names:?}"));
    }
    let errors = tools.iter().filter(|t| t["is_error"] == true).count();
    if errors != expect.tool_errors {
        failures.push(format!(
            "expected {} tool error(s), got {errors}",
            expect.tool_errors
        ));
    }
    // What searches found: an entity's name, a tag search's tags' names.
    let found: Vec<&str> = tools
        .iter()
        .filter(|t| t["is_error"] == false)
        .flat_map(|t| {
            let tags = t["result"]["tags"].as_array().into_iter().flatten();
            t["result"]["name"]
                .as_str()
                .into_iter()
                .chain(tags.filter_map(|tag| tag["name"].as_str()))
        })
        .collect();
    for name in &expect.found {
        if !found.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            failures.push(format!("expected {name:?} to be found; found {found:?}"));
        }
    }
    let listed: Vec<&str> = tools
        .iter()
        .flat_map(|t| {
            ["recommendations", "venues"]
                .iter()
                .filter_map(|key| t["result"][*key].as_array())
                .flatten()
                .filter_map(|item| item["name"].as_str())
                .collect::<Vec<_>>()
        })
        .collect();
    if expect.recommends && listed.is_empty() {
        failures.push("expected recommendations or venues; none came back".to_owned());
    }
    for name in &expect.absent {
        if listed.iter().any(|l| l.eq_ignore_ascii_case(name)) {
            failures.push(format!("{name:?} must not be recommended; got {listed:?}"));
        }
    }
    // What the agent said between two of the caller's turns is one
    // answer, whichever parts (audio items, utterances) it came in.
    let mut spoken: Vec<String> = Vec::new();
    let mut answering = false;
    for turn in of("turn") {
        let text = turn["text"].as_str().unwrap_or_default();
        if turn["speaker"] != "assistant" {
            answering = false;
            continue;
        }
        match spoken.last_mut() {
            Some(answer) if answering => {
                answer.push(' ');
                answer.push_str(text);
            }
            _ => spoken.push(text.to_owned()),
        }
        answering = true;
    }
    for text in &expect.spoken {
        if !spoken.iter().any(|s| s.contains(text.as_str())) {
            failures.push(format!("expected the agent to say {text:?}"));
        }
    }
    for text in &expect.not_spoken {
        if spoken.iter().any(|s| s.contains(text.as_str())) {
            failures.push(format!("the agent must not say {text:?}"));
        }
    }
    if expect.barge_in && of("barge_in").next().is_none() {
        failures.push("expected a barge-in".to_owned());
    }
    // A model that stops itself when talked over (GPT-Live) leaves the
    // bridge nothing to keep from the caller: only the others are checked.
    let stops_itself = of("call.started").any(|e| e["api"] == "live");
    if let Some(wanted) = expect.barge_in_unheard.filter(|_| !stops_itself) {
        let unheard: u64 = of("barge_in")
            .filter_map(|e| e["unheard_items"].as_u64())
            .sum();
        if unheard != wanted {
            failures.push(format!(
                "expected {wanted} unheard part(s) of interrupted answers; got {unheard}"
            ));
        }
    }
    let digits: String = of("dtmf").filter_map(|e| e["digit"].as_str()).collect();
    if let Some(wanted) = &expect.dtmf
        && &digits != wanted
    {
        failures.push(format!(
            "expected the keys {wanted:?}; observers saw {digits:?}"
        ));
    }
    // A model that streams silence between its words (GPT-Live) leaves
    // some queued as the line closes: only its speech must all be heard.
    if expect.heard_all
        && (report.voiced_bytes_unheard > 0
            || (!stops_itself && report.marks_echoed < report.marks_received))
    {
        failures.push(format!(
            "expected all of the assistant's speech played before the line closed; {} bytes of speech unplayed, {} of {} marks echoed",
            report.voiced_bytes_unheard, report.marks_echoed, report.marks_received
        ));
    }
    if let Some(min) = expect.min_heard_ms {
        let heard = report.voiced_bytes_heard as u64 / 8;
        if heard < min {
            failures.push(format!(
                "expected at least {min} ms of audio; heard {heard} ms"
            ));
        }
    }
    let sent = of("texted").filter(|e| e["sent"] == true).count();
    let tried = of("texted").count();
    match expect.texted {
        Some(true) if sent != 1 || tried != 1 => failures.push(format!(
            "expected one text of the picks sent; observers saw {tried} tried, {sent} sent"
        )),
        Some(false) if sent > 0 => {
            failures.push(format!("expected no text sent; observers saw {sent}"));
        }
        _ => {}
    }
    if let Some(wanted) = expect.report_attempts {
        let settled = of("reported").find(|e| report_settled(e));
        match settled {
            Some(e) if e["state"] == "delivered" && e["attempts"] == wanted => {}
            Some(e) => failures.push(format!(
                "expected the call's report delivered at attempt {wanted}; it was {} at attempt {}",
                e["state"], e["attempts"]
            )),
            None => failures.push(format!(
                "expected the call's report delivered at attempt {wanted}; its delivery was not settled"
            )),
        }
        let retried = of("reported").filter(|e| e["state"] == "retrying").count();
        if retried + 1 != wanted as usize {
            failures.push(format!(
                "expected {} failed attempt(s) shown before the delivery; saw {retried}",
                wanted.saturating_sub(1)
            ));
        }
    }
    let reopened = of("model_reconnected").count();
    if let Some(wanted) = expect.bad_frames
        && report.bad_frames != wanted
    {
        failures.push(format!(
            "expected {wanted} frame(s) the caller could not take (malformed or for another stream); it got {}",
            report.bad_frames
        ));
    }
    if let Some(wanted) = expect.reconnects
        && reopened != wanted
    {
        failures.push(format!(
            "expected {wanted} model reconnect(s); observers saw {reopened}"
        ));
    }
    let ended = of("call.ended").find_map(|e| e["reason"].as_str());
    match (&expect.ends, ended) {
        (Some(wanted), Some(reason)) if wanted != reason => {
            failures.push(format!(
                "expected the call to end with {wanted}; it ended with {reason}"
            ));
        }
        (Some(wanted), None) => failures.push(format!(
            "expected the call to end with {wanted}; no end was reported"
        )),
        _ => {}
    }
    failures
}

/// The expectations on what follows the stream.
fn check_after(
    expect: &crate::scenario::Expectations,
    asked: bool,
    after: Option<&AfterStream>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let wants_after = expect.after_stream.is_some()
        || !expect.after_says.is_empty()
        || expect.dialed.is_some()
        || expect.after_dial.is_some();
    if !wants_after {
        return failures;
    }
    let Some(after) = after else {
        failures.push(if asked {
            "the <Connect action> did not answer".to_owned()
        } else {
            "the call's TwiML names no <Connect action>".to_owned()
        });
        return failures;
    };
    if let Some(wanted) = &expect.after_stream
        && after.twiml.next() != wanted
    {
        failures.push(format!(
            "expected Twilio to be told to {wanted} after the stream; it was told to {}",
            after.twiml.next()
        ));
    }
    let said = after.twiml.says.join(" ");
    for text in &expect.after_says {
        if !said.contains(text.as_str()) {
            failures.push(format!(
                "expected Twilio to say {text:?} after the stream; it said {said:?}"
            ));
        }
    }
    let dialed = after.twiml.dial.as_ref().map(|dial| dial.numbers.clone());
    if let Some(wanted) = &expect.dialed
        && dialed.as_deref() != Some(std::slice::from_ref(wanted))
    {
        failures.push(format!(
            "expected Twilio to dial {wanted} alone; it dialled {dialed:?}"
        ));
    }
    if let Some(wanted) = &expect.after_dial {
        match &after.dial {
            Some((_, _, reply)) if reply.next() == wanted => {}
            Some((_, status, reply)) => failures.push(format!(
                "expected Twilio to be told to {wanted} after a {status} dial; it was told to {}",
                reply.next()
            )),
            None => failures.push("expected a dial and its outcome; there was none".to_owned()),
        }
    }
    failures
}

/// Writes μ-law audio as a 16-bit PCM WAV at 8 kHz, mono.
///
/// # Errors
/// [`CallError::Wav`] when the file cannot be written.
pub fn write_wav(path: &Path, mulaw: &[u8]) -> Result<(), CallError> {
    let fail = |err: hound::Error| CallError::Wav {
        path: path.display().to_string(),
        reason: err.to_string(),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(fail)?;
    for &byte in mulaw {
        writer.write_sample(decode_ulaw(byte)).map_err(fail)?;
    }
    writer.finalize().map_err(fail)
}

/// Places `settings`' scenario as a call OpenAI answers over SIP: asks
/// the server (in sandbox mode) where its simulated control plane is, has
/// it ring the server's `/openai/webhook` with the scenario as both sides
/// of the call, follows the call on `/logs`, then reads what OpenAI's side
/// saw (accepted, hung up, referred, each tool output once, a last line
/// never cut short).
///
/// # Errors
/// [`CallError`] when the call cannot be placed or followed.
pub async fn place_sip(
    settings: &CallSettings,
    out: &mut (dyn Write + Send),
) -> Result<CallOutcome, CallError> {
    let base = settings.url.trim_end_matches('/');
    let scenario = &settings.scenario;
    if !scenario.sip {
        return Err(CallError::NotOverSip(scenario.name.clone()));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let control = control_plane(&http, base).await?;
    let control_error = |reason: String| CallError::Control {
        url: control.clone(),
        reason,
    };
    let key = Arc::new(OnceLock::new());
    let (_, follow, mut events_rx) = follow_logs(base, settings, key.clone()).await?;
    let _ = writeln!(
        out,
        "calling {base} over SIP ({}): {}",
        scenario.name, scenario.description
    );
    let place = crate::sip::PlaceCall {
        webhook_url: format!("{base}/openai/webhook"),
        script: scenario.script(),
        from: scenario
            .caller_number
            .clone()
            .unwrap_or_else(|| CALLER_NUMBER.to_owned()),
        to: "+15550100001".to_owned(),
        redeliver: 0,
        tamper: None,
        also_to: Vec::new(),
        drop_sideband_after_turn: None,
        interrupt_turn: None,
    };
    let answer: Value = json_of(http.post(format!("{control}/sim/calls")).json(&place))
        .await
        .map_err(control_error)?;
    let call_id = answer["call_id"]
        .as_str()
        .ok_or_else(|| control_error(format!("no call placed: {answer}")))?
        .to_owned();
    let _ = key.set(call_id.clone());
    let _ = writeln!(out, "  sip     {call_id} rang {base}/openai/webhook");
    let wait_report = scenario.expect.report_attempts.is_some();
    let mut events = Vec::new();
    let limit = if wait_report { 150 } else { 120 };
    let _ = tokio::time::timeout(Duration::from_secs(limit), async {
        while let Some(event) = events_rx.recv().await {
            print_event(out, &event);
            let last = if wait_report {
                report_settled(&event)
            } else {
                event["type"] == "call.ended"
            };
            events.push(event);
            if last {
                break;
            }
        }
    })
    .await;
    follow.abort();
    let record: crate::sip::SipCall = json_of(http.get(format!("{control}/sim/calls/{call_id}")))
        .await
        .map_err(control_error)?;
    let _ = writeln!(
        out,
        "  openai  webhook answered {:?}; accepted {}, hung up {}, referred to {:?}; ended: {}",
        record.webhook_statuses,
        record.accepts.len(),
        record.hangups,
        record.refers,
        record.ended.as_deref().unwrap_or("not yet"),
    );
    let mut failures = check(
        &scenario.expect.without_audio(),
        &events,
        &CallReport::default(),
    );
    failures.extend(check_sip(&scenario.expect, &record));
    if failures.is_empty() {
        let _ = writeln!(
            out,
            "PASS {} over SIP: every expectation met",
            scenario.name
        );
    } else {
        let _ = writeln!(out, "FAIL {} over SIP:", scenario.name);
        for failure in &failures {
            let _ = writeln!(out, "  - {failure}");
        }
    }
    Ok(CallOutcome {
        report: CallReport::default(),
        events,
        failures,
        after: None,
    })
}

/// The JSON `request` is answered with.
async fn json_of<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, String> {
    let response = request.send().await.map_err(|err| err.to_string())?;
    response.json().await.map_err(|err| err.to_string())
}

/// The simulated control plane a sandbox server's SIP door talks to.
async fn control_plane(http: &reqwest::Client, base: &str) -> Result<String, CallError> {
    let url = format!("{base}/test/sessions");
    let error = |reason: String| CallError::Control {
        url: url.clone(),
        reason,
    };
    let answer: Value = json_of(http.get(&url))
        .await
        .map_err(|err| error(format!("{err} (is the server running the sandbox?)")))?;
    let api = answer["sipControlPlane"]
        .as_str()
        .ok_or_else(|| error("the server has no SIP door open".into()))?;
    Ok(api.trim_end_matches('/').trim_end_matches("/v1").to_owned())
}

/// What OpenAI's side must have seen of a call that went as expected.
fn check_sip(expect: &crate::scenario::Expectations, call: &crate::sip::SipCall) -> Vec<String> {
    let mut failures = Vec::new();
    if call.webhook_statuses.first() != Some(&200) {
        failures.push(format!(
            "the webhook answered {:?}, not 200",
            call.webhook_statuses
        ));
    }
    if call.accepts.len() != 1 {
        failures.push(format!("accepted {} times, not once", call.accepts.len()));
    }
    let mut ids: Vec<&str> = call
        .tool_outputs
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != call.tool_outputs.len() {
        failures.push("a tool output reached the model twice".to_owned());
    }
    if call.cut_off > 0 {
        failures.push("the call was ended while the assistant was still heard".to_owned());
    }
    let wanted = match expect.ends.as_deref() {
        Some("agent_ended") => Some("hangup"),
        Some("transferred") => Some("referred"),
        Some("phone_stopped") => Some("caller_hung_up"),
        _ => None,
    };
    if let Some(wanted) = wanted
        && call.ended.as_deref() != Some(wanted)
    {
        failures.push(format!(
            "OpenAI's side ended {:?}, expected {wanted}",
            call.ended
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_streams_parameters_says_dials_and_hang_ups_are_read() {
        let twiml = parse_twiml(
            r#"<?xml version="1.0"?><Response><Connect action="https://a.example/after?t=1&amp;u=2"><Stream url="wss://a.example/call" statusCallback="https://a.example/s"><Parameter name="t" value="a&amp;b"/></Stream></Connect></Response>"#,
        )
        .unwrap();
        assert_eq!(twiml.next(), "stream");
        assert_eq!(twiml.stream.as_deref(), Some("wss://a.example/call"));
        assert_eq!(
            twiml.action.as_deref(),
            Some("https://a.example/after?t=1&u=2")
        );
        assert_eq!(
            twiml.status_callback.as_deref(),
            Some("https://a.example/s")
        );
        assert_eq!(twiml.parameters, vec![("t".to_owned(), "a&b".to_owned())]);

        let busy = parse_twiml(
            "<Response><Say>We&apos;re busy &amp; sorry&#33;</Say><Hangup/></Response>",
        )
        .unwrap();
        assert_eq!(
            (busy.next(), busy.says.as_slice(), busy.hangup),
            ("say", &["We're busy & sorry!".to_owned()][..], true)
        );

        let dial = parse_twiml(
            r#"<Response><Dial action="https://a.example/d" timeout="20"><Number> +15550100999 </Number></Dial></Response>"#,
        )
        .unwrap();
        assert_eq!(dial.next(), "dial");
        assert_eq!(
            dial.dial,
            Some(DialVerb {
                action: Some("https://a.example/d".to_owned()),
                timeout_secs: 20,
                numbers: vec!["+15550100999".to_owned()],
            })
        );
        assert_eq!(
            parse_twiml("<Response><Hangup/></Response>")
                .unwrap()
                .next(),
            "hangup"
        );
        assert!(parse_twiml("<Response><Say>unclosed</Response>").is_err());
    }

    #[test]
    fn wav_files_hold_what_was_heard() {
        let dir = std::env::temp_dir().join(format!("qloophone-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("heard.wav");
        let audio = crate::audio::voice(1600, 0, 300.0, 0.5);
        write_wav(&path, &audio).unwrap();
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.len(), 1600);
        assert!(write_wav(Path::new("/nonexistent/dir/x.wav"), &audio).is_err());
    }

    #[test]
    fn keys_are_checked_only_when_the_scenario_names_them() {
        let events = vec![serde_json::json!({"type": "dtmf", "digit": "5"})];
        let report = CallReport::default();
        let mut expect = crate::scenario::Expectations::default();
        assert!(check(&expect, &events, &report).is_empty(), "not checked");
        expect.dtmf = Some("5".to_owned());
        assert!(check(&expect, &events, &report).is_empty());
        expect.dtmf = Some(String::new());
        let failures = check(&expect, &events, &report);
        assert_eq!(failures, vec![r#"expected the keys ""; observers saw "5""#]);
    }

    #[test]
    fn summaries_are_one_line() {
        assert_eq!(
            summary(&serde_json::json!({"error": "No results found"})),
            "error: No results found"
        );
        assert_eq!(
            summary(&serde_json::json!({"recommendations": [{"name": "A"}, {"name": "B"}]})),
            "A, B"
        );
        assert_eq!(
            summary(&serde_json::json!({"name": "Dune", "type": "urn:entity:movie"})),
            "Dune (movie)"
        );
    }
}
