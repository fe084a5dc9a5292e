//! GPT-Live events on the primary WebSocket (`gpt-live.md`).
//!
//! GPT-Live speaks differently from the Realtime API, and this is where the
//! difference stays:
//! - audio comes as one continuous stream with no ids: the assistant's
//!   utterances are numbered here (a new one after each time the caller
//!   spoke), as the call's ledger wants an item for each;
//! - there is no speech-start event and no turn boundary: transcripts come
//!   as fragments of each speaker, grouped into turns here (a speaker's
//!   turn ends when the other starts; the assistant's also at the end of a
//!   sentence, or after a second of its audio without words), the caller's
//!   first fragment of a turn standing for "the caller started speaking",
//!   the model's first fragment of an utterance for "the assistant is
//!   speaking", and its first fragment (or its delegating) after the
//!   caller's for "the caller stopped";
//! - tool calls come inside `response.event` envelopes from the backend
//!   model the session delegates to;
//! - usage is session time, cumulative: reported here as increments.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use qloophone_domain::ports::{
    ModelCommand, ModelErrorKind, ModelEvent, ResponseStatus, SessionSetup, Usage,
};
use qloophone_domain::{ItemId, ResponseId, ToolCallId};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::LiveSettings;
use crate::audio::{chunk_from_base64, optional_borrowed};
// GPT-Live's Responses delegation takes tools in the Realtime API's flat shape.
use crate::openai::wire::tool_json;

/// The `session.start` that opens a call's session: the voice model and
/// its instructions, μ-law at 8 kHz both ways (relayed untouched), the
/// voice, the tools under Responses delegation, and, for a session taking
/// over from a lost one, what it must know as a developer message of its
/// start-up history (GPT-Live takes no context once started).
pub fn session_start(
    model: &str,
    setup: &SessionSetup,
    settings: &LiveSettings,
    context: Option<&str>,
) -> String {
    let tools: Vec<Value> = setup.tools.iter().map(tool_json).collect();
    let mut responses = json!({
        "model": settings.delegation_model,
        "instructions": setup.instructions,
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": true,
    });
    if let Some(effort) = settings.delegation_reasoning_effort {
        responses["reasoning"] = json!({ "effort": effort.as_str() });
    }
    let mut session = json!({
        "model": model,
        "instructions": setup.instructions,
        "audio": {
            "format": {"type": "audio/pcmu", "rate": 8000},
            "output": {"voice": settings.voice},
        },
        "delegation": {"type": "responses", "responses": responses},
    });
    if let Some(context) = context {
        session["input"] = json!([{
            "type": "message",
            "role": "developer",
            "content": [{"type": "input_text", "text": context}],
        }]);
    }
    json!({"type": "session.start", "session": session}).to_string()
}

/// `session.close`: the service drains, then says `session.closed`.
pub const SESSION_CLOSE: &str = r#"{"type":"session.close"}"#;

/// Who spoke last, for grouping transcript fragments into turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floor {
    Nobody,
    Caller,
    Assistant,
}

/// Decodes one session's events. It keeps what GPT-Live leaves to the
/// client: the turn being transcribed, the utterance being spoken, the
/// usage already reported, and events a frame produced besides the one it
/// returned.
#[derive(Debug)]
pub struct Decoder {
    floor: Floor,
    caller_words: String,
    assistant_words: String,
    /// The assistant's utterance its audio belongs to.
    utterance: ItemId,
    utterances: u64,
    /// Cumulative session time reported so far, in ms.
    billed_ms: u64,
    pending: VecDeque<ModelEvent>,
    /// Whether `session.closed` came.
    closed: bool,
    /// Output audio since the assistant's last words, in ms: past
    /// [`TURN_QUIET_MS`] its turn is over.
    quiet_output_ms: u64,
}

/// Output audio (silence, as the stream goes on) after the assistant's
/// last transcript fragment that ends its turn (MK closes a turn after 2
/// s without text; the model's fragments come every 100 ms while it
/// speaks).
const TURN_QUIET_MS: u64 = 1_000;

impl Default for Decoder {
    fn default() -> Self {
        Self {
            floor: Floor::Nobody,
            caller_words: String::new(),
            assistant_words: String::new(),
            utterance: ItemId::parse("live_utterance_0").expect("a valid id"),
            utterances: 0,
            billed_ms: 0,
            pending: VecDeque::new(),
            closed: false,
            quiet_output_ms: 0,
        }
    }
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "optional_borrowed")]
    delta: Option<Cow<'a, str>>,
    #[serde(default)]
    session: Option<SessionResource>,
    #[serde(default)]
    usage: Option<SessionUsage>,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct SessionResource {
    #[serde(default)]
    delegation: Option<Value>,
}

#[derive(Deserialize)]
struct SessionUsage {
    #[serde(default)]
    seconds: f64,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A delegated Responses response's usage (its backend model's tokens).
#[derive(Deserialize, Default)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: CachedDetails,
}

#[derive(Deserialize, Default)]
struct CachedDetails {
    #[serde(default)]
    cached_tokens: u64,
}

