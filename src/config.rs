//! Configuration: built-in defaults, then `qloophone.toml`, then `.env`,
//! then the environment (later layers win).
//!
//! The original service's variable names work as written (`OPENAI_API_KEY`,
//! `QLOO_API_KEY`, `QLOO_API_URL`, `PORT`, `PUBLIC_URL`, …); every setting
//! also has a TOML key and a `QLOOPHONE_<SECTION>__<KEY>` variable. Bad
//! values fail here, at start-up, with the setting's name.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
pub use qloophone_adapters::dashboard::DashboardSettings;
pub use qloophone_adapters::hold::HoldSettings;
pub use qloophone_adapters::http::HttpSettings;
pub use qloophone_adapters::live::LiveSettings;
pub use qloophone_adapters::memory::MemorySettings;
pub use qloophone_adapters::openai::OpenAiSettings;
pub use qloophone_adapters::openai::catalogue::Api;
pub use qloophone_adapters::qloo::{CacheSettings, QlooSettings};
pub use qloophone_adapters::redis::RedisSettings;
pub use qloophone_adapters::report::ReportSettings;
pub use qloophone_adapters::secret::Secret;
pub use qloophone_adapters::sip::SipSettings;
pub use qloophone_adapters::tls::TlsSettings;
pub use qloophone_adapters::twilio::TwilioSettings;
use qloophone_domain::call::{SessionPolicy, Watchdogs};
use serde::{Deserialize, Serialize};

/// The default TOML file, read from the working directory when present.
pub const DEFAULT_CONFIG_FILE: &str = "qloophone.toml";
/// The `.env` file, read from the working directory when present.
pub const DOTENV_FILE: &str = ".env";

/// The original service's variable names and the settings they set.
const ALIASES: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "openai.api_key"),
    ("OPENAI_REALTIME_URL", "openai.realtime_url"),
    ("OPENAI_LIVE_URL", "live.url"),
    ("OPENAI_BASE_URL", "sip.base_url"),
    ("OPENAI_WEBHOOK_SECRET", "sip.webhook_secret"),
    ("OPENAI_MODEL", "openai.model"),
    ("OPENAI_VOICE", "openai.voice"),
    ("QLOO_API_KEY", "qloo.api_key"),
    ("QLOO_API_URL", "qloo.api_url"),
    ("TWILIO_AUTH_TOKEN", "twilio.auth_token"),
    ("TRANSFER_NUMBER", "twilio.transfer_number"),
    ("TWILIO_ACCOUNT_SID", "twilio.account_sid"),
    ("TWILIO_API_KEY", "twilio.api_key"),
    ("TWILIO_API_SECRET", "twilio.api_secret"),
    ("TWILIO_SMS_FROM", "twilio.sms_from"),
    ("TWILIO_REGION", "twilio.region"),
    ("TWILIO_EDGE", "twilio.edge"),
    ("TWILIO_API_URL", "twilio.api_url"),
    ("DASHBOARD_TOKEN", "dashboard.token"),
    ("PORT", "server.port"),
    ("PUBLIC_URL", "server.public_url"),
    ("LOG_FORMAT", "telemetry.log_format"),
    ("REDIS_URL", "redis.url"),
    ("REPORT_WEBHOOK_URL", "report.url"),
    ("REPORT_WEBHOOK_SECRET", "report.secret"),
    ("MEMORY_SECRET", "memory.secret"),
];
const PREFIX: &str = "QLOOPHONE_";

/// The Realtime API's built-in voices (gpt-realtime, 2026). A voice it
/// does not know is refused by `session.update`, which would end every
/// call; here it stops the server at start instead.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "marin", "sage", "shimmer", "verse",
];

/// GPT-Live's built-in voices (OpenAI's SDK, `BuiltInVoice`; gpt-live.md
/// §1.2).
pub const LIVE_VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "beacon", "bossa", "brise", "cedar", "cinder", "coral", "delta",
    "echo", "flitz", "gleam", "harema", "juni", "marin", "meridian", "nira", "noeul", "nuri",
    "quartz", "ripple", "sage", "shimmer", "shitan", "sillage", "stone", "tempo", "verse",
    "vesper", "willow",
];

