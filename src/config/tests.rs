//! Config tests: every layer, every alias, every mode, bad values.

// figment::Jail's closures return figment::Error, which is large; not ours to change.
#![allow(clippy::result_large_err)]

use figment::Jail;
use qloophone_adapters::openai::TurnDetectionKind;

use super::*;

fn load(jail: &mut Jail) -> Result<Config, ConfigError> {
    let _ = jail;
    Config::load(None)
}

fn error_text(jail: &mut Jail) -> String {
    load(jail).expect_err("should be refused").to_string()
}

#[test]
fn defaults_match_the_original_service() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let config = load(jail).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.server.port, 8081);
        assert_eq!(config.server.public_url, "http://localhost:8081");
        assert_eq!(config.qloo.api_url, "https://hackathon.api.qloo.com");
        assert_eq!(
            config.openai.realtime_url,
            "wss://api.openai.com/v1/realtime"
        );
        assert_eq!(config.openai.model, "gpt-realtime-2.1");
        assert_eq!(config.limits.max_calls, 1000);
        assert_eq!(config.telemetry.log_format, LogFormat::Pretty);
        assert_eq!(config.mode(false).unwrap(), Mode::Sandbox);
        Ok(())
    });
}

#[test]
fn without_a_public_url_the_stream_url_follows_the_port() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("PORT", "8091");
        assert_eq!(
            load(jail).unwrap().server.public_url,
            "http://localhost:8091"
        );
        // Given explicitly, even as the default's text, it is kept.
        jail.set_env("PUBLIC_URL", "http://localhost:8081");
        assert_eq!(
            load(jail).unwrap().server.public_url,
            "http://localhost:8081"
        );
        jail.set_env("PUBLIC_URL", "https://abc.ngrok.app");
        assert_eq!(
            load(jail).unwrap().server.public_url,
            "https://abc.ngrok.app"
        );
        Ok(())
    });
}

#[test]
fn layers_apply_in_order_toml_then_dotenv_then_environment() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "qloophone.toml",
            r#"
            [server]
            port = 9000
            public_url = "https://from-toml.example"
            [openai]
            voice = "cedar"
            model = "from-toml"
            [limits]
            max_calls = 7
            "#,
        )?;
        let config = load(jail).unwrap();
        assert_eq!(config.server.port, 9000);
        assert_eq!(config.openai.voice, "cedar");
        assert_eq!(config.limits.max_calls, 7);

        jail.create_file(
            ".env",
            "PORT=9100\nOPENAI_MODEL=from-dotenv\nQLOOPHONE_LIMITS__MAX_CALLS=8\nUNRELATED=1\n",
        )?;
        let config = load(jail).unwrap();
        assert_eq!(config.server.port, 9100, ".env beats the TOML file");
        assert_eq!(config.openai.model, "from-dotenv");
        assert_eq!(config.limits.max_calls, 8);
        assert_eq!(
            config.openai.voice, "cedar",
            "untouched keys keep the TOML value"
        );

        jail.set_env("PORT", "9200");
        jail.set_env("QLOOPHONE_LIMITS__MAX_CALLS", "9");
        let config = load(jail).unwrap();
        assert_eq!(config.server.port, 9200, "the environment beats .env");
        assert_eq!(config.limits.max_calls, 9);
        assert_eq!(config.openai.model, "from-dotenv");
        Ok(())
    });
}

#[test]
fn prefixed_variables_reach_nested_settings() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("QLOOPHONE_OPENAI__TURN_DETECTION__THRESHOLD", "0.7");
        jail.set_env("QLOOPHONE_OPENAI__TURN_DETECTION__TYPE", "semantic_vad");
        jail.set_env("QLOOPHONE_QLOO__SEARCH_TIMEOUT_MS", "1200");
        jail.set_env("QLOOPHONE_SERVER__HOST", "127.0.0.1");
        let config = load(jail).unwrap();
        assert!((config.openai.turn_detection.threshold - 0.7).abs() < 1e-6);
        assert_eq!(
            config.openai.turn_detection.kind,
            TurnDetectionKind::SemanticVad
        );
        assert_eq!(config.qloo.search_timeout_ms, 1200);
        assert_eq!(config.server.host, IpAddr::from([127, 0, 0, 1]));
        Ok(())
    });
}

