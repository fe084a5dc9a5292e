//! Remembering a caller who asks, end to end: scenarios (their model side
//! carried in band) against servers whose caller memory is a file or a
//! fleet's Redis.

use std::time::Duration;

use qloophone::config::Config;
use qloophone_adapters::secret::Secret;
use qloophone_sandbox::phone::place;
use qloophone_sandbox::scenario::Scenario;

use crate::fleet::RedisServer;
use crate::helpers::{AppOptions, TestApp, call_settings, spawn_app_with};

const CALLER: &str = "+15550100777";
const OTHER: &str = "+15550100778";

/// A call from `number`: the caller names Arrival and gets a book, then
/// answers `yes` (or no) to being remembered.
fn first_call(number: &str, yes: bool) -> Scenario {
    let memory = if yes { r#"["stored"]"# } else { "[]" };
    let errors = usize::from(!yes);
    Scenario::parse(&format!(
        r#"
name = "first-call"
description = "names Arrival, then is asked to be remembered"
caller_number = "{number}"
caller = [
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "speak", ms = 1200 }},
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "speak", ms = 600 }},
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "hangup" }},
]
[[turns]]
heard = "I loved Arrival. A book?"
answer = "Try {{tool_output}}. Shall I remember what you like?"
tool_calls = [
  {{ name = "search_entity", arguments = {{ query = "Arrival", type = "movie" }} }},
  {{ name = "get_recommendation", round = 1, arguments = {{ entity_ids = "{{entity_id:Arrival}}", output_type = "book" }} }},
]
[[turns]]
heard = "Hmm."
answer = "Noted."
tool_calls = [ {{ name = "remember_me", arguments = {{ caller_said_yes = {yes} }} }} ]
[expect]
tools = ["get_recommendation", "remember_me"]
tool_errors = {errors}
memory = {memory}
"#
    ))
    .unwrap()
}

/// A later call from `number` that uses Arrival's id without searching:
/// an error unless it was remembered; `forget` asks to be forgotten.
fn later_call(number: &str, remembered: bool, forget: bool) -> Scenario {
    let mut memory = Vec::new();
    if remembered {
        memory.push("\"recalled\"");
    }
    if forget {
        memory.push("\"forgotten\"");
    }
    let forget_turn = if forget {
        r#"
[[turns]]
heard = "Forget me."
answer = "Done."
tool_calls = [ { name = "forget_me", arguments = {} } ]"#
    } else {
        r#"
[[turns]]
heard = "Thanks."
answer = "Bye."
"#
    };
    Scenario::parse(&format!(
        r#"
name = "later-call"
description = "uses a remembered id"
caller_number = "{number}"
caller = [
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "speak", ms = 1200 }},
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "speak", ms = 600 }},
  {{ do = "wait_for_answer", max_ms = 30000 }},
  {{ do = "hangup" }},
]
[[turns]]
heard = "Anything new?"
answer = "Try {{tool_output}}."
tool_calls = [
  {{ name = "get_recommendation", arguments = {{ entity_ids = "{{entity_id:Arrival}}", output_type = "book" }} }},
]
{forget_turn}
[expect]
tool_errors = {errors}
memory = [{memory}]
{spoken}
"#,
        errors = usize::from(!remembered),
        memory = memory.join(", "),
        spoken = if remembered {
            r#"spoken = ["Welcome back"]"#
        } else {
            r#"not_spoken = ["Welcome back"]"#
        },
    ))
    .unwrap()
}

async fn play(app: &TestApp, scenario: Scenario) {
    let settings = call_settings(app.url(""), scenario);
    let mut transcript = Vec::new();
    let outcome = place(&settings, &mut transcript).await.unwrap();
    let transcript = String::from_utf8(transcript).unwrap();
    assert!(outcome.passed(), "{:?}\n{transcript}", outcome.failures);
}

async fn app(config: Config) -> TestApp {
    spawn_app_with(AppOptions {
        tools: None,
        config,
        ..AppOptions::default()
    })
    .await
}

fn file_config(path: &std::path::Path, ttl_secs: u64) -> Config {
    let mut config = Config::default();
    config.memory.secret = Some(Secret::new("a-memory-secret-for-tests"));
    config.memory.file = path.display().to_string();
    config.memory.ttl_secs = ttl_secs;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_file_only_a_yes_is_kept_for_that_number_across_a_restart_until_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callers.json");
    let server = app(file_config(&path, 3600)).await;
    // A no keeps nothing.
    play(&server, first_call(CALLER, false)).await;
    play(&server, later_call(CALLER, false, false)).await;
    assert!(!path.exists(), "nothing written");
    // A yes keeps the film, under a hash: never the number.
    play(&server, first_call(CALLER, true)).await;
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(
        file.contains("Arrival") && !file.contains("5550100777"),
        "{file}"
    );
    server.stop().await;

    // After a restart, the same number is welcomed back and its film's id
    // works; another number gets nothing.
    let server = app(file_config(&path, 3600)).await;
    play(&server, later_call(OTHER, false, false)).await;
    play(&server, later_call(CALLER, true, true)).await;
    // Forgotten at once, in the file too.
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(!file.contains("Arrival"), "{file}");
    play(&server, later_call(CALLER, false, false)).await;
    let metrics = server.get_text("/metrics").await;
    for line in [
        "qloophone_caller_memory_total{outcome=\"recalled\"} 1",
        "qloophone_caller_memory_total{outcome=\"forgotten\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_file_a_caller_is_forgotten_after_the_time_to_live() {
    let dir = tempfile::tempdir().unwrap();
    // With texts off too: the memory alone keeps the number until start.
    let mut config = file_config(&dir.path().join("callers.json"), 1);
    config.twilio.texts = false;
    let server = app(config).await;
    play(&server, first_call(CALLER, true)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    play(&server, later_call(CALLER, false, false)).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_one_instance_remembers_another_recalls_and_it_expires() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let config = |name: &str, ttl_secs: u64| {
        let mut config = crate::fleet::fleet_config(&redis.url(), name);
        config.memory.secret = Some(Secret::new("a-memory-secret-for-tests"));
        config.memory.ttl_secs = ttl_secs;
        // Not the file: Redis holds it.
        config.memory.file = "/nonexistent/never-written.json".to_owned();
        config
    };
    let a = app(config("a", 3600)).await;
    let b = app(config("b", 3600)).await;
    play(&a, first_call(CALLER, true)).await;
    play(&b, later_call(OTHER, false, false)).await;
    play(&b, later_call(CALLER, true, true)).await;
    play(&a, later_call(CALLER, false, false)).await;
    a.stop().await;
    b.stop().await;

    let short = app(config("c", 1)).await;
    play(&short, first_call(CALLER, true)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    play(&short, later_call(CALLER, false, false)).await;
    short.stop().await;
}
