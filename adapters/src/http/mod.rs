//! The HTTP and WebSocket surface, as warp filters, one file per purpose:
//!
//! - [`twilio`]: `ALL /twiml` (the webhook) and WebSocket `/call` (the
//!   Media Stream), behind the [`guards`].
//! - [`sip`]: `POST /openai/webhook`, calls OpenAI answers over SIP.
//! - [`dashboards`]: WebSocket `/logs`.
//! - [`page`]: `GET /`, the built-in dashboard that reads it.
//! - [`operator`]: `GET /health`, `/cache-stats`, `/metrics`, `/tools`,
//!   `/public-url`, and in sandbox mode `/test/sessions`.
//! - [`guards`]: filters in front of routes: Twilio signatures, body limits.
//! - [`server`]: the connections under them, with their timeouts and cap.
//!
//! Anything else is a JSON 404. One `recover` turns every rejection into a
//! JSON error that never leaks internals.

mod dashboards;
mod guards;
pub mod guesses;
mod operator;
mod page;
mod refusals;
mod server;
mod sip;
mod twilio;
pub(crate) mod websocket;

use std::convert::Infallible;
use std::sync::Arc;

use qloophone_domain::call::{CallRegistry, CallServices};
use qloophone_domain::ports::Clock;
use serde_json::json;
use url::Url;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use crate::dashboard::{DashboardHub, DashboardSettings};
use crate::metrics::Metrics;
use crate::qloo::CacheStatsSource;
use crate::twilio::signature::SignatureValidator;
use crate::twilio::stream_token::StreamTokens;
use guards::{BadBody, BadOrigin, BadSignature, NoKey, SlowBody, TooLarge, TooManyGuesses};
pub use server::{HttpSettings, Shards, serve};
use websocket::NotAnUpgrade;

/// Largest frame accepted on `/call` (Twilio's are about 400 bytes).
pub const MAX_CALL_FRAME: usize = 64 * 1024;
/// Largest frame accepted on `/logs` (dashboards have nothing to say).
pub const MAX_LOGS_FRAME: usize = 16 * 1024;
/// Largest webhook body accepted on `/twiml`.
pub const MAX_WEBHOOK_BODY: u64 = 64 * 1024;

/// What the routes need.
#[derive(Clone)]
pub struct AppState {
    /// Where Twilio reaches us.
    pub public_url: Url,
    /// This build's version.
    pub version: &'static str,
    /// Live calls.
    pub registry: CallRegistry,
    /// What each call needs.
    pub services: CallServices,
    /// Dashboards.
    pub dashboard: DashboardHub,
    /// Entity cache counters.
    pub cache: Arc<dyn CacheStatsSource>,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Checks `X-Twilio-Signature` on `/twiml` and `/call`, when a Twilio
    /// auth token is configured.
    pub signatures: Option<SignatureValidator>,
    /// Per-call stream tokens, issued by `/twiml` and required in `start`
    /// on `/call` (when a Twilio token is configured).
    pub stream_tokens: Option<Arc<StreamTokens>>,
    /// Prometheus metrics (fed as an event sink).
    pub metrics: Arc<Metrics>,
    /// Whether the sandbox's test endpoints are served (sandbox mode only).
    pub test_endpoints: bool,
    /// Who may open dashboards and `/metrics`, and how many at once.
    pub access: DashboardSettings,
    /// Live mode without the Twilio token or the dashboard key, as the
    /// operator asked (`--insecure`): said on `/health`.
    pub insecure: bool,
    /// Connection limits and request deadlines.
    pub http: HttpSettings,
    /// The circuit breaker in front of Qloo.
    pub qloo_breaker: Arc<crate::qloo::Breaker>,
    /// How long a Twilio socket may take nothing while audio waits for it
    /// before its call ends.
    pub write_timeout: std::time::Duration,
    /// This instance's part in a fleet sharing one Redis, when there is one.
    pub fleet: Option<Arc<crate::redis::Fleet>>,
    /// What follows each call's stream.
    pub edges: CallEdges,
    /// Streams upgraded and not yet started: they take no call place.
    pub waiting: Arc<crate::twilio::admission::WaitingRoom>,
    /// The ids of this instance's live streams.
    pub live: Arc<crate::twilio::admission::LiveStreams>,
    /// Wrong dashboard keys, by source.
    pub guesses: Arc<guesses::Guesses>,
    /// The SIP door (`POST /openai/webhook`), open with a webhook secret.
    pub sip: Option<Arc<crate::sip::SipDoor>>,
}

