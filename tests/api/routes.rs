//! The HTTP surface.

use futures_util::StreamExt;
use qloophone::config::Config;
use serde_json::Value;

use crate::helpers::{AppOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_reports_healthy_with_time_and_version() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(humantime_like(timestamp), "{timestamp}");
    app.stop().await;
}

fn humantime_like(text: &str) -> bool {
    text.len() == 24 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn cache_stats_start_at_zero() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/cache-stats").await;
    assert_eq!(status, 200);
    for key in ["size", "hits", "misses", "evictions"] {
        assert_eq!(body[key], 0, "{key}");
    }
    assert_eq!(body["hitRate"], 0.0);
    assert!(body["timestamp"].is_string());
}

#[tokio::test]
async fn twiml_answers_get_and_post_with_a_stream_to_call() {
    let app = spawn_app().await;
    for (request, parameters) in [
        (app.http.get(app.url("/twiml")), ""),
        (
            app.http
                .post(app.url("/twiml"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("CallSid=CA123&From=%2B15551234567&To=%2B15557654321"),
            // The caller, masked before it leaves the server.
            r#"<Parameter name="caller" value="+1******4567"/>"#,
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/xml");
        let body = response.text().await.unwrap();
        assert_eq!(
            body,
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="http://{0}/twilio/after-stream" method="POST"><Stream url="ws://{0}/call" statusCallback="http://{0}/twilio/stream-status" statusCallbackMethod="POST">{parameters}</Stream></Connect></Response>"#,
                app.addr
            )
        );
    }
}

#[tokio::test]
async fn twiml_uses_wss_for_an_https_public_url() {
    let mut config = Config::default();
    config.server.public_url = "https://abc.ngrok.app/".into();
    let app = spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await;
    let body = app.twiml(&[]).await;
    assert!(
        body.contains(r#"<Stream url="wss://abc.ngrok.app/call" statusCallback="https://abc.ngrok.app/twilio/stream-status""#),
        "{body}"
    );
    assert!(
        !body.contains("/call?"),
        "no query string in the stream URL"
    );
    let (_, public) = app.get_json("/public-url").await;
    assert_eq!(public["publicUrl"], "https://abc.ngrok.app");
}

#[tokio::test]
async fn twiml_refuses_oversized_webhook_bodies() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/twiml"))
        .body("x".repeat(100 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "request body too large");
}

/// A chunked body declares no length, so it must be cut off as it is read:
/// the server answers 413 once 64 KiB have arrived, long before the 8 MiB
/// this client is willing to send, and other requests are served meanwhile.
#[tokio::test]
async fn twiml_refuses_a_chunked_body_past_the_limit_without_reading_it_all() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"POST /twiml HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
    let (mut reader, mut writer) = socket.into_split();
    let writing = tokio::spawn(async move {
        let mut sent = 0usize;
        while sent < 8 * 1024 * 1024 {
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server stopped reading and closed
            }
            sent += 0x4000;
        }
        sent
    });
    let mut head = vec![0u8; 12];
    reader.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    let (status, _) = app.get_json("/health").await;
    assert_eq!(status, 200, "other requests are served meanwhile");
    drop(reader);
    let sent = writing.await.unwrap();
    assert!(
        sent < 8 * 1024 * 1024,
        "the server stopped reading at the limit ({sent} bytes sent)"
    );
}

/// A malformed chunk is the client's mistake, not a body too large: 400
/// (issue 28, finding 11).
#[tokio::test]
async fn a_malformed_chunk_is_a_bad_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"POST /twiml HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\r\nzz\r\nCallSid=CA1\r\n0\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = vec![0u8; 12];
    socket.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 400");
}

#[tokio::test]
async fn tools_lists_the_schemas_given_to_the_model() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/tools").await;
    assert_eq!(status, 200);
    let tools = body.as_array().unwrap();
    assert_eq!(tools.len(), 6, "the tool, then the call's own: {tools:?}");
    assert_eq!(tools[1]["name"], "end_call");
    // The sandbox has a person to transfer to, and a Twilio to text with.
    assert_eq!(tools[2]["name"], "transfer_to_human");
    assert_eq!(tools[3]["name"], "text_recommendations");
    // And a memory of callers who ask (in this process only).
    assert_eq!(tools[4]["name"], "remember_me");
    assert_eq!(tools[5]["name"], "forget_me");
    assert_eq!(tools[0]["type"], "function");
    assert_eq!(tools[0]["name"], "search_entity");
    assert_eq!(tools[0]["parameters"]["required"][0], "query");
}

#[tokio::test]
async fn public_url_and_sessions_report_their_values() {
    let app = spawn_app().await;
    let (_, body) = app.get_json("/public-url").await;
    assert_eq!(body["publicUrl"], format!("http://{}", app.addr));
    let (_, body) = app.get_json("/test/sessions").await;
    assert_eq!(body["activeSessions"], 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/nope").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not found")));
    let response = app.http.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method not allowed");
    let (status, body) = app.get_json("/call").await;
    assert_eq!(status, 400, "a plain GET on /call is not an upgrade");
    assert_eq!(body["error"], "expected a WebSocket upgrade");
}

#[tokio::test]
async fn websocket_upgrades_on_other_paths_are_refused_with_404() {
    let app = spawn_app().await;
    app.assert_upgrade_refused("/other", 404).await;
    app.assert_upgrade_refused("/call/extra", 404).await;
}

#[tokio::test]
async fn logs_greets_each_dashboard() {
    let app = spawn_app().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url("/logs"))
        .await
        .unwrap();
    let first = socket.next().await.unwrap().unwrap();
    let event: Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
    assert_eq!(event["type"], "connection.established");
    assert!(event["timestamp"].is_string());
}

#[tokio::test]
async fn test_endpoints_exist_only_in_the_sandbox_and_insecure_live_mode_says_so() {
    // A live server (no sandbox): its peers are never reached by this test.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = qloophone::config::Config::default();
    config.qloo.api_log = String::new();
    config.cache.snapshot = String::new();
    config.server.insecure = true;
    let app = qloophone::startup::Application::builder(listener, config)
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{addr}{path}")).send();
    assert_eq!(get("/test/sessions").await.unwrap().status(), 404);
    let health = get("/health").await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert!(
        body["insecure"].as_str().unwrap().contains("--insecure"),
        "an insecure live server says so on /health: {body}"
    );
    let _ = stop.send(());
    task.await.unwrap();
}

#[tokio::test]
async fn the_built_in_dashboard_is_served_whole_with_a_strict_policy() {
    let app = spawn_app().await;
    let page = app.http.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let policy = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    // Everything it loads is this server's own, by relative URL (so a
    // proxy mounting the server under a path serves it too).
    for (asset, kind) in [
        ("dashboard/app.js", "text/javascript; charset=utf-8"),
        ("dashboard/app.css", "text/css; charset=utf-8"),
    ] {
        assert!(html.contains(&format!("\"{asset}\"")), "{asset} linked");
        let response = app
            .http
            .get(app.url(&format!("/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-type"], kind);
        assert!(!response.text().await.unwrap().is_empty());
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN"
    );
    let (status, _) = app.get_json("/dashboard/other.js").await;
    assert_eq!(status, 404);
    let post = app.http.post(app.url("/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
}
