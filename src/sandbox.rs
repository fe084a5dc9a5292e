//! Sandbox mode: the simulated voice models (Realtime and GPT-Live),
//! Qloo and Twilio's REST API, started on loopback, with the
//! configuration pointed at them.
//! Nothing else changes: the same adapters talk to them as would talk to
//! OpenAI and Qloo, and `OPENAI_MODEL` picks the API as it does live.

use std::time::Duration;

use anyhow::Context;
use qloophone_sandbox::SANDBOX_KEY;
use qloophone_sandbox::live::{LiveOptions, LiveSim};
use qloophone_sandbox::qloo::{QlooOptions, QlooSim};
use qloophone_sandbox::realtime::{RealtimeOptions, RealtimeSim};
use qloophone_sandbox::report_sink::ReportSink;
use qloophone_sandbox::scenario::Scenario;
use qloophone_sandbox::sip::{ControlPlane, SipOptions, SipServer};
use qloophone_sandbox::twilio_api::{
    SANDBOX_ACCOUNT_SID, SANDBOX_API_KEY, TwilioApi, TwilioApiOptions,
};
use tokio::net::TcpListener;

use crate::config::{Api, Config, SandboxSettings, Secret};

/// Where the sandbox transfers callers unless `TRANSFER_NUMBER` says
/// otherwise (555-01xx numbers are fictional).
pub const SANDBOX_TRANSFER_NUMBER: &str = "+15550100999";
/// A caller who replied STOP: the simulated Twilio refuses texts to them.
pub const SANDBOX_OPTED_OUT_NUMBER: &str = "+15550100666";

/// The simulated peers of sandbox mode.
#[derive(Debug)]
pub struct Sandbox {
    /// The simulated Realtime model.
    pub realtime: RealtimeSim,
    /// The simulated GPT-Live model.
    pub live: LiveSim,
    /// The simulated Qloo.
    pub qloo: QlooSim,
    /// The simulated Twilio REST API (texts).
    pub twilio: TwilioApi,
    /// An operator's report endpoint, verifying each report's signature.
    pub reports: ReportSink,
    /// OpenAI's SIP control plane (webhooks, REST; its sidebands are
    /// served by the simulated Realtime model).
    pub sip: ControlPlane,
    /// Its REST side.
    pub sip_server: SipServer,
}

/// The signing secret of the sandbox's report endpoint.
/// The sandbox's caller memory key (its memory is never written to disk).
pub const SANDBOX_MEMORY_SECRET: &str = "qloophone-sandbox-caller-memory";
/// The sandbox's report signing secret.
pub const SANDBOX_REPORT_SECRET: &str = "whsec_cWxvb3Bob25lIHNhbmRib3ggcmVwb3J0cyBzZWNyZXQ=";

impl Sandbox {
    /// Starts the peers as `settings` say, playing the shipped scenarios.
    ///
    /// # Errors
    /// When a loopback port cannot be bound.
    pub async fn start(settings: &SandboxSettings) -> anyhow::Result<Self> {
        Self::start_with(
            RealtimeOptions {
                faults: Default::default(),
                api_key: Some(SANDBOX_KEY.to_owned()),
                pace: settings.model_pace,
                scenarios: Scenario::registry(),
                ..RealtimeOptions::default()
            },
            LiveOptions {
                api_key: Some(SANDBOX_KEY.to_owned()),
                scenarios: Scenario::registry(),
                ..LiveOptions::default()
            },
            QlooOptions {
                api_key: Some(SANDBOX_KEY.to_owned()),
                latency: Duration::from_millis(settings.qloo_latency_ms),
                insights_latency: Some(Duration::from_millis(settings.qloo_insights_latency_ms)),
                ..QlooOptions::default()
            },
            Self::twilio_options(),
            settings.report_failures,
        )
        .await
    }

    /// The simulated Twilio's accounts and numbers in sandbox mode.
    pub fn twilio_options() -> TwilioApiOptions {
        TwilioApiOptions {
            api_keys: vec![(SANDBOX_API_KEY.to_owned(), SANDBOX_KEY.to_owned())],
            stop_list: vec![SANDBOX_OPTED_OUT_NUMBER.to_owned()],
            ..TwilioApiOptions::default()
        }
    }

