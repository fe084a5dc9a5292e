//! Several instances sharing one Redis: the entity cache, the dashboard
//! feed, the call registry with its fleet-wide limit, and stream tokens.
//!
//! Each test starts its own `redis-server` (Debian's `redis-server`
//! package, which `.ci/run` installs) on a free loopback port and stops it.
//! Without it these tests fail and say how to install it; set
//! `QLOOPHONE_SKIP_REDIS_TESTS=1` to skip them on purpose.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use qloophone::config::Config;
use qloophone_adapters::secret::Secret;
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_sandbox::caller::{CallerOptions, Step, place_call};
use qloophone_sandbox::script::ModelScript;
use serde_json::Value;

use crate::binary::Served;
use crate::helpers::{
    AppOptions, TestApp, dashboard, dashboard_with_past, film_search, free_port, one_turn,
    read_until, spawn_app_with, wait_until,
};

/// A `redis-server` of a test's own, on a free loopback port, keeping
/// nothing on disk.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A server on a free port, or `None` when the tests are skipped on
    /// purpose.
    pub async fn start() -> Option<Self> {
        // Another test may be handed the same free port before either
        // server binds it; the one that loses finds its server gone, and
        // tries another port rather than share the winner's Redis.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self::start_on(port).await?;
            if server.running() {
                return Some(server);
            }
            server.child = None;
        }
        panic!("no free port for redis-server");
    }

    /// Whether its process is still there (it exits at once when its port
    /// is taken).
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// A server on `port`.
    pub async fn start_on(port: u16) -> Option<Self> {
        if std::env::var_os("QLOOPHONE_SKIP_REDIS_TESTS").is_some_and(|v| v == "1") {
            eprintln!("redis test skipped: QLOOPHONE_SKIP_REDIS_TESTS=1");
            return None;
        }
        let mut server = Self {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        server.run().await;
        Some(server)
    }

    async fn run(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "the fleet tests need redis-server ({err}): apt-get install redis-server, \
                     or QLOOPHONE_SKIP_REDIS_TESTS=1 to skip them"
                )
            });
        let pid = child.id();
        self.child = Some(child);
        for _ in 0..200 {
            // The answer must be our own server's: another test may have
            // been handed the same free port and bound it first, and then
            // ours exits (`running` says so, and `start` tries another).
            if self.answering_pid() == Some(pid) || !self.running() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// The process id of the server answering on the port, if one does.
    fn answering_pid(&self) -> Option<u32> {
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        socket.write_all(b"INFO server\r\n").ok()?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        while !reply.windows(11).any(|w| w == b"process_id:") || !reply.ends_with(b"\r\n\r\n") {
            let read = socket.read(&mut chunk).ok()?;
            if read == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..read]);
        }
        let text = String::from_utf8_lossy(&reply);
        let line = text
            .lines()
            .find_map(|line| line.strip_prefix("process_id:"))?;
        line.trim().parse().ok()
    }

    /// `redis-cli` against it; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .expect("redis-cli (redis-tools, which redis-server brings)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: nothing saved, every connection dropped).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn restart(&mut self) {
        self.kill();
        self.run().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An instance named `name` of a fleet on `redis`, with heartbeats fast
/// enough for tests.
pub(crate) fn fleet_config(redis_url: &str, name: &str) -> Config {
    let mut config = Config::default();
    config.redis.url = Some(Secret::new(redis_url));
    config.redis.instance = name.to_owned();
    config.redis.heartbeat_ms = 200;
    config.redis.expiry_ms = 1_000;
    config
}

/// [`fleet_config`] with every guard on: Twilio's token, a stream secret
/// shared by the instances (so a token from one verifies on any), a
/// dashboard key.
fn guarded_fleet_config(redis_url: &str, name: &str, twilio_token: &str) -> Config {
    let mut config = fleet_config(redis_url, name);
    config.twilio.auth_token = Some(Secret::new(twilio_token));
    config.twilio.stream_secret = Some(Secret::new("fleet-stream-secret"));
    config.dashboard.token = Some(Secret::new("dashboard-fleet-key"));
    config
}

