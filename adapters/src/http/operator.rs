//! What operators and their tools read: `/health` (load balancers),
//! `/cache-stats`, `/metrics` (Prometheus), `/tools`, `/public-url`, and in
//! sandbox mode `/test/sessions`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use warp::filters::BoxedFilter;

use super::guards::dashboard_key;
use super::{AppState, with_state};
use crate::metrics::Snapshot;
use crate::openai::wire::tool_json;
use crate::time::rfc3339;

/// The operator endpoints.
pub(super) fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            // Load balancers stop routing to a draining server.
            let (status, code) = if state.registry.is_draining() {
                ("draining", StatusCode::SERVICE_UNAVAILABLE)
            } else {
                ("healthy", StatusCode::OK)
            };
            let mut body = json!({
                "status": status,
                "timestamp": rfc3339(state.clock.now()),
                "version": state.version,
                "activeCalls": state.registry.active(),
                "qloo": {"breaker": state.qloo_breaker.state().as_str()},
            });
            if let Some(fleet) = &state.fleet {
                body["fleet"] = fleet_json(fleet);
            }
            if state.insecure {
                body["insecure"] =
                    json!("live mode without the Twilio token or the dashboard key (--insecure)");
            }
            warp::reply::with_status(warp::reply::json(&body), code)
        });
    let cache_stats = warp::path!("cache-stats")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| warp::reply::json(&cache_stats_body(&state)));
    let tools = warp::path!("tools")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| warp::reply::json(&tool_schemas(&state)));
    let public_url = warp::path!("public-url")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            let url = state.public_url.as_str().trim_end_matches('/').to_owned();
            warp::reply::json(&json!({ "publicUrl": url }))
        });
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(metrics_key(&state))
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            let text = state.metrics.render(Snapshot {
                active_calls: state.registry.active(),
                dashboards: state.dashboard.clients(),
                draining: state.registry.is_draining(),
                cache: state.cache.cache_stats(),
                qloo_breaker: state.qloo_breaker.state(),
                dashboard_dropped: state.dashboard.dropped(),
                fleet: state.fleet.as_ref().map(|fleet| fleet.snapshot()),
            });
            warp::reply::with_header(
                text,
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        });
    let sessions = warp::path!("test" / "sessions")
        .and(warp::get())
        .and(sandbox_only(&state))
        .and(with_state(state.clone()))
        .map(|state: Arc<AppState>| {
            warp::reply::json(&json!({
                "activeSessions": state.registry.active(),
                "timestamp": rfc3339(state.clock.now()),
                // Where `qloophone call --sip` places its calls: the
                // simulated SIP control plane's REST base.
                "sipControlPlane": state.sip.as_ref().map(|door| door.control.base()),
            }))
        });
    health
        .or(cache_stats)
        .or(tools)
        .or(public_url)
        .or(metrics)
        .or(sessions)
}

/// The dashboard key in front of `/metrics`, unless `metrics_public`.
fn metrics_key(state: &Arc<AppState>) -> BoxedFilter<()> {
    if state.access.metrics_public {
        warp::any().boxed()
    } else {
        dashboard_key(state.clone()).boxed()
    }
}

/// Passes only when the server runs the sandbox; elsewhere the route does
/// not exist.
fn sandbox_only(state: &AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    let enabled = state.test_endpoints;
    warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// The fleet as `/health` shows it: this instance, whether Redis answers,
/// and every instance alive with its calls (as of the last heartbeat).
fn fleet_json(fleet: &crate::redis::Fleet) -> serde_json::Value {
    let view = fleet.view();
    json!({
        "instance": fleet.redis().instance().as_ref(),
        "redis": if fleet.redis().is_up() { "up" } else { "down" },
        "calls": view.calls,
        "maxCalls": (fleet.limit() > 0).then_some(fleet.limit()),
        "instances": view.instances.iter().map(|instance| json!({
            "name": instance.name,
            "calls": instance.calls,
            "draining": instance.draining,
            "dashboards": instance.dashboards,
            "maxCalls": instance.max_calls,
            "version": instance.version,
        })).collect::<Vec<_>>(),
        "asOf": view.at.map(rfc3339),
    })
}

#[derive(Serialize)]
struct CacheStatsBody {
    size: usize,
    hits: u64,
    misses: u64,
    evictions: u64,
    #[serde(rename = "hitRate")]
    hit_rate: f64,
    /// The shared (Redis) tier, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared: Option<SharedTierBody>,
    timestamp: String,
}

#[derive(Serialize)]
struct SharedTierBody {
    connected: bool,
    hits: u64,
    misses: u64,
    writes: u64,
    errors: u64,
    /// Lookups that waited for another instance's search of the same.
    waits: u64,
    #[serde(rename = "hitRate")]
    hit_rate: f64,
}

#[allow(clippy::cast_precision_loss)] // counters far below 2^52
fn rate(hits: u64, misses: u64) -> f64 {
    let lookups = hits + misses;
    if lookups == 0 {
        0.0
    } else {
        hits as f64 / lookups as f64
    }
}

fn cache_stats_body(state: &AppState) -> CacheStatsBody {
    let stats = state.cache.cache_stats();
    let hit_rate = rate(stats.hits, stats.misses);
    CacheStatsBody {
        shared: stats.shared.map(|tier| SharedTierBody {
            connected: tier.connected,
            hits: tier.hits,
            misses: tier.misses,
            writes: tier.writes,
            errors: tier.errors,
            waits: tier.waits,
            hit_rate: rate(tier.hits, tier.misses),
        }),
        size: stats.size,
        hits: stats.hits,
        misses: stats.misses,
        evictions: stats.evictions,
        hit_rate,
        timestamp: rfc3339(state.clock.now()),
    }
}

/// The tools exactly as the model is given them.
fn tool_schemas(state: &AppState) -> Vec<serde_json::Value> {
    state.services.setup.tools.iter().map(tool_json).collect()
}