#[test]
fn every_original_variable_name_sets_its_setting() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        for (var, value) in [
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_REALTIME_URL", "ws://127.0.0.1:9/v1/realtime"),
            ("OPENAI_MODEL", "gpt-realtime-mini"),
            ("OPENAI_VOICE", "ash"),
            ("QLOO_API_KEY", "qk-test"),
            ("QLOO_API_URL", "http://127.0.0.1:10"),
            ("TWILIO_AUTH_TOKEN", "12345"),
            ("PORT", "8099"),
            ("PUBLIC_URL", "https://abc.ngrok.app"),
            ("LOG_FORMAT", "json"),
        ] {
            jail.set_env(var, value);
        }
        let config = load(jail).unwrap();
        assert_eq!(config.openai.api_key, Some(Secret::new("sk-test")));
        assert_eq!(config.openai.realtime_url, "ws://127.0.0.1:9/v1/realtime");
        assert_eq!(config.openai.model, "gpt-realtime-mini");
        assert_eq!(config.openai.voice, "ash");
        assert_eq!(config.qloo.api_key, Some(Secret::new("qk-test")));
        assert_eq!(config.qloo.api_url, "http://127.0.0.1:10");
        assert_eq!(
            config.twilio.auth_token,
            Some(Secret::new("12345")),
            "a token of digits stays text"
        );
        assert_eq!(config.server.port, 8099);
        assert_eq!(config.server.public_url, "https://abc.ngrok.app");
        assert_eq!(config.telemetry.log_format, LogFormat::Json);
        assert_eq!(config.mode(false).unwrap(), Mode::Live);
        Ok(())
    });
}

#[test]
fn an_explicit_config_file_is_read_and_must_exist() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("custom.toml", "[server]\nport = 7001\n")?;
        jail.create_file("qloophone.toml", "[server]\nport = 7002\n")?;
        let config = Config::load(Some(Path::new("custom.toml"))).unwrap();
        assert_eq!(config.server.port, 7001);
        let err = Config::load(Some(Path::new("absent.toml"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration error: the config file absent.toml does not exist"
        );
        Ok(())
    });
}

#[test]
fn modes_follow_the_keys() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        assert_eq!(load(jail).unwrap().mode(false).unwrap(), Mode::Sandbox);

        jail.set_env("OPENAI_API_KEY", "sk-1");
        let config = load(jail).unwrap();
        let err = config.mode(false).unwrap_err().to_string();
        assert!(
            err.contains("OPENAI_API_KEY is set but QLOO_API_KEY is not"),
            "{err}"
        );
        assert_eq!(
            config.mode(true).unwrap(),
            Mode::Sandbox,
            "--sandbox forces it"
        );

        jail.set_env("OPENAI_API_KEY", "");
        jail.set_env("QLOO_API_KEY", "q-1");
        let err = load(jail).unwrap().mode(false).unwrap_err().to_string();
        assert!(
            err.contains("QLOO_API_KEY is set but OPENAI_API_KEY is not"),
            "{err}"
        );

        jail.set_env("OPENAI_API_KEY", "sk-1");
        assert_eq!(load(jail).unwrap().mode(false).unwrap(), Mode::Live);
        assert_eq!(load(jail).unwrap().mode(true).unwrap(), Mode::Sandbox);
        Ok(())
    });
}

