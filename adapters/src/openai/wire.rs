//! OpenAI Realtime GA events (`protocols.md` §2).
//!
//! Server events are read through one flat struct in a single pass; the
//! audio of `response.output_audio.delta` is borrowed from the frame.
//! Legacy beta names are tolerated when decoding and never sent.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use qloophone_domain::ports::{
    ModelCommand, ModelErrorKind, ModelEvent, ResponseStatus, SessionSetup, Usage,
};
use qloophone_domain::tools::ToolSpec;
use qloophone_domain::{ItemId, ResponseId, ToolCallId};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::settings::{OpenAiSettings, TurnDetectionKind};
use crate::audio::{PayloadError, chunk_from_base64, optional_borrowed};

/// Why a server event was not understood.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or fields of the wrong type.
    #[error("malformed event: {0}")]
    Json(#[from] serde_json::Error),
    /// A known event without a field it needs.
    #[error("{event} without {field}")]
    Missing {
        /// The event.
        event: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A bad identifier.
    #[error("bad identifier: {0}")]
    Id(#[from] qloophone_domain::IdError),
    /// A bad audio payload.
    #[error("bad audio delta: {0}")]
    Payload(#[from] PayloadError),
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "optional_borrowed")]
    delta: Option<Cow<'a, str>>,
    // Borrowed: audio deltas carry it, and the audio path should not
    // allocate for them.
    #[serde(borrow, default, deserialize_with = "optional_borrowed")]
    item_id: Option<Cow<'a, str>>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
    #[serde(default)]
    response: Option<Response>,
    #[serde(default)]
    session: Option<Session>,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    transcript: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Kept as JSON and read on its own, so usage the model gets wrong
    /// costs the usage, never the `response.done` that carries it.
    #[serde(default)]
    usage: Option<Value>,
}

/// `response.usage`: `input_token_details` splits the input into text,
/// audio and image and says how much was cached (by modality in
/// `cached_tokens_details`), `output_token_details` the output. Every
/// field is optional (protocols-2026.md §2.3).
#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_token_details: TokenDetails,
    #[serde(default)]
    output_token_details: TokenDetails,
}

#[derive(Deserialize, Default)]
struct TokenDetails {
    #[serde(default)]
    text_tokens: Option<u64>,
    #[serde(default)]
    audio_tokens: Option<u64>,
    #[serde(default)]
    image_tokens: Option<u64>,
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    cached_tokens_details: Option<CachedDetails>,
}

#[derive(Deserialize, Default)]
struct CachedDetails {
    #[serde(default)]
    text_tokens: u64,
    #[serde(default)]
    audio_tokens: u64,
    #[serde(default)]
    image_tokens: u64,
}

impl WireUsage {
    /// Our usage. A side without details counts as text; cached tokens
    /// without their split count as text first (the cached prefix starts
    /// with the instructions), then audio, then image.
    fn usage(&self) -> Usage {
        let input = &self.input_token_details;
        let output = &self.output_token_details;
        let (input_text, input_audio, input_image) =
            match (input.text_tokens, input.audio_tokens, input.image_tokens) {
                (None, None, None) => (self.input_tokens, 0, 0),
                (text, audio, image) => (text.unwrap_or(0), audio.unwrap_or(0), image.unwrap_or(0)),
            };
        let (output_text, output_audio) = match (output.text_tokens, output.audio_tokens) {
            (None, None) => (self.output_tokens, 0),
            (text, audio) => (text.unwrap_or(0), audio.unwrap_or(0)),
        };
        let (cached_text, cached_audio, cached_image) = match &input.cached_tokens_details {
            Some(split) => (split.text_tokens, split.audio_tokens, split.image_tokens),
            None => {
                let text = input.cached_tokens.min(input_text);
                let audio = (input.cached_tokens - text).min(input_audio);
                let image = (input.cached_tokens - text - audio).min(input_image);
                (text, audio, image)
            }
        };
        Usage {
            input_text,
            input_audio,
            input_image,
            cached_text,
            cached_audio,
            cached_image,
            output_text,
            output_audio,
            session_ms: 0,
        }
    }
}