/// One of `voices`, or a custom voice's id (`voice_` and letters, digits).
fn voice_is_known(voices: &[&str], voice: &str) -> bool {
    voices.contains(&voice)
        || voice
            .strip_prefix("voice_")
            .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines with timestamps.
    #[default]
    Pretty,
    /// One JSON object a line.
    Json,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerSettings,
    /// HTTP connection limits.
    pub http: HttpSettings,
    /// The voice model, whichever its API: how calls treat it.
    pub model: ModelSettings,
    /// The OpenAI account, the model, and Realtime API sessions.
    pub openai: OpenAiSettings,
    /// GPT-Live sessions.
    pub live: LiveSettings,
    /// The Qloo taste graph.
    pub qloo: QlooSettings,
    /// Twilio.
    pub twilio: TwilioSettings,
    /// Logging.
    pub telemetry: TelemetrySettings,
    /// Limits.
    pub limits: LimitSettings,
    /// The `/logs` dashboards.
    pub dashboard: DashboardSettings,
    /// The entity cache.
    pub cache: CacheSettings,
    /// The sandbox's simulated peers.
    pub sandbox: SandboxSettings,
    /// Shared state for several instances (`REDIS_URL`).
    pub redis: RedisSettings,
    /// The report of every call posted to the operator's endpoint.
    pub report: ReportSettings,
    /// What a caller hears while a tool works.
    pub hold: HoldSettings,
    /// Remembering callers who ask.
    pub memory: MemorySettings,
    /// Calls OpenAI answers over SIP, this server their control plane.
    pub sip: SipSettings,
    /// TLS on this server's port, and extra roots for outbound connections.
    pub tls: TlsSettings,
}

/// `[model]`: how calls treat the voice model, whichever its API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSettings {
    /// Which API the model speaks, `realtime` or `live`, for a model the
    /// catalogue does not know; unset, it follows the model's name
    /// (`gpt-live-*` is GPT-Live).
    pub vendor: Option<Api>,
    /// How long connecting may take, in ms.
    pub connect_timeout_ms: u64,
    /// Times in a row a lost model session (or a first one that would not
    /// open) is tried again before the call gives up.
    pub reconnect_attempts: u32,
    /// How long a session may take to confirm its configuration, in ms.
    pub ready_timeout_ms: u64,
    /// How long a requested response may take to start, in ms.
    pub response_timeout_ms: u64,
    /// Age at which a session is replaced at a quiet moment, in seconds
    /// (OpenAI closes Realtime sessions at 60 minutes).
    pub session_rollover_secs: u64,
    /// How often the model socket is pinged, in ms; a socket that answers
    /// nothing for two intervals is given up and the session reopened.
    pub ping_interval_ms: u64,
    /// How much of the model's audio is sent to the caller between two
    /// marks, in ms (each item's end is marked too): what the caller has
    /// heard is known at each echo and, between echoes, from the media
    /// clock. 0 marks every piece of audio.
    pub mark_every_ms: u64,
}

impl Default for ModelSettings {
    /// The session's own defaults, written once in the domain.
    fn default() -> Self {
        let policy = SessionPolicy::default();
        Self {
            vendor: None,
            connect_timeout_ms: 5000,
            reconnect_attempts: policy.reconnect_attempts,
            ready_timeout_ms: millis(policy.ready_timeout),
            response_timeout_ms: millis(policy.response_timeout),
            session_rollover_secs: policy.rollover_after.as_secs(),
            ping_interval_ms: 10_000,
            mark_every_ms: 200,
        }
    }
}

/// `[sandbox]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Latency of the simulated Qloo, in ms.
    pub qloo_latency_ms: u64,
    /// Latency of its recommendations (`/v2/insights`), in ms: longer than
    /// the hold sound's threshold, so a sandbox call hears it.
    pub qloo_insights_latency_ms: u64,
    /// Speed of the simulated model's speech (1.0 is real time).
    pub model_pace: f64,
    /// Attempts of each call report the sandbox's own report endpoint
    /// refuses (500) before taking it, to show retries.
    pub report_failures: usize,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            qloo_latency_ms: 300,
            qloo_insights_latency_ms: 1000,
            model_pace: 1.0,
            report_failures: 2,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (`PORT`).
    pub port: u16,
    /// The URL Twilio reaches this server at (`PUBLIC_URL`).
    pub public_url: String,
    /// How long calls may take to finish on shutdown, in seconds.
    pub drain_timeout_secs: u64,
    /// Run live without `TWILIO_AUTH_TOKEN` or `DASHBOARD_TOKEN`
    /// (`serve --insecure`): anyone who finds the server can then open
    /// billed calls and read every conversation.
    pub insecure: bool,
    /// How the calls are spread over the CPUs: `shared` (tokio's
    /// multi-thread runtime) or `per-core` (a current-thread runtime a
    /// core); with one CPU both are one thread ([`crate::runtime`]).
    pub runtime: crate::runtime::Shape,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 8081,
            public_url: "http://localhost:8081".to_owned(),
            drain_timeout_secs: 30,
            insecure: false,
            runtime: crate::runtime::Shape::default(),
        }
    }
}