#[test]
fn live_mode_needs_the_twilio_token_and_the_dashboard_key_unless_insecure() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let sandbox = load(jail).unwrap();
        assert!(
            sandbox.check_protected(Mode::Sandbox).is_ok(),
            "the sandbox needs neither"
        );
        assert!(!sandbox.is_insecure(Mode::Sandbox));

        jail.set_env("OPENAI_API_KEY", "sk-1");
        jail.set_env("QLOO_API_KEY", "q-1");
        let err = load(jail)
            .unwrap()
            .check_protected(Mode::Live)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TWILIO_AUTH_TOKEN") && err.contains("--insecure"),
            "{err}"
        );

        jail.set_env("TWILIO_AUTH_TOKEN", "tw-1");
        let err = load(jail)
            .unwrap()
            .check_protected(Mode::Live)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DASHBOARD_TOKEN") && err.contains("--insecure"),
            "{err}"
        );

        jail.set_env("DASHBOARD_TOKEN", "dash-1-0123456789");
        let protected = load(jail).unwrap();
        assert!(protected.check_protected(Mode::Live).is_ok());
        assert!(!protected.is_insecure(Mode::Live));
        assert!(
            format!("{protected:?}").contains("token: Some(***)"),
            "secret in Debug"
        );

        jail.set_env("DASHBOARD_TOKEN", "");
        jail.set_env("QLOOPHONE_SERVER__INSECURE", "true");
        let insecure = load(jail).unwrap();
        assert!(
            insecure.check_protected(Mode::Live).is_ok(),
            "--insecure runs anyway"
        );
        assert!(insecure.is_insecure(Mode::Live));
        Ok(())
    });
}

#[test]
fn bad_values_are_refused_with_the_setting_named() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("PUBLIC_URL", "abc.ngrok.app");
        let err = error_text(jail);
        assert!(
            err.contains("server.public_url (PUBLIC_URL) is not a valid URL"),
            "{err}"
        );

        jail.set_env("PUBLIC_URL", "ftp://abc.ngrok.app");
        let err = error_text(jail);
        assert!(
            err.contains("has the scheme \"ftp\"; expected http or https"),
            "{err}"
        );
        jail.set_env("PUBLIC_URL", "https://abc.ngrok.app");

        jail.set_env("PORT", "70000");
        let err = error_text(jail);
        assert!(err.contains("server.port (PORT): invalid value"), "{err}");
        jail.set_env("PORT", "8081");

        jail.set_env("LOG_FORMAT", "xml");
        let err = error_text(jail);
        assert!(
            err.contains("telemetry.log_format (LOG_FORMAT): unknown variant"),
            "{err}"
        );
        jail.set_env("LOG_FORMAT", "pretty");

        jail.set_env("OPENAI_REALTIME_URL", "https://api.openai.com/v1/realtime");
        let err = error_text(jail);
        assert!(
            err.contains("openai.realtime_url") && err.contains("ws or wss"),
            "{err}"
        );
        jail.set_env("OPENAI_REALTIME_URL", "wss://api.openai.com/v1/realtime");

        jail.set_env("OPENAI_VOICE", "Marin");
        let err = error_text(jail);
        assert!(
            err.contains("openai.voice (OPENAI_VOICE) is \"Marin\"") && err.contains("marin"),
            "{err}"
        );
        jail.set_env("OPENAI_VOICE", "voice_abc123");
        assert!(load(jail).is_ok(), "a custom voice id is accepted");
        jail.set_env("OPENAI_VOICE", "voice_");
        assert!(error_text(jail).contains("openai.voice"));
        jail.set_env("OPENAI_VOICE", "cedar");

        jail.set_env("QLOOPHONE_LIMITS__CALLER_SILENCE_TIMEOUT_MS", "0");
        assert!(error_text(jail).contains("limits.caller_silence_timeout_ms must be more than 0"));
        jail.set_env("QLOOPHONE_LIMITS__CALLER_SILENCE_TIMEOUT_MS", "20000");

        jail.set_env("QLOOPHONE_OPENAI__TURN_DETECTION__THRESHOLD", "2");
        assert!(error_text(jail).contains("threshold must be between 0 and 1"));
        jail.set_env("QLOOPHONE_OPENAI__TURN_DETECTION__THRESHOLD", "0.5");

        jail.set_env("DASHBOARD_TOKEN", "x");
        assert!(error_text(jail).contains("DASHBOARD_TOKEN) must be at least 16 characters"));
        jail.set_env("DASHBOARD_TOKEN", "0123456789abcdef");
        jail.set_env("QLOOPHONE_TWILIO__STREAM_SECRET", "short");
        assert!(error_text(jail).contains("twilio.stream_secret must be at least 16 characters"));
        jail.set_env("QLOOPHONE_TWILIO__STREAM_SECRET", "0123456789abcdef");

        jail.set_env("QLOOPHONE_LIMITS__MAX_CALLS", "0");
        assert!(error_text(jail).contains("limits.max_calls must be at least 1"));
        jail.set_env("QLOOPHONE_LIMITS__MAX_CALLS", "10");

        jail.set_env("QLOOPHONE_QLOO__SEARCH_TIMEOUT_MS", "0");
        assert!(error_text(jail).contains("qloo.search_timeout_ms must be more than 0"));
        jail.set_env("QLOOPHONE_QLOO__SEARCH_TIMEOUT_MS", "100");

        jail.set_env("QLOOPHONE_OPENAI__NOISE_REDUCTION", "loud");
        assert!(error_text(jail).contains("openai.noise_reduction"));
        jail.set_env("QLOOPHONE_OPENAI__NOISE_REDUCTION", "far_field");

        jail.create_file("qloophone.toml", "[server]\nportt = 1\n")?;
        let err = error_text(jail);
        assert!(err.contains("portt"), "unknown keys are named: {err}");
        Ok(())
    });
}