/// What follows a call's stream: why each ended, and who callers are
/// handed over to.
#[derive(Debug, Clone)]
pub struct CallEdges {
    /// Why each stream ended, for `<Connect action>`.
    pub ends: Arc<crate::twilio::after_stream::StreamEnds>,
    /// The person callers are transferred to, when there is one.
    pub transfer: Option<Transfer>,
    /// Each call's numbers, kept from `/twiml` to the stream's `start`
    /// when texts are on (else `None`: no number is kept anywhere).
    pub lines: Option<Arc<crate::twilio::lines::CallLines>>,
    /// How long a call's action URL stays good: as long as the call may
    /// last, and a little more.
    pub action_lifetime: std::time::Duration,
}

/// A person to transfer callers to.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Their number, E.164.
    pub number: String,
    /// How long it rings, in seconds.
    pub timeout_secs: u32,
    /// The longest the transferred call may last, in seconds.
    pub time_limit_secs: u32,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.public_url.as_str())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

pub(crate) fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Every route, with rejections recovered and one tracing span a request.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    operator::routes(state.clone())
        .or(twilio::routes(state.clone()))
        .or(sip::routes(state.clone()))
        .or(dashboards::routes(state))
        .or(page::routes())
        .recover(recover)
        .with(warp::log::custom(log_request))
}

/// One line per request: health checks and scrapes at DEBUG (a load
/// balancer polls them every few seconds, draining answers included), a
/// server error at WARN, anything else at INFO. The path never carries the
/// query, where a dashboard key may be.
fn log_request(info: warp::log::Info<'_>) {
    let status = info.status().as_u16();
    let path = info.path();
    let elapsed_ms = info.elapsed().as_secs_f64() * 1000.0;
    let method = info.method().as_str();
    if matches!(path, "/health" | "/metrics") {
        tracing::debug!(method, path, status, elapsed_ms, "request");
    } else if matches!(status, 401 | 403 | 429) {
        // Logged (sampled) by the guard that refused it, with why.
    } else if status >= 500 {
        tracing::warn!(method, path, status, elapsed_ms, "request failed");
    } else {
        tracing::info!(method, path, status, elapsed_ms, "request");
    }
}

pub(crate) fn error_reply(status: StatusCode, message: &str) -> impl Reply + use<> {
    warp::reply::with_status(warp::reply::json(&json!({ "error": message })), status)
}

async fn recover(rejection: Rejection) -> Result<impl Reply, Infallible> {
    let (status, message) = if rejection.find::<BadSignature>().is_some() {
        (StatusCode::FORBIDDEN, "invalid Twilio signature")
    } else if rejection.find::<NoKey>().is_some() {
        (
            StatusCode::UNAUTHORIZED,
            "the dashboard key is missing or wrong",
        )
    } else if rejection.find::<TooManyGuesses>().is_some() {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "too many wrong dashboard keys from here: try again in a few seconds",
        )
    } else if rejection.find::<BadOrigin>().is_some() {
        (StatusCode::FORBIDDEN, "this origin may not open dashboards")
    } else if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not found")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some()
        || rejection.find::<TooLarge>().is_some()
    {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    } else if rejection.find::<BadBody>().is_some() {
        (StatusCode::BAD_REQUEST, "malformed request body")
    } else if rejection.find::<SlowBody>().is_some() {
        (StatusCode::REQUEST_TIMEOUT, "request body too slow")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (StatusCode::LENGTH_REQUIRED, "content length required")
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        (StatusCode::BAD_REQUEST, "invalid query string")
    } else if rejection.find::<NotAnUpgrade>().is_some()
        || rejection.find::<warp::reject::InvalidHeader>().is_some()
        || rejection.find::<warp::reject::MissingHeader>().is_some()
    {
        (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade")
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    };
    Ok(error_reply(status, message))
}
