//! [`TasteGraph`] over Qloo's HTTP API with reqwest.

use crate::metrics::{QlooOutcome, QlooRequests};
use crate::tls::Trust;
use qloophone_domain::ports::upstream;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use qloophone_domain::ports::TasteGraph;
use qloophone_domain::ports::{
    Entity, FoundTag, Insights, InsightsQuery, SearchQuery, TagQuery, TasteError,
};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use tokio::time::Instant;

use serde::{Deserialize, Serialize};

use super::breaker::Breaker;
use super::log::{ApiLog, LogEntry, Rotation};
use super::wire;
use crate::bounded::{BodyError, read_body};
use crate::secret::Secret;

/// `[qloo]`: how to reach Qloo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QlooSettings {
    /// `QLOO_API_KEY`, sent as `X-Api-Key`.
    pub api_key: Option<Secret>,
    /// `QLOO_API_URL`, e.g. `https://hackathon.api.qloo.com`.
    pub api_url: String,
    /// Timeout of one `/search` attempt, in ms.
    pub search_timeout_ms: u64,
    /// Timeout of one `/v2/insights` attempt, in ms.
    pub insights_timeout_ms: u64,
    /// Whether tag searches ask for tags by meaning
    /// (`feature.semantic_search`: "snug" finds Cozy); off for a key or
    /// a plan without it, when tags are found by their names only.
    pub semantic_tags: bool,
    /// The most one call may take, retries included, in ms.
    pub deadline_ms: u64,
    /// Retries after a 429 or 5xx.
    pub max_retries: u32,
    /// Where each call is logged as a JSON line; empty for nowhere.
    pub api_log: String,
    /// Past this size the API log moves aside (`api_calls.log.1`); 0: never.
    pub api_log_max_bytes: u64,
    /// Rotated API logs kept; older ones are deleted.
    pub api_log_keep: usize,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the open breaker fails fast before one probe, in ms.
    pub breaker_cooldown_ms: u64,
    /// The longest answer read, in bytes: a longer one is cut off and
    /// counted (`too_large`), never buffered whole.
    pub max_response_bytes: usize,
}

impl Default for QlooSettings {
    fn default() -> Self {
        Self {
            api_key: None,
            api_url: "https://hackathon.api.qloo.com".to_owned(),
            search_timeout_ms: 2500,
            insights_timeout_ms: 3000,
            semantic_tags: true,
            deadline_ms: 6000,
            max_retries: 2,
            api_log: "api_calls.log".to_owned(),
            api_log_max_bytes: 10 << 20,
            api_log_keep: 3,
            breaker_failures: 5,
            breaker_cooldown_ms: 10_000,
            max_response_bytes: 2 << 20,
        }
    }
}

impl QlooSettings {
    /// The API log these settings name, if any.
    pub fn api_log(&self) -> Option<ApiLog> {
        Some(self.api_log.as_str())
            .filter(|path| !path.is_empty())
            .map(|path| {
                ApiLog::to_file(
                    path.into(),
                    Rotation {
                        max_bytes: self.api_log_max_bytes,
                        keep: self.api_log_keep,
                    },
                )
            })
    }
}

/// The Qloo API client. Cloning shares its connection pool.
#[derive(Debug, Clone)]
pub struct QlooClient {
    http: reqwest::Client,
    base_url: String,
    search_timeout: Duration,
    insights_timeout: Duration,
    semantic_tags: bool,
    deadline: Duration,
    max_retries: u32,
    max_response_bytes: usize,
    log: Option<ApiLog>,
    breaker: Arc<Breaker>,
    metrics: Option<QlooRequests>,
}

/// One request's claim on the breaker: a verdict when it ends, or the
/// probe given back if it is dropped first.
struct Attempt<'a> {
    breaker: &'a Breaker,
    done: bool,
}

impl Attempt<'_> {
    fn finish(mut self, outcome: &Result<Bytes, TasteError>) {
        // Answers that say Qloo is up (a refused key, a bad request) count
        // as successes: only its failing to answer opens the breaker.
        let healthy = !matches!(
            outcome,
            Err(TasteError::Timeout
                | TasteError::Unreachable(_)
                | TasteError::Upstream(_)
                | TasteError::RateLimited
                | TasteError::BadResponse(_))
        );
        self.breaker.record(healthy);
        self.done = true;
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.release();
        }
    }
}

