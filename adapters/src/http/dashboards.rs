//! `/logs`: dashboards follow every call's events over a WebSocket.

use std::sync::Arc;

use warp::{Filter, Rejection, Reply};

use super::{AppState, MAX_LOGS_FRAME, with_state};
use crate::dashboard::{self, LogsOptions};

/// `/logs`.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("logs")
        .and(warp::ws())
        .and(warp::query::<LogsOptions>())
        .and(with_state(state.clone()))
        .map(logs_upgrade)
}

fn logs_upgrade(ws: warp::ws::Ws, options: LogsOptions, state: Arc<AppState>) -> impl Reply {
    let events = state.dashboard.subscribe();
    let shutdown = state.dashboard.closed();
    ws.max_message_size(MAX_LOGS_FRAME)
        .max_frame_size(MAX_LOGS_FRAME)
        .on_upgrade(move |socket| async move {
            dashboard::serve_client(socket, events, options, &*state.clock, shutdown).await;
        })
}