#[derive(Deserialize)]
struct Session {
    #[serde(default)]
    tools: Option<Vec<IgnoredAny>>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Decodes one server event. `frame` is the frame's buffer; audio shares it.
///
/// # Errors
/// [`DecodeError`] for events that are malformed or miss what they need.
pub fn decode(frame: &Bytes) -> Result<ModelEvent, DecodeError> {
    Decoder::default().decode(frame)
}

/// Decodes one session's events, keeping the item id of the last audio
/// delta so the next deltas of that item share it instead of allocating.
#[derive(Debug, Default)]
pub struct Decoder {
    last_item: Option<ItemId>,
}

impl Decoder {
    /// Decodes one server event, as [`decode`] does.
    ///
    /// # Errors
    /// [`DecodeError`] for events that are malformed or miss what they need.
    pub fn decode(&mut self, frame: &Bytes) -> Result<ModelEvent, DecodeError> {
        decode_event(frame, &mut self.last_item)
    }
}

fn decode_event(frame: &Bytes, last_item: &mut Option<ItemId>) -> Result<ModelEvent, DecodeError> {
    let event: Event<'_> = serde_json::from_slice(frame)?;
    let missing = |event, field| DecodeError::Missing { event, field };
    Ok(match event.kind.as_ref() {
        "session.updated" => ModelEvent::Ready {
            tools: event
                .session
                .and_then(|session| session.tools)
                .map_or(0, |tools| tools.len()),
        },
        "conversation.item.input_audio_transcription.completed" => ModelEvent::CallerTranscript {
            text: event.transcript.unwrap_or_default().into(),
        },
        "response.output_audio_transcript.done" | "response.audio_transcript.done" => {
            ModelEvent::AssistantTranscript {
                text: event.transcript.unwrap_or_default().into(),
            }
        }
        "input_audio_buffer.speech_started" => ModelEvent::SpeechStarted,
        "input_audio_buffer.speech_stopped" => ModelEvent::SpeechStopped,
        // Where OpenAI plays the audio itself (SIP, WebRTC): its playback
        // to the caller beginning, and ending or cut short.
        "output_audio_buffer.started" => ModelEvent::AssistantSpeaking,
        "output_audio_buffer.stopped" | "output_audio_buffer.cleared" => ModelEvent::PlayedOut,
        "response.created" => ModelEvent::ResponseCreated {
            response_id: response_id(event.response.as_ref())
                .ok_or(missing("response.created", "response.id"))??,
        },
        "response.done" => {
            let status = match event.response.as_ref().and_then(|r| r.status.as_deref()) {
                Some("completed") => ResponseStatus::Completed,
                Some("cancelled") => ResponseStatus::Cancelled,
                Some("failed") => ResponseStatus::Failed,
                Some("incomplete") => ResponseStatus::Incomplete,
                _ => ResponseStatus::Other,
            };
            ModelEvent::ResponseDone {
                response_id: response_id(event.response.as_ref())
                    .ok_or(missing("response.done", "response.id"))??,
                status,
                usage: event
                    .response
                    .as_ref()
                    .and_then(|r| r.usage.as_ref())
                    .and_then(|usage| WireUsage::deserialize(usage).ok())
                    .map(|usage| usage.usage()),
            }
        }
        "response.output_audio.delta" | "response.audio.delta" => {
            let delta = event.delta.ok_or(missing("audio delta", "delta"))?;
            let item_id = ItemId::parse_reusing(
                event
                    .item_id
                    .as_deref()
                    .ok_or(missing("audio delta", "item_id"))?,
                last_item.as_ref(),
            )?;
            *last_item = Some(item_id.clone());
            ModelEvent::AudioDelta {
                item_id,
                audio: chunk_from_base64(frame, delta)?,
            }
        }
        "response.function_call_arguments.done" => match (event.call_id, event.name) {
            (Some(call_id), Some(name)) => ModelEvent::FunctionCall {
                call_id: ToolCallId::parse(&call_id)?,
                name: name.into(),
                arguments: event.arguments.unwrap_or_default().into(),
            },
            // Without the name, wait for response.output_item.done.
            _ => ModelEvent::Other,
        },
        "response.output_item.done" => match event.item {
            Some(Item {
                kind: Some(kind),
                call_id: Some(call_id),
                name: Some(name),
                arguments,
            }) if kind == "function_call" => ModelEvent::FunctionCall {
                call_id: ToolCallId::parse(&call_id)?,
                name: name.into(),
                arguments: arguments.unwrap_or_default().into(),
            },
            _ => ModelEvent::Other,
        },
        "error" => {
            let body = event.error;
            let code = body.as_ref().and_then(|b| b.code.clone());
            ModelEvent::Error {
                kind: error_kind(code.as_deref()),
                code,
                message: body
                    .and_then(|b| b.message)
                    .unwrap_or_else(|| "no message".to_owned()),
            }
        }
        _ => ModelEvent::Other,
    })
}

/// What an error code means for the call. Codes from the Realtime API's
/// documented errors and the ones its users report (protocols.md §2.8).
fn error_kind(code: Option<&str>) -> ModelErrorKind {
    match code {
        Some("conversation_already_has_active_response") => ModelErrorKind::ResponseAlreadyActive,
        Some(
            "rate_limit_exceeded"
            | "server_error"
            | "internal_error"
            | "overloaded"
            | "service_unavailable"
            | "timeout",
        ) => ModelErrorKind::Transient,
        Some(
            "insufficient_quota"
            | "invalid_api_key"
            | "model_not_found"
            | "billing_hard_limit_reached"
            | "account_deactivated",
        ) => ModelErrorKind::Fatal,
        _ => ModelErrorKind::Other,
    }
}

fn response_id(
    response: Option<&Response>,
) -> Option<Result<ResponseId, qloophone_domain::IdError>> {
    response
        .and_then(|r| r.id.as_deref())
        .map(ResponseId::parse)
}

/// A tool as OpenAI's voice APIs take it (flat, not wrapped in
/// `function`): the Realtime session's tools and GPT-Live's Responses
/// delegation alike.
pub fn tool_json(tool: &ToolSpec) -> Value {
    json!({
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    })
}

/// `session.truncation` as a retention ratio (protocols-2026.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truncation {
    /// The fraction of the window left after old items are dropped.
    pub retention_ratio: f64,
    /// `token_limits.post_instructions`, if any.
    pub max_tokens: Option<u32>,
}