impl QlooClient {
    /// A client with one connection pool for the process.
    ///
    /// # Errors
    /// When the key is not a valid header value or TLS cannot start.
    pub fn new(
        settings: &QlooSettings,
        log: Option<ApiLog>,
        trust: &Trust,
    ) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        let api_key = settings.api_key.as_ref().map_or("", Secret::expose);
        let mut key = HeaderValue::from_str(api_key)
            .map_err(|_| "the Qloo API key is not a valid header value".to_owned())?;
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let http = trust
            .http(reqwest::Client::builder())
            .default_headers(headers)
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Self {
            http,
            base_url: settings.api_url.trim_end_matches('/').to_owned(),
            search_timeout: Duration::from_millis(settings.search_timeout_ms),
            insights_timeout: Duration::from_millis(settings.insights_timeout_ms),
            semantic_tags: settings.semantic_tags,
            deadline: Duration::from_millis(settings.deadline_ms),
            max_retries: settings.max_retries,
            max_response_bytes: settings.max_response_bytes.max(1024),
            log,
            breaker: Arc::new(Breaker::new(
                settings.breaker_failures,
                Duration::from_millis(settings.breaker_cooldown_ms),
            )),
            metrics: None,
        })
    }

    /// The client, counting its requests in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: QlooRequests) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The circuit breaker in front of Qloo (for `/health` and `/metrics`).
    pub fn breaker(&self) -> Arc<Breaker> {
        self.breaker.clone()
    }

    async fn get(
        &self,
        endpoint: &'static str,
        params: String,
        timeout: Duration,
    ) -> Result<Bytes, TasteError> {
        if !self.breaker.allow() {
            return Err(TasteError::Unavailable);
        }
        let attempt = Attempt {
            breaker: &self.breaker,
            done: false,
        };
        let outcome = self.get_with_retries(endpoint, params, timeout).await;
        attempt.finish(&outcome);
        outcome
    }

    async fn get_with_retries(
        &self,
        endpoint: &'static str,
        params: String,
        timeout: Duration,
    ) -> Result<Bytes, TasteError> {
        let url = format!("{}{endpoint}?{params}", self.base_url);
        let deadline = Instant::now() + self.deadline;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let remaining = deadline.saturating_duration_since(started);
            if remaining.is_zero() {
                return Err(TasteError::Timeout);
            }
            let limit = self.max_response_bytes;
            // Logged and counted even if the call hangs up (or the server
            // drains) while it is in flight and this future is dropped.
            let mut sent = Sent {
                client: self,
                endpoint,
                params: &params,
                started,
                answered: false,
            };
            let outcome = tokio::time::timeout(timeout.min(remaining), async {
                let response = self.http.get(&url).send().await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = read_body(response, limit).await?;
                Ok::<_, BodyError>((status, headers, body))
            })
            .await;
            // Its outcome is logged below, by what it was.
            sent.answered = true;
            let latency = started.elapsed();
            let (status, headers, body) = match outcome {
                Err(_) => {
                    self.log(endpoint, &params, QlooOutcome::Timeout, latency);
                    return Err(TasteError::Timeout);
                }
                Ok(Err(BodyError::TooLarge { limit })) => {
                    self.log(endpoint, &params, QlooOutcome::TooLarge, latency);
                    tracing::warn!(
                        endpoint,
                        limit,
                        "Qloo's answer was longer than the limit: cut off"
                    );
                    return Err(TasteError::BadResponse(format!(
                        "the answer is longer than {limit} bytes"
                    )));
                }
                Ok(Err(BodyError::Read(err))) => {
                    self.log(endpoint, &params, QlooOutcome::Error, latency);
                    return Err(if err.is_timeout() {
                        TasteError::Timeout
                    } else {
                        TasteError::Unreachable(err.without_url().to_string())
                    });
                }
                Ok(Ok(answer)) => answer,
            };
            self.log(
                endpoint,
                &params,
                QlooOutcome::Status(status.as_u16()),
                latency,
            );
            let retry_in = match status {
                s if s.is_success() => {
                    let json = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.contains("json"));
                    if !json {
                        return Err(TasteError::BadResponse("the answer is not JSON".into()));
                    }
                    return Ok(body);
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    reset_after(&headers).unwrap_or_else(|| backoff(attempt))
                }
                s if s.is_server_error() => backoff(attempt),
                StatusCode::UNAUTHORIZED => return Err(TasteError::Unauthorized),
                StatusCode::FORBIDDEN => return Err(TasteError::Forbidden),
                s => {
                    let message = wire::error_message(&body)
                        .unwrap_or_else(|| format!("status {}", s.as_u16()));
                    return Err(TasteError::BadRequest(message));
                }
            };
            let jitter = Duration::from_millis(fastrand::u64(0..=100));
            let wait = retry_in + jitter;
            if attempt >= self.max_retries || Instant::now() + wait >= deadline {
                return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                    TasteError::RateLimited
                } else {
                    TasteError::Upstream(status.as_u16())
                });
            }
            attempt += 1;
            tracing::debug!(
                endpoint,
                status = status.as_u16(),
                ?wait,
                attempt,
                "retrying Qloo"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One request sent: counted for the tool run that sent it and in the
    /// metrics, logged at DEBUG and in the API log.
    fn log(&self, endpoint: &'static str, params: &str, outcome: QlooOutcome, latency: Duration) {
        upstream::record();
        if let Some(metrics) = &self.metrics {
            metrics.observe(endpoint, outcome, latency);
        }
        let status = match outcome {
            QlooOutcome::Status(code) => code.to_string(),
            QlooOutcome::Timeout => "timeout".to_owned(),
            QlooOutcome::Error => "error".to_owned(),
            QlooOutcome::TooLarge => "too_large".to_owned(),
            QlooOutcome::Cancelled => "cancelled".to_owned(),
        };
        let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        tracing::debug!(endpoint, %status, latency_ms, "Qloo call");
        if let Some(log) = &self.log {
            log.record(&LogEntry::now(
                endpoint,
                params.to_owned(),
                status,
                latency_ms,
                "miss",
            ));
        }
    }
}