/// `[telemetry]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `LOG_FORMAT`: `pretty` or `json`.
    pub log_format: LogFormat,
    /// Log filter when `RUST_LOG` is not set.
    pub filter: String,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            filter: "info".to_owned(),
        }
    }
}

/// The fewest characters of a key the server checks (the dashboard key,
/// the stream secret).
pub const MIN_SECRET_CHARS: usize = 16;

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Calls at once; past it, callers hear "busy".
    pub max_calls: usize,
    /// How long a new stream may take to send `start`, in ms; it takes no
    /// call place meanwhile.
    pub start_timeout_ms: u64,
    /// Streams upgraded and not yet started at once; past it, the one that
    /// has waited longest is closed for the newcomer.
    pub max_waiting_streams: usize,
    /// No audio from the caller's side for this long ends the call, in ms
    /// (Twilio streams silence too, 50 frames a second).
    pub caller_silence_timeout_ms: u64,
    /// The longest a call may last, in seconds.
    pub max_call_duration_secs: u64,
    /// The longest one write to the phone or the model may take, in ms.
    pub write_timeout_ms: u64,
    /// The longest one tool invocation may take, every Qloo request it
    /// makes included, in ms.
    pub tool_deadline_ms: u64,
}

impl Default for LimitSettings {
    /// The watchdogs' own defaults, written once in the domain.
    fn default() -> Self {
        let watchdogs = Watchdogs::default();
        Self {
            max_calls: 1000,
            start_timeout_ms: 5_000,
            max_waiting_streams: 64,
            caller_silence_timeout_ms: millis(watchdogs.caller_silence),
            max_call_duration_secs: watchdogs.max_call_duration.as_secs(),
            write_timeout_ms: 2_000,
            tool_deadline_ms: millis(watchdogs.tool_deadline),
        }
    }
}

/// A default duration as the whole milliseconds a setting holds.
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Whether the server talks to the real services or to the simulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Simulated model and taste graph on loopback.
    Sandbox,
    /// The real OpenAI and Qloo.
    Live,
}

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value could not be read or had the wrong type.
    /// (Not its `source`: the description already says all of it, and
    /// error reports would print it twice.)
    #[error("configuration error: {}", describe(.0))]
    Load(Box<figment::Error>),
    /// A value was read but makes no sense.
    #[error("configuration error: {setting} {problem}")]
    Invalid {
        /// The setting, as a TOML key and its variable.
        setting: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// An explicitly named config file is missing.
    #[error("configuration error: the config file {0} does not exist")]
    MissingFile(PathBuf),
    /// Live mode without a protection it needs, and not `--insecure`.
    #[error(
        "configuration error: live mode needs {missing}: {why}. Set it, or pass --insecure to run without it"
    )]
    Unprotected {
        /// The setting that is missing.
        missing: &'static str,
        /// What goes wrong without it.
        why: &'static str,
    },
    /// Exactly one of the two API keys is set.
    #[error(
        "configuration error: {present} is set but {missing} is not. Set both for live mode, or neither to run the sandbox"
    )]
    HalfConfigured {
        /// The key that is set.
        present: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
}