#[test]
fn secrets_never_print() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("OPENAI_API_KEY", "sk-very-secret");
        jail.set_env("QLOO_API_KEY", "qloo-very-secret");
        jail.set_env("TWILIO_AUTH_TOKEN", "twilio-very-secret");
        let config = load(jail).unwrap();
        let debug = format!("{config:?}");
        let json = serde_json::to_string(&config).unwrap();
        for text in [&debug, &json] {
            assert!(!text.contains("very-secret"), "{text}");
            assert!(text.contains("***"));
        }
        assert_eq!(config.openai.api_key.unwrap().expose(), "sk-very-secret");
        Ok(())
    });
}

#[test]
fn a_bad_value_is_described_once_with_where_it_came_from() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("PORT", "abc");
        let err = load(jail).unwrap_err();
        assert!(
            std::error::Error::source(&err).is_none(),
            "described once, not again as its cause"
        );
        let text = err.to_string();
        assert!(text.contains("server.port (PORT): invalid type"), "{text}");
        assert!(text.ends_with("(from environment variable(s))"), "{text}");

        jail.clear_env();
        jail.create_file("q.toml", "[server]\nport = \"abc\"\n")?;
        let text = Config::load(Some(std::path::Path::new("q.toml")))
            .unwrap_err()
            .to_string();
        assert!(text.contains("server.port: invalid type"), "{text}");
        assert!(
            !text.contains("(PORT)"),
            "a TOML key is not the variable: {text}"
        );
        assert!(text.contains("q.toml"), "the file is named: {text}");
        Ok(())
    });
}

/// Every dotted key under `value`, with its value.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match value {
        // The model catalogue is one setting: a table of models.
        _ if prefix == "openai.models" => out.push((prefix.to_owned(), value.clone())),
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// The README's settings table says only what is true: every setting it
/// lists exists, every setting is listed, and a default written as one
/// literal is the default the code has.
#[test]
fn the_readme_lists_every_setting_with_its_true_default() {
    let readme = include_str!("../../README.md");
    let mut listed = std::collections::BTreeMap::new();
    for line in readme.lines().filter(|line| line.starts_with("| ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let Some(key) = cells
            .get(1)
            .and_then(|cell| cell.strip_prefix('`'))
            .and_then(|cell| cell.strip_suffix('`'))
        else {
            continue;
        };
        if key.contains('.') && !key.contains(' ') {
            listed.insert(key.to_owned(), cells.get(2).copied().unwrap_or_default());
        }
    }
    let mut actual = Vec::new();
    flatten(
        "",
        &serde_json::to_value(Config::default()).unwrap(),
        &mut actual,
    );
    let actual: std::collections::BTreeMap<String, serde_json::Value> =
        actual.into_iter().collect();
    let missing: Vec<&String> = actual.keys().filter(|k| !listed.contains_key(*k)).collect();
    let unknown: Vec<&String> = listed.keys().filter(|k| !actual.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "settings the README does not list: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "README settings that do not exist: {unknown:?}"
    );
    let mut wrong = Vec::new();
    for (key, written) in &listed {
        let Some(literal) = written
            .strip_prefix('`')
            .and_then(|rest| rest.strip_suffix('`'))
            .filter(|literal| !literal.contains('`'))
        else {
            continue;
        };
        let value = &actual[key];
        let shown = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Array(items) if items.is_empty() => "[]".to_owned(),
            other => other.to_string(),
        };
        if shown != literal {
            wrong.push(format!("{key}: README {literal}, code {shown}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "defaults the README gets wrong: {wrong:?}"
    );
}

#[test]
fn redis_is_off_by_default_and_redis_url_turns_it_on() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        assert_eq!(load(jail).unwrap().redis.url, None, "in-process by default");
        jail.set_env("REDIS_URL", "redis://:hunter2@cache:6379/2");
        let config = load(jail).unwrap();
        assert_eq!(
            config.redis.url.as_ref().map(Secret::expose),
            Some("redis://:hunter2@cache:6379/2")
        );
        jail.create_file(
            "qloophone.toml",
            "[redis]\ninstance = \"east-1\"\nmax_fleet_calls = 40\nheartbeat_ms = 500\nexpiry_ms = 1500\n",
        )?;
        let config = load(jail).unwrap();
        assert_eq!(config.redis.instance_name(), "east-1");
        assert_eq!(config.redis.max_fleet_calls, 40);
        Ok(())
    });
}

