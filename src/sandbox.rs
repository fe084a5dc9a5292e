//! Sandbox mode: the simulated model and Qloo, started on loopback, with
//! the configuration pointed at them. Nothing else changes: the same
//! adapters talk to them as would talk to OpenAI and Qloo.

use std::time::Duration;

use anyhow::Context;
use qloophone_sandbox::SANDBOX_KEY;
use qloophone_sandbox::qloo::{QlooOptions, QlooSim};
use qloophone_sandbox::realtime::{RealtimeOptions, RealtimeSim};
use qloophone_sandbox::scenario::Scenario;
use tokio::net::TcpListener;

use crate::config::{Config, SandboxSettings, Secret};

/// The simulated peers of sandbox mode.
#[derive(Debug)]
pub struct Sandbox {
    /// The simulated Realtime model.
    pub realtime: RealtimeSim,
    /// The simulated Qloo.
    pub qloo: QlooSim,
}

impl Sandbox {
    /// Starts both peers as `settings` say, playing the shipped scenarios.
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
            QlooOptions {
                api_key: Some(SANDBOX_KEY.to_owned()),
                latency: Duration::from_millis(settings.qloo_latency_ms),
                ..QlooOptions::default()
            },
        )
        .await
    }

    /// Starts both peers with the given behaviour.
    ///
    /// # Errors
    /// When a loopback port cannot be bound.
    pub async fn start_with(realtime: RealtimeOptions, qloo: QlooOptions) -> anyhow::Result<Self> {
        let loopback = || TcpListener::bind("127.0.0.1:0");
        Ok(Self {
            realtime: RealtimeSim::spawn(loopback().await?, realtime)
                .context("simulated Realtime model")?,
            qloo: QlooSim::spawn(loopback().await?, qloo).context("simulated Qloo")?,
        })
    }

    /// Points the OpenAI and Qloo settings at the simulated peers, except
    /// where the operator gave a URL of their own (`OPENAI_REALTIME_URL`,
    /// `QLOO_API_URL`: a stand-alone simulator, say), which is kept.
    pub fn point_at(&self, config: &mut Config) {
        let (model, qloo) = self.urls(config);
        config.openai.realtime_url = model;
        config.openai.api_key = Some(Secret::new(SANDBOX_KEY));
        config.qloo.api_url = qloo;
        config.qloo.api_key = Some(Secret::new(SANDBOX_KEY));
    }

    /// The model's and Qloo's URLs sandbox mode uses with `config`: the
    /// operator's where given, else the built-in simulators'.
    pub fn urls(&self, config: &Config) -> (String, String) {
        let defaults = Config::default();
        let model = if config.openai.realtime_url == defaults.openai.realtime_url {
            self.realtime.url()
        } else {
            config.openai.realtime_url.clone()
        };
        let qloo = if config.qloo.api_url == defaults.qloo.api_url {
            self.qloo.url()
        } else {
            config.qloo.api_url.clone()
        };
        (model, qloo)
    }
}