impl Config {
    /// The layered sources: defaults, TOML file, `.env`, environment.
    ///
    /// `file` names the TOML file; without it `qloophone.toml` is read if
    /// present. `.env` is read from the working directory if present.
    pub fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let toml = match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.into())),
            Some(path) => Toml::file_exact(path),
            None => Toml::file_exact(DEFAULT_CONFIG_FILE),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if file.is_some() || Path::new(DEFAULT_CONFIG_FILE).exists() {
            figment = figment.merge(toml);
        }
        let aliases: Vec<&str> = ALIASES.iter().map(|(var, _)| *var).collect();
        Ok(figment
            .merge(DotEnv::read(Path::new(DOTENV_FILE)))
            .merge(
                Env::raw()
                    .only(&aliases)
                    .ignore(
                        &TEXT_SETTINGS
                            .iter()
                            .map(|(_, var, _)| *var)
                            .collect::<Vec<_>>(),
                    )
                    .map(|var| alias(var.as_str()).expect("filtered by only()").into()),
            )
            .merge(
                Env::prefixed(PREFIX)
                    .ignore(
                        &TEXT_SETTINGS
                            .iter()
                            .map(|(_, _, var)| var.trim_start_matches(PREFIX))
                            .collect::<Vec<_>>(),
                    )
                    .split("__"),
            ))
    }

    /// Loads and checks the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and what is wrong with it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(&Self::figment(file)?)
    }

    /// Extracts and checks a configuration from any figment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and what is wrong with it.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let mut config: Self = figment.extract().map_err(Box::new)?;
        // The environment's text settings as written (figment would read
        // `+15550123456` as a number, so they are kept out of its
        // environment layers); the prefixed name wins, as it does for
        // every setting.
        let from_env = |(_, alias, prefixed): &(&str, &str, &str)| {
            std::env::var(prefixed)
                .or_else(|_| std::env::var(alias))
                .ok()
        };
        let [transfer, sms_from] = TEXT_SETTINGS;
        if let Some(number) = from_env(&transfer) {
            config.twilio.transfer_number = Some(number);
        }
        if let Some(number) = from_env(&sms_from) {
            config.twilio.sms_from = Some(number);
        }
        // With no PUBLIC_URL given, the stream URL follows the port the
        // server listens on (PORT=8091 alone streams to localhost:8091).
        let defaults = Serialized::defaults(Config::default()).metadata();
        let public_url_given = figment
            .find_metadata("server.public_url")
            .is_some_and(|from| from.name != defaults.name);
        if !public_url_given {
            config.server.public_url = format!("http://localhost:{}", config.server.port);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_url(
            "server.public_url (PUBLIC_URL)",
            &self.server.public_url,
            &["http", "https"],
        )?;
        check_url(
            "openai.realtime_url (OPENAI_REALTIME_URL)",
            &self.openai.realtime_url,
            &["ws", "wss"],
        )?;
        check_url("live.url (OPENAI_LIVE_URL)", &self.live.url, &["ws", "wss"])?;
        check_url(
            "qloo.api_url (QLOO_API_URL)",
            &self.qloo.api_url,
            &["http", "https"],
        )?;
        let invalid = |setting, problem: &str| ConfigError::Invalid {
            setting,
            problem: problem.to_owned(),
        };
        if self.openai.model.trim().is_empty() {
            return Err(invalid("openai.model (OPENAI_MODEL)", "must not be empty"));
        }
        let (setting, voice, voices, api) = match self.vendor() {
            Api::Realtime => (
                "openai.voice (OPENAI_VOICE)",
                &self.openai.voice,
                VOICES,
                "the Realtime API",
            ),
            Api::Live => ("live.voice", &self.live.voice, LIVE_VOICES, "GPT-Live"),
        };
        if !voice_is_known(voices, voice) {
            return Err(ConfigError::Invalid {
                setting,
                problem: format!(
                    "is {voice:?}, which {api} does not offer: use one of {} or a custom voice id (voice_…)",
                    voices.join(", ")
                ),
            });
        }
        if let Err((setting, problem)) = self.openai.check() {
            return Err(ConfigError::Invalid { setting, problem });
        }
        if !(0.0..=1.0).contains(&self.openai.turn_detection.threshold) {
            return Err(invalid(
                "openai.turn_detection.threshold",
                "must be between 0 and 1",
            ));
        }
        if !["", "near_field", "far_field"].contains(&self.openai.noise_reduction.as_str()) {
            return Err(invalid(
                "openai.noise_reduction",
                "must be near_field, far_field or empty",
            ));
        }
        if self.limits.max_calls == 0 {
            return Err(invalid("limits.max_calls", "must be at least 1"));
        }
        // Keys the server itself checks, chosen by the operator: long
        // enough that guessing them (slowed to a few tries a minute a
        // source) is hopeless.
        for (setting, secret) in [
            ("dashboard.token (DASHBOARD_TOKEN)", &self.dashboard.token),
            ("twilio.stream_secret", &self.twilio.stream_secret),
            ("memory.secret (MEMORY_SECRET)", &self.memory.secret),
        ] {
            // Empty is unset.
            if let Some(secret) = secret
                && !secret.expose().is_empty()
                && secret.expose().chars().count() < MIN_SECRET_CHARS
            {
                return Err(invalid(
                    setting,
                    &format!(
                        "must be at least {MIN_SECRET_CHARS} characters (for example `openssl rand -hex 16`)"
                    ),
                ));
            }
        }
        if self.limits.max_waiting_streams == 0 {
            return Err(invalid("limits.max_waiting_streams", "must be at least 1"));
        }
        if self.cache.capacity == 0 {
            return Err(invalid("cache.capacity", "must be at least 1"));
        }
        if !(self.sandbox.model_pace > 0.0 && self.sandbox.model_pace <= 100.0) {
            return Err(invalid(
                "sandbox.model_pace",
                "must be more than 0 and at most 100",
            ));
        }
        if self.dashboard.max_clients == 0 {
            return Err(invalid("dashboard.max_clients", "must be at least 1"));
        }
        if self.http.max_connections == 0 {
            return Err(invalid("http.max_connections", "must be at least 1"));
        }
        if self.dashboard.buffer == 0 {
            return Err(invalid("dashboard.buffer", "must be at least 1"));
        }
        if let Some(url) = &self.redis.url {
            let scheme = url.expose().split_once("://").map(|(scheme, _)| scheme);
            if !matches!(scheme, Some("redis" | "rediss" | "unix" | "redis+unix")) {
                // The value is not quoted: it may hold a password.
                return Err(invalid(
                    "redis.url (REDIS_URL)",
                    "must be a redis:// or rediss:// URL",
                ));
            }
        }
        let stream_secret = self
            .twilio
            .stream_secret
            .as_ref()
            .is_some_and(|secret| !secret.expose().is_empty());
        if self.redis.url.is_some() && self.twilio.auth_token.is_some() && !stream_secret {
            // Each instance would draw its own key: a stream reaching
            // another instance than its webhook would be refused.
            return Err(invalid(
                "twilio.stream_secret (QLOOPHONE_TWILIO__STREAM_SECRET)",
                "must be set, the same on every instance, when instances share a Redis (REDIS_URL) and check stream tokens (TWILIO_AUTH_TOKEN)",
            ));
        }
        if let Some(url) = &self.report.url {
            check_url("report.url (REPORT_WEBHOOK_URL)", url, &["http", "https"])?;
        }
        if let Err(problem) = self.report.check() {
            return Err(invalid(
                "report.secret (REPORT_WEBHOOK_SECRET)",
                &problem.to_string(),
            ));
        }
        if let Some(number) = &self.twilio.transfer_number
            && !qloophone_adapters::twilio::is_e164(number)
        {
            return Err(invalid(
                "twilio.transfer_number (TRANSFER_NUMBER)",
                "must be an E.164 number: + then the country code and number, digits only (+15550123456)",
            ));
        }
        if let Some(number) = &self.twilio.sms_from
            && !qloophone_adapters::twilio::is_e164(number)
        {
            return Err(invalid(
                "twilio.sms_from (TWILIO_SMS_FROM)",
                "must be an E.164 number: + then the country code and number, digits only (+15550123456)",
            ));
        }
        if let Some(sid) = &self.twilio.account_sid
            && !(sid.len() == 34
                && sid.starts_with("AC")
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid(
                "twilio.account_sid (TWILIO_ACCOUNT_SID)",
                "must be the account's SID: AC then 32 hexadecimal digits",
            ));
        }
        if self.twilio.api_key.is_some() != self.twilio.api_secret.is_some() {
            return Err(invalid(
                "twilio.api_key / twilio.api_secret (TWILIO_API_KEY / TWILIO_API_SECRET)",
                "set both or neither",
            ));
        }
        if let Some(url) = &self.twilio.api_url {
            check_url("twilio.api_url (TWILIO_API_URL)", url, &["http", "https"])?;
        }
        if self.twilio.texts_timeout_ms == 0 {
            return Err(invalid("twilio.texts_timeout_ms", "must be greater than 0"));
        }
        if self.twilio.dial_timeout_secs == 0 || self.twilio.dial_time_limit_secs == 0 {
            return Err(invalid(
                "twilio.dial_timeout_secs / twilio.dial_time_limit_secs",
                "must be greater than 0",
            ));
        }
        if self.redis.expiry_ms <= self.redis.heartbeat_ms {
            return Err(invalid(
                "redis.expiry_ms",
                "must be longer than redis.heartbeat_ms (an instance would expire between its heartbeats)",
            ));
        }
        for (setting, value) in [
            ("model.connect_timeout_ms", self.model.connect_timeout_ms),
            ("qloo.search_timeout_ms", self.qloo.search_timeout_ms),
            ("qloo.insights_timeout_ms", self.qloo.insights_timeout_ms),
            ("hold.after_ms", self.hold.after_ms),
            ("memory.ttl_secs", self.memory.ttl_secs),
            ("qloo.deadline_ms", self.qloo.deadline_ms),
            ("cache.ttl_secs", self.cache.ttl_secs),
            ("redis.deadline_ms", self.redis.deadline_ms),
            ("redis.heartbeat_ms", self.redis.heartbeat_ms),
            ("cache.save_interval_secs", self.cache.save_interval_secs),
            ("limits.start_timeout_ms", self.limits.start_timeout_ms),
            (
                "limits.caller_silence_timeout_ms",
                self.limits.caller_silence_timeout_ms,
            ),
            (
                "limits.max_call_duration_secs",
                self.limits.max_call_duration_secs,
            ),
            ("limits.write_timeout_ms", self.limits.write_timeout_ms),
            ("limits.tool_deadline_ms", self.limits.tool_deadline_ms),
            ("model.ready_timeout_ms", self.model.ready_timeout_ms),
            ("model.response_timeout_ms", self.model.response_timeout_ms),
            (
                "model.session_rollover_secs",
                self.model.session_rollover_secs,
            ),
            ("model.ping_interval_ms", self.model.ping_interval_ms),
            (
                "http.header_read_timeout_ms",
                self.http.header_read_timeout_ms,
            ),
            ("http.body_read_timeout_ms", self.http.body_read_timeout_ms),
        ] {
            if value == 0 {
                return Err(invalid(setting, "must be more than 0"));
            }
        }
        Ok(())
    }

    /// Sandbox or live, from the API keys (or forced to the sandbox).
    ///
    /// # Errors
    /// [`ConfigError::HalfConfigured`] when only one key is set and the
    /// sandbox is not forced.
    pub fn mode(&self, force_sandbox: bool) -> Result<Mode, ConfigError> {
        if force_sandbox {
            return Ok(Mode::Sandbox);
        }
        match (is_set(&self.openai.api_key), is_set(&self.qloo.api_key)) {
            (false, false) => Ok(Mode::Sandbox),
            (true, true) => Ok(Mode::Live),
            (true, false) => Err(ConfigError::HalfConfigured {
                present: "OPENAI_API_KEY",
                missing: "QLOO_API_KEY",
            }),
            (false, true) => Err(ConfigError::HalfConfigured {
                present: "QLOO_API_KEY",
                missing: "OPENAI_API_KEY",
            }),
        }
    }
}