async fn instance(config: Config, script: ModelScript) -> TestApp {
    spawn_app_with(AppOptions {
        config,
        script,
        tools: None,
        ..AppOptions::default()
    })
    .await
}

fn searches(app: &TestApp) -> usize {
    app.qloo
        .requests()
        .iter()
        .filter(|request| request.path == "/search")
        .count()
}

/// Polls `app`'s `/health` until `done` holds of its `fleet`, for up to
/// 10 s; returns that `fleet`.
async fn fleet_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let (_, health) = app.get_json("/health").await;
        last = health["fleet"].clone();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: the fleet is {last}");
}

fn instance_names(fleet: &Value) -> Vec<String> {
    fleet["instances"]
        .as_array()
        .map(|instances| {
            instances
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A call that holds its line for `ms` after the greeting.
fn held(ms: u64) -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Silence { ms },
        Step::Hangup,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_on_one_instance_is_a_hit_on_the_other() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let a = instance(
        fleet_config(&redis.url(), "a"),
        film_search("Found {tool_output}."),
    )
    .await;
    let b = instance(
        fleet_config(&redis.url(), "b"),
        film_search("Found {tool_output}."),
    )
    .await;

    let report = a.call(1, &one_turn()).await;
    assert!(report.media_received > 0);
    assert_eq!(searches(&a), 1, "A asked Qloo");
    let (_, stats) = a.get_json("/cache-stats").await;
    assert_eq!(stats["shared"]["writes"], 1, "{stats}");
    assert_eq!(stats["shared"]["connected"], true, "{stats}");

    let report = b.call(2, &one_turn()).await;
    assert!(report.media_received > 0);
    assert_eq!(searches(&b), 0, "B found A's search in Redis");
    let (_, stats) = b.get_json("/cache-stats").await;
    assert_eq!(stats["misses"], 1, "not in B's own tier: {stats}");
    assert_eq!(stats["shared"]["hits"], 1, "{stats}");
    assert_eq!(stats["size"], 1, "and kept in B's own tier now: {stats}");

    // B's /metrics carries the tier and the fleet.
    let metrics = b.get_text("/metrics").await;
    let value = |name: &str| {
        metrics
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in\n{metrics}"))
    };
    assert!((value("qloophone_shared_cache_hits_total") - 1.0).abs() < f64::EPSILON);
    assert!((value("qloophone_redis_up") - 1.0).abs() < f64::EPSILON);
    assert!((value("qloophone_fleet_instances") - 2.0).abs() < f64::EPSILON);

    // Nobody watched: the feed holds the calls' stories, not the model's
    // traffic.
    let feed = redis.cli(&["XRANGE", "qloophone:feed", "-", "+"]);
    let roles: Vec<&str> = feed
        .lines()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|pair| pair[0] == "k")
        .map(|pair| pair[1])
        .collect();
    assert!(
        roles.contains(&"start") && roles.contains(&"end"),
        "{roles:?}"
    );
    assert!(!roles.contains(&"skip"), "{roles:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_searches_at_once_on_two_instances_reach_qloo_once() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    // Qloo slow enough that both searches are on their way at once, and
    // quicker than the 1.5 s a search waits for another instance's.
    let slow = |name| {
        spawn_app_with(AppOptions {
            config: fleet_config(&redis.url(), name),
            script: film_search("Found {tool_output}."),
            tools: None,
            qloo_latency: Duration::from_millis(800),
            ..AppOptions::default()
        })
    };
    let a = slow("a").await;
    let b = slow("b").await;
    let on_a = a.spawn_call(1, one_turn());
    let on_b = b.spawn_call(2, one_turn());
    assert!(on_a.await.unwrap().media_received > 0);
    assert!(on_b.await.unwrap().media_received > 0);
    assert_eq!(searches(&a) + searches(&b), 1, "one search reached Qloo");
    let (_, on_a) = a.get_json("/cache-stats").await;
    let (_, on_b) = b.get_json("/cache-stats").await;
    let waits =
        on_a["shared"]["waits"].as_u64().unwrap() + on_b["shared"]["waits"].as_u64().unwrap();
    assert_eq!(waits, 1, "the other waited for it: {on_a} {on_b}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_b_sees_a_call_on_a_live_and_a_late_one_sees_it_too() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let a = instance(fleet_config(&redis.url(), "a"), ModelScript::default()).await;
    let b = instance(fleet_config(&redis.url(), "b"), ModelScript::default()).await;
    let mut envelope = dashboard(&b, "?format=envelope").await;
    let mut raw = dashboard(&b, "").await;
    // A publishes its model traffic once it knows B has dashboards.
    fleet_until(&a, "A to see B's dashboards", |fleet| {
        fleet["instances"].as_array().is_some_and(|instances| {
            instances
                .iter()
                .any(|i| i["name"] == "b" && i["dashboards"] == 2)
        })
    })
    .await;

    let report = a.call(3, &one_turn()).await;
    assert!(report.media_received > 0);
    let stream = a.caller(3).stream_sid;
    let events = read_until(&mut envelope, |event| {
        event["event"]["type"] == "call.ended" && event["call"] == stream.as_str()
    })
    .await;
    let started = events
        .iter()
        .find(|event| event["event"]["type"] == "call.started")
        .expect("B's dashboard saw the call start");
    assert_eq!(started["instance"], "a", "{started}");
    assert_eq!(started["call"], stream.as_str());
    assert!(
        events
            .iter()
            .any(|event| event["event"]["type"] == "turn" && event["instance"] == "a"),
        "{events:?}"
    );
    // The original monitor's raw form gets A's model events too.
    let model_events = read_until(&mut raw, |event| event["type"] == "response.done").await;
    assert!(
        model_events
            .iter()
            .any(|event| event["type"] == "response.audio_transcript.delta"),
        "with their beta copies"
    );

    // A dashboard opening on B afterwards is told A's call first.
    let (_socket, past) = dashboard_with_past(&b, "?format=envelope").await;
    let story: Vec<&str> = past
        .iter()
        .filter(|event| event["call"] == stream.as_str())
        .map(|event| event["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(story.first(), Some(&"call.started"), "{story:?}");
    assert_eq!(story.last(), Some(&"call.ended"), "{story:?}");
    assert!(
        past.iter()
            .filter(|event| event.get("call").is_some())
            .all(|event| event["instance"] == "a"),
        "{past:?}"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_limit_counts_calls_on_both_instances() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = |name| {
        let mut config = fleet_config(&redis.url(), name);
        config.redis.max_fleet_calls = 2;
        config
    };
    let a = instance(config("a"), ModelScript::default()).await;
    let b = instance(config("b"), ModelScript::default()).await;
    let first = a.spawn_call(4, held(4_000));
    let second = b.spawn_call(5, held(4_000));
    let fleet = fleet_until(&a, "both calls counted", |fleet| fleet["calls"] == 2).await;
    assert_eq!(fleet["maxCalls"], 2);
    let per_instance: Vec<(String, u64)> = fleet["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_instance, [("a".to_owned(), 1), ("b".to_owned(), 1)]);

    // A third call is refused on either instance, though each holds one.
    a.assert_started_stream_busy("CA91").await;
    b.assert_started_stream_busy("CA92").await;
    let twiml = a.twiml(&[("CallSid", "CA9")]).await;
    assert!(twiml.contains("<Hangup/>"), "busy: {twiml}");

    assert!(first.await.unwrap().media_received > 0);
    assert!(second.await.unwrap().media_received > 0);
    fleet_until(&b, "the calls gone", |fleet| fleet["calls"] == 0).await;
    let report = b.call(6, &one_turn()).await;
    assert!(report.media_received > 0, "a place again");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_token_used_on_a_is_refused_on_b() {
    const TWILIO: &str = "twilio-fleet-token";
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = |name| guarded_fleet_config(&redis.url(), name, TWILIO);
    let a = instance(config("a"), ModelScript::default()).await;
    let b = instance(config("b"), ModelScript::default()).await;
    let (_, parameters) = qloophone_sandbox::phone::ask_for_stream(&a.url(""), "CA7", Some(TWILIO))
        .await
        .unwrap();
    let on = |app: &TestApp| {
        let mut options = CallerOptions::new(app.ws_url("/call"), 7);
        options.speed = 4.0;
        options.call_sid = "CA7".to_owned();
        options.parameters = parameters.clone();
        options.signature = Some(SignatureValidator::new(TWILIO).sign(&app.ws_url("/call"), &[]));
        options
    };
    let first = place_call(on(&a), &one_turn()).await.unwrap();
    assert!(first.media_received > 0, "the token opens its call on A");
    let sessions = b.model.sessions().len();
    let replay = place_call(on(&b), &held(500)).await.unwrap();
    assert!(replay.closed_by_server, "B refuses the spent token");
    assert_eq!(replay.media_received, 0);
    assert_eq!(b.model.sessions().len(), sessions, "no model session on B");
    a.stop().await;
    b.stop().await;
}

/// The keys in `redis` matching `pattern`, asked in Redis's inline
/// protocol.
async fn redis_keys(redis: &RedisServer, pattern: &str) -> usize {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let address = redis.url().trim_start_matches("redis://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket
        .write_all(format!("KEYS {pattern}\r\n").as_bytes())
        .await
        .unwrap();
    let mut reader = BufReader::new(socket);
    let mut header = String::new();
    reader.read_line(&mut header).await.unwrap();
    header.trim().trim_start_matches('*').parse().unwrap()
}

/// Issue 28, finding 6: a stream opened while Redis is away is checked on
/// its own instance only; once Redis is back, the fleet records it, and
/// the same call's webhook replayed on another instance opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_opened_while_redis_is_away_is_recorded_when_it_returns() {
    const TWILIO: &str = "twilio-fleet-token";
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let config = |name| guarded_fleet_config(&redis.url(), name, TWILIO);
    let a = instance(config("a"), ModelScript::default()).await;
    let b = instance(config("b"), ModelScript::default()).await;
    let caller = |app: &TestApp, parameters: Vec<(String, String)>| {
        let mut options = CallerOptions::new(app.ws_url("/call"), 12);
        options.speed = 4.0;
        options.call_sid = "CA12".to_owned();
        options.parameters = parameters;
        options.signature = Some(SignatureValidator::new(TWILIO).sign(&app.ws_url("/call"), &[]));
        options
    };
    redis.kill();
    fleet_until(&a, "A to see Redis gone", |fleet| fleet["redis"] == "down").await;
    let (_, parameters) =
        qloophone_sandbox::phone::ask_for_stream(&a.url(""), "CA12", Some(TWILIO))
            .await
            .unwrap();
    let first = place_call(caller(&a, parameters), &one_turn())
        .await
        .unwrap();
    assert!(first.media_received > 0, "A takes the call without Redis");

    redis.restart().await;
    for _ in 0..100 {
        if redis_keys(&redis, "*stream-call*").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        redis_keys(&redis, "*stream-call*").await,
        1,
        "recorded on return"
    );
    fleet_until(&b, "B to see Redis back", |fleet| fleet["redis"] == "up").await;
    let sessions = b.model.sessions().len();
    let (_, parameters) =
        qloophone_sandbox::phone::ask_for_stream(&b.url(""), "CA12", Some(TWILIO))
            .await
            .unwrap();
    let replay = place_call(caller(&b, parameters), &held(500))
        .await
        .unwrap();
    assert!(
        replay.closed_by_server,
        "B refuses a second stream for the call"
    );
    assert_eq!(replay.media_received, 0);
    assert_eq!(b.model.sessions().len(), sessions, "no model session on B");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lost_mid_call_leaves_the_call_going_and_the_fleet_recovers() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let a = instance(fleet_config(&redis.url(), "a"), ModelScript::default()).await;
    let b = instance(fleet_config(&redis.url(), "b"), ModelScript::default()).await;
    fleet_until(&b, "both instances up", |fleet| {
        instance_names(fleet) == ["a", "b"]
    })
    .await;
    let call = a.spawn_call(
        8,
        vec![
            Step::WaitForAnswer { max_ms: 10_000 },
            Step::Silence { ms: 1_500 },
            Step::Speak { ms: 600 },
            Step::WaitForAnswer { max_ms: 10_000 },
            Step::Hangup,
        ],
    );
    crate::helpers::wait_until("the call to start", || a.registry.active() == 1).await;
    redis.kill();
    fleet_until(&a, "A to see Redis gone", |fleet| fleet["redis"] == "down").await;
    let report = call.await.unwrap();
    assert!(!report.closed_by_server, "the call went on to its hang-up");
    assert!(
        !report.turn_latencies.is_empty(),
        "and was answered after Redis went: {report:?}"
    );
    // A call while Redis is away is a call like any other, and A's own
    // dashboards still see it.
    let mut on_a = dashboard(&a, "?format=envelope").await;
    assert!(a.call(9, &one_turn()).await.media_received > 0);
    let stream = a.caller(9).stream_sid;
    let events = read_until(&mut on_a, |event| {
        event["event"]["type"] == "call.ended" && event["call"] == stream.as_str()
    })
    .await;
    assert!(events.iter().any(|event| event["event"]["type"] == "turn"));

    redis.restart().await;
    for app in [&a, &b] {
        fleet_until(app, "the fleet back", |fleet| {
            fleet["redis"] == "up" && instance_names(fleet) == ["a", "b"]
        })
        .await;
    }
    // The feed is back too: B's dashboards see A's next call.
    let mut on_b = dashboard(&b, "?format=envelope").await;
    assert!(a.call(10, &one_turn()).await.media_received > 0);
    let stream = a.caller(10).stream_sid;
    let events = read_until(&mut on_b, |event| {
        event["event"]["type"] == "call.ended" && event["call"] == stream.as_str()
    })
    .await;
    assert!(events.iter().any(|event| event["instance"] == "a"));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_starts_without_redis_and_joins_when_it_comes() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    if std::env::var_os("QLOOPHONE_SKIP_REDIS_TESTS").is_some_and(|v| v == "1") {
        return;
    }
    let a = instance(fleet_config(&url, "a"), film_search("Found {tool_output}.")).await;
    let (status, health) = a.get_json("/health").await;
    assert_eq!(status, 200, "healthy on its own: {health}");
    assert_eq!(health["fleet"]["redis"], "down");
    assert!(a.call(11, &one_turn()).await.media_received > 0);
    let (_, stats) = a.get_json("/cache-stats").await;
    assert_eq!(stats["size"], 1, "its own tier works: {stats}");

    let mut redis = RedisServer::start_on(port).await.unwrap();
    assert!(redis.running(), "port {port} was taken meanwhile");
    fleet_until(&a, "A to join", |fleet| {
        fleet["redis"] == "up" && instance_names(fleet) == ["a"]
    })
    .await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_instance_and_its_calls_vanish_within_the_expiry() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let b = instance(fleet_config(&redis.url(), "b"), ModelScript::default()).await;
    let mut on_b = dashboard(&b, "?format=envelope").await;
    let url = redis.url();
    let a = Served::start(
        &["serve"],
        &[
            ("REDIS_URL", url.as_str()),
            ("QLOOPHONE_REDIS__INSTANCE", "a"),
            ("QLOOPHONE_REDIS__HEARTBEAT_MS", "200"),
            ("QLOOPHONE_REDIS__EXPIRY_MS", "1000"),
            ("QLOOPHONE_SANDBOX__MODEL_PACE", "4"),
        ],
    )
    .await;
    let mut caller = CallerOptions::new(format!("ws://127.0.0.1:{}/call", a.port), 12);
    caller.speed = 4.0;
    let stream = caller.stream_sid.clone();
    let call = tokio::spawn(async move { place_call(caller, &held(30_000)).await });
    let fleet = fleet_until(&b, "A's call in the registry", |fleet| fleet["calls"] == 1).await;
    assert_eq!(instance_names(&fleet), ["a", "b"]);

    a.kill();
    let fleet = fleet_until(&b, "A gone", |fleet| instance_names(fleet) == ["b"]).await;
    assert_eq!(fleet["calls"], 0, "{fleet}");
    let events = read_until(&mut on_b, |event| {
        event["event"]["type"] == "call.ended" && event["call"] == stream.as_str()
    })
    .await;
    let ended = events.last().unwrap();
    assert_eq!(ended["event"]["reason"], "instance_lost", "{ended}");
    assert_eq!(ended["instance"], "a");
    let report = call.await.unwrap().unwrap();
    assert!(report.media_received > 0);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_instance_is_visible_to_the_fleet() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let mut a = instance(fleet_config(&redis.url(), "a"), ModelScript::default()).await;
    let b = instance(fleet_config(&redis.url(), "b"), ModelScript::default()).await;
    let call = a.spawn_call(13, held(2_000));
    crate::helpers::wait_until("the call to start", || a.registry.active() == 1).await;
    a.begin_stop();
    let fleet = fleet_until(&b, "A seen draining", |fleet| {
        fleet["instances"].as_array().is_some_and(|instances| {
            instances
                .iter()
                .any(|i| i["name"] == "a" && i["draining"] == true)
        })
    })
    .await;
    assert_eq!(fleet["calls"], 1, "its call goes on: {fleet}");
    assert!(call.await.unwrap().media_received > 0);
    // Stopped, it leaves at once (no waiting for the expiry).
    fleet_until(&b, "A gone", |fleet| instance_names(fleet) == ["b"]).await;
    b.stop().await;
}

/// A Redis that takes connections and never answers (a hung server, a
/// black-holed route) holds no call up: every command has its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_holds_no_call_up() {
    if std::env::var_os("QLOOPHONE_SKIP_REDIS_TESTS").is_some_and(|v| v == "1") {
        return;
    }
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", mute.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = mute.accept().await {
            sockets.push(socket); // read nothing, answer nothing
        }
    });
    let mut config = fleet_config(&url, "a");
    config.redis.max_fleet_calls = 1;
    let a = instance(config, film_search("Found {tool_output}.")).await;
    let (status, health) = a.get_json("/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["fleet"]["redis"], "down");
    // Two calls one after the other: the fleet limit of 1 cannot be
    // checked, so this instance's own limit holds, and each call goes
    // through with its search.
    for tag in [14, 15] {
        let report = a.call(tag, &one_turn()).await;
        assert!(report.media_received > 0 && !report.closed_by_server);
    }
    let (_, stats) = a.get_json("/cache-stats").await;
    assert_eq!(stats["shared"]["connected"], false, "{stats}");
    assert_eq!(
        stats["hits"], 1,
        "its own tier answered the second: {stats}"
    );
    a.stop().await;
    held.abort();
}

/// The harness itself: a server started on a port another test's server
/// holds is seen to have lost it, not mistaken for the one answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_server_on_a_taken_port_is_not_mistaken_for_the_one_answering() {
    let Some(mut first) = RedisServer::start().await else {
        return;
    };
    let mut second = RedisServer::start_on(first.port).await.unwrap();
    assert!(!second.running(), "the second could not bind the port");
    assert!(first.running());
    let pid = first.child.as_ref().unwrap().id();
    assert_eq!(first.answering_pid(), Some(pid));
}

/// A heartbeat landing while a call is being admitted must neither count
/// the call against itself (with a limit of one, the only call would be
/// refused) nor leave a refused call counted until its expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_racing_admissions_neither_refuse_nor_leak_a_place() {
    use qloophone_adapters::redis::{Admission, Fleet, Redis, RedisSettings};

    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let settings = RedisSettings {
        url: Some(Secret::new(redis.url())),
        max_fleet_calls: 1,
        ..RedisSettings::default()
    };
    let fleet = Fleet::new(Redis::open(&settings, "a").unwrap(), &settings, "test");
    let registry = qloophone_domain::call::CallRegistry::new(10);
    // Heartbeats back to back, as fast as Redis answers them.
    let beating = tokio::spawn({
        let fleet = fleet.clone();
        let registry = registry.clone();
        async move {
            loop {
                fleet.beat(&registry, 0).await;
                tokio::task::yield_now().await;
            }
        }
    });
    for _ in 0..200 {
        if fleet.redis().is_up() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(fleet.redis().is_up(), "the heartbeats never reached Redis");
    let calls = || redis.cli(&["ZCARD", &format!("{}:calls", settings.prefix)]);
    for attempt in 0..200 {
        let place = match fleet.admit().await {
            Admission::Admitted(place) => place,
            Admission::Full(calls) => {
                panic!("attempt {attempt}: the only call was refused, {calls} counted")
            }
            Admission::Unchecked => panic!("attempt {attempt}: Redis did not answer"),
        };
        // With one held, another is refused, and leaves nothing behind.
        assert!(
            matches!(fleet.admit().await, Admission::Full(_)),
            "attempt {attempt}: a second call admitted"
        );
        drop(place);
        let mut left = calls();
        for _ in 0..200 {
            if left.trim() == "0" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            left = calls();
        }
        assert_eq!(left.trim(), "0", "attempt {attempt}: a place left counted");
    }
    beating.abort();
}

/// A Redis that restarted has lost the registry: the calls admitted
/// before are added back by the next heartbeat that reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_admitted_before_redis_restarted_are_counted_again() {
    use qloophone_adapters::redis::{Admission, Fleet, Redis, RedisSettings};

    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let settings = RedisSettings {
        url: Some(Secret::new(redis.url())),
        ..RedisSettings::default()
    };
    let fleet = Fleet::new(Redis::open(&settings, "a").unwrap(), &settings, "test");
    let registry = qloophone_domain::call::CallRegistry::new(10);
    assert!(fleet.beat(&registry, 0).await, "Redis answers");
    let Admission::Admitted(_place) = fleet.admit().await else {
        panic!("admitted");
    };
    let calls = |redis: &RedisServer| redis.cli(&["ZCARD", &format!("{}:calls", settings.prefix)]);
    assert!(fleet.beat(&registry, 0).await);
    assert_eq!(calls(&redis).trim(), "1");
    redis.restart().await;
    assert_eq!(calls(&redis).trim(), "0", "a fresh Redis");
    // The first command after the restart may find the old connection
    // gone; the beats go on until one lands.
    for _ in 0..200 {
        if fleet.beat(&registry, 0).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(calls(&redis).trim(), "1", "the call counted again");
}

/// Twilio may ask any instance what follows a stream: B knows why a call
/// on A ended, through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn why_a_stream_on_a_ended_is_known_on_b() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = |name| {
        let mut config = fleet_config(&redis.url(), name);
        config.limits.max_call_duration_secs = 1;
        config
    };
    let a = instance(config("a"), ModelScript::default()).await;
    let b = instance(config("b"), ModelScript::default()).await;
    let caller = a.caller(31);
    let call_sid = caller.call_sid.clone();
    let report = place_call(caller, &held(20_000)).await.unwrap();
    assert!(report.closed_by_server, "A ended it at the longest");
    let ask = |app: &TestApp| {
        app.http
            .post(app.url("/twilio/after-stream"))
            .form(&[
                ("CallSid", call_sid.as_str()),
                ("CallStatus", "in-progress"),
            ])
            .send()
    };
    let on_b = ask(&b).await.unwrap().text().await.unwrap();
    assert!(on_b.contains("reached the time limit"), "{on_b}");
    // Without the fleet's record, another instance could only apologise.
    let alone = instance(Config::default(), ModelScript::default()).await;
    let unknown = ask(&alone).await.unwrap().text().await.unwrap();
    assert!(unknown.contains("Sorry"), "{unknown}");
    a.stop().await;
    b.stop().await;
    alone.stop().await;
}

/// Twilio's webhook may reach A and its stream B: the caller's number,
/// kept by A's `/twiml` for the stream's start, reaches B through Redis,
/// and B texts the picks to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_asked_on_b_goes_to_the_number_a_was_told() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let instance = |name| {
        spawn_app_with(AppOptions {
            config: fleet_config(&redis.url(), name),
            tools: None,
            scenarios: qloophone_sandbox::scenario::Scenario::registry(),
            ..AppOptions::default()
        })
    };
    let a = instance("a").await;
    let b = instance("b").await;
    let scenario = qloophone_sandbox::scenario::Scenario::find("text-me-the-list").unwrap();
    let offer = qloophone_sandbox::phone::ask_for_call(&a.url(""), "CA41", None)
        .await
        .unwrap();
    let mut options = CallerOptions::new(b.ws_url("/call"), scenario.tag());
    options.speed = 4.0;
    options.call_sid = "CA41".to_owned();
    options.parameters = offer.parameters.clone();
    let report = place_call(options, &scenario.caller).await.unwrap();
    assert!(report.media_received > 0);
    let sent = b.twilio.sent();
    assert_eq!(sent.len(), 1, "B sent the text: {sent:?}");
    assert_eq!(sent[0].to, qloophone_sandbox::phone::CALLER_NUMBER);
    assert!(a.twilio.sent().is_empty());
    a.stop().await;
    b.stop().await;
}