#[test]
fn a_bad_redis_url_or_an_expiry_inside_a_heartbeat_is_refused_without_the_password() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("REDIS_URL", "http://:hunter2@cache:6379");
        let text = error_text(jail);
        assert!(text.contains("redis.url (REDIS_URL)"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        jail.set_env("REDIS_URL", "redis://cache:6379");
        jail.set_env("QLOOPHONE_REDIS__EXPIRY_MS", "2000");
        let text = error_text(jail);
        assert!(text.contains("redis.expiry_ms"), "{text}");
        jail.set_env("QLOOPHONE_REDIS__EXPIRY_MS", "6000");
        jail.set_env("QLOOPHONE_REDIS__DEADLINE_MS", "0");
        assert!(error_text(jail).contains("redis.deadline_ms"));
        jail.set_env("QLOOPHONE_REDIS__DEADLINE_MS", "250");
        // A fleet checking stream tokens needs one key on every instance.
        jail.set_env("TWILIO_AUTH_TOKEN", "twilio-token");
        let text = error_text(jail);
        assert!(text.contains("twilio.stream_secret"), "{text}");
        jail.set_env("QLOOPHONE_TWILIO__STREAM_SECRET", "shared-secret-0123");
        assert!(load(jail).is_ok());
        Ok(())
    });
}

#[test]
fn without_a_configured_name_each_instance_gets_its_own() {
    let settings = RedisSettings::default();
    let name = settings.instance_name();
    // The host's name, then a random suffix: two replicas on one host name
    // still differ.
    let (host, suffix) = name.rsplit_once('-').unwrap();
    assert!(!host.is_empty(), "{name}");
    assert!(
        suffix.len() == 4 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
}

/// A reasoning effort goes only to a model that reasons: set for one that
/// does not (or that the catalogue does not know), the server refuses to
/// start and names both.
#[test]
fn a_reasoning_effort_for_a_model_that_does_not_reason_stops_the_start() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("QLOOPHONE_OPENAI__REASONING_EFFORT", "medium");
        let config = load(jail).unwrap();
        assert_eq!(
            config.openai.session_extras().reasoning_effort,
            Some("medium")
        );
        jail.set_env("OPENAI_MODEL", "gpt-realtime-1.5");
        let error = error_text(jail);
        assert!(
            error.contains("openai.reasoning_effort")
                && error.contains("\"medium\"")
                && error.contains("gpt-realtime-1.5")
                && error.contains("not a reasoning model"),
            "{error}"
        );
        jail.set_env("OPENAI_MODEL", "gpt-realtime-2025-08-28");
        assert!(error_text(jail).contains("not a reasoning model"));
        jail.set_env("OPENAI_MODEL", "gpt-realtime-9");
        let error = error_text(jail);
        assert!(
            error.contains("not in the model catalogue") && error.contains("gpt-realtime-9"),
            "{error}"
        );
        jail.set_env("QLOOPHONE_OPENAI__REASONING_EFFORT", "very");
        assert!(error_text(jail).contains("reasoning_effort"));
        Ok(())
    });
}

