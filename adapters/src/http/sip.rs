//! The SIP door: `POST /openai/webhook`, where OpenAI tells us of calls it
//! answers over SIP (protocols-2026.md §7). Each delivery is verified and
//! acted on once, answered 200 at once; the call is admitted under the
//! same limits as a Media Stream (the fleet's too), accepted with the same
//! session, or rejected as busy; then it runs as any call does, on a
//! [`SipLeg`] with its sideband as its voice model.

use std::sync::Arc;

use bytes::Bytes;
use qloophone_domain::call::run_call;
use qloophone_domain::ports::{AudioRoute, CallInfo};
use warp::http::{HeaderMap, StatusCode};
use warp::{Filter, Rejection, Reply};

use super::guards::body_within;
use super::refusals::{Refusals, bounded};
use super::twilio::take_a_place;
use super::{AppState, MAX_WEBHOOK_BODY, error_reply, with_state};
use crate::openai::SIP_TRAITS;
use crate::sip::{CallGone, ControlError, Delivery, Incoming, IncomingCall, SipDoor, SipLeg};

/// Refused deliveries' log lines, sampled.
static REFUSALS: std::sync::LazyLock<Refusals> = std::sync::LazyLock::new(Refusals::default);

/// `POST /openai/webhook`, when the door is open.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("openai" / "webhook")
        .and(warp::post())
        .and(warp::header::headers_cloned())
        .and(body_within(
            MAX_WEBHOOK_BODY,
            state.http.body_read_timeout(),
        ))
        .and(with_state(state))
        .then(delivery)
}

async fn delivery(headers: HeaderMap, body: Bytes, state: Arc<AppState>) -> Box<dyn Reply> {
    let Some(door) = state.sip.clone() else {
        return Box::new(error_reply(StatusCode::NOT_FOUND, "not found"));
    };
    match door.deliveries.check(&headers, &body).await {
        Err(refused) => {
            state.metrics.sip_webhook(refused.as_str());
            if REFUSALS.admit() {
                let id = headers
                    .get("webhook-id")
                    .and_then(|id| id.to_str().ok())
                    .unwrap_or("none");
                tracing::warn!(reason = refused.as_str(), webhook_id = %bounded(id), "OpenAI webhook refused");
            }
            Box::new(error_reply(StatusCode::UNAUTHORIZED, refused.as_str()))
        }
        Ok(Delivery::Duplicate) => {
            state.metrics.sip_webhook("duplicate");
            tracing::info!("OpenAI webhook delivered again: answered, not acted on");
            Box::new(StatusCode::OK)
        }
        Ok(Delivery::First) => match crate::sip::webhook::parse(&body) {
            Ok(Incoming::Call(call)) => {
                state.metrics.sip_webhook("call");
                // Answered at once; the accept follows on its own.
                tokio::spawn(answer(state, door, call));
                Box::new(StatusCode::OK)
            }
            Ok(Incoming::Other(kind)) => {
                state.metrics.sip_webhook("other_event");
                tracing::debug!(kind = %bounded(&kind), "OpenAI webhook not acted on");
                Box::new(StatusCode::OK)
            }
            Err(err) => {
                state.metrics.sip_webhook("malformed");
                tracing::warn!(error = %bounded(&err), "OpenAI webhook signed but unreadable");
                Box::new(error_reply(StatusCode::BAD_REQUEST, "malformed event"))
            }
        },
    }
}

/// Admits, accepts and runs one call; or rejects it as busy.
async fn answer(state: Arc<AppState>, door: Arc<SipDoor>, call: IncomingCall) {
    // As a Media Stream's: the runner records the call's ids.
    let span = tracing::info_span!(
        "call",
        stream = tracing::field::Empty,
        call = tracing::field::Empty
    );
    let Some(answering) = door.answering(call.call_id.as_str()) else {
        tracing::info!(stream = %call.call_id, "this call is already being answered");
        return;
    };
    let place = if state.registry.is_draining() {
        tracing::info!(stream = %call.call_id, "call refused: draining");
        None
    } else {
        take_a_place(&state).await
    };
    let Some((permit, place)) = place else {
        state.metrics.sip_webhook("busy");
        if let Err(err) = door.control.reject(&call.call_id, door.busy_status).await {
            tracing::warn!(stream = %call.call_id, error = %err, "rejecting a call failed");
        }
        return;
    };
    match door.control.accept(&call.call_id, &door.accept).await {
        Ok(()) => {}
        Err(ControlError::Gone) => {
            // A retried delivery, or a caller who gave up ringing (§7.2).
            state.metrics.sip_webhook("gone");
            tracing::info!(stream = %call.call_id, "the call ended before it was accepted");
            return;
        }
        Err(err) => {
            state.metrics.sip_webhook("failed");
            tracing::warn!(stream = %call.call_id, error = %err, "accepting a call failed");
            return;
        }
    }
    let gone = Arc::new(CallGone::default());
    let model = match door.sidebands.for_call(call.call_id.as_str(), gone.clone()) {
        Ok(model) => model,
        Err(err) => {
            tracing::error!(error = %err, "no sideband URL; hanging up");
            let _ = door.control.hangup(&call.call_id).await;
            return;
        }
    };
    let mut services = state.services.clone();
    services.model = Arc::new(model);
    services.policy.traits = SIP_TRAITS;
    // Nothing can be played into a call whose audio is OpenAI's.
    services.hold = None;
    let keep = door.keep_numbers;
    let info = CallInfo {
        leg_id: call.call_id.clone(),
        call_sid: None,
        caller: call.from.as_ref().map(|number| number.masked()),
        caller_number: call.from.filter(|_| keep),
        called_number: call.to.filter(|_| keep),
        audio: AudioRoute::Direct,
    };
    let leg = SipLeg::new(info, gone, door.control.clone(), door.transfer_to.clone());
    let shutdown = state.registry.shutdown_signal();
    let reason =
        tracing::Instrument::instrument(run_call(leg, &services, permit, shutdown), span).await;
    drop(place);
    drop(answering);
    tracing::debug!(%reason, "SIP call task done");
}