/// What a `session.update` carries beyond what every model takes; each is
/// set only for a model known to take it (a model that reasons refuses
/// nothing, but one that does not refuses a session sent `reasoning`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionExtras {
    /// `reasoning.effort`.
    pub reasoning_effort: Option<&'static str>,
    /// `truncation`.
    pub truncation: Option<Truncation>,
}

/// A system message for the conversation (what a session taking over
/// from a lost one is told).
pub fn system_message(text: &str) -> String {
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": text}],
        }
    })
    .to_string()
}

/// The `session.update` that configures a call's model session: what the
/// call decides (`setup`) and how the operator set the Realtime API up
/// (`settings`).
pub fn session_update(
    setup: &SessionSetup,
    settings: &OpenAiSettings,
    extras: &SessionExtras,
) -> String {
    let session = session(setup, settings, extras);
    json!({"type": "session.update", "session": session}).to_string()
}

/// The session of a call OpenAI answers over SIP, as its `accept` takes
/// it (protocols-2026.md §7.3): the same session as a Media Streams call's
/// (one source for both), with the model named, and without audio formats,
/// which the SIP call's SDP negotiates.
pub fn sip_accept(
    setup: &SessionSetup,
    settings: &OpenAiSettings,
    extras: &SessionExtras,
) -> Value {
    let mut session = sip_session(setup, settings, extras);
    session["model"] = json!(settings.model);
    session
}

/// The `session.update` a SIP call's sideband starts with: the accepted
/// session again (its confirmation tells the call its tools are held),
/// without the model, which a session cannot change.
pub fn sip_session_update(
    setup: &SessionSetup,
    settings: &OpenAiSettings,
    extras: &SessionExtras,
) -> String {
    let session = sip_session(setup, settings, extras);
    json!({"type": "session.update", "session": session}).to_string()
}

fn sip_session(setup: &SessionSetup, settings: &OpenAiSettings, extras: &SessionExtras) -> Value {
    let mut session = session(setup, settings, extras);
    for direction in ["input", "output"] {
        if let Some(audio) = session["audio"][direction].as_object_mut() {
            audio.remove("format");
        }
    }
    session
}