/// Calls OpenAI answers over SIP in a fleet: one delivery sent to both
/// instances is acted on once (the second is a duplicate fleet-wide), and
/// the fleet's limit rejects a call on the other instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sip_delivery_is_acted_on_once_and_the_fleet_limit_holds() {
    use qloophone_sandbox::sip::{CallStatus, PlaceCall};
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = |name| {
        let mut config = fleet_config(&redis.url(), name);
        config.redis.max_fleet_calls = 1;
        config
    };
    let a = instance(config("a"), ModelScript::default()).await;
    let b = instance(config("b"), ModelScript::default()).await;
    let long = ModelScript::talking(4);
    let place = |app: &TestApp, also_to: Vec<String>| PlaceCall {
        webhook_url: app.url("/openai/webhook"),
        script: long.clone(),
        from: "+15550123456".into(),
        to: "+15550100000".into(),
        redeliver: 0,
        tamper: None,
        also_to,
        drop_sideband_after_turn: None,
        interrupt_turn: None,
    };
    let first = a
        .sip
        .place(place(&a, vec![b.url("/openai/webhook")]))
        .await
        .unwrap();
    let call = a.sip.call(&first).unwrap();
    assert_eq!(call.webhook_statuses, [200, 200]);
    let metrics = b.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"qloophone_sip_webhooks_total{outcome="duplicate"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"outcome="call"} 1"#), "{metrics}");
    let sip = a.sip.clone();
    let id = first.clone();
    wait_until("accepted on a", move || {
        sip.call(&id)
            .is_some_and(|call| call.status == CallStatus::Accepted)
    })
    .await;
    fleet_until(&b, "the call counted", |fleet| fleet["calls"] == 1).await;
    // The fleet is full: a call ringing b is rejected there.
    let second = b.sip.place(place(&b, Vec::new())).await.unwrap();
    let sip = b.sip.clone();
    wait_until("rejected on b", move || {
        sip.call(&second)
            .is_some_and(|call| call.status == CallStatus::Rejected)
    })
    .await;
    a.sip.hang_up(&first);
    fleet_until(&a, "the call gone", |fleet| fleet["calls"] == 0).await;
    a.stop().await;
    b.stop().await;
}
