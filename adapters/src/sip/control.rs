//! OpenAI's REST call control (protocols-2026.md §7.3):
//! `POST {base}/realtime/calls/{call_id}/accept|reject|hangup|refer`,
//! Bearer auth, JSON bodies, empty 200s. A 404 means the call is gone (the
//! caller hung up before we answered, or it already ended).

use std::time::Duration;

use qloophone_domain::types::LegId;
use serde_json::Value;

use crate::bounded::read_body;
use crate::secret::Secret;
use crate::tls::Trust;

/// The most of an answer read (they are empty, or a short error).
const MAX_ANSWER: usize = 16 * 1024;

/// Why a call-control request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// 404: no such call, or it has ended.
    #[error("the call is gone")]
    Gone,
    /// Another status, with what the answer said.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// The error's message, or the start of the body.
        message: String,
    },
    /// The request did not complete.
    #[error("request failed: {0}")]
    Transport(String),
}

/// The client for one account.
#[derive(Clone)]
pub struct CallControl {
    http: reqwest::Client,
    base: String,
    api_key: Secret,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl CallControl {
    /// Calls `base` (`OPENAI_BASE_URL`, `…/v1`) with `api_key`, each
    /// request within `timeout`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        base: &str,
        api_key: Secret,
        timeout: Duration,
        trust: &Trust,
    ) -> Result<Self, String> {
        let http = trust
            .http(reqwest::Client::builder())
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| err.to_string())?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Answers the call with a session's configuration.
    ///
    /// # Errors
    /// [`ControlError`].
    pub async fn accept(&self, call: &LegId, session: &Value) -> Result<(), ControlError> {
        self.post(call, "accept", Some(session)).await
    }

    /// Turns the call away with a SIP status (486, busy here).
    ///
    /// # Errors
    /// [`ControlError`].
    pub async fn reject(&self, call: &LegId, sip_status: u16) -> Result<(), ControlError> {
        let body = serde_json::json!({ "status_code": sip_status });
        self.post(call, "reject", Some(&body)).await
    }

    /// Ends the call.
    ///
    /// # Errors
    /// [`ControlError`].
    pub async fn hangup(&self, call: &LegId) -> Result<(), ControlError> {
        self.post(call, "hangup", None).await
    }

    /// Hands the caller over to `target` (`tel:+…` or `sip:…`).
    ///
    /// # Errors
    /// [`ControlError`].
    pub async fn refer(&self, call: &LegId, target: &str) -> Result<(), ControlError> {
        let body = serde_json::json!({ "target_uri": target });
        self.post(call, "refer", Some(&body)).await
    }

    async fn post(
        &self,
        call: &LegId,
        action: &str,
        body: Option<&Value>,
    ) -> Result<(), ControlError> {
        let mut url =
            url::Url::parse(&self.base).map_err(|err| ControlError::Transport(err.to_string()))?;
        url.path_segments_mut()
            .map_err(|()| ControlError::Transport("the base URL cannot take a path".into()))?
            .extend(["realtime", "calls", call.as_str(), action]);
        let mut request = self
            .http
            .post(url)
            .bearer_auth(self.api_key.expose())
            .header("accept", "*/*");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|err| ControlError::Transport(without_url(&err)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(());
        }
        if status == 404 {
            return Err(ControlError::Gone);
        }
        let answer = read_body(response, MAX_ANSWER).await.unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned()
            });
        Err(ControlError::Status { status, message })
    }
}

/// A request error without its URL (which holds the call's id, fine, but
/// keep errors short and uniform).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "the call-control API");
    }
    text
}
