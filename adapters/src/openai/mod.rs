//! The voice-model leg over the OpenAI Realtime API (GA protocol only).
//!
//! - [`wire`]: server events decoded into domain
//!   [`ModelEvent`](qloophone_domain::ports::ModelEvent)s, and
//!   client events encoded from
//!   [`ModelCommand`](qloophone_domain::ports::ModelCommand)s.
//! - [`catalogue`]: the models it knows, their prices and what each
//!   takes.
//! - [`OpenAiRealtime`] implements
//!   [`VoiceModel`](qloophone_domain::ports::VoiceModel) over the shared
//!   WebSocket leg ([`crate::ws`]), one WebSocket per call.
//! - [`OpenAiSettings`]: `[openai]`, the account, the model and the
//!   Realtime session's settings.
//! - [`Sidebands`]: the sideband of each call OpenAI answers over SIP, as
//!   that call's voice model.

pub mod catalogue;
mod client;
mod settings;
mod sideband;
pub mod wire;

pub use client::{OpenAiRealtime, RealtimeCodec};
pub use settings::{OpenAiSettings, ReasoningEffort, TurnDetection, TurnDetectionKind};
pub use sideband::{SIP_TRAITS, Sideband, Sidebands};

use qloophone_domain::ports::ModelError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::secret::Secret;
use crate::tls::Trust;
use crate::ws::{ClientSocket, MAX_QUEUED};

/// Largest event accepted from a model (audio deltas are a few KiB).
const MAX_MODEL_EVENT: usize = 4 * 1024 * 1024;
/// Read buffer for a model socket: a read takes an audio delta or two
/// (100 ms of μ-law is about 1.1 KiB of JSON), and a larger event grows it
/// on its own. tungstenite zero-fills what is free of it before each read
/// and keeps it for the session, so it is the larger part of a call's
/// memory: 16 KiB here held about 7 KiB more a call (measured: 38.6
/// against 31 KiB a call at 200 full-duplex calls).
const MODEL_READ_BUFFER: usize = 4 * 1024;

/// Opens a model's WebSocket at `url` with `api_key` as its Bearer token.
///
/// # Errors
/// [`ModelError::Rejected`] for a refusal that a retry will not change,
/// [`ModelError::Connect`] for anything else.
pub(crate) async fn connect(
    url: &str,
    api_key: &Secret,
    trust: &Trust,
) -> Result<ClientSocket, ModelError> {
    let mut request = url
        .into_client_request()
        .map_err(|err| ModelError::Connect(err.to_string()))?;
    let bearer = HeaderValue::try_from(format!("Bearer {}", api_key.expose()))
        .map_err(|_| ModelError::Connect("the API key is not a valid header value".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    // tungstenite zero-fills its read buffer's free capacity before each
    // read; its default 128 KiB made every model event cost a 128 KiB
    // memset. The model's events are a few KiB; the buffer grows for a
    // larger one.
    let config = WebSocketConfig::default()
        .read_buffer_size(MODEL_READ_BUFFER)
        .max_write_buffer_size(MAX_QUEUED)
        .max_message_size(Some(MAX_MODEL_EVENT))
        .max_frame_size(Some(MAX_MODEL_EVENT));
    let (socket, _response) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(trust.websocket()),
    )
    .await
    .map_err(connect_error)?;
    Ok(socket)
}

/// Why a model's upgrade failed: a refusal that names the key, the model
/// or the account (401, 403, 404) will not change on a retry; anything
/// else may.
fn connect_error(err: tokio_tungstenite::tungstenite::Error) -> ModelError {
    use tokio_tungstenite::tungstenite::Error;
    match &err {
        Error::Http(response) if matches!(response.status().as_u16(), 401 | 403 | 404) => {
            ModelError::Rejected(format!("HTTP {}", response.status()))
        }
        _ => ModelError::Connect(err.to_string()),
    }
}
