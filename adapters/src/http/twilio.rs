//! Twilio's doors: the `/twiml` webhook, which answers with TwiML that
//! opens a Media Stream; the `/call` upgrade, where each stream runs as
//! one call; and the call's edges: `/twilio/after-stream` (`<Connect
//! action>`: what follows the stream, chosen by why it ended),
//! `/twilio/dial-result` (`<Dial action>`: how a transfer went) and
//! `/twilio/stream-status` (`<Stream statusCallback>`). All are Twilio
//! webhooks, refused unsigned when the auth token is set; the two
//! actions also carry a token bound to their call.

use std::sync::Arc;

use qloophone_domain::call::{CallPermit, run_call};
use qloophone_domain::ports::{
    AudioInbound, CallEvent, CallEventRecord, EndReason, HandoffOutcome,
};
use qloophone_domain::types::LegId;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::guards::{signed_stream, signed_webhook};
use super::websocket::{self, Upgrade};
use super::{AppState, MAX_CALL_FRAME, error_reply, with_state};
use crate::privacy::mask_phone_numbers;
use crate::redis::{Admission, Place};
use crate::twilio::lines::Line;
use crate::twilio::stream_token::{Purpose, TokenError};
use crate::twilio::{NotStarted, StreamChecks, TwilioLeg, stream_token, twiml};

/// `/twiml`, `/call` and the call's edges.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let twiml = warp::path!("twiml")
        .and(signed_webhook(state.clone()))
        .and(with_state(state.clone()))
        .then(twiml_reply);
    let call = warp::path!("call")
        .and(signed_stream(state.clone()))
        .and(websocket::upgrade())
        .and(with_state(state.clone()))
        .then(call_upgrade);
    let after = warp::path!("twilio" / "after-stream")
        .and(signed_webhook(state.clone()))
        .and(with_state(state.clone()))
        .then(after_stream);
    let dial = warp::path!("twilio" / "dial-result")
        .and(signed_webhook(state.clone()))
        .and(with_state(state.clone()))
        .then(dial_result);
    let status = warp::path!("twilio" / "stream-status")
        .and(signed_webhook(state.clone()))
        .and(with_state(state))
        .map(stream_status);
    twiml.or(call).or(after).or(dial).or(status)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Checks a call's action token, when tokens are in use (with Twilio's
/// auth token set).
fn check_token(
    state: &AppState,
    purpose: Purpose,
    params: &[(String, String)],
) -> Result<(), TokenError> {
    let Some(tokens) = &state.stream_tokens else {
        return Ok(());
    };
    tokens
        .verify(
            purpose,
            param(params, "CallSid"),
            param(params, twiml::TOKEN_QUERY),
        )
        .map(|_| ())
}

/// A call's action token for `purpose`, when tokens are in use.
fn action_token(state: &AppState, purpose: Purpose, call_sid: Option<&str>) -> Option<String> {
    state
        .stream_tokens
        .as_ref()
        .zip(call_sid)
        .map(|(tokens, call_sid)| tokens.issue_for(purpose, call_sid, state.edges.action_lifetime))
}

/// `<Connect action>`: Twilio asks what to do now that the stream ended.
async fn after_stream(params: Vec<(String, String)>, state: Arc<AppState>) -> Box<dyn Reply> {
    if let Err(reason) = check_token(&state, Purpose::AfterStream, &params) {
        tracing::warn!(%reason, "after-stream request refused");
        return Box::new(error_reply(StatusCode::FORBIDDEN, "invalid call token"));
    }
    let call_sid = param(&params, "CallSid");
    // Twilio says whether the caller is still there; a call it calls
    // anything but in progress has no one left to speak to.
    let caller_gone = param(&params, "CallStatus").is_some_and(|status| status != "in-progress");
    let end = match call_sid {
        Some(call_sid) => state.edges.ends.find(call_sid).await,
        None => None,
    };
    let reason = end.as_ref().map(|end| end.reason);
    let dial_action = state.edges.transfer.as_ref().map(|_| {
        let token = action_token(&state, Purpose::DialResult, call_sid);
        twiml::callback_url(&state.public_url, twiml::DIAL_RESULT_PATH, token.as_deref())
    });
    let dial = state
        .edges
        .transfer
        .as_ref()
        .zip(dial_action.as_deref())
        .map(|(transfer, action)| twiml::Dial {
            number: &transfer.number,
            action,
            timeout_secs: transfer.timeout_secs,
            time_limit_secs: transfer.time_limit_secs,
        });
    let (next, xml_text) = twiml::after_stream(reason, caller_gone, dial);
    state.metrics.after_stream(next);
    tracing::info!(
        call = call_sid.unwrap_or("?"),
        reason = reason.map_or("unknown", |reason| reason.as_str()),
        caller_gone,
        next,
        "the stream ended: Twilio told what follows"
    );
    Box::new(xml(xml_text))
}