/// The session object both paths configure.
fn session(setup: &SessionSetup, settings: &OpenAiSettings, extras: &SessionExtras) -> Value {
    let detection = &settings.turn_detection;
    let turn_detection = match detection.kind {
        TurnDetectionKind::ServerVad => json!({
            "type": "server_vad",
            "threshold": detection.threshold,
            "prefix_padding_ms": detection.prefix_padding_ms,
            "silence_duration_ms": detection.silence_duration_ms,
            "create_response": true,
            "interrupt_response": detection.interrupt_response,
        }),
        TurnDetectionKind::SemanticVad => json!({
            "type": "semantic_vad",
            "eagerness": detection.eagerness,
            "create_response": true,
            "interrupt_response": detection.interrupt_response,
        }),
    };
    let mut input = json!({
        "format": {"type": "audio/pcmu"},
        "turn_detection": turn_detection,
        "transcription": {"model": settings.transcription_model},
    });
    if let Some(kind) = settings.noise_reduction() {
        input["noise_reduction"] = json!({ "type": kind });
    }
    let tools: Vec<Value> = setup.tools.iter().map(tool_json).collect();
    let mut session = json!({
        "type": "realtime",
        "output_modalities": ["audio"],
        "instructions": setup.instructions,
        "audio": {
            "input": input,
            "output": {"format": {"type": "audio/pcmu"}, "voice": settings.voice},
        },
        "tools": tools,
        "tool_choice": "auto",
    });
    if let Some(effort) = extras.reasoning_effort {
        session["reasoning"] = json!({ "effort": effort });
    }
    if let Some(truncation) = extras.truncation {
        let mut value = json!({
            "type": "retention_ratio",
            "retention_ratio": truncation.retention_ratio,
        });
        if let Some(tokens) = truncation.max_tokens {
            value["token_limits"] = json!({ "post_instructions": tokens });
        }
        session["truncation"] = value;
    }
    session
}

/// The event for `command` as a text message. An audio append, sent 50
/// times a second, is written in `out` and split off it, reusing `out`'s
/// buffer once the socket has copied the previous one out; anything else
/// is built as [`encode`] builds it.
pub fn encode_text(command: &ModelCommand, out: &mut BytesMut) -> Utf8Bytes {
    match command {
        ModelCommand::AppendAudio(audio) => {
            const HEAD: &[u8] = br#"{"type":"input_audio_buffer.append","audio":""#;
            let payload = std::str::from_utf8(audio.encoded()).unwrap_or_default();
            out.reserve(HEAD.len() + payload.len() + 2);
            out.extend_from_slice(HEAD);
            // Checked base64 on the way in: nothing to escape.
            out.extend_from_slice(payload.as_bytes());
            out.extend_from_slice(b"\"}");
            // SAFETY: a `str` payload between two ASCII literals is UTF-8.
            unsafe { Utf8Bytes::from_bytes_unchecked(out.split().freeze()) }
        }
        other => Utf8Bytes::from(encode(other)),
    }
}

/// The client event for `command`.
pub fn encode(command: &ModelCommand) -> String {
    match command {
        ModelCommand::AppendAudio(audio) => {
            const HEAD: &str = r#"{"type":"input_audio_buffer.append","audio":""#;
            let payload = audio.encoded();
            let mut out = String::with_capacity(HEAD.len() + payload.len() + 2);
            out.push_str(HEAD);
            // Checked base64 on the way in: nothing to escape.
            out.push_str(std::str::from_utf8(payload).unwrap_or_default());
            out.push_str("\"}");
            out
        }
        ModelCommand::CreateResponse => r#"{"type":"response.create"}"#.to_owned(),
        ModelCommand::CancelResponse => r#"{"type":"response.cancel"}"#.to_owned(),
        ModelCommand::DeleteItem { item_id } => json!({
            "type": "conversation.item.delete",
            "item_id": item_id.as_str(),
        })
        .to_string(),
        ModelCommand::Truncate {
            item_id,
            audio_end_ms,
        } => json!({
            "type": "conversation.item.truncate",
            "item_id": item_id.as_str(),
            "content_index": 0,
            "audio_end_ms": audio_end_ms,
        })
        .to_string(),
        // The Realtime API confirms its responses, so a call never sends
        // it this; were it sent, a response is what it asks for.
        ModelCommand::Speak { .. } => r#"{"type":"response.create"}"#.to_owned(),
        ModelCommand::ToolOutput { call_id, output } => json!({
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": call_id.as_str(),
                "output": &**output,
            }
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests;
