//! The built-in dashboard in a real browser: headless Chromium driven over
//! WebDriver (Debian's `chromium` and `chromium-driver`, which `.ci/run`
//! installs), against the sandbox.
//!
//! Without Chromium these tests fail and say how to install it; set
//! `QLOOPHONE_SKIP_BROWSER_TESTS=1` to skip them on purpose.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use qloophone::config::Config;
use qloophone_adapters::secret::Secret;
use qloophone_sandbox::caller::{CallReport, Step, place_call};
use qloophone_sandbox::script::ModelScript;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{AppOptions, TestApp, film_search, free_port, spawn_app_with};

const KEY: &str = "browser-dashboard-key";

/// Where screenshots go: `target/tmp/browser/`.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium session, with its chromedriver stopped when dropped.
struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Ends the WebDriver session, which quits Chromium.
    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Chromium outlives a killed chromedriver (its renderers went on
    /// running the page, hundreds of them after a day of test runs), so
    /// the whole process group chromedriver leads is killed, whether the
    /// test ended or panicked.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn program(variable: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

/// The browser, or `None` when the browser tests are skipped on purpose.
async fn browser() -> Option<Browser> {
    if std::env::var_os("QLOOPHONE_SKIP_BROWSER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("browser test skipped: QLOOPHONE_SKIP_BROWSER_TESTS=1");
        return None;
    }
    let (Some(chromium), Some(chromedriver)) = (
        program("CHROMIUM", "/usr/bin/chromium"),
        program("CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        panic!(
            "the dashboard's browser tests need Chromium and ChromeDriver \
             (Debian: apt-get install chromium chromium-driver; or set CHROMIUM and \
             CHROMEDRIVER), or QLOOPHONE_SKIP_BROWSER_TESTS=1 to skip them"
        );
    };
    // Two TLS back ends are linked in (the WebDriver client's and
    // reqwest's): name the process's one. Only loopback HTTP is spoken.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        // A group of its own, with the Chromium it starts: see `Drop`.
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            // As this machine's Chromium needs: no sandbox as root, and no
            // background connections to a network that is not there.
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1400,900",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
        {
            Ok(client) => {
                return Some(Browser {
                    client,
                    driver,
                    _profile: profile,
                });
            }
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no browser session through chromedriver: {last:?}");
}

/// Runs `script` in the page until it returns something truthy, for up
/// to 20 s; fails with what it last returned.
async fn until(client: &Client, what: &str, script: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = client.execute(script, vec![]).await.unwrap();
        let truthy = match &last {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = client.source().await.unwrap_or_default();
    panic!("{what}: never true (last {last}); the page:\n{page}");
}

async fn app_with_key(script: ModelScript) -> TestApp {
    app_at(script, None).await
}

async fn app_at(script: ModelScript, bind: Option<std::net::SocketAddr>) -> TestApp {
    let mut config = Config::default();
    config.dashboard.token = Some(Secret::new(KEY));
    spawn_app_with(AppOptions {
        script,
        config,
        // The sandbox's own Qloo, through the real client.
        tools: None,
        bind,
        ..AppOptions::default()
    })
    .await
}

async fn open_dashboard(app: &TestApp, client: &Client) {
    // The key travels in the fragment, which never reaches the server's
    // logs; the page keeps it for the tab and takes it out of the address.
    client
        .goto(&format!("{}/#token={KEY}", app.url("")))
        .await
        .unwrap();
    until(
        client,
        "the page connected",
        "return document.getElementById('link').dataset.state === 'live' \
         && document.getElementById('link').textContent === 'live'",
    )
    .await;
    assert_eq!(
        client.current_url().await.unwrap().fragment(),
        None,
        "the key is taken out of the address bar"
    );
}

fn film_script() -> ModelScript {
    film_search("The Matrix it is. Then try Ghost in the Shell.")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_shows_live_with_its_state_transcript_tool_call_key_press_and_cost() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let app = app_with_key(film_script()).await;
    open_dashboard(&app, client).await;

    // As Twilio would: the webhook first, then the stream it names.
    let mut caller = app.caller(3);
    let (url, parameters) =
        qloophone_sandbox::phone::ask_for_stream(&app.url(""), &caller.call_sid, None)
            .await
            .unwrap();
    caller.url = url;
    caller.parameters = parameters;
    caller.speed = 1.0; // real time, so the page sees each state
    let call: JoinHandle<CallReport> = tokio::spawn(async move {
        place_call(
            caller,
            &[
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Speak { ms: 800 },
                Step::WaitForAnswer { max_ms: 15_000 },
                Step::Dtmf { digit: '7' },
                Step::Silence { ms: 1_500 },
                Step::Hangup,
            ],
        )
        .await
        .expect("call placed")
    });

    let stream = format!("MZ{:032x}", 3);
    until(
        client,
        "the call is listed in progress with a state",
        &format!(
            "const row = document.querySelector('#live-list #row-{stream}'); \
             return row && ['connecting','greeting','listening','thinking','speaking','tool_running'] \
               .includes(row.dataset.state) && row.querySelector('.st').textContent"
        ),
    )
    .await;
    // The first call is picked by itself.
    let caller_shown = until(
        client,
        "the call's detail",
        "return !document.getElementById('call-view').hidden \
         && document.getElementById('d-caller').textContent",
    )
    .await;
    assert_eq!(caller_shown, "+1******0000", "the caller, masked by /twiml");
    // Streamed in deltas, then the finished turn.
    until(
        client,
        "the whole greeting in the transcript",
        "const b = [...document.querySelectorAll('#timeline .turn-assistant .bubble')]; \
         return b.length > 0 && b[0].textContent === 'Hi, this is QlooPhone.'",
    )
    .await;
    let tool = until(
        client,
        "the tool call with its arguments and result",
        "const c = document.querySelector('#timeline li.card[data-tool=search_entity]'); \
         return c && { args: c.querySelector('.args').textContent, \
                       result: c.querySelector('.res').textContent, \
                       latency: c.querySelector('.lat').textContent }",
    )
    .await;
    assert!(
        tool["args"].as_str().unwrap().contains("The Matrix"),
        "{tool}"
    );
    assert!(
        tool["result"].as_str().unwrap().contains("Matrix"),
        "{tool}"
    );
    assert!(tool["latency"].as_str().unwrap().ends_with("ms"), "{tool}");
    until(
        client,
        "the caller's words",
        "return [...document.querySelectorAll('#timeline .turn-caller .bubble')] \
         .some(b => b.textContent.includes('I love The Matrix'))",
    )
    .await;
    until(
        client,
        "the key press",
        "return [...document.querySelectorAll('#timeline li.note.key')] \
         .some(n => n.textContent.includes('7')) \
         && document.getElementById('d-barge').textContent.endsWith('7')",
    )
    .await;
    let cost = until(
        client,
        "a non-zero cost",
        "const c = document.getElementById('d-cost').textContent; \
         return Number(c.slice(1)) > 0 && c",
    )
    .await;
    assert!(cost.as_str().unwrap().starts_with('$'));
    let qloo = until(
        client,
        "Qloo requests counted",
        "return Number(document.getElementById('d-qloo').textContent)",
    )
    .await;
    assert!(qloo.as_f64().unwrap() >= 1.0, "{qloo}");

    call.await.unwrap();
    until(
        client,
        "the call ended",
        &format!(
            "return document.querySelector('#ended-list #row-{stream}') \
             && document.getElementById('d-state').textContent === 'ended' \
             && [...document.querySelectorAll('#timeline li.note.end')].length === 1"
        ),
    )
    .await;
    // The keyboard: `/` focuses the filter, which narrows the list.
    client
        .execute(
            "document.dispatchEvent(new KeyboardEvent('keydown', {key: '/'})); \
             return document.activeElement.id",
            vec![],
        )
        .await
        .unwrap();
    let screenshot = client.screenshot().await.unwrap();
    let path = artifacts().join("dashboard-call.png");
    std::fs::write(&path, screenshot).unwrap();
    eprintln!("screenshot: {}", path.display());
    app.stop().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_calls_at_once_are_all_listed_then_all_end() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let app = app_with_key(film_script()).await;
    open_dashboard(&app, client).await;
    let calls: Vec<JoinHandle<CallReport>> = (0..20)
        .map(|tag| {
            app.spawn_call(
                100 + tag,
                vec![
                    Step::WaitForAnswer { max_ms: 20_000 },
                    Step::Silence { ms: 16_000 },
                    Step::Hangup,
                ],
            )
        })
        .collect();
    until(
        client,
        "twenty calls in progress",
        "return document.querySelectorAll('#live-list .row').length === 20 \
         && document.getElementById('t-live').textContent === '20'",
    )
    .await;
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join("dashboard-twenty-calls.png"), screenshot).unwrap();
    // Moving through them from the keyboard picks each in turn.
    let picked = client
        .execute(
            "const ids = []; \
             for (let i = 0; i < 20; i++) { \
               document.dispatchEvent(new KeyboardEvent('keydown', {key: i ? 'j' : 'Home'})); \
               ids.push(document.getElementById('calls').getAttribute('aria-activedescendant')); \
             } \
             return new Set(ids).size",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(picked, 20, "the keys walk every call");
    for call in calls {
        call.await.unwrap();
    }
    until(
        client,
        "twenty calls ended",
        "return document.querySelectorAll('#ended-list .row').length === 20 \
         && document.querySelectorAll('#live-list .row').length === 0",
    )
    .await;
    app.stop().await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_the_server_is_gone_and_reconnects_when_it_returns() {
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let app = app_with_key(film_script()).await;
    let addr = app.addr;
    open_dashboard(&app, client).await;
    app.call(1, &crate::helpers::one_turn()).await;
    until(
        client,
        "the first call listed",
        "return document.querySelectorAll('#ended-list .row').length === 1",
    )
    .await;
    app.stop().await;
    let said = until(
        client,
        "the page says it is disconnected",
        "const l = document.getElementById('link'); \
         return l.dataset.state === 'down' && l.textContent",
    )
    .await;
    assert!(said.as_str().unwrap().starts_with("disconnected"), "{said}");
    // A new server on the same address: the page finds it by itself.
    let app = app_at(film_script(), Some(addr)).await;
    until(
        client,
        "live again",
        "return document.getElementById('link').textContent === 'live'",
    )
    .await;
    app.call(2, &crate::helpers::one_turn()).await;
    until(
        client,
        "the new server's call listed (the old one's past went with it)",
        &format!(
            "return document.querySelectorAll('#ended-list .row').length === 1 \
             && !!document.getElementById('row-MZ{:032x}')",
            2
        ),
    )
    .await;
    app.stop().await;
    browser.close().await;
}

/// With two instances sharing a Redis, the page on one lists the other's
/// calls too, each saying which instance it is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_on_one_instance_lists_every_instances_calls_by_instance() {
    let Some(redis) = crate::fleet::RedisServer::start().await else {
        return;
    };
    let Some(browser) = browser().await else {
        return;
    };
    let client = &browser.client;
    let fleet_app = |name| {
        let mut config = crate::fleet::fleet_config(&redis.url(), name);
        config.dashboard.token = Some(Secret::new(KEY));
        spawn_app_with(AppOptions {
            script: film_script(),
            config,
            tools: None,
            ..AppOptions::default()
        })
    };
    let a = fleet_app("a").await;
    let b = fleet_app("b").await;
    open_dashboard(&b, client).await;
    let held = || {
        vec![
            Step::WaitForAnswer { max_ms: 20_000 },
            Step::Silence { ms: 6_000 },
            Step::Hangup,
        ]
    };
    let on_a = a.spawn_call(201, held());
    let on_b = b.spawn_call(202, held());
    let labels = until(
        client,
        "both calls listed with their instance",
        "const rows = [...document.querySelectorAll('#live-list .row .st')]; \
         const labels = rows.map(r => r.textContent.split(' · ').pop()).sort(); \
         return rows.length === 2 && labels.join(',') === 'a,b' ? labels : null",
    )
    .await;
    assert_eq!(labels, json!(["a", "b"]));
    let stream_a = a.caller(201).stream_sid;
    client
        .execute(
            "document.getElementById('row-' + arguments[0]).click()",
            vec![json!(stream_a)],
        )
        .await
        .unwrap();
    until(
        client,
        "the picked call says where it is",
        "const on = document.getElementById('d-instance'); \
         return !on.hidden && on.textContent === 'on a'",
    )
    .await;
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(artifacts().join("dashboard-fleet.png"), screenshot).unwrap();
    on_a.await.unwrap();
    on_b.await.unwrap();
    until(
        client,
        "both calls ended",
        "return document.querySelectorAll('#ended-list .row').length === 2",
    )
    .await;
    a.stop().await;
    b.stop().await;
    browser.close().await;
}