impl Config {
    /// Which API the configured model speaks: as `model.vendor` says, else
    /// as the catalogue says, else by its name.
    pub fn vendor(&self) -> Api {
        self.model
            .vendor
            .or_else(|| self.openai.model_spec().and_then(|spec| spec.api))
            .unwrap_or_else(|| Api::guess(&self.openai.model))
    }

    /// Refuses live mode without the Twilio token or the dashboard key,
    /// unless `server.insecure` (`--insecure`) says to run anyway. The
    /// sandbox needs neither.
    ///
    /// # Errors
    /// [`ConfigError::Unprotected`] naming the missing setting.
    pub fn check_protected(&self, mode: Mode) -> Result<(), ConfigError> {
        if mode == Mode::Sandbox || self.server.insecure {
            return Ok(());
        }
        if !is_set(&self.twilio.auth_token) {
            return Err(ConfigError::Unprotected {
                missing: "TWILIO_AUTH_TOKEN",
                why: "without it anyone who finds /call can open billed model sessions",
            });
        }
        if !is_set(&self.dashboard.token) {
            return Err(ConfigError::Unprotected {
                missing: "DASHBOARD_TOKEN",
                why: "without it anyone who finds /logs can read every caller's conversation",
            });
        }
        Ok(())
    }

    /// Whether this runs live without a protection (`--insecure` and a
    /// missing token).
    pub fn is_insecure(&self, mode: Mode) -> bool {
        mode == Mode::Live
            && self.server.insecure
            && !(is_set(&self.twilio.auth_token) && is_set(&self.dashboard.token))
    }
}

