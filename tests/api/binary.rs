//! The built binary: `serve` in sandbox mode, then `call` against it.

use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_qloophone");

/// The binary as a command, without the test suite's own switches
/// (`QLOOPHONE_SKIP_*_TESTS`), which share the configuration's variable
/// prefix and would be refused as unknown settings.
fn bin() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.starts_with("QLOOPHONE_SKIP_"))
        {
            command.env_remove(name);
        }
    }
    command
}

use crate::helpers::free_port;

/// `qloophone serve` run as its own process in a fresh directory, on a
/// free port, its output in `server.log` there. Without API keys in `env`
/// it serves the sandbox.
pub(crate) struct Served {
    dir: tempfile::TempDir,
    child: std::process::Child,
    pub(crate) port: u16,
    base: String,
}

impl Served {
    pub(crate) async fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut command = bin();
        command
            .args(args)
            .current_dir(dir.path())
            .env_remove("OPENAI_API_KEY")
            .env_remove("QLOO_API_KEY")
            .env("PORT", port.to_string())
            .env("PUBLIC_URL", &base)
            .env("LOG_FORMAT", "json");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_healthy(&base).await;
        Self {
            dir,
            child,
            port,
            base,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would: nothing runs on the way out.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the process to exit.
    async fn stop(self) -> (tempfile::TempDir, std::process::ExitStatus) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut child = self.child;
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        (self.dir, status)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_then_call_with_the_built_binary() {
    let server = Served::start(
        &["serve"],
        &[
            ("QLOOPHONE_SANDBOX__MODEL_PACE", "4"),
            ("QLOOPHONE_SANDBOX__QLOO_LATENCY_MS", "100"),
        ],
    )
    .await;
    let base = server.base.clone();
    let wav_dir = server.dir.path().to_owned();

    let wav = wav_dir.join("heard.wav");
    let call = tokio::task::spawn_blocking({
        let base = base.clone();
        let wav = wav.clone();
        move || {
            bin()
                .args([
                    "call",
                    "--url",
                    &base,
                    "--speed",
                    "4",
                    "--scenario",
                    "two-films-to-a-film",
                    "--wav",
                ])
                .arg(&wav)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&call.stdout);
    assert!(
        call.status.success(),
        "exit {:?}\n{stdout}\n{}",
        call.status,
        String::from_utf8_lossy(&call.stderr)
    );
    for expected in [
        "calling ",
        "  agent   Hi, this is QlooPhone!",
        "  caller  I love The Matrix and Inception",
        "  tool    search_entity",
        "  tool    get_recommendation",
        "  key     1",
        "  ended   phone_stopped",
        "PASS two-films-to-a-film",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let heard_ms: usize = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("wav"))
        .and_then(|rest| rest.split('(').nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the WAV line");
    let reader = hound::WavReader::open(&wav).unwrap();
    assert_eq!(reader.spec().sample_rate, 8000);
    assert_eq!(reader.spec().channels, 1);
    assert_eq!(reader.spec().bits_per_sample, 16);
    assert!(heard_ms > 1000);
    assert_eq!(
        reader.len() as usize / 8,
        heard_ms,
        "one sample for each μ-law byte heard"
    );

    let failing = bin()
        .args(["call", "--url", &base, "--scenario", "no-such-scenario"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!failing.status.success());
    let stderr = String::from_utf8_lossy(&failing.stderr);
    assert!(stderr.starts_with("error: no scenario"), "{stderr}");
    assert!(
        !stderr.contains("backtrace"),
        "an operator's error is one message, not a trace:\n{stderr}"
    );

    let listing = bin().args(["call", "--list"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).lines().count(),
        qloophone_sandbox::scenario::Scenario::shipped().len()
    );

    // SIGTERM: a graceful stop.
    let (dir, status) = server.stop().await;
    assert!(status.success(), "{status:?}");
    assert!(
        dir.path().join("cache/entities.json").exists(),
        "the cache was saved on the way out"
    );
    // The call's end line says what the model's responses used.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let ended = log
        .lines()
        .find(|line| line.contains("call ended"))
        .unwrap_or_else(|| panic!("no end line in\n{log}"));
    let tokens = |field: &str| -> u64 {
        let at = ended
            .find(&format!("\"{field}\":"))
            .unwrap_or_else(|| panic!("{field} in {ended}"));
        ended[at + field.len() + 3..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {ended}"))
    };
    assert!(tokens("output_audio_tokens") > 0, "{ended}");
    assert!(tokens("input_text_tokens") > 0, "{ended}");
    let cost: f64 = ended
        .split("\"cost_usd\":")
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cost_usd in {ended}"));
    assert!(cost > 0.0 && cost < 1.0, "an estimate in dollars: {ended}");
}

/// The README's "Writing a scenario" example, taken from the README itself.
fn readme_scenario() -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("### Writing a scenario")
        .nth(1)
        .expect("the README has a scenario section");
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section holds a TOML block");
    block.to_owned()
}

/// `qloophone call` with a scenario file against a sandbox server that has
/// never seen it: the file's model turns are played (they travel in the
/// caller's quiet audio), first the README's own example, then a second
/// file with its own greeting, on the same running server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_scenario_example_plays_against_a_running_sandbox() {
    let server = Served::start(&["serve"], &[("QLOOPHONE_SANDBOX__MODEL_PACE", "4")]).await;
    let example = readme_scenario();
    let call = |text: String, file: &str| {
        let path = server.dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let base = server.base.clone();
        tokio::task::spawn_blocking(move || {
            bin()
                .args(["call", "--url", &base, "--speed", "4", "--scenario"])
                .arg(&path)
                .output()
                .unwrap()
        })
    };

    let played = call(example.clone(), "mine.toml").await.unwrap();
    let stdout = String::from_utf8_lossy(&played.stdout);
    assert!(
        played.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&played.stderr)
    );
    for expected in [
        "(my-scenario)",
        "  caller  I love Khruangbin",
        "  tool    search_entity",
        "  tool    get_recommendation",
        "  agent   Try ",
        "  key     5",
        "PASS my-scenario",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }

    let other = example
        .replace(
            "name = \"my-scenario\"",
            "name = \"another\"\ngreeting = \"Welcome to the test line.\"",
        )
        .replace("I love Khruangbin", "I love Khruangbin a lot")
        .replace(
            "spoken = [\"Try \"]",
            "spoken = [\"Welcome to the test line.\", \"Try \"]",
        );
    assert_ne!(other, example);
    let played = call(other, "another.toml").await.unwrap();
    let stdout = String::from_utf8_lossy(&played.stdout);
    assert!(played.status.success(), "{stdout}");
    assert!(
        stdout.contains("  agent   Welcome to the test line."),
        "{stdout}"
    );
    assert!(
        stdout.contains("  caller  I love Khruangbin a lot"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS another"), "{stdout}");
    let (_dir, status) = server.stop().await;
    assert!(status.success());
}

/// A whole call with a known caller number, both API keys, the Twilio
/// token and the dashboard key set, logged at debug level: afterwards no
/// log line and no file the server wrote holds the number, a key, a token
/// or the caller's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_or_personal_reaches_the_logs() {
    const OPENAI_KEY: &str = "sk-test-openai-0123456789";
    const QLOO_KEY: &str = "qloo-test-key-0123456789";
    const TWILIO_TOKEN: &str = "twilio-test-token-0123456789";
    const DASHBOARD_KEY: &str = "dashboard-test-key-0123456789";
    let server = Served::start(
        &["serve", "--sandbox"],
        &[
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("QLOO_API_KEY", QLOO_KEY),
            ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
            ("DASHBOARD_TOKEN", DASHBOARD_KEY),
            ("QLOOPHONE_SANDBOX__MODEL_PACE", "4"),
            ("QLOOPHONE_SANDBOX__QLOO_LATENCY_MS", "50"),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let base = server.base.clone();
    // A forged webhook naming the caller is refused, and logged masked.
    let forged = reqwest::Client::new()
        .post(format!("{base}/twiml?From=%2B15550100000"))
        .form(&[("From", "+15550100000"), ("CallSid", "CAforged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let call = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            bin()
                .args(["call", "--url", &base, "--speed", "4"])
                .args(["--scenario", "two-films-to-a-film"])
                .env("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
                .env("DASHBOARD_TOKEN", DASHBOARD_KEY)
                .env_remove("OPENAI_API_KEY")
                .env_remove("QLOO_API_KEY")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let transcript = String::from_utf8_lossy(&call.stdout);
    assert!(call.status.success(), "{transcript}");
    // The caller's words reached the dashboard (the only place they may go).
    assert!(
        transcript.contains("I love The Matrix and Inception"),
        "{transcript}"
    );

    let (dir, _) = server.stop().await;

    let mut written = String::new();
    for entry in walk(dir.path()) {
        written.push_str(&String::from_utf8_lossy(&std::fs::read(&entry).unwrap()));
        written.push('\n');
    }
    assert!(
        written.contains("call started"),
        "the logs were read: {written:.2000}"
    );
    assert!(
        written.contains("%2B1******0000"),
        "the forged webhook was logged, masked"
    );
    assert!(
        dir.path().join("api_calls.log").exists() && written.contains("/search"),
        "api_calls.log was read"
    );
    for secret in [
        "+15550100000",
        "5550100000",
        OPENAI_KEY,
        QLOO_KEY,
        TWILIO_TOKEN,
        DASHBOARD_KEY,
        "I love The Matrix and Inception",
    ] {
        assert!(
            !written.contains(secret),
            "{secret:?} was written to the logs or a file"
        );
    }
}

/// Waits for the server at `base` to answer `/health`.
async fn wait_healthy(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/health")).send().await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server did not come up");
}

/// Every file below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// The resident memory of process `pid`, in KiB.
#[cfg(target_os = "linux")]
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Waves of idle dashboards cost the server a few KiB each while they are
/// open (each once held a 128 KiB read buffer), and leave its memory where
/// the first wave left it: nothing accumulates from wave to wave.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_that_leave_give_their_memory_back() {
    const DASHBOARDS: usize = 400;
    let cap = DASHBOARDS.to_string();
    let server = Served::start(&["serve"], &[("QLOOPHONE_DASHBOARD__MAX_CLIENTS", &cap)]).await;
    let (port, base, pid) = (server.port, server.base.clone(), server.pid());
    let before = resident_kib(pid);
    let mut after_each = Vec::new();
    for _wave in 0..3 {
        let mut open = Vec::with_capacity(DASHBOARDS);
        for _ in 0..DASHBOARDS {
            let (socket, _) =
                tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/logs"))
                    .await
                    .unwrap();
            open.push(socket);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let during = resident_kib(pid);
        let per_dashboard = during.saturating_sub(before) * 1024 / DASHBOARDS as u64;
        assert!(
            per_dashboard < 48 * 1024,
            "each open dashboard holds {per_dashboard} bytes"
        );
        drop(open);
        // The server notices each close and frees what the dashboard held.
        crate::helpers::poll_until(&format!("{base}/metrics"), "dashboards gone", |metrics| {
            metrics.lines().any(|line| line == "qloophone_dashboards 0")
        })
        .await;
        after_each.push(resident_kib(pid));
    }
    server.stop().await;
    assert!(
        after_each[2] <= after_each[0] + 8 * 1024,
        "memory after each wave of dashboards (KiB, from {before}): {after_each:?}"
    );
}

/// Starts a raw `/call` stream on `port` and sends `frames` malformed
/// frames as fast as it can: whether the server hung up before the end.
async fn garbage_stream(port: u16, stream: &str, frames: usize) -> bool {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let socket =
        crate::helpers::started_stream(&format!("ws://127.0.0.1:{port}/call"), stream).await;
    let (mut sink, mut incoming) = socket.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = incoming.next().await {} });
    let mut cut_off = false;
    for n in 0..frames {
        if sink
            .send(Message::text(format!("{{not json {n}")))
            .await
            .is_err()
        {
            cut_off = true;
            break;
        }
    }
    let _ = sink.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    cut_off
}

/// Garbage on the phone socket is logged once and summed up at the call's
/// end, not a line a frame; a flood of it ends the call like a media flood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_log_one_line_and_a_flood_of_them_ends_the_call() {
    let server = Served::start(&["serve"], &[("RUST_LOG", "info")]).await;
    let (port, base) = (server.port, server.base.clone());

    // 300 bad frames fit within the burst: the call goes on, quietly.
    assert!(!garbage_stream(port, "MZquiet", 300).await);
    // 20,000 as fast as possible: cut off.
    assert!(
        garbage_stream(port, "MZflood", 20_000).await,
        "the flood was cut off"
    );
    crate::helpers::poll_until(&format!("{base}/health"), "calls ended", |health| {
        health.contains("\"activeCalls\":0")
    })
    .await;
    let (dir, _) = server.stop().await;

    let written = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    let warned = lines
        .iter()
        .filter(|line| line.contains("malformed phone frame ignored"))
        .count();
    assert_eq!(warned, 2, "one warning per call:\n{written}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("phone frames ignored") && line.contains("\"malformed\":300")),
        "the quiet call's summary counts its 300 frames:\n{written}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("the phone sends frames far faster than it should")),
        "{written}"
    );
    assert!(
        lines.len() < 100,
        "{} lines for about 20,000 bad frames",
        lines.len()
    );
}

/// SIGTERM drains; a second SIGTERM during the drain ends the calls still
/// running at once instead of waiting out the drain timeout (here ten
/// minutes), and the server says so, then that it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_cuts_the_drain_short() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let server = Served::start(
        &["serve"],
        &[("QLOOPHONE_SERVER__DRAIN_TIMEOUT_SECS", "600")],
    )
    .await;
    let mut stream =
        crate::helpers::started_stream(&format!("ws://127.0.0.1:{}/call", server.port), "MZdrain")
            .await;
    // A call that goes on for as long as the test lets it.
    let talking = tokio::spawn(async move {
        let frame =
            r#"{"event":"media","streamSid":"MZdrain","media":{"timestamp":0,"payload":"/w=="}}"#;
        while stream.send(Message::text(frame)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let health = format!("{}/health", server.base);
    crate::helpers::poll_until(&health, "the call to start", |body| {
        body.contains(r#""activeCalls":1"#)
    })
    .await;
    let term = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    term(server.pid());
    crate::helpers::poll_until(&health, "the drain to begin", |body| {
        body.contains("draining")
    })
    .await;
    // Still draining: the call holds it open.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = server.child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal only drains"
    );
    term(child.id());
    // A bound so a drain that is not cut short fails here, not at the
    // ten-minute drain timeout.
    let mut status = None;
    for _ in 0..200 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the second signal did not end the drain");
    };
    assert!(status.success(), "{status:?}");
    talking.abort();
    let log = std::fs::read_to_string(server.dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("second signal: ending the calls still running"),
        "{log}"
    );
    assert!(
        log.lines()
            .last()
            .is_some_and(|line| line.contains("stopped")),
        "{log}"
    );
}

/// A log filter that does not parse stops the server at start-up with the
/// setting's name; a good one logs, without colour codes in a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_log_filter_is_refused_and_a_log_file_has_no_colour() {
    let refused = bin()
        .arg("serve")
        .env("RUST_LOG", "qloophone=loud")
        .env("RUST_BACKTRACE", "1")
        .env("PORT", free_port().to_string())
        .env_remove("OPENAI_API_KEY")
        .env_remove("QLOO_API_KEY")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("RUST_LOG is not a valid log filter"),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");

    let server = Served::start(&["serve"], &[("LOG_FORMAT", "pretty")]).await;
    let (dir, status) = server.stop().await;
    assert!(status.success());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in a file:\n{log}");
}

/// A reasoning effort for a model that does not reason stops the server
/// at start-up, naming both; an unknown model starts, with one warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reasoning_effort_the_model_cannot_take_stops_the_start() {
    let refused = bin()
        .arg("serve")
        .env("OPENAI_MODEL", "gpt-realtime-1.5")
        .env("QLOOPHONE_OPENAI__REASONING_EFFORT", "high")
        .env("PORT", free_port().to_string())
        .env_remove("OPENAI_API_KEY")
        .env_remove("QLOO_API_KEY")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("openai.reasoning_effort")
            && stderr.contains("gpt-realtime-1.5")
            && stderr.contains("not a reasoning model"),
        "{stderr}"
    );

    let server = Served::start(&["serve"], &[("OPENAI_MODEL", "gpt-realtime-9")]).await;
    let (dir, status) = server.stop().await;
    assert!(status.success());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("not in the model catalogue"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("gpt-realtime-9"), "{log}");
}

/// One log line per request at INFO, with its method, path and status;
/// health checks only at DEBUG (a load balancer polls them all day).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_one_log_line_and_health_checks_are_quiet() {
    let server = Served::start(&["serve"], &[]).await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{}/twiml", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("CallSid=CA1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    for _ in 0..5 {
        http.get(format!("{}/health", server.base))
            .send()
            .await
            .unwrap();
    }
    let (dir, _) = server.stop().await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let about = |path: &str| {
        lines
            .iter()
            .filter(|line| line["fields"]["path"] == path)
            .collect::<Vec<_>>()
    };
    let twiml = about("/twiml");
    assert_eq!(twiml.len(), 3, "{log}");
    for line in twiml {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["method"], "POST");
        assert_eq!(line["fields"]["status"], 200);
    }
    assert!(
        about("/health").is_empty(),
        "health checks at DEBUG only:\n{log}"
    );
    assert!(
        !log.contains(r#""None""#),
        "no Option printed as a string:\n{log}"
    );
}

/// Refused requests cannot be used to fill the log (issue 28, finding 5):
/// each is at most one line, its detail bounded and masked, and a flood
/// is sampled with a count of what was not logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_requests_is_logged_sampled_and_bounded() {
    let server = Served::start(
        &["serve", "--sandbox"],
        &[
            ("TWILIO_AUTH_TOKEN", "twilio-flood-token"),
            ("DASHBOARD_TOKEN", "dashboard-flood-key-0123456789"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let query = format!("From=%2B15550123456&pad={}", "x".repeat(6_000));
    for _ in 0..300 {
        let response = http
            .post(format!("{}/twiml?{query}", server.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("CallSid=CA1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
    }
    for _ in 0..100 {
        let response = http
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let (dir, _) = server.stop().await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let refused = log.lines().filter(|l| l.contains("refused")).count();
    assert!(
        refused <= 20,
        "{refused} refusal lines for 400 refused requests"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("\"status\":403") || l.contains("\"status\":401")),
        "no access line repeats a refusal"
    );
    assert!(log.len() < 64 * 1024, "the log grew {} bytes", log.len());
    assert!(!log.contains("15550123456"), "numbers masked");
    assert!(!log.contains(&"x".repeat(300)), "details cut short");
}

/// A tool whose Qloo request fails is one WARN line with the cause, and
/// without what the caller asked for (the place Qloo refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tool_is_logged_once_with_its_cause_and_no_caller_words() {
    let server = Served::start(&["serve"], &[("QLOOPHONE_SANDBOX__MODEL_PACE", "4")]).await;
    let call = bin()
        .args([
            "call",
            "--url",
            &server.base,
            "--scenario",
            "qloo-tool-error",
            "--speed",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        call.status.success(),
        "{}",
        String::from_utf8_lossy(&call.stdout)
    );
    let (dir, _) = server.stop().await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let failures: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("the taste graph did not answer"))
        .collect();
    assert_eq!(failures.len(), 1, "{log}");
    let line: serde_json::Value = serde_json::from_str(failures[0]).unwrap();
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["fields"]["cause"], "bad_request", "{line}");
    assert!(
        !log.contains("Atlantis"),
        "the caller's words stay out of the log"
    );
}

/// `qloophone call --auth-token --dashboard-token` smoke-tests a guarded
/// server: it signs like Twilio and reads /logs with the key. Without the
/// token the same call is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_command_smoke_tests_a_guarded_server() {
    const TOKEN: &str = "twilio-smoke-token";
    const KEY: &str = "dashboard-smoke-key";
    let server = Served::start(
        &["serve"],
        &[
            ("TWILIO_AUTH_TOKEN", TOKEN),
            ("DASHBOARD_TOKEN", KEY),
            ("QLOOPHONE_SANDBOX__MODEL_PACE", "4"),
        ],
    )
    .await;
    let call = |extra: &[&str]| {
        bin()
            .args([
                "call",
                "--url",
                &server.base,
                "--scenario",
                "silence",
                "--speed",
                "4",
            ])
            .args(extra)
            .env_remove("TWILIO_AUTH_TOKEN")
            .env_remove("DASHBOARD_TOKEN")
            .output()
            .unwrap()
    };
    let unsigned = call(&[]);
    assert!(!unsigned.status.success());
    let signed = call(&["--auth-token", TOKEN, "--dashboard-token", KEY]);
    let stdout = String::from_utf8_lossy(&signed.stdout);
    assert!(
        signed.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    assert!(stdout.contains("PASS silence"), "{stdout}");
    let _ = server.stop().await;
}

/// Live mode with a PUBLIC_URL Twilio cannot reach (plain http on this
/// machine) starts, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_warns_of_a_public_url_twilio_cannot_reach() {
    let server = Served::start(
        &["serve", "--insecure"],
        &[("OPENAI_API_KEY", "sk-test"), ("QLOO_API_KEY", "qloo-test")],
    )
    .await;
    let (dir, _) = server.stop().await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let warning = log
        .lines()
        .find(|line| line.contains("Twilio cannot stream to it"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(warning.contains("names this machine"), "{warning}");
    assert!(warning.contains(r#""level":"WARN""#), "{warning}");
}

/// The README's troubleshooting entry "Callers hear an apology and the call
/// ends at once", as it happens: a model that cannot be reached, and one
/// that refuses the key, each end the call before any audio, the log says
/// `model unavailable` with the cause, and the end reason tells them apart;
/// the TwiML holds the apology Twilio plays after the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_refusing_model_ends_the_call_as_the_readme_says() {
    use qloophone_sandbox::caller::{CallerOptions, Step, place_call};
    use qloophone_sandbox::realtime::{RealtimeOptions, RealtimeSim};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refusing = RealtimeSim::spawn(
        listener,
        RealtimeOptions {
            api_key: Some("a key the server does not have".into()),
            ..RealtimeOptions::default()
        },
    )
    .unwrap();
    let closed = format!("ws://127.0.0.1:{}/v1/realtime", free_port());
    for (url, reason) in [
        (closed, "model_unavailable"),
        (refusing.url(), "model_refused"),
    ] {
        let server = Served::start(&["serve"], &[("OPENAI_REALTIME_URL", &url)]).await;
        let twiml = reqwest::get(format!("{}/twiml", server.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(twiml.contains("<Connect action=\""), "{twiml}");
        let caller = CallerOptions::new(format!("ws://127.0.0.1:{}/call", server.port), 3);
        let call_sid = caller.call_sid.clone();
        let steps = [Step::WaitForAudio { max_ms: 5_000 }, Step::Hangup];
        let report = place_call(caller, &steps).await.unwrap();
        assert!(report.closed_by_server, "{reason}: the call ended at once");
        assert_eq!(report.bytes_heard, 0, "{reason}");
        // Twilio then asks what follows: the apology the README promises.
        let after = reqwest::Client::new()
            .post(format!("{}/twilio/after-stream", server.base))
            .form(&[
                ("CallSid", call_sid.as_str()),
                ("CallStatus", "in-progress"),
            ])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            after.contains("<Say>Sorry, the concierge cannot go on"),
            "{reason}: {after}"
        );
        let (dir, _) = server.stop().await;
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
        let unavailable = log
            .lines()
            .find(|line| line.contains("model unavailable"))
            .unwrap_or_else(|| panic!("{reason}: no 'model unavailable' line in\n{log}"));
        assert!(
            unavailable.contains("\"error\""),
            "the cause is given: {unavailable}"
        );
        let ended = log
            .lines()
            .find(|line| line.contains("call ended"))
            .unwrap_or_else(|| panic!("no end line in\n{log}"));
        assert!(ended.contains(reason), "{reason}: {ended}");
    }
}
