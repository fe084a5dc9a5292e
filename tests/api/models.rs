//! Voice model generations: each call is priced at its own model's list
//! prices (each modality's cached input at its own rate), a model the
//! server does not know still answers with its cost unknown, and what only
//! some models take is sent only to them.

use qloophone::config::Config;
use serde_json::Value;

use crate::helpers::{
    AppOptions, TestApp, dashboard, film_search, one_turn, read_until, spawn_app_with,
};

/// List prices in dollars per million tokens, as OpenAI's model pages give
/// them (read 2026-12-05): text in / cached / out, audio in / cached / out.
/// Written out here, apart from the catalogue, so a wrong entry there
/// fails this test.
fn list_prices(model: &str) -> Option<[f64; 6]> {
    Some(match model {
        "gpt-realtime-2.1" | "gpt-realtime-2" => [4.0, 0.4, 24.0, 32.0, 0.4, 64.0],
        "gpt-realtime-2.1-mini" => [0.6, 0.06, 2.4, 10.0, 0.3, 20.0],
        "gpt-realtime-1.5" | "gpt-realtime" => [4.0, 0.4, 16.0, 32.0, 0.4, 64.0],
        _ => return None,
    })
}

/// What `total` (a `usage` event's) costs at `prices`, in dollars.
fn priced(total: &Value, prices: [f64; 6]) -> f64 {
    let n = |key: &str| total[key].as_u64().unwrap() as f64;
    let [
        text_in,
        text_cached,
        text_out,
        audio_in,
        audio_cached,
        audio_out,
    ] = prices;
    ((n("input_text_tokens") - n("cached_text_tokens")) * text_in
        + n("cached_text_tokens") * text_cached
        + n("output_text_tokens") * text_out
        + (n("input_audio_tokens") - n("cached_audio_tokens")) * audio_in
        + n("cached_audio_tokens") * audio_cached
        + n("output_audio_tokens") * audio_out)
        / 1e6
}

async fn app_on(model: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.openai.model = model.to_owned();
    adjust(&mut config);
    spawn_app_with(AppOptions {
        script: film_search("Great pick. You should watch {tool_output}."),
        tools: None,
        config,
        ..AppOptions::default()
    })
    .await
}

/// One call; its `call.started` and its last `usage` event.
async fn one_call(app: &TestApp, tag: u16) -> (Value, Value) {
    let mut observer = dashboard(app, "?format=envelope").await;
    app.call(tag, &one_turn()).await;
    app.idle().await;
    let events = read_until(&mut observer, |e| e["event"]["type"] == "call.ended").await;
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["event"]["type"] == kind)
            .map(|e| e["event"].clone())
            .collect::<Vec<_>>()
    };
    let started = of("call.started").remove(0);
    let usage = of("usage").pop().expect("usage was reported");
    (started, usage)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_is_priced_at_its_models_list_prices() {
    for (tag, model) in [
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-1.5",
        "gpt-realtime",
    ]
    .into_iter()
    .enumerate()
    {
        let app = app_on(model, |_| {}).await;
        let (started, usage) = one_call(&app, 60 + tag as u16).await;
        assert_eq!(started["model"], model);
        let total = &usage["total"];
        assert!(
            total["cached_audio_tokens"].as_u64().unwrap() > 0,
            "{model}: the call read cached audio: {total}"
        );
        let expected = priced(total, list_prices(model).unwrap());
        let cost = usage["cost_usd"].as_f64().expect("a known model's cost");
        assert!(
            (cost - expected).abs() < 2e-6,
            "{model}: {cost} against {expected} for {total}"
        );
        let metrics = app.get_text("/metrics").await;
        assert!(
            metrics.contains(&format!(
                "qloophone_model_calls_total{{api=\"realtime\",model=\"{model}\"}} 1"
            )),
            "{metrics}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_server_does_not_know_answers_with_its_cost_unknown() {
    let app = app_on("gpt-realtime-9", |config| {
        config.openai.truncation_retention_ratio = 0.5;
    })
    .await;
    let (started, usage) = one_call(&app, 70).await;
    assert_eq!(started["model"], "gpt-realtime-9");
    assert!(usage["total"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(
        usage["cost_usd"].is_null(),
        "never a made-up figure: {usage}"
    );
    let session = &app.model.sessions()[0];
    let update = &session.of_type("session.update")[0]["session"];
    assert!(
        update.get("reasoning").is_none() && update.get("truncation").is_none(),
        "nothing only some models take: {update}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_and_truncation_go_only_to_models_that_take_them() {
    let app = app_on("gpt-realtime-2.1", |config| {
        config.openai.reasoning_effort = Some(qloophone_adapters::openai::ReasoningEffort::Low);
        config.openai.truncation_max_tokens = Some(20_000);
    })
    .await;
    one_call(&app, 71).await;
    let session = &app.model.sessions()[0];
    let update = &session.of_type("session.update")[0]["session"];
    assert_eq!(update["reasoning"]["effort"], "low");
    assert_eq!(update["truncation"]["type"], "retention_ratio");
    assert_eq!(update["truncation"]["retention_ratio"], 0.8);
    assert_eq!(
        update["truncation"]["token_limits"]["post_instructions"],
        20_000
    );
    app.stop().await;

    let app = app_on("gpt-realtime-1.5", |_| {}).await;
    one_call(&app, 72).await;
    let session = &app.model.sessions()[0];
    let update = &session.of_type("session.update")[0]["session"];
    assert!(update.get("reasoning").is_none(), "{update}");
    assert_eq!(update["truncation"]["retention_ratio"], 0.8);
    app.stop().await;
}

/// GPT-Live bills its voice by the minute and its backend model's tokens
/// by the token: a call's cost is both, at the catalogue's prices, or
/// unknown while the backend model's prices are not known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gpt_live_call_is_priced_by_the_minute_and_its_backend_by_the_token() {
    use qloophone_adapters::openai::catalogue::{ModalityPrices, ModelSpec, PriceTable};
    let backend = ModelSpec {
        prices: PriceTable {
            text: ModalityPrices {
                input: Some(2.0),
                cached_input: Some(0.2),
                output: Some(10.0),
            },
            ..PriceTable::default()
        },
        ..ModelSpec::default()
    };
    let app = app_on("gpt-live-1", |config| {
        config
            .openai
            .models
            .insert(config.live.delegation_model.clone(), backend);
    })
    .await;
    let (started, usage) = one_call(&app, 73).await;
    assert_eq!(started["model"], "gpt-live-1");
    assert_eq!(started["api"], "live");
    let total = &usage["total"];
    let n = |key: &str| total[key].as_u64().unwrap() as f64;
    assert!(
        n("input_text_tokens") > 0.0,
        "the backend ran the tool: {total}"
    );
    let expected = (n("input_text_tokens") - n("cached_text_tokens")) * 2.0 / 1e6
        + n("cached_text_tokens") * 0.2 / 1e6
        + n("output_text_tokens") * 10.0 / 1e6
        + n("session_ms") / 60_000.0 * 0.05;
    let cost = usage["cost_usd"].as_f64().expect("both prices known");
    assert!(
        n("session_ms") > 0.0 && (cost - expected).abs() < 2e-6,
        "{cost} against {expected} for {total}"
    );
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("qloophone_model_calls_total{api=\"live\",model=\"gpt-live-1\"} 1"),
        "{metrics}"
    );
    app.stop().await;

    // Without the backend model's prices, the cost is not known.
    let app = app_on("gpt-live-1", |_| {}).await;
    let (_, usage) = one_call(&app, 74).await;
    assert!(usage["cost_usd"].is_null(), "{usage}");
    app.stop().await;
}