impl Decoder {
    /// Whether the service said the session is closed.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// An event a frame produced besides the one returned for it.
    pub fn pending(&mut self) -> Option<ModelEvent> {
        self.pending.pop_front()
    }

    /// Decodes one server event. `frame` is the frame's buffer; audio
    /// shares it.
    ///
    /// # Errors
    /// A description of a malformed event.
    pub fn decode(&mut self, frame: &Bytes) -> Result<ModelEvent, String> {
        let event: Event<'_> = serde_json::from_slice(frame).map_err(|err| err.to_string())?;
        Ok(match event.kind.as_ref() {
            "session.started" => ModelEvent::Ready {
                tools: event
                    .session
                    .and_then(|session| session.delegation)
                    .and_then(|delegation| {
                        delegation["responses"]["tools"].as_array().map(Vec::len)
                    })
                    .unwrap_or(0),
            },
            "session.output_audio.delta" => {
                let delta = event.delta.ok_or("output audio without delta")?;
                let audio = chunk_from_base64(frame, delta).map_err(|err| err.to_string())?;
                self.quiet_output_ms += u64::from(audio.byte_len()) / 8;
                if self.quiet_output_ms >= TURN_QUIET_MS
                    && self.floor == Floor::Assistant
                    && let Some(turn) = self.assistant_done()
                {
                    self.pending.push_back(turn);
                }
                ModelEvent::AudioDelta {
                    item_id: self.utterance.clone(),
                    audio,
                }
            }
            "session.input_transcript.delta" => {
                let words = event.delta.unwrap_or_default();
                self.caller_said(&words)
            }
            "session.output_transcript.delta" => {
                let words = event.delta.unwrap_or_default();
                self.assistant_said(&words)
            }
            // The model hands work to the backend: the caller's turn is over.
            "session.delegation.created" => self.caller_done().unwrap_or(ModelEvent::Other),
            "response.event" => self.nested(event.event.unwrap_or_default())?,
            kind @ ("session.usage.updated" | "session.closed") => {
                self.closed |= kind == "session.closed";
                event
                    .usage
                    .map_or(ModelEvent::Other, |usage| self.billed(usage.seconds))
            }
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

    /// A fragment of the caller's words: the first of a turn means they
    /// started speaking (and whatever the assistant said before is a turn).
    fn caller_said(&mut self, words: &str) -> ModelEvent {
        self.caller_words.push_str(words);
        if self.floor == Floor::Caller {
            return ModelEvent::Other;
        }
        self.floor = Floor::Caller;
        // What the assistant says next is another utterance.
        self.utterances += 1;
        self.utterance =
            ItemId::parse(&format!("live_utterance_{}", self.utterances)).expect("a valid id");
        // Said first, while the assistant's utterance still counts as going
        // on: the caller spoke over it.
        if let Some(turn) = self.assistant_done() {
            self.pending.push_back(turn);
        }
        ModelEvent::SpeechStarted
    }

    /// A fragment of the assistant's words: the caller's turn, if any, is
    /// over; the first fragment of an utterance says it began.
    fn assistant_said(&mut self, words: &str) -> ModelEvent {
        let starting = self.assistant_words.is_empty();
        self.assistant_words.push_str(words);
        self.quiet_output_ms = 0;
        let event = match self.caller_done() {
            Some(stopped) => {
                self.pending.push_back(ModelEvent::AssistantSpeaking);
                stopped
            }
            None => {
                self.floor = Floor::Assistant;
                if starting {
                    ModelEvent::AssistantSpeaking
                } else {
                    ModelEvent::Other
                }
            }
        };
        // A finished sentence is told at once (the call may end before the
        // quiet after it would tell it).
        if words.trim_end().ends_with(['.', '!', '?'])
            && let Some(turn) = self.assistant_done()
        {
            self.pending.push_back(turn);
        }
        event
    }

    /// The caller stopped: `SpeechStopped`, then their turn's words.
    fn caller_done(&mut self) -> Option<ModelEvent> {
        if self.floor != Floor::Caller {
            return None;
        }
        self.floor = Floor::Assistant;
        let text = std::mem::take(&mut self.caller_words);
        if !text.trim().is_empty() {
            self.pending.push_back(ModelEvent::CallerTranscript {
                text: Arc::from(text.trim()),
            });
        }
        Some(ModelEvent::SpeechStopped)
    }

    /// The assistant's words since its turn began, as a turn.
    fn assistant_done(&mut self) -> Option<ModelEvent> {
        let text = std::mem::take(&mut self.assistant_words);
        (!text.trim().is_empty()).then(|| ModelEvent::AssistantTranscript {
            text: Arc::from(text.trim()),
        })
    }

    /// Cumulative session time, as what was not reported before.
    fn billed(&mut self, seconds: f64) -> ModelEvent {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped
        let total = (seconds.max(0.0) * 1000.0).round().min(1e15) as u64;
        let increment = total.saturating_sub(self.billed_ms);
        self.billed_ms = self.billed_ms.max(total);
        if increment == 0 {
            return ModelEvent::Other;
        }
        ModelEvent::Usage(Usage {
            session_ms: increment,
            ..Usage::default()
        })
    }

    /// What is left unreported of the assistant's words (as the session
    /// ends).
    pub fn flush_turns(&mut self) -> Option<ModelEvent> {
        self.assistant_done()
    }

    /// One event of the backend the session delegates to.
    fn nested(&mut self, event: Value) -> Result<ModelEvent, String> {
        let response_id = |event: &Value| {
            event["response"]["id"]
                .as_str()
                .map(ResponseId::parse)
                .transpose()
                .map_err(|err| err.to_string())
        };
        Ok(match event["type"].as_str().unwrap_or_default() {
            "response.created" => match response_id(&event)? {
                Some(response_id) => ModelEvent::ResponseCreated { response_id },
                None => return Err("a delegated response.created without response.id".into()),
            },
            "response.output_item.done" => {
                let item = &event["item"];
                // Only a call the backend finished; one cut short is not run.
                if item["type"] != "function_call" || item["status"] != "completed" {
                    return Ok(ModelEvent::Other);
                }
                let (Some(call_id), Some(name)) = (item["call_id"].as_str(), item["name"].as_str())
                else {
                    return Err("a delegated function call without call_id or name".into());
                };
                ModelEvent::FunctionCall {
                    call_id: ToolCallId::parse(call_id).map_err(|err| err.to_string())?,
                    name: name.into(),
                    arguments: item["arguments"].as_str().unwrap_or_default().into(),
                }
            }
            kind @ ("response.completed" | "response.failed" | "response.incomplete") => {
                let Some(response_id) = response_id(&event)? else {
                    return Err(format!("a delegated {kind} without response.id"));
                };
                let status = match kind {
                    "response.completed" => ResponseStatus::Completed,
                    "response.failed" => ResponseStatus::Failed,
                    _ => ResponseStatus::Incomplete,
                };
                // The backend model's tokens are text; a call's text tokens
                // are priced at that model's rates.
                let usage = ResponsesUsage::deserialize(&event["response"]["usage"])
                    .ok()
                    .map(|usage| Usage {
                        input_text: usage.input_tokens,
                        cached_text: usage
                            .input_tokens_details
                            .cached_tokens
                            .min(usage.input_tokens),
                        output_text: usage.output_tokens,
                        ..Usage::default()
                    })
                    .filter(|usage| *usage != Usage::default());
                ModelEvent::ResponseDone {
                    response_id,
                    status,
                    usage,
                }
            }
            _ => ModelEvent::Other,
        })
    }
}

/// What an error code means for the call. GPT-Live has no documented list:
/// these are the codes its users report (gpt-live.md §6.2).
fn error_kind(code: Option<&str>) -> ModelErrorKind {
    match code {
        Some("rate_limit_exceeded" | "server_error" | "internal_error" | "overloaded") => {
            ModelErrorKind::Transient
        }
        Some(
            "insufficient_quota"
            | "invalid_api_key"
            | "account_deactivated"
            | "billing_hard_limit_reached"
            | "invalid_model"
            | "model_not_found",
        ) => ModelErrorKind::Fatal,
        _ => ModelErrorKind::Other,
    }
}

/// The client event for `command`, written in `out` (an audio append, 50 a
/// second, reuses its buffer); `None` for what GPT-Live has no event for
/// (it stops itself: nothing is cancelled, truncated or deleted).
pub fn encode(command: &ModelCommand, out: &mut BytesMut) -> Option<Utf8Bytes> {
    Some(match command {
        ModelCommand::AppendAudio(audio) => {
            const HEAD: &[u8] = br#"{"type":"session.input_audio.append","audio":""#;
            let payload = std::str::from_utf8(audio.encoded()).unwrap_or_default();
            out.reserve(HEAD.len() + payload.len() + 2);
            out.extend_from_slice(HEAD);
            // Checked base64 on the way in: nothing to escape.
            out.extend_from_slice(payload.as_bytes());
            out.extend_from_slice(b"\"}");
            // SAFETY: a `str` payload between two ASCII literals is UTF-8.
            unsafe { Utf8Bytes::from_bytes_unchecked(out.split().freeze()) }
        }
        // Worded as an instruction, which the model says in its own words
        // (gpt-live.md §5.5); the key `delegation_id` is required, null.
        ModelCommand::Speak { prompt } => Utf8Bytes::from(
            json!({"type": "session.commentary.append", "delegation_id": null, "content": &**prompt})
                .to_string(),
        ),
        ModelCommand::CreateResponse => Utf8Bytes::from_static(r#"{"type":"response.create"}"#),
        ModelCommand::ToolOutput { call_id, output } => Utf8Bytes::from(
            json!({
                "type": "response.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call_id.as_str(),
                    "output": &**output,
                }
            })
            .to_string(),
        ),
        ModelCommand::CancelResponse
        | ModelCommand::Truncate { .. }
        | ModelCommand::DeleteItem { .. } => return None,
    })
}

#[cfg(test)]
mod tests;
