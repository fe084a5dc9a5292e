//! Wiring: builds the adapters from the configuration, starts the sandbox
//! peers when there are no keys, and runs the server until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use qloophone_adapters::dashboard::DashboardHub;
use qloophone_adapters::http::{self, AppState};
use qloophone_adapters::metrics::Metrics;
use qloophone_adapters::openai::{OpenAiRealtime, RealtimeSettings};
use qloophone_adapters::qloo::{ApiLog, CacheSettings, EntityCache, QlooClient, QlooSettings};
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_domain::call::messages::{TurnDetection, TurnDetectionKind};
use qloophone_domain::call::{CallRegistry, CallServices, SessionPolicy};
use qloophone_domain::policy;
use qloophone_domain::ports::{Clock, EventSink, FanOut, SystemClock};
use qloophone_domain::tools::ToolExecutor;
use qloophone_domain::tools::recommend::taste_tools;
use tokio::net::TcpListener;

use crate::config::{Config, Mode, TurnDetectionType};
use crate::sim::qloo::{QlooOptions, QlooSim};
use crate::sim::realtime::{RealtimeOptions, RealtimeSim};
use crate::sim::scenario::Scenario;

/// The API key the sandbox's simulated model accepts.
pub const SANDBOX_KEY: &str = "sandbox-key";

/// Largest model event accepted (audio deltas are a few KiB).
const MAX_MODEL_EVENT: usize = 4 * 1024 * 1024;

/// Options that only tests and the sandbox change.
#[derive(Clone, Default)]
pub struct Overrides {
    /// How the sandbox's simulated model behaves.
    pub realtime: Option<RealtimeOptions>,
    /// The tools offered to the model, instead of the real ones.
    pub tools: Option<Arc<dyn ToolExecutor>>,
    /// How the sandbox's simulated Qloo behaves.
    pub qloo: Option<QlooOptions>,
}

/// The simulated peers of sandbox mode.
#[derive(Debug)]
pub struct Sandbox {
    /// The simulated Realtime model.
    pub realtime: RealtimeSim,
    /// The simulated Qloo.
    pub qloo: QlooSim,
}

/// A server ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    sandbox: Option<Sandbox>,
    cache: Arc<EntityCache>,
    cache_save_interval: Duration,
    drain_timeout: Duration,
}

