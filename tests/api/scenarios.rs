//! Every shipped scenario, through `qloophone call`'s library code, against
//! a server in sandbox mode.

use std::time::Duration;

use qloophone_sandbox::phone::{CallSettings, place, place_sip};
use qloophone_sandbox::scenario::Scenario;

use crate::helpers::{AppOptions, read_until, spawn_app_with, started_stream};

/// How a scenario's call comes in.
#[derive(Clone, Copy)]
enum Door {
    MediaStreams,
    Sip,
}

/// Plays each batch's scenarios at once against `base`, the batches in
/// turn, through `door`; what failed, with its transcript.
async fn play<const N: usize>(base: &str, batches: [Vec<Scenario>; N], door: Door) -> Vec<String> {
    let mut failed = Vec::new();
    for batch in batches {
        let calls: Vec<_> = batch
            .into_iter()
            .map(|scenario| {
                let settings = crate::helpers::call_settings(base.to_owned(), scenario);
                tokio::spawn(async move {
                    let mut transcript = Vec::new();
                    let outcome = match door {
                        Door::MediaStreams => place(&settings, &mut transcript).await,
                        Door::Sip => place_sip(&settings, &mut transcript).await,
                    };
                    (
                        settings.scenario.name,
                        outcome,
                        String::from_utf8(transcript).unwrap(),
                    )
                })
            })
            .collect();
        for call in calls {
            let (name, outcome, transcript) = call.await.unwrap();
            match outcome {
                Ok(outcome) if outcome.passed() => {
                    assert!(transcript.contains(&format!("PASS {name}")), "{transcript}");
                }
                Ok(_) | Err(_) => {
                    failed.push(format!("{name}:\n{transcript}\n{:?}", outcome.err()));
                }
            }
        }
    }
    failed
}

/// Every shipped scenario against a server whose model is `model`; then
/// every event the simulated model sent and received has the shape of
/// OpenAI's published types.
async fn every_shipped_scenario_passes_with(model: &str) {
    let mut config = qloophone::config::Config::default();
    config.openai.model = model.to_owned();
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        qloo_latency: Duration::from_millis(300),
        // As the sandbox answers: recommendations take long enough for
        // the hold sound, which every scenario then checks never overlaps
        // the assistant.
        qloo_insights_latency: Some(Duration::from_millis(
            qloophone::config::SandboxSettings::default().qloo_insights_latency_ms,
        )),
        // As the sandbox speaks.
        ms_per_char: 60,
        config,
        ..AppOptions::default()
    })
    .await;
    let base = app.url("");
    // All at once; then those that need another played first (a
    // returning caller), once everything else has; then, alone, those
    // whose point is a race (the caller speaking up in the few hundred
    // milliseconds the hold sound plays before the tool answers), which
    // two cores busy with every other call at once can lose.
    let racing = |scenario: &Scenario| {
        scenario
            .expect
            .hold
            .as_ref()
            .is_some_and(|stops| stops.iter().any(|stop| stop == "caller"))
    };
    let (alone, rest): (Vec<Scenario>, Vec<Scenario>) =
        Scenario::shipped().into_iter().partition(racing);
    let (first, after): (Vec<Scenario>, Vec<Scenario>) = rest
        .into_iter()
        .partition(|scenario| scenario.after.is_none());
    let failed = play(&base, [first, after, alone], Door::MediaStreams).await;
    assert!(failed.is_empty(), "{model}: {}", failed.join("\n"));
    app.idle().await;
    let sessions = app.model.sessions();
    assert!(sessions.iter().all(|s| s.model.as_deref() == Some(model)));
    let api = if model.starts_with("gpt-live") {
        crate::fidelity::Api::Live
    } else {
        crate::fidelity::Api::Realtime
    };
    crate::fidelity::assert_sessions_match(api, &sessions);
    if model == "gpt-realtime-2.1" {
        every_sip_scenario_passes_over_sip(&app).await;
    }
    app.stop().await;
}

/// Today's model: answers of several sentences come in several audio
/// items; then the scenarios that play over SIP, over SIP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes() {
    every_shipped_scenario_passes_with("gpt-realtime-2.1").await;
}

/// GPT-Live: a continuous, paced stream, tools through delegation, no
/// bridge-side truncation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes_on_gpt_live() {
    every_shipped_scenario_passes_with("gpt-live-1").await;
}

/// The 2025 model: every answer in one audio item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shipped_scenario_passes_with_the_2025_model() {
    every_shipped_scenario_passes_with("gpt-realtime").await;
}

/// Every shipped scenario marked `sip` as a call OpenAI answers over SIP,
/// against `app`: the simulated control plane rings the webhook with the
/// scenario as both sides, and the same expectations (less the relayed
/// audio's) hold, with OpenAI's side checked too (accepted once, each tool
/// output once, ended by a hang-up or a refer where the scenario ends so,
/// never cutting off the last line). Played after the Media Streams
/// scenarios, not beside them.
async fn every_sip_scenario_passes_over_sip(app: &crate::helpers::TestApp) {
    let relayed = app.model.sessions().len();
    let base = app.url("");
    let (first, after): (Vec<Scenario>, Vec<Scenario>) = Scenario::shipped()
        .into_iter()
        .filter(|scenario| scenario.sip)
        .partition(|scenario| scenario.after.is_none());
    assert!(first.len() >= 10, "most scenarios play over SIP");
    let failed = play(&base, [first, after], Door::Sip).await;
    assert!(failed.is_empty(), "over SIP: {}", failed.join("\n"));
    // No Media Streams model session was opened for them.
    assert_eq!(app.model.sessions().len(), relayed);
    // A scenario about the relayed audio is refused, not played.
    let settings = crate::helpers::call_settings(
        base.clone(),
        Scenario::find("barge-in-during-answer").unwrap(),
    );
    assert!(place_sip(&settings, &mut Vec::new()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_that_is_not_met_fails() {
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await;
    let mut scenario = Scenario::find("silence").unwrap();
    scenario.expect.spoken.push("words never said".into());
    scenario.expect.tools.push("get_recommendation".into());
    let settings = crate::helpers::call_settings(app.url(""), scenario);
    let mut transcript = Vec::new();
    let outcome = place(&settings, &mut transcript).await.unwrap();
    assert_eq!(outcome.failures.len(), 2, "{:?}", outcome.failures);
    let transcript = String::from_utf8(transcript).unwrap();
    assert!(transcript.contains("FAIL silence"), "{transcript}");
    app.stop().await;
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_clear_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let settings = CallSettings {
        speed: 1.0,
        ..crate::helpers::call_settings(url, Scenario::find("silence").unwrap())
    };
    let err = place(&settings, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("/twiml failed"), "{err}");
}

/// The simulated model holds its greeting a moment for the caller's first
/// tagged audio (a scenario may bring its own greeting, carried in that
/// audio); a line that sends no audio at all is still greeted.
#[tokio::test]
async fn a_caller_that_sends_no_audio_is_still_greeted() {
    let app = spawn_app_with(AppOptions {
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await;
    let mut socket = started_stream(&app.ws_url("/call"), "MZsilent").await;
    let events = read_until(&mut socket, |event| event["event"] == "media").await;
    assert_eq!(events.last().unwrap()["streamSid"], "MZsilent");
    drop(socket);
    app.idle().await;
    app.stop().await;
}
