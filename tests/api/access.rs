//! Who may open dashboards: the key, browser origins, the connection cap,
//! `/metrics`.

use qloophone::config::{Config, Secret};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{AppOptions, TestApp, next_json, spawn_app_with};

const KEY: &str = "dashboard-access-key";

async fn keyed_app(configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.dashboard.token = Some(Secret::new(KEY));
    configure(&mut config);
    spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await
}

/// Opens `/logs{query}` with these headers: the upgrade's status, and the
/// socket when it was accepted.
async fn open(
    app: &TestApp,
    query: &str,
    headers: &[(&'static str, &str)],
) -> Result<crate::helpers::Socket, u16> {
    let mut request = app
        .ws_url(&format!("/logs{query}"))
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((mut socket, _)) => {
            let hello = next_json(&mut socket).await.unwrap();
            assert_eq!(hello["type"], "connection.established");
            Ok(socket)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("unexpected: {other}"),
    }
}

#[tokio::test]
async fn dashboards_need_the_key_as_a_bearer_token_or_a_query_parameter() {
    let app = keyed_app(|_| {}).await;
    assert_eq!(open(&app, "", &[]).await.err(), Some(401));
    assert_eq!(
        open(&app, "", &[("authorization", "Bearer wrong")])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(open(&app, "?token=wrong", &[]).await.err(), Some(401));
    let bearer = format!("Bearer {KEY}");
    assert!(
        open(&app, "", &[("authorization", bearer.as_str())])
            .await
            .is_ok()
    );
    assert!(
        open(&app, &format!("?format=envelope&token={KEY}"), &[])
            .await
            .is_ok()
    );
    app.stop().await;
}

#[tokio::test]
async fn browsers_from_other_origins_are_refused() {
    let app = keyed_app(|_| {}).await;
    let query = format!("?token={KEY}");
    assert_eq!(
        open(&app, &query, &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    let own = app.url("");
    let own = own.trim_end_matches('/');
    assert!(
        open(&app, &query, &[("origin", own)]).await.is_ok(),
        "its own origin"
    );
    // Another local page (the original monitor's port) is refused unless
    // the operator allows it (issue 28, finding 11).
    assert_eq!(
        open(&app, &query, &[("origin", "http://localhost:3000")])
            .await
            .err(),
        Some(403)
    );
    app.stop().await;
    let app = keyed_app(|config| {
        config.dashboard.allowed_origins = vec!["http://localhost:3000".into()];
    })
    .await;
    assert!(
        open(&app, &query, &[("origin", "http://localhost:3000")])
            .await
            .is_ok(),
        "an origin the operator allowed"
    );
    app.stop().await;
}

/// Wrong keys are limited per source (issue 28, finding 11): ten, then one
/// every six seconds; past that a source is refused (429) without its key
/// being looked at, the right one included, while another source is not
/// held up. Forty wrong keys on one connection, as fast as it can.
#[tokio::test]
async fn wrong_keys_are_limited_per_source() {
    let app = keyed_app(|_| {}).await;
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let guesser = from("127.0.0.1");
    let mut statuses = Vec::new();
    for guess in 0..40 {
        let status = guesser
            .get(app.url("/metrics"))
            .bearer_auth(format!("guess-{guess:012}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let held = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + held, 40, "{statuses:?}");
    assert_eq!(&statuses[..10], &[401; 10], "ten wrong keys are answered");
    assert!(held >= 20, "then the source is held: {statuses:?}");
    let right = guesser
        .get(app.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429, "the key is not even looked at");
    let other = from("127.0.0.2")
        .get(app.url("/metrics"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another source is not held up");
    app.stop().await;
}

#[tokio::test]
async fn dashboards_beyond_the_cap_are_refused_until_one_leaves() {
    let app = keyed_app(|config| config.dashboard.max_clients = 2).await;
    let query = format!("?token={KEY}");
    let first = open(&app, &query, &[]).await.unwrap();
    let _second = open(&app, &query, &[]).await.unwrap();
    assert_eq!(open(&app, &query, &[]).await.err(), Some(503));
    drop(first);
    // The server frees the place once it sees the first socket end.
    let mut reopened = None;
    for _ in 0..100 {
        if let Ok(socket) = open(&app, &query, &[]).await {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(reopened.is_some(), "a place came free");
    app.stop().await;
}

#[tokio::test]
async fn metrics_need_the_key_unless_public() {
    let app = keyed_app(|_| {}).await;
    let metrics = app.url("/metrics");
    assert_eq!(app.http.get(&metrics).send().await.unwrap().status(), 401);
    let keyed = app
        .http
        .get(&metrics)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
    assert!(
        keyed
            .text()
            .await
            .unwrap()
            .contains("qloophone_active_calls")
    );
    app.stop().await;

    let open_app = keyed_app(|config| config.dashboard.metrics_public = true).await;
    let status = open_app
        .http
        .get(open_app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status, 200,
        "metrics_public leaves /metrics open for scrapers"
    );
    open_app.stop().await;
}