impl Application {
    /// Binds the configured address and builds everything.
    ///
    /// # Errors
    /// When the port cannot be bound or an adapter cannot be built.
    pub async fn build(config: &Config, mode: Mode) -> anyhow::Result<Self> {
        let address = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address}"))?;
        Self::build_with(listener, config, mode, Overrides::default()).await
    }

    /// Builds everything around an already bound listener.
    ///
    /// # Errors
    /// When an adapter cannot be built.
    pub async fn build_with(
        listener: TcpListener,
        config: &Config,
        mode: Mode,
        overrides: Overrides,
    ) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let (realtime_url, openai_key, qloo_url, qloo_key, sandbox) = match mode {
            Mode::Live => (
                config.openai.realtime_url.clone(),
                expose(config.openai.api_key.as_ref()),
                config.qloo.api_url.clone(),
                expose(config.qloo.api_key.as_ref()),
                None,
            ),
            Mode::Sandbox => {
                let options = overrides.realtime.unwrap_or_else(|| RealtimeOptions {
                    api_key: Some(SANDBOX_KEY.to_owned()),
                    pace: config.sandbox.model_pace,
                    scenarios: Scenario::registry(),
                    ..RealtimeOptions::default()
                });
                let realtime =
                    RealtimeSim::spawn(TcpListener::bind("127.0.0.1:0").await?, options)?;
                let qloo_options = overrides.qloo.unwrap_or_else(|| QlooOptions {
                    api_key: Some(SANDBOX_KEY.to_owned()),
                    latency: Duration::from_millis(config.sandbox.qloo_latency_ms),
                    ..QlooOptions::default()
                });
                let qloo = QlooSim::spawn(TcpListener::bind("127.0.0.1:0").await?, qloo_options)?;
                (
                    realtime.url(),
                    SANDBOX_KEY.to_owned(),
                    qloo.url(),
                    SANDBOX_KEY.to_owned(),
                    Some(Sandbox { realtime, qloo }),
                )
            }
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let api_log = Some(config.qloo.api_log.as_str())
            .filter(|path| !path.is_empty())
            .map(|path| ApiLog::to_file(path.into()));
        let qloo = QlooClient::new(QlooSettings {
            base_url: qloo_url,
            api_key: qloo_key,
            search_timeout: Duration::from_millis(config.qloo.search_timeout_ms),
            insights_timeout: Duration::from_millis(config.qloo.insights_timeout_ms),
            deadline: Duration::from_millis(config.qloo.deadline_ms),
            max_retries: config.qloo.max_retries,
            log: api_log.clone(),
        })
        .map_err(anyhow::Error::msg)
        .context("qloo")?;
        let cache = Arc::new(EntityCache::new(
            Arc::new(qloo),
            clock.clone(),
            CacheSettings {
                capacity: NonZeroUsize::new(config.cache.capacity).context("cache.capacity")?,
                ttl: Duration::from_secs(config.cache.ttl_secs),
                snapshot: Some(config.cache.snapshot.as_str())
                    .filter(|path| !path.is_empty())
                    .map(PathBuf::from),
            },
            api_log,
        ));
        let model = OpenAiRealtime::new(RealtimeSettings {
            url: realtime_url,
            model: config.openai.model.clone(),
            api_key: openai_key,
            max_message_bytes: MAX_MODEL_EVENT,
        })
        .context("openai.realtime_url")?;

        let tools: Arc<dyn ToolExecutor> = overrides
            .tools
            .unwrap_or_else(|| Arc::new(taste_tools(cache.clone())));
        let specs = tools.specs();
        let openai = &config.openai;
        let detection = &openai.turn_detection;
        let turn_detection = TurnDetection {
            kind: match detection.kind {
                TurnDetectionType::ServerVad => TurnDetectionKind::ServerVad,
                TurnDetectionType::SemanticVad => TurnDetectionKind::SemanticVad,
            },
            threshold: detection.threshold,
            prefix_padding_ms: detection.prefix_padding_ms,
            silence_duration_ms: detection.silence_duration_ms,
            eagerness: detection.eagerness.clone(),
            interrupt_response: detection.interrupt_response,
        };
        let session_policy = SessionPolicy {
            server_interrupts: detection.interrupt_response,
            tools_offered: specs.len(),
            ..SessionPolicy::default()
        };
        let setup = policy::session_setup(
            &openai.voice,
            turn_detection,
            Some(openai.noise_reduction.clone()).filter(|kind| !kind.is_empty()),
            &openai.transcription_model,
            specs,
        );
        let dashboard = DashboardHub::new(config.dashboard.buffer);
        let metrics = Arc::new(Metrics::new());
        let sink: Arc<dyn EventSink> = Arc::new(FanOut::new(vec![
            Arc::new(dashboard.clone()),
            metrics.clone(),
        ]));
        let services = CallServices {
            model: Arc::new(model),
            tools,
            sink,
            clock: clock.clone(),
            setup: Arc::new(setup),
            policy: session_policy,
            connect_timeout: Duration::from_millis(openai.connect_timeout_ms),
            start_timeout: Duration::from_millis(config.limits.start_timeout_ms),
        };
        let public_url = url::Url::parse(&config.server.public_url).context("server.public_url")?;
        let state = Arc::new(AppState {
            public_url,
            version: env!("CARGO_PKG_VERSION"),
            registry: CallRegistry::new(config.limits.max_calls),
            services,
            dashboard,
            cache: cache.clone(),
            clock,
            signatures: config
                .twilio
                .auth_token
                .as_ref()
                .map(|token| SignatureValidator::new(token.expose())),
            metrics,
        });
        Ok(Self {
            listener,
            addr,
            state,
            sandbox,
            cache,
            cache_save_interval: Duration::from_secs(config.cache.save_interval_secs),
            drain_timeout: Duration::from_secs(config.server.drain_timeout_secs),
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Live calls.
    pub fn registry(&self) -> CallRegistry {
        self.state.registry.clone()
    }

    /// The sandbox peers, in sandbox mode.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Serves until `shutdown` completes, then drains: new calls are turned
    /// away (busy TwiML, 503 on `/call`, `/health` says `draining`) while the
    /// calls in progress go on, for up to the drain timeout. Calls still
    /// running then are ended, and the server stops.
    ///
    /// warp's graceful shutdown does not wait for upgraded WebSockets, so
    /// the calls are tracked and told through the registry.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let saver = tokio::spawn(save_periodically(
            self.cache.clone(),
            self.cache_save_interval,
        ));
        let state = self.state.clone();
        let drain_timeout = self.drain_timeout;
        let routes = http::routes(self.state.clone());
        // Everything happens before warp's own graceful shutdown starts,
        // because stopping the server also cuts upgraded connections.
        warp::serve(routes)
            .incoming(self.listener)
            .graceful(async move {
                shutdown.await;
                drain(&state, drain_timeout).await;
            })
            .run()
            .await;
        saver.abort();
        save(self.cache).await;
        drop(self.sandbox);
    }
}

/// Turns new calls away, lets the calls in progress finish for up to
/// `timeout`, ends the rest, then lets dashboards send their last events.
async fn drain(state: &AppState, timeout: Duration) {
    let registry = &state.registry;
    tracing::info!(
        calls = registry.active(),
        ?timeout,
        "draining: no new calls"
    );
    registry.drain();
    if tokio::time::timeout(timeout, registry.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            calls = registry.active(),
            "drain timeout: ending the calls still running"
        );
    }
    registry.shut_down();
    if tokio::time::timeout(Duration::from_secs(5), registry.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            calls = registry.active(),
            "calls did not close after shutdown"
        );
    }
    // Dashboards last, so they see every call end.
    state.dashboard.close();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while state.dashboard.clients() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

fn expose(secret: Option<&crate::config::Secret>) -> String {
    secret
        .map(|key| key.expose().to_owned())
        .unwrap_or_default()
}

async fn save(cache: Arc<EntityCache>) {
    if !cache.is_dirty() {
        return;
    }
    match tokio::task::spawn_blocking(move || cache.save()).await {
        Ok(Ok(())) => tracing::debug!("entity cache saved"),
        Ok(Err(err)) => tracing::warn!(error = %err, "cannot save the entity cache"),
        Err(err) => tracing::warn!(error = %err, "saving the entity cache failed"),
    }
}

async fn save_periodically(cache: Arc<EntityCache>, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        save(cache.clone()).await;
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
