//! `/logs`: dashboards follow every call's events over a WebSocket, with
//! the dashboard key, from an allowed origin, up to `dashboard.max_clients`.

use std::sync::Arc;

use warp::{Filter, Rejection, Reply};

use warp::http::StatusCode;

use super::guards::{allowed_origin, dashboard_key};
use super::websocket::{self, Upgrade};
use super::{AppState, MAX_LOGS_FRAME, error_reply, with_state};
use crate::dashboard::{self, LogsOptions};

/// `/logs`.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("logs")
        .and(allowed_origin(state.clone()))
        .and(dashboard_key(state.clone()))
        .and(websocket::upgrade())
        .and(warp::query::<LogsOptions>())
        .and(with_state(state.clone()))
        .map(logs_upgrade)
}

fn logs_upgrade(upgrade: Upgrade, options: LogsOptions, state: Arc<AppState>) -> Box<dyn Reply> {
    if state.dashboard.clients() >= state.access.max_clients {
        tracing::warn!(
            dashboards = state.dashboard.clients(),
            "dashboard refused: at dashboard.max_clients"
        );
        return Box::new(error_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many dashboards",
        ));
    }
    let events = state.dashboard.subscribe_with_history();
    let shutdown = state.dashboard.closed();
    let config = websocket::config(MAX_LOGS_FRAME);
    // Calls hand their audio to observers only while such a dashboard is
    // connected.
    let audio = options.audio.then(|| state.dashboard.watch_audio());
    Box::new(upgrade.accept(config, move |socket| async move {
        dashboard::serve_client(socket, events, options, &*state.clock, shutdown).await;
        drop(audio);
    }))
}
