//! HTTP connections are bounded: half-sent requests, idle keep-alives and
//! trickled bodies are cut off at their deadlines, and connections past
//! the cap wait, while calls beside them go on.

use std::time::Duration;

use qloophone::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

async fn app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    configure(&mut config);
    spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await
}

/// Reads until the server closes the connection (or resets it), and
/// returns what it sent; `None` if it is still open after ten seconds.
async fn closed_by_server(socket: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_at_the_header_deadline_and_calls_go_on() {
    let app = app_with(|config| config.http.header_read_timeout_ms = 300).await;
    let healthy = app.healthy_call();
    let mut silent = Vec::new();
    let mut halves = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(app.addr).await.unwrap());
        let mut half = TcpStream::connect(app.addr).await.unwrap();
        half.write_all(b"GET /health HTTP/1.1\r\nHost: qloophone\r\n")
            .await
            .unwrap();
        halves.push(half);
    }
    for socket in &mut silent {
        let sent = closed_by_server(socket).await;
        assert_eq!(sent.as_deref(), Some(""), "a silent connection was closed");
    }
    for socket in &mut halves {
        let sent = closed_by_server(socket)
            .await
            .expect("a half-sent request was closed");
        assert!(
            sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
            "answered {sent:?}"
        );
    }
    let report = healthy.await.unwrap();
    assert!(report.bytes_heard > 0, "the call beside them went on");
    assert_eq!(app.get_json("/health").await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = app_with(|config| config.http.header_read_timeout_ms = 300).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(b"GET /health HTTP/1.1\r\nHost: qloophone\r\n\r\n")
        .await
        .unwrap();
    let sent = closed_by_server(&mut socket)
        .await
        .expect("the idle connection was closed after its answer");
    assert!(sent.starts_with("HTTP/1.1 200"), "answered {sent:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_trickled_webhook_body_is_answered_408() {
    let app = app_with(|config| config.http.body_read_timeout_ms = 300).await;
    let mut socket = TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"POST /twiml HTTP/1.1\r\nHost: qloophone\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nCallSid=CA",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("the server answered the slow body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "answered {answer:?}");
    assert!(answer.contains("request body too slow"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = app_with(|config| config.http.max_connections = 2).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    // Both places are taken by connections that send nothing, so a third
    // request waits in the backlog...
    let third = tokio::spawn({
        let url = app.url("/health");
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "the third connection is not served");
    // ...and is served when one of them leaves.
    drop(first);
    let status = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("served once a place was free")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    app.stop().await;
}