/// An unknown model still runs: no prices (its cost is unknown), nothing
/// only some models take.
#[test]
fn an_unknown_model_runs_without_prices_or_extras() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("OPENAI_MODEL", "gpt-realtime-9");
        let config = load(jail).unwrap();
        assert!(config.openai.model_spec().is_none());
        assert_eq!(config.openai.prices(), None);
        assert_eq!(
            config.openai.session_extras(),
            qloophone_adapters::openai::wire::SessionExtras::default()
        );
        Ok(())
    });
}

/// The catalogue is defaults: a TOML table adds a model or changes one
/// field of a known one, and the rest stays.
#[test]
fn the_model_catalogue_takes_overrides_and_new_models_from_toml() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file(
            "qloophone.toml",
            r#"
            [openai]
            model = "my-realtime"
            reasoning_effort = "low"
            truncation_max_tokens = 20000
            [openai.models."my-realtime"]
            reasoning = true
            context_tokens = 64000
            max_output_tokens = 8000
            retention_truncation = true
            prices = { audio = { input = 20.0, cached_input = 0.2, output = 40.0 } }
            [openai.models."gpt-realtime-2.1".prices.audio]
            output = 70.0
            "#,
        )?;
        let config = load(jail).unwrap();
        let spec = config.openai.model_spec().unwrap();
        assert_eq!(spec.context_tokens, 64_000);
        let prices = config.openai.prices().unwrap();
        assert_eq!(prices.audio.output, Some(40_000_000));
        assert_eq!(prices.text.input, None, "not given: not known");
        let extras = config.openai.session_extras();
        assert_eq!(extras.reasoning_effort, Some("low"));
        assert_eq!(extras.truncation.unwrap().max_tokens, Some(20_000));
        let known = &config.openai.models["gpt-realtime-2.1"];
        assert_eq!(known.prices.audio.output, Some(70.0));
        assert_eq!(known.prices.audio.input, Some(32.0), "the rest stays");
        assert_eq!(
            config.openai.models.len(),
            Config::default().openai.models.len() + 1
        );

        jail.create_file(
            "qloophone.toml",
            r#"
            [openai]
            truncation_max_tokens = 120000
            "#,
        )?;
        let error = error_text(jail);
        assert!(
            error.contains("truncation_max_tokens") && error.contains("96000"),
            "{error}"
        );
        jail.create_file(
            "qloophone.toml",
            r#"
            [openai]
            truncation_retention_ratio = 1.5
            "#,
        )?;
        assert!(error_text(jail).contains("truncation_retention_ratio"));
        Ok(())
    });
}

/// The API follows the model: `gpt-live-*` is GPT-Live (its voice checked
/// against GPT-Live's), anything else the Realtime API; `model.vendor`
/// decides for a name the catalogue does not know.
#[test]
fn the_voice_api_follows_the_model_and_model_vendor_overrides_it() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        assert_eq!(load(jail).unwrap().vendor(), Api::Realtime);
        jail.set_env("OPENAI_MODEL", "gpt-live-1");
        assert_eq!(load(jail).unwrap().vendor(), Api::Live);
        jail.set_env("OPENAI_MODEL", "gpt-live-2");
        assert_eq!(load(jail).unwrap().vendor(), Api::Live, "by its name");
        jail.set_env("OPENAI_MODEL", "gpt-live-transcribe");
        assert_eq!(load(jail).unwrap().vendor(), Api::Realtime);
        jail.set_env("OPENAI_MODEL", "my-voice");
        jail.set_env("QLOOPHONE_MODEL__VENDOR", "live");
        assert_eq!(load(jail).unwrap().vendor(), Api::Live);
        jail.set_env("QLOOPHONE_MODEL__VENDOR", "other");
        assert!(error_text(jail).contains("model.vendor"));
        // GPT-Live's voices are its own.
        jail.set_env("QLOOPHONE_MODEL__VENDOR", "live");
        jail.set_env("QLOOPHONE_LIVE__VOICE", "juni");
        assert!(load(jail).is_ok());
        jail.set_env("QLOOPHONE_LIVE__VOICE", "nobody");
        assert!(error_text(jail).contains("live.voice"));
        jail.set_env("QLOOPHONE_LIVE__VOICE", "marin");
        jail.set_env("OPENAI_LIVE_URL", "http://example.com");
        assert!(error_text(jail).contains("live.url (OPENAI_LIVE_URL)"));
        Ok(())
    });
}

