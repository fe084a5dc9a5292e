//! Twilio's two doors: the `/twiml` webhook, which answers with TwiML that
//! opens a Media Stream, and the `/call` upgrade, where each stream runs as
//! one call.

use std::sync::Arc;

use qloophone_domain::call::run_call;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::guards::{signed_stream, signed_webhook};
use super::websocket::{self, Upgrade};
use super::{AppState, MAX_CALL_FRAME, error_reply, with_state};
use crate::redis::Admission;
use crate::twilio::{TwilioLeg, stream_token, twiml};

/// `/twiml` and `/call`.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let twiml = warp::path!("twiml")
        .and(signed_webhook(state.clone()))
        .and(with_state(state.clone()))
        .map(twiml_reply);
    let call = warp::path!("call")
        .and(signed_stream(state.clone()))
        .and(websocket::upgrade())
        .and(with_state(state.clone()))
        .then(call_upgrade);
    twiml.or(call)
}

fn xml(body: String) -> impl Reply {
    warp::reply::with_header(body, "content-type", "text/xml")
}

fn twiml_reply(params: Vec<(String, String)>, state: Arc<AppState>) -> impl Reply {
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
    xml(twiml::connect_stream(&state.public_url, &parameters))
}

async fn call_upgrade(upgrade: Upgrade, state: Arc<AppState>) -> Box<dyn Reply> {
    let Some(permit) = state.registry.try_admit() else {
        tracing::warn!(
            active = state.registry.active(),
            "call refused: at the call limit"
        );
        return Box::new(error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "at the call limit",
        ));
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
                return Box::new(error_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "at the fleet's call limit",
                ));
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
    let config = websocket::config(MAX_CALL_FRAME);
    Box::new(upgrade.accept(config, move |socket| async move {
        let leg = TwilioLeg::new(socket, state.stream_tokens.clone(), state.write_timeout);
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