/// `<Dial action>`: how a transfer to a person went.
async fn dial_result(params: Vec<(String, String)>, state: Arc<AppState>) -> Box<dyn Reply> {
    if let Err(reason) = check_token(&state, Purpose::DialResult, &params) {
        tracing::warn!(%reason, "dial-result request refused");
        return Box::new(error_reply(StatusCode::FORBIDDEN, "invalid call token"));
    }
    let outcome = match param(&params, "DialCallStatus") {
        Some("completed" | "answered") => HandoffOutcome::Answered,
        Some("busy") => HandoffOutcome::Busy,
        Some("no-answer") => HandoffOutcome::NoAnswer,
        _ => HandoffOutcome::Failed,
    };
    let call_sid = param(&params, "CallSid");
    tracing::info!(
        call = call_sid.unwrap_or("?"),
        outcome = outcome.as_str(),
        "transfer ended"
    );
    let end = match call_sid {
        Some(call_sid) => state.edges.ends.find(call_sid).await,
        None => None,
    };
    let stream = end.and_then(|end| LegId::parse(&end.stream_sid).ok());
    if let Some(call) = stream {
        state.services.sink.emit(CallEventRecord {
            call,
            at: state.clock.now(),
            event: CallEvent::Handoff { outcome },
        });
    } else {
        // Counted all the same.
        state.metrics.emit_handoff(outcome);
    }
    Box::new(xml(twiml::dial_result(outcome == HandoffOutcome::Answered)))
}

/// The most of Twilio's error text kept for a dashboard.
const MAX_STREAM_ERROR: usize = 300;

/// `<Stream statusCallback>`: a stream started, stopped or failed. Only a
/// failure is news to the dashboards (it may never have reached `/call`).
fn stream_status(params: Vec<(String, String)>, state: Arc<AppState>) -> impl Reply {
    let event = match param(&params, "StreamEvent") {
        Some("stream-started") => "stream-started",
        Some("stream-stopped") => "stream-stopped",
        Some("stream-error") => "stream-error",
        _ => "other",
    };
    state.metrics.stream_status(event);
    if event == "stream-error" {
        let error: String =
            mask_phone_numbers(param(&params, "StreamError").unwrap_or("no error given"))
                .chars()
                .take(MAX_STREAM_ERROR)
                .collect();
        tracing::warn!(
            call = param(&params, "CallSid").unwrap_or("?"),
            %error,
            "Twilio says a stream failed"
        );
        if let Some(call) = param(&params, "StreamSid").and_then(|sid| LegId::parse(sid).ok()) {
            state.services.sink.emit(CallEventRecord {
                call,
                at: state.clock.now(),
                event: CallEvent::StreamFailed {
                    error: error.into(),
                },
            });
        }
    }
    warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT)
}

fn xml(body: String) -> impl Reply {
    warp::reply::with_header(body, "content-type", "text/xml")
}

async fn twiml_reply(params: Vec<(String, String)>, state: Arc<AppState>) -> impl Reply {
    if state.registry.is_draining() {
        tracing::info!("draining: caller turned away");
        return xml(twiml::busy());
    }
    if state.registry.is_full() {
        tracing::warn!(
            active = state.registry.active(),
            "all lines busy: caller turned away"
        );
        return xml(twiml::busy());
    }
    if let Some(fleet) = state.fleet.as_ref().filter(|fleet| fleet.looks_full()) {
        tracing::warn!(
            fleet_calls = fleet.view().calls,
            "every line of the fleet busy: caller turned away"
        );
        return xml(twiml::busy());
    }
    let call_sid = params
        .iter()
        .find(|(name, _)| name == "CallSid")
        .map(|(_, value)| value.as_str());
    // Twilio always names the call; a webhook that does not gets a stream
    // its token check will refuse.
    let token = state
        .stream_tokens
        .as_ref()
        .zip(call_sid)
        .map(|(tokens, call_sid)| tokens.issue(call_sid));
    // The caller, masked here, so a whole number never travels into the
    // stream's parameters (which Twilio keeps with the call).
    let caller = params
        .iter()
        .find(|(name, _)| name == "From")
        .map(|(_, value)| crate::privacy::mask_phone_numbers(value));
    // The whole numbers, only when texts are on, only until the stream
    // starts: its `start` takes them into the call's memory.
    if let (Some(lines), Some(call_sid)) = (&state.edges.lines, call_sid)
        && let Some(line) = Line::of(param(&params, "From"), param(&params, "To"))
    {
        lines.keep(call_sid, line).await;
    }
    let action_token = action_token(&state, Purpose::AfterStream, call_sid);
    let action = twiml::callback_url(
        &state.public_url,
        twiml::AFTER_STREAM_PATH,
        action_token.as_deref(),
    );
    let status = twiml::callback_url(&state.public_url, twiml::STREAM_STATUS_PATH, None);
    let parameters: Vec<(&str, &str)> = token
        .as_deref()
        .map(|token| (stream_token::PARAMETER, token))
        .into_iter()
        .chain(
            caller
                .as_deref()
                .map(|caller| (crate::twilio::wire::CALLER_PARAMETER, caller)),
        )
        .collect();
    xml(twiml::connect_stream(
        &state.public_url,
        &action,
        &status,
        &parameters,
    ))
}

