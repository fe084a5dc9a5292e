//! The report of each call, gathered from its events as they happen.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use qloophone_domain::ports::{CallEvent, CallEventRecord, EndReason, EventSink, Speaker};
use qloophone_domain::ports::{TextFailure, Usage};
use qloophone_domain::types::LegId;
use serde_json::{Value, json};

use super::DeliveryHandle;
use crate::time::rfc3339;

/// Calls followed at once at most (a report per call; beyond, a call is
/// not reported and that is counted).
const MAX_CALLS: usize = 10_000;
/// Tool calls, recommendations and turns kept per report at most.
const MAX_ITEMS: usize = 200;

/// What a call did so far.
#[derive(Debug, Default)]
struct Draft {
    started_at: Option<SystemTime>,
    call_sid: Option<String>,
    caller: Option<String>,
    model: String,
    api: String,
    tools: Vec<Value>,
    recommended: Vec<Value>,
    turns: Vec<Value>,
    first_audio_ms: Vec<u64>,
    usage: Usage,
    cost_micros: Option<u64>,
    /// The text of the caller's picks, once tried.
    sms: Option<Value>,
}

/// The observer that writes each call's report and hands it over for
/// delivery when the call ends.
pub struct Reports {
    drafts: Mutex<HashMap<LegId, Draft>>,
    delivery: DeliveryHandle,
    include_transcript: bool,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reports").finish_non_exhaustive()
    }
}

impl Reports {
    /// Reports handed to `delivery`; transcripts in them only when
    /// `include_transcript`.
    pub fn new(delivery: DeliveryHandle, include_transcript: bool) -> Self {
        Self {
            drafts: Mutex::new(HashMap::new()),
            delivery,
            include_transcript,
        }
    }
}

/// The closed set of reasons a report gives (one for each way a call
/// ends; several of ours map to one).
pub fn ended_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::PhoneStopped | EndReason::PhoneClosed => "caller_hung_up",
        EndReason::AgentEnded => "agent_ended",
        EndReason::Transferred => "transferred",
        EndReason::CallerSilent => "silence",
        EndReason::MaxDuration => "longest_call",
        EndReason::ModelClosed | EndReason::ModelUnavailable => "model_lost",
        EndReason::ModelRefused => "model_refused",
        EndReason::Shutdown => "drain",
        EndReason::NeverStarted => "never_started",
        EndReason::LinesBusy => "lines_busy",
        EndReason::UnsupportedMediaFormat => "unsupported_audio",
    }
}

fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1) - 1;
    sorted.get(rank.min(sorted.len() - 1)).copied()
}

impl Draft {
    fn report(
        self,
        call: &LegId,
        ended_at: SystemTime,
        reason: EndReason,
        transcript: bool,
    ) -> Value {
        let duration_s = self
            .started_at
            .and_then(|started| ended_at.duration_since(started).ok())
            .map_or(0.0, |d| (d.as_millis() as f64 / 100.0).round() / 10.0);
        let mut latencies = self.first_audio_ms;
        latencies.sort_unstable();
        let usage = self.usage;
        #[allow(clippy::cast_precision_loss)] // an estimate in dollars
        let cost = self.cost_micros.map(|micros| micros as f64 / 1e6);
        let mut data = json!({
            "call_sid": self.call_sid,
            "stream_sid": call.as_str(),
            "caller": self.caller,
            "started_at": self.started_at.map(rfc3339),
            "duration_s": duration_s,
            "ended_reason": ended_reason(reason),
            "vendor": self.api,
            "model": self.model,
            "tools": self.tools,
            "recommendations": self.recommended,
            "sms": self.sms.unwrap_or_else(|| json!({"sent": false})),
            "usage": {
                "input_text": usage.input_text,
                "input_audio": usage.input_audio,
                "cached_text": usage.cached_text,
                "cached_audio": usage.cached_audio,
                "output_text": usage.output_text,
                "output_audio": usage.output_audio,
                "session_ms": usage.session_ms,
            },
            "cost_usd": cost,
            "latency_ms": {
                "first_audio_p50": percentile(&latencies, 50),
                "first_audio_p95": percentile(&latencies, 95),
            },
        });
        if transcript {
            data["turns"] = Value::from(self.turns);
        }
        json!({"type": "call.ended", "timestamp": rfc3339(ended_at), "data": data})
    }
}