    /// Starts the peers with the given behaviour.
    ///
    /// # Errors
    /// When a loopback port cannot be bound.
    pub async fn start_with(
        mut realtime: RealtimeOptions,
        live: LiveOptions,
        qloo: QlooOptions,
        twilio: TwilioApiOptions,
        report_failures: usize,
    ) -> anyhow::Result<Self> {
        let loopback = || TcpListener::bind("127.0.0.1:0");
        let sip = realtime.sip.clone().unwrap_or_else(|| {
            ControlPlane::new(SipOptions {
                api_key: realtime.api_key.clone(),
                pace: realtime.pace,
                ms_per_char: realtime.ms_per_char,
                ..SipOptions::default()
            })
        });
        realtime.sip = Some(sip.clone());
        let sip_server = sip
            .serve(loopback().await?)
            .context("simulated SIP control plane")?;
        Ok(Self {
            sip,
            sip_server,
            realtime: RealtimeSim::spawn(loopback().await?, realtime)
                .context("simulated Realtime model")?,
            live: LiveSim::spawn(loopback().await?, live).context("simulated GPT-Live model")?,
            qloo: QlooSim::spawn(loopback().await?, qloo).context("simulated Qloo")?,
            twilio: TwilioApi::spawn(loopback().await?, twilio)
                .context("simulated Twilio REST API")?,
            reports: ReportSink::spawn_with(
                loopback().await?,
                SANDBOX_REPORT_SECRET,
                Vec::new(),
                report_failures,
            )
            .context("simulated report endpoint")?,
        })
    }

    /// Points the model and Qloo settings at the simulated peers (and,
    /// unless one is configured, transfers at a fictional number), except
    /// where the operator gave a URL of their own (`OPENAI_REALTIME_URL`,
    /// `OPENAI_LIVE_URL`, `QLOO_API_URL`: a stand-alone simulator, say),
    /// which is kept.
    pub fn point_at(&self, config: &mut Config) {
        let defaults = Config::default();
        if config.openai.realtime_url == defaults.openai.realtime_url {
            config.openai.realtime_url = self.realtime.url();
        }
        if config.live.url == defaults.live.url {
            config.live.url = self.live.url();
        }
        if config.qloo.api_url == defaults.qloo.api_url {
            config.qloo.api_url = self.qloo.url();
        }
        // Calls over SIP come from the simulated control plane, signed
        // with its secret, unless the operator set a control plane.
        if config.sip.webhook_secret.is_none() {
            config.sip.webhook_secret = Some(Secret::new(self.sip.webhook_secret()));
            if config.sip.base_url == defaults.sip.base_url {
                config.sip.base_url = self.sip_server.base_url();
            }
        }
        config.openai.api_key = Some(Secret::new(SANDBOX_KEY));
        config.qloo.api_key = Some(Secret::new(SANDBOX_KEY));
        // A person the sandbox's calls can be handed to: the simulated
        // phone answers a <Dial> as them.
        if config.twilio.transfer_number.is_none() {
            config.twilio.transfer_number = Some(SANDBOX_TRANSFER_NUMBER.to_owned());
        }
        // Reports go to the sandbox's endpoint, queued in a directory of
        // this process's own, unless the operator set an endpoint.
        if config.report.url.is_none() {
            config.report.url = Some(self.reports.url());
            config.report.secret = Some(Secret::new(SANDBOX_REPORT_SECRET));
            config.report.queue_dir = std::env::temp_dir()
                .join(format!(
                    "qloophone-sandbox-reports-{}-{}",
                    std::process::id(),
                    self.reports.port()
                ))
                .display()
                .to_string();
        }
        // Callers who ask are remembered, in this process only, unless
        // the operator set a memory of their own.
        if config.memory.secret.is_none() {
            config.memory.secret = Some(Secret::new(SANDBOX_MEMORY_SECRET));
            config.memory.file = String::new();
        }
        // Texts go to the simulated Twilio, signed in with the sandbox's
        // API key, unless an account of the operator's is set.
        if config.twilio.account_sid.is_none() {
            config.twilio.account_sid = Some(SANDBOX_ACCOUNT_SID.to_owned());
            config.twilio.api_key = Some(SANDBOX_API_KEY.to_owned());
            config.twilio.api_secret = Some(Secret::new(SANDBOX_KEY));
            if config.twilio.api_url.is_none() {
                config.twilio.api_url = Some(self.twilio.url());
            }
        }
    }

    /// The voice model's and Qloo's URLs sandbox mode uses with `config`:
    /// the operator's where given, else the built-in simulators'.
    pub fn urls(&self, config: &Config) -> (String, String) {
        let mut pointed = config.clone();
        self.point_at(&mut pointed);
        let model = match pointed.vendor() {
            Api::Realtime => pointed.openai.realtime_url,
            Api::Live => pointed.live.url,
        };
        (model, pointed.qloo.api_url)
    }
}