/// Why a stream upgraded but never became a call, as counted.
const TIMED_OUT: &str = "timed_out";
const EVICTED: &str = "evicted";
const BUSY: &str = "busy";

async fn call_upgrade(upgrade: Upgrade, state: Arc<AppState>) -> Box<dyn Reply> {
    if state.registry.is_draining() {
        tracing::info!("stream refused: draining");
        return Box::new(error_reply(StatusCode::SERVICE_UNAVAILABLE, "draining"));
    }
    let config = websocket::config(MAX_CALL_FRAME);
    Box::new(upgrade.accept(config, move |socket| async move {
        let checks = StreamChecks {
            tokens: state.stream_tokens.clone(),
            lines: state.edges.lines.clone(),
            ends: state.edges.ends.clone(),
            live: state.live.clone(),
        };
        let mut leg = TwilioLeg::new(socket, checks, state.write_timeout);
        if let Err(outcome) = wait_for_start(&mut leg, &state).await {
            state.metrics.stream_refused(outcome);
            leg.close(EndReason::NeverStarted).await;
            return;
        }
        let Some((permit, place)) = take_a_place(&state).await else {
            state.metrics.stream_refused(BUSY);
            leg.close(EndReason::LinesBusy).await;
            return;
        };
        let shutdown = state.registry.shutdown_signal();
        let span = tracing::info_span!(
            "call",
            stream = tracing::field::Empty,
            call = tracing::field::Empty
        );
        let reason =
            tracing::Instrument::instrument(run_call(leg, &state.services, permit, shutdown), span)
                .await;
        drop(place);
        tracing::debug!(%reason, "call task done");
    }))
}

/// Holds a new stream in the waiting room until its `start` has passed
/// its checks: no call place is taken before. A stream gives way to a
/// newer one while it has sent nothing, and must start within the room's
/// deadline.
async fn wait_for_start(leg: &mut TwilioLeg, state: &AppState) -> Result<(), &'static str> {
    let mut waiting = state.waiting.enter();
    let deadline = tokio::time::sleep(state.waiting.deadline());
    tokio::pin!(deadline);
    let mut evictable = true;
    loop {
        let started = tokio::select! {
            started = leg.until_started() => Some(started),
            () = waiting.evicted(), if evictable => None,
            () = &mut deadline => {
                tracing::debug!("stream closed: no start in time");
                return Err(TIMED_OUT);
            }
        };
        match started {
            Some(started) => return started.map_err(NotStarted::as_str),
            // A stream whose start is being checked is past waiting.
            None if leg.start_seen() => evictable = false,
            None => {
                tracing::debug!("stream closed: a newer one took its waiting place");
                return Err(EVICTED);
            }
        }
    }
}

/// A call place, on this instance and in the fleet, for a stream that
/// started; `None` when every line is taken.
pub(super) async fn take_a_place(state: &AppState) -> Option<(CallPermit, Option<Place>)> {
    let Some(permit) = state.registry.try_admit() else {
        tracing::warn!(
            active = state.registry.active(),
            draining = state.registry.is_draining(),
            "call refused: at the call limit"
        );
        return None;
    };
    // The fleet's limit too, under Redis's short deadline; without an
    // answer, this instance's own limit is the one that holds.
    let place = match &state.fleet {
        Some(fleet) => match fleet.admit().await {
            Admission::Admitted(place) => Some(place),
            Admission::Full(calls) => {
                tracing::warn!(
                    fleet_calls = calls,
                    "call refused: at the fleet's call limit"
                );
                return None;
            }
            Admission::Unchecked => {
                tracing::warn!(
                    "the fleet's registry did not answer: this call counts on this instance only"
                );
                None
            }
        },
        None => None,
    };
    Some((permit, place))
}