/// The wait a 429 asks for, from `x-second-ratelimit-reset` or `retry-after`.
fn reset_after(headers: &HeaderMap) -> Option<Duration> {
    ["x-second-ratelimit-reset", "retry-after"]
        .iter()
        .find_map(|name| {
            headers
                .get(*name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|secs| secs.is_finite() && *secs >= 0.0)
        .map(|secs| Duration::from_secs_f64(secs.min(30.0)))
}

/// 200 ms, 400 ms, 800 ms…
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64 << attempt.min(5))
}

#[async_trait]
impl TasteGraph for QlooClient {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Entity>, TasteError> {
        let body = self
            .get("/search", wire::search_params(query), self.search_timeout)
            .await?;
        wire::parse_search(&body).map_err(|err| TasteError::BadResponse(err.to_string()))
    }

    async fn insights(&self, query: &InsightsQuery) -> Result<Insights, TasteError> {
        let body = self
            .get(
                "/v2/insights",
                wire::insights_params(query),
                self.insights_timeout,
            )
            .await?;
        wire::parse_insights(&body).map_err(|err| TasteError::BadResponse(err.to_string()))
    }

    async fn search_tags(&self, query: &TagQuery) -> Result<Vec<FoundTag>, TasteError> {
        let body = self
            .get(
                "/v2/tags",
                wire::tags_params(query, self.semantic_tags),
                self.search_timeout,
            )
            .await?;
        wire::parse_tags(&body, query.parent)
            .map_err(|err| TasteError::BadResponse(err.to_string()))
    }

    fn place_kind(&self, words: &str) -> Option<FoundTag> {
        super::places::place_kind(words)
    }
}

/// A request on its way to Qloo: when it is dropped before its answer
/// (the call that asked hung up, or was ended by a drain), it is logged
/// and counted as `cancelled`, so the API log and the metrics hold every
/// request that reached Qloo.
struct Sent<'a> {
    client: &'a QlooClient,
    endpoint: &'static str,
    params: &'a str,
    started: Instant,
    answered: bool,
}

impl Drop for Sent<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.client.log(
            self.endpoint,
            self.params,
            QlooOutcome::Cancelled,
            self.started.elapsed(),
        );
    }
}