#[test]
fn the_transfer_number_must_be_e164() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("TRANSFER_NUMBER", "+15550123456");
        let config = load(jail).unwrap();
        assert_eq!(
            config.twilio.transfer_number.as_deref(),
            Some("+15550123456")
        );
        for bad in [
            "5550123456",
            "+1 555 012 3456",
            "+0123456789",
            "call me",
            "+1555",
        ] {
            jail.set_env("TRANSFER_NUMBER", bad);
            let error = error_text(jail);
            assert!(
                error.contains("twilio.transfer_number (TRANSFER_NUMBER)")
                    && error.contains("E.164"),
                "{bad}: {error}"
            );
        }
        jail.set_env("TRANSFER_NUMBER", "+15550123456");
        jail.set_env("QLOOPHONE_TWILIO__TRANSFER_NUMBER", "+442071234567");
        assert_eq!(
            load(jail).unwrap().twilio.transfer_number.as_deref(),
            Some("+442071234567"),
            "the prefixed name wins"
        );
        jail.clear_env();
        jail.create_file(".env", "TRANSFER_NUMBER=+4930123456\n")?;
        assert_eq!(
            load(jail).unwrap().twilio.transfer_number.as_deref(),
            Some("+4930123456"),
            "from .env, as text"
        );
        jail.set_env("TRANSFER_NUMBER", "+15550123456");
        jail.set_env("QLOOPHONE_TWILIO__DIAL_TIMEOUT_SECS", "0");
        assert!(error_text(jail).contains("dial_timeout_secs"));
        Ok(())
    });
}

#[test]
fn the_text_settings_are_checked_and_numbers_stay_text() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.set_env("TWILIO_SMS_FROM", "+15550100000");
        jail.set_env("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef");
        jail.set_env("TWILIO_API_KEY", "SK0123456789abcdef0123456789abcdef");
        jail.set_env("TWILIO_API_SECRET", "secret");
        jail.set_env("TWILIO_REGION", "ie1");
        jail.set_env("TWILIO_EDGE", "dublin");
        let config = load(jail).unwrap();
        assert_eq!(config.twilio.sms_from.as_deref(), Some("+15550100000"));
        assert_eq!(
            config.twilio.rest_url(),
            "https://api.dublin.ie1.twilio.com"
        );
        let credentials = config.twilio.rest_credentials().unwrap();
        assert_eq!(credentials.user, "SK0123456789abcdef0123456789abcdef");
        assert_eq!(credentials.password.expose(), "secret");

        for (var, value, setting) in [
            (
                "TWILIO_SMS_FROM",
                "5550100000",
                "twilio.sms_from (TWILIO_SMS_FROM)",
            ),
            (
                "TWILIO_ACCOUNT_SID",
                "AC123",
                "twilio.account_sid (TWILIO_ACCOUNT_SID)",
            ),
            (
                "TWILIO_API_URL",
                "ftp://twilio",
                "twilio.api_url (TWILIO_API_URL)",
            ),
        ] {
            jail.set_env(var, value);
            let error = error_text(jail);
            assert!(error.contains(setting), "{var}={value}: {error}");
            jail.clear_env();
        }
        jail.set_env("TWILIO_API_KEY", "SK0123456789abcdef0123456789abcdef");
        assert!(error_text(jail).contains("set both or neither"));
        // The auth token signs in when there is no API key.
        jail.clear_env();
        jail.set_env("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef");
        assert!(load(jail).unwrap().twilio.rest_credentials().is_none());
        jail.set_env("TWILIO_AUTH_TOKEN", "token");
        let credentials = load(jail).unwrap().twilio.rest_credentials().unwrap();
        assert_eq!(credentials.user, "AC0123456789abcdef0123456789abcdef");
        assert_eq!(
            load(jail).unwrap().twilio.rest_url(),
            "https://api.twilio.com"
        );
        Ok(())
    });
}