/// The names and ids a tool result recommended.
fn recommended(result: &str) -> Vec<Value> {
    let Ok(value) = serde_json::from_str::<Value>(result) else {
        return Vec::new();
    };
    ["recommendations", "venues"]
        .iter()
        .filter_map(|key| value[*key].as_array())
        .flatten()
        .filter_map(|item| {
            let name = item["name"].as_str()?;
            Some(json!({"name": name, "entity_id": item["entity_id"].as_str()}))
        })
        .collect()
}

impl EventSink for Reports {
    fn wants_audio(&self) -> bool {
        false
    }

    fn emit(&self, record: CallEventRecord) {
        let mut drafts = self.drafts.lock().unwrap_or_else(PoisonError::into_inner);
        if let CallEvent::Started {
            call_sid,
            caller,
            model,
            api,
        } = &record.event
        {
            if drafts.len() >= MAX_CALLS {
                self.delivery.count_dropped();
                return;
            }
            drafts.insert(
                record.call.clone(),
                Draft {
                    started_at: Some(record.at),
                    call_sid: call_sid.as_ref().map(|sid| sid.as_str().to_owned()),
                    caller: caller.as_ref().map(|caller| caller.as_str().to_owned()),
                    model: model.to_string(),
                    api: api.to_string(),
                    ..Draft::default()
                },
            );
            return;
        }
        if let CallEvent::Ended { reason } = &record.event {
            if let Some(draft) = drafts.remove(&record.call) {
                drop(drafts);
                let report =
                    draft.report(&record.call, record.at, *reason, self.include_transcript);
                self.delivery.send(report);
            }
            return;
        }
        let Some(draft) = drafts.get_mut(&record.call) else {
            return;
        };
        match &record.event {
            CallEvent::ToolCalled {
                name,
                result,
                is_error,
                latency,
                ..
            } => {
                if draft.tools.len() < MAX_ITEMS {
                    draft.tools.push(json!({
                        "name": &**name,
                        "ms": latency.as_millis() as u64,
                        "ok": !is_error,
                    }));
                }
                if !is_error {
                    for item in recommended(result) {
                        if draft.recommended.len() < MAX_ITEMS && !draft.recommended.contains(&item)
                        {
                            draft.recommended.push(item);
                        }
                    }
                }
            }
            CallEvent::Turn { speaker, text }
                if self.include_transcript && draft.turns.len() < MAX_ITEMS =>
            {
                let role = match speaker {
                    Speaker::Caller => "caller",
                    Speaker::Assistant => "assistant",
                };
                draft.turns.push(json!({"role": role, "text": &**text}));
            }
            CallEvent::FirstAudio { after } if draft.first_audio_ms.len() < MAX_ITEMS => {
                draft.first_audio_ms.push(after.get());
            }
            CallEvent::Texted {
                failure,
                picks,
                segments,
            } => {
                draft.sms = Some(json!({
                    "sent": failure.is_none(),
                    "failure": failure.map(TextFailure::as_str),
                    "picks": picks,
                    "segments": segments,
                }));
            }
            CallEvent::Usage {
                total, cost_micros, ..
            } => {
                draft.usage = *total;
                draft.cost_micros = *cost_micros;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_has_a_report_reason_and_percentiles_are_nearest_rank() {
        for reason in EndReason::ALL {
            assert!(!ended_reason(reason).is_empty());
        }
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[10], 95), Some(10));
        assert_eq!(percentile(&[10, 20, 30, 40], 50), Some(20));
        assert_eq!(percentile(&[10, 20, 30, 40], 95), Some(40));
    }

    #[test]
    fn recommendations_and_venues_are_read_from_tool_results() {
        let found = recommended(
            r#"{"recommendations":[{"name":"Dark City","entity_id":"E1"}],"venues":[{"name":"Bar"}]}"#,
        );
        assert_eq!(
            found,
            [
                json!({"name": "Dark City", "entity_id": "E1"}),
                json!({"name": "Bar", "entity_id": null})
            ]
        );
        assert!(recommended("not json").is_empty());
    }
}