/// Whether a secret is given and not empty.
pub fn is_set(secret: &Option<Secret>) -> bool {
    secret.as_ref().is_some_and(|s| !s.expose().is_empty())
}

fn check_url(setting: &'static str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let problem = match url::Url::parse(value) {
        Err(err) => Some(format!(
            "is not a valid URL ({err}): expected something like {}://example.com",
            schemes[schemes.len() - 1]
        )),
        Ok(url) if !schemes.contains(&url.scheme()) => Some(format!(
            "has the scheme {:?}; expected {}",
            url.scheme(),
            schemes.join(" or ")
        )),
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("has no host".to_owned()),
        Ok(_) => None,
    };
    match problem {
        Some(problem) => Err(ConfigError::Invalid {
            setting,
            problem: format!("{problem} (got {value:?})"),
        }),
        None => Ok(()),
    }
}

/// Names each failing setting by its key and, where it has one, its
/// original variable name, then says where the value came from.
impl From<Box<figment::Error>> for ConfigError {
    fn from(error: Box<figment::Error>) -> Self {
        Self::Load(error)
    }
}

/// Each of figment's errors once: the setting (with its variable when the
/// value came from the environment or `.env`), what is wrong, and where the
/// value came from (the file, for a TOML file).
fn describe(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|error| {
            let mut path = error.path.clone();
            // Figment prefixes keys read from a TOML file with its profile.
            if path.first().is_some_and(|first| first == "default") {
                path.remove(0);
            }
            let key = path.join(".").to_ascii_lowercase();
            let from_environment = error.metadata.as_ref().is_some_and(|metadata| {
                metadata.name.contains("environment") || metadata.name.contains(".env")
            });
            let setting = match ALIASES.iter().find(|(_, path)| *path == key) {
                Some((var, _)) if from_environment => format!("{key} ({var})"),
                _ if key.is_empty() => "the configuration".to_owned(),
                _ => key,
            };
            let source = error
                .metadata
                .as_ref()
                .map(|metadata| match &metadata.source {
                    Some(figment::Source::File(file)) => {
                        format!(" (from {} {})", metadata.name, file.display())
                    }
                    _ => format!(" (from {})", metadata.name),
                })
                .unwrap_or_default();
            format!("{setting}: {}{source}", error.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn alias(var: &str) -> Option<&'static str> {
    ALIASES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(var))
        .map(|(_, key)| *key)
}

/// The `.env` file as a provider: the same names as the environment.
struct DotEnv {
    /// Where the values come from, for error messages.
    name: String,
    values: Vec<(String, Value)>,
}

/// Settings whose values are text even when they look like numbers (a
/// phone number's `+` would be read as a sign, its digits as an integer,
/// and a leading zero lost).
const TEXT_SETTINGS: [(&str, &str, &str); 2] = [
    (
        "twilio.transfer_number",
        "TRANSFER_NUMBER",
        "QLOOPHONE_TWILIO__TRANSFER_NUMBER",
    ),
    (
        "twilio.sms_from",
        "TWILIO_SMS_FROM",
        "QLOOPHONE_TWILIO__SMS_FROM",
    ),
];

impl DotEnv {
    /// Reads `path` if it exists; a missing file provides nothing.
    fn read(path: &Path) -> Self {
        let mut values = Vec::new();
        if let Ok(entries) = dotenvy::from_path_iter(path) {
            for (var, value) in entries.flatten() {
                let key = if let Some(key) = alias(&var) {
                    key.to_owned()
                } else if let Some(rest) = var.strip_prefix(PREFIX) {
                    rest.to_ascii_lowercase().replace("__", ".")
                } else {
                    continue;
                };
                let value = if TEXT_SETTINGS.iter().any(|(setting, ..)| *setting == key) {
                    Value::from(value)
                } else {
                    Value::from_str(&value).unwrap_or_else(|never| match never {})
                };
                values.push((key, value));
            }
        }
        Self {
            name: format!("{} file", path.display()),
            values,
        }
    }
}

impl Provider for DotEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut figment = Figment::new();
        for (key, value) in &self.values {
            figment = figment.merge(Serialized::default(key, value));
        }
        figment.data()
    }
}

#[cfg(test)]
mod tests;
