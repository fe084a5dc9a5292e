//! `GET /`: the built-in dashboard, embedded at build time (HTML, CSS and
//! JavaScript; no CDN, no build step). The page holds no secret: it asks
//! for the dashboard key and sends it with its own requests to `/logs`
//! and `/metrics`, which check it.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use warp::{Filter, Rejection, Reply};

const INDEX: &str = include_str!("../dashboard/page/index.html");
const SCRIPT: &str = include_str!("../dashboard/page/app.js");
const STYLE: &str = include_str!("../dashboard/page/app.css");

/// Only this server's own files run, connect and style the page; it is
/// never framed and sends no referrer.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/`, `/dashboard/app.js` and `/dashboard/app.css`.
pub(super) fn routes() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    // Paths before methods, so a request for another route is told that
    // route's own error, never this one's 405.
    let index = warp::path::end()
        .and(warp::get())
        .map(|| asset(INDEX, "text/html; charset=utf-8"));
    let script = warp::path!("dashboard" / "app.js")
        .and(warp::get())
        .map(|| asset(SCRIPT, "text/javascript; charset=utf-8"));
    let style = warp::path!("dashboard" / "app.css")
        .and(warp::get())
        .map(|| asset(STYLE, "text/css; charset=utf-8"));
    index.or(script).unify().or(style).unify()
}

fn asset(body: &'static str, kind: &'static str) -> warp::reply::Response {
    let mut response = warp::reply::Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    // Revalidated on every load: a new build's page is never mixed with an
    // old script.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}
