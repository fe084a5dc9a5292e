//! Wiring: builds the adapters from the configuration's sections, wires
//! them to the domain, and runs the server until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use qloophone_adapters::dashboard::DashboardHub;
use qloophone_adapters::http::{self, AppState, CallEdges, Transfer};
use qloophone_adapters::live::GptLive;
use qloophone_adapters::memory::{FileMemory, Keyer, RedisMemory};
use qloophone_adapters::metrics::{Metrics, QlooRequests};
use qloophone_adapters::openai::catalogue::{self, ModelSpec};
use qloophone_adapters::openai::{OpenAiRealtime, Sidebands, wire as realtime_wire};
use qloophone_adapters::qloo::{EntityCache, QlooClient};
use qloophone_adapters::redis::feed::{self, FeedSink};
use qloophone_adapters::redis::{Fleet, Redis, SharedEntities};
use qloophone_adapters::report::{Delivery, DeliveryHandle, MessageBox, ReportMetrics, Reports};
use qloophone_adapters::secret::Secret;
use qloophone_adapters::sip::SipDoor;
use qloophone_adapters::time::SystemClock;
use qloophone_adapters::tls::{self, Trust};
use qloophone_adapters::twilio::admission::{LiveStreams, WaitingRoom};
use qloophone_adapters::twilio::after_stream::{RECORD_LIFETIME, StreamEnds};
use qloophone_adapters::twilio::lines::CallLines;
use qloophone_adapters::twilio::messages::TwilioMessages;
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_adapters::twilio::stream_token::StreamTokens;
use qloophone_domain::AudioMs;
use qloophone_domain::call::{CallControl, CallRegistry, CallServices, SessionPolicy, Watchdogs};
use qloophone_domain::fan_out::FanOut;
use qloophone_domain::policy;
use qloophone_domain::ports::{
    CallerMemory, Clock, EventSink, Prices, SessionSetup, TextMessages, VoiceModel,
};
use qloophone_domain::tools::ToolExecutor;
use qloophone_domain::tools::recommend::taste_tools;
use tokio::net::TcpListener;

use crate::config::{Api, Config, Mode};
use crate::sandbox::Sandbox;

/// A server ready to run.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    tls: Option<tls::Acceptor>,
    shards: http::Shards,
    addr: SocketAddr,
    state: Arc<AppState>,
    sandbox: Option<Sandbox>,
    cache: Arc<EntityCache>,
    cache_save_interval: Duration,
    drain_timeout: Duration,
    fleet: Option<FleetParts>,
    reports: Option<ReportParts>,
}

/// The delivery of call reports, run beside the server when reports are
/// on.
struct ReportParts {
    delivery: Delivery,
    inbox: MessageBox,
    handle: DeliveryHandle,
}

impl std::fmt::Debug for ReportParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportParts").finish_non_exhaustive()
    }
}

/// What runs beside the server when instances share a Redis.
struct FleetParts {
    fleet: Arc<Fleet>,
    feed: FeedSink,
    publisher: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for FleetParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetParts")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

/// What [`Application::builder`] assembles: a listener, a configuration,
/// and optionally the sandbox's peers and another tool set.
pub struct Builder {
    listener: TcpListener,
    config: Config,
    sandbox: Option<Sandbox>,
    tools: Option<Arc<dyn ToolExecutor>>,
}

impl Application {
    /// Binds the configured address and builds everything; in sandbox mode
    /// starts the simulated peers first.
    ///
    /// # Errors
    /// When the port cannot be bound or an adapter cannot be built.
    pub async fn build(config: &Config, mode: Mode) -> anyhow::Result<Self> {
        let address = SocketAddr::new(config.server.host, config.server.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address}"))?;
        let mut builder = Self::builder(listener, config.clone());
        if mode == Mode::Sandbox {
            builder = builder.sandbox(Sandbox::start(&config.sandbox).await?);
        }
        builder.build()
    }

    /// Starts assembling a server around an already bound listener.
    pub fn builder(listener: TcpListener, config: Config) -> Builder {
        Builder {
            listener,
            config,
            sandbox: None,
            tools: None,
        }
    }
}

impl Builder {
    /// Serves the sandbox: the model and Qloo settings are pointed at these
    /// peers, and the sandbox's test endpoints are served.
    #[must_use]
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// Offers the model these tools instead of the taste tools.
    #[must_use]
    pub fn tools(mut self, tools: Arc<dyn ToolExecutor>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Builds every adapter from its section of the configuration.
    ///
    /// # Errors
    /// When an adapter cannot be built.
    pub fn build(self) -> anyhow::Result<Application> {
        let Self {
            listener,
            mut config,
            sandbox,
            tools,
        } = self;
        if let Some(sandbox) = &sandbox {
            sandbox.point_at(&mut config);
        }
        let addr = listener.local_addr()?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // What every outbound connection trusts, and what the port
        // presents when it serves TLS itself: both read once, here.
        let trust = Trust::load(&config.tls).context("tls.ca_file")?;
        let tls = tls::acceptor(&config.tls).context("tls")?;
        let api_log = config.qloo.api_log();
        let qloo_requests = QlooRequests::default();
        let qloo = QlooClient::new(&config.qloo, api_log.clone(), &trust)
            .map_err(anyhow::Error::msg)
            .context("qloo")?
            .with_metrics(qloo_requests.clone());
        let qloo_breaker = qloo.breaker();
        // With a Redis, state callers and operators expect shared is shared.
        let redis = match &config.redis.url {
            Some(_) => {
                let instance = config.redis.instance_name();
                Some(Redis::open(&config.redis, &instance)?)
            }
            None => None,
        };
        let mut cache = EntityCache::new(Arc::new(qloo), clock.clone(), &config.cache, api_log);
        if let Some(redis) = &redis {
            cache = cache.with_shared_tier(Arc::new(SharedEntities::new(redis.clone())));
        }
        let cache = Arc::new(cache);
        let write_timeout = Duration::from_millis(config.limits.write_timeout_ms);
        let tools = tools.unwrap_or_else(|| Arc::new(taste_tools(cache.clone())));
        // The call's own tools: ending it always; a transfer when there
        // is someone to transfer to; the picks by text when texts can be
        // sent.
        let texts: Option<Arc<dyn TextMessages>> = config
            .twilio
            .rest_credentials()
            .filter(|_| config.twilio.texts)
            .map(|credentials| {
                Arc::new(TwilioMessages::new(
                    &config.twilio.rest_url(),
                    credentials,
                    config.twilio.sms_from.clone(),
                    Duration::from_millis(config.twilio.texts_timeout_ms),
                    &trust,
                )) as Arc<dyn TextMessages>
            });
        // Callers remembered (when they ask) only with a key for the hash
        // they are kept under: on the fleet's Redis, else in a file.
        let memory: Option<Arc<dyn CallerMemory>> = config
            .memory
            .secret
            .as_ref()
            .filter(|secret| !secret.expose().is_empty())
            .map(|secret| {
                let keyer = Keyer::new(secret);
                let ttl = Duration::from_secs(config.memory.ttl_secs);
                match &redis {
                    Some(redis) => Arc::new(RedisMemory::new(redis.clone(), keyer, ttl))
                        as Arc<dyn CallerMemory>,
                    None => Arc::new(FileMemory::open(
                        Some(config.memory.file.as_str())
                            .filter(|file| !file.is_empty())
                            .map(std::path::PathBuf::from),
                        keyer,
                        ttl,
                        clock.clone(),
                    )),
                }
            });
        let control = CallControl {
            transfer: config.twilio.transfer_number.is_some(),
            text_picks: texts.is_some(),
            memory: memory.is_some(),
            ..CallControl::default()
        };
        let setup = policy::session_setup(tools.specs(), &control);
        let tool_names = setup.tools.iter().map(|spec| spec.name.clone()).collect();
        let voice = VoiceModelChoice::new(&config);
        let model = voice.build(&config, &setup, write_timeout, &trust)?;
        let traits = model.traits();
        let model_settings = &config.model;
        let session_policy = SessionPolicy {
            traits,
            tools_offered: setup.tools.len(),
            reconnect_attempts: model_settings.reconnect_attempts,
            ready_timeout: Duration::from_millis(model_settings.ready_timeout_ms),
            response_timeout: Duration::from_millis(model_settings.response_timeout_ms),
            rollover_after: Duration::from_secs(model_settings.session_rollover_secs),
            prices: voice.prices,
            // An eighth of the window, at about four characters a token:
            // the context a reopened session is told stays small beside
            // the call.
            context_chars: voice.context_tokens as usize / 2,
            control,
            mark_every: AudioMs::new(model_settings.mark_every_ms),
            ..SessionPolicy::default()
        };
        let mut dashboard = DashboardHub::new(&config.dashboard);
        let metrics = Arc::new(Metrics::new(tool_names, &qloo_requests));
        let mut sinks: Vec<Arc<dyn EventSink>> = Vec::with_capacity(3);
        let fleet = redis.map(|redis| {
            dashboard = dashboard.clone().with_instance(redis.instance().clone());
            metrics.register_fleet();
            let fleet = Fleet::new(redis.clone(), &config.redis, env!("CARGO_PKG_VERSION"));
            let (feed, publisher) = FeedSink::new(
                redis,
                config.redis.feed_length,
                fleet.feed_dropped().clone(),
                fleet.watched().clone(),
            );
            sinks.push(Arc::new(feed.clone()));
            FleetParts {
                fleet,
                feed,
                publisher: Box::pin(publisher),
            }
        });
        sinks.push(Arc::new(dashboard.clone()));
        sinks.push(metrics.clone());
        let reports = match &config.report.url {
            Some(_) => {
                let figures = ReportMetrics::default();
                metrics.register_reports(&figures);
                let (delivery, handle, inbox) = Delivery::new(&config.report, figures, &trust)
                    .map_err(|err| anyhow::anyhow!("report.secret: {err}"))?;
                sinks.push(Arc::new(Reports::new(
                    handle.clone(),
                    config.report.include_transcript,
                )));
                Some(ReportParts {
                    delivery,
                    inbox,
                    handle,
                })
            }
            None => None,
        };
        let sink: Arc<dyn EventSink> = Arc::new(FanOut::new(sinks));
        // Each report's delivery is told to the dashboards as its call's.
        let reports = reports.map(|parts| ReportParts {
            delivery: parts.delivery.with_observers(sink.clone(), clock.clone()),
            ..parts
        });
        let services = CallServices {
            model,
            tools,
            sink,
            texts,
            clock: clock.clone(),
            setup: Arc::new(setup),
            model_name: config.openai.model.as_str().into(),
            model_api: voice.api.as_str().into(),
            policy: session_policy,
            connect_timeout: Duration::from_millis(model_settings.connect_timeout_ms),
            start_timeout: Duration::from_millis(config.limits.start_timeout_ms),
            watchdogs: Watchdogs {
                caller_silence: Duration::from_millis(config.limits.caller_silence_timeout_ms),
                max_call_duration: Duration::from_secs(config.limits.max_call_duration_secs),
                tool_deadline: Duration::from_millis(config.limits.tool_deadline_ms),
            },
            hold: config.hold.sound().context("hold.file")?,
            memory,
        };
        let sip = sip_door(
            &config,
            voice.api,
            &services.setup,
            write_timeout,
            fleet.as_ref().map(|parts| parts.fleet.clone()),
            services.policy.control.text_picks || services.policy.control.memory,
            &trust,
        )?;
        let public_url = url::Url::parse(&config.server.public_url).context("server.public_url")?;
        // With Twilio's token set, every stream must also bring the token
        // its webhook answer carried.
        let stream_tokens = match &config.twilio.auth_token {
            Some(_) => {
                let mut tokens =
                    StreamTokens::new(config.twilio.stream_secret.as_ref(), clock.clone())
                        .context("no randomness for the stream-token key")?;
                if let Some(parts) = &fleet {
                    tokens = tokens.with_ledger(parts.fleet.clone());
                }
                Some(Arc::new(tokens))
            }
            None => None,
        };
        let mut stream_ends = StreamEnds::new();
        if let Some(parts) = &fleet {
            stream_ends = stream_ends.with_shared(parts.fleet.clone());
        }
        // The numbers a text or the caller memory needs, kept only when
        // one of them is on.
        let control = &session_policy.control;
        let lines = (control.text_picks || control.memory).then(|| {
            let mut lines = CallLines::new();
            if let Some(parts) = &fleet {
                lines = lines.with_shared(parts.fleet.clone());
            }
            Arc::new(lines)
        });
        let edges = CallEdges {
            ends: Arc::new(stream_ends),
            lines,
            transfer: config
                .twilio
                .transfer_number
                .clone()
                .map(|number| Transfer {
                    number,
                    timeout_secs: config.twilio.dial_timeout_secs,
                    time_limit_secs: config.twilio.dial_time_limit_secs,
                }),
            // Twilio asks when the stream ends: at the longest, the
            // longest call after the longest wait for its start.
            action_lifetime: Duration::from_secs(config.limits.max_call_duration_secs)
                + Duration::from_millis(config.limits.start_timeout_ms)
                + RECORD_LIFETIME,
        };
        let state = Arc::new(AppState {
            edges,
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
            stream_tokens,
            metrics,
            test_endpoints: sandbox.is_some(),
            access: config.dashboard.clone(),
            insecure: sandbox.is_none() && config.is_insecure(Mode::Live),
            http: config.http.clone(),
            qloo_breaker,
            write_timeout,
            fleet: fleet.as_ref().map(|parts| parts.fleet.clone()),
            waiting: WaitingRoom::new(
                config.limits.max_waiting_streams,
                Duration::from_millis(config.limits.start_timeout_ms),
            ),
            live: LiveStreams::new(),
            guesses: Arc::default(),
            sip,
        });
        Ok(Application {
            listener,
            tls,
            shards: http::Shards::none(),
            addr,
            state,
            sandbox,
            cache,
            cache_save_interval: config.cache.save_interval(),
            drain_timeout: Duration::from_secs(config.server.drain_timeout_secs),
            fleet,
            reports,
        })
    }
}

/// The SIP door, when a webhook secret opens it: calls OpenAI answers
/// are accepted with the session a Media Stream's model is sent (one
/// source for both), transferred to the same number, their numbers kept
/// under the same conditions.
fn sip_door(
    config: &Config,
    api: Api,
    setup: &SessionSetup,
    write_timeout: Duration,
    fleet: Option<Arc<Fleet>>,
    keep_numbers: bool,
    trust: &Trust,
) -> anyhow::Result<Option<Arc<SipDoor>>> {
    if config.sip.webhook_secret.is_none() {
        return Ok(None);
    }
    if api != Api::Realtime {
        tracing::warn!(
            model = %config.openai.model,
            "OPENAI_WEBHOOK_SECRET is set, but calls over SIP are answered by the Realtime API and the configured model is not one of its models: the SIP door stays closed"
        );
        return Ok(None);
    }
    let openai = &config.openai;
    let extras = openai.session_extras();
    let accept = realtime_wire::sip_accept(setup, openai, &extras);
    let ping = Duration::from_millis(config.model.ping_interval_ms);
    let sidebands = Sidebands::new(openai, setup, ping, write_timeout, trust.clone());
    let api_key = openai.api_key.clone().unwrap_or_else(|| Secret::new(""));
    let mut door = SipDoor::new(&config.sip, api_key, accept, sidebands, trust)
        .map_err(|err| anyhow::anyhow!("sip.webhook_secret (OPENAI_WEBHOOK_SECRET): {err}"))?
        .transferring_to(config.twilio.transfer_number.as_deref())
        .keeping_numbers(keep_numbers);
    if let Some(fleet) = fleet {
        door = door.spending_in(fleet);
    }
    tracing::info!(base_url = %config.sip.base_url, "SIP door open: POST /openai/webhook");
    Ok(Some(Arc::new(door)))
}

/// The voice model the configuration names: its API, what it costs, its
/// context window.
struct VoiceModelChoice {
    api: Api,
    prices: Option<Prices>,
    context_tokens: u32,
}

impl VoiceModelChoice {
    /// Reads the choice and says it at start-up (a model the catalogue does
    /// not know, once, as a warning).
    fn new(config: &Config) -> Self {
        let openai = &config.openai;
        let api = config.vendor();
        let spec = openai.model_spec();
        let mut prices = openai.prices();
        if api == Api::Live {
            // A GPT-Live call's tokens are its backend model's: priced at
            // that model's rates when the catalogue has them.
            let backend = catalogue::lookup(&openai.models, &config.live.delegation_model)
                .map(ModelSpec::prices);
            if let Some(prices) = prices.as_mut() {
                prices.text = backend.map(|backend| backend.text).unwrap_or_default();
            }
        }
        match spec {
            Some(spec) => tracing::info!(
                model = %openai.model,
                api = api.as_str(),
                reasoning = spec.reasoning,
                context_tokens = spec.context_tokens,
                prices = %spec.prices_source,
                "voice model"
            ),
            None => tracing::warn!(
                model = %openai.model,
                api = api.as_str(),
                "the voice model is not in the model catalogue: calls go on, their cost is shown as unknown, and nothing only some models take is sent (describe it under [openai.models.\"NAME\"] to change that)"
            ),
        }
        Self {
            api,
            prices,
            context_tokens: spec.map_or(32_000, |spec| spec.context_tokens),
        }
    }

    /// The adapter for the model's API.
    fn build(
        &self,
        config: &Config,
        setup: &SessionSetup,
        write_timeout: Duration,
        trust: &Trust,
    ) -> anyhow::Result<Arc<dyn VoiceModel>> {
        let ping = Duration::from_millis(config.model.ping_interval_ms);
        Ok(match self.api {
            Api::Realtime => Arc::new(
                OpenAiRealtime::new(&config.openai, setup, ping, trust.clone())
                    .context("openai.realtime_url")?
                    .with_write_timeout(write_timeout),
            ),
            Api::Live => Arc::new(
                GptLive::new(
                    &config.live,
                    &config.openai.model,
                    config.openai.api_key.as_ref(),
                    ping,
                    trust.clone(),
                )
                .context("live.url")?
                .with_write_timeout(write_timeout),
            ),
        })
    }
}

impl Application {
    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Deals the connections (and so the calls) to `shards`' threads
    /// instead of running them where they are accepted.
    #[must_use]
    pub fn spread_over(mut self, shards: http::Shards) -> Self {
        if !shards.is_empty() {
            tracing::info!(threads = shards.len(), "calls run on a thread a core");
        }
        self.shards = shards;
        self
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
    /// The HTTP server's graceful shutdown does not wait for upgraded
    /// WebSockets, so the calls are tracked and told through the registry.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        self.run_until(shutdown, std::future::pending()).await;
    }

    /// As [`run`](Self::run), and `cut_short` completing during the drain
    /// ends the calls still running at once (a second SIGTERM or Ctrl-C:
    /// the operator will not wait).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
        cut_short: impl Future<Output = ()> + Send + 'static,
    ) {
        let saver = tokio::spawn(save_periodically(
            self.cache.clone(),
            self.cache_save_interval,
        ));
        let fleet = match self.fleet {
            Some(parts) => Some(join_fleet(parts, &self.state).await),
            None => None,
        };
        let (report_task, report_handle) = match self.reports {
            Some(parts) => (
                Some(tokio::spawn(parts.delivery.run(parts.inbox))),
                Some(parts.handle),
            ),
            None => (None, None),
        };
        let state = self.state.clone();
        let drain_timeout = self.drain_timeout;
        // The drain happens while the server still accepts (so `/health`
        // says draining and `/twiml` answers busy), before it stops.
        http::serve(
            self.listener,
            self.tls,
            self.shards,
            self.state.clone(),
            async move {
                shutdown.await;
                drain(&state, drain_timeout, cut_short).await;
                // The ended calls' reports get one more try; what the
                // endpoint does not take stays queued on disk for next time.
                if let Some(reports) = report_handle {
                    let left = reports.flush(Duration::from_secs(5)).await;
                    if left > 0 {
                        tracing::warn!(
                            left,
                            "call reports not delivered yet: kept for the next start"
                        );
                    }
                }
            },
        )
        .await;
        if let Some(task) = report_task {
            task.abort();
        }
        saver.abort();
        if let Some(fleet) = fleet {
            fleet.leave().await;
        }
        save(self.cache).await;
        drop(self.sandbox);
        tracing::info!("stopped");
    }
}

/// The fleet's tasks, running beside the server until it stops.
struct FleetTasks {
    fleet: Arc<Fleet>,
    feed: FeedSink,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl FleetTasks {
    /// Lets the last events reach the feed, then leaves the registry.
    async fn leave(self) {
        self.feed.flushed(Duration::from_secs(1)).await;
        for task in &self.tasks {
            task.abort();
        }
        self.fleet.leave().await;
        tracing::info!("left the fleet");
    }
}

/// Starts the heartbeats, the feed's publisher and its reader. Redis away
/// at start is said, and the server runs on its own state until it returns.
async fn join_fleet(parts: FleetParts, state: &AppState) -> FleetTasks {
    let FleetParts {
        fleet,
        feed,
        publisher,
    } = parts;
    let redis = fleet.redis().clone();
    if redis.ping().await {
        tracing::info!(instance = %redis.instance(), "joined the fleet");
    } else {
        tracing::warn!(
            instance = %redis.instance(),
            "redis unreachable at start: running on this instance's own state until it answers"
        );
    }
    let tasks = vec![
        tokio::spawn(publisher),
        tokio::spawn(feed::run_reader(redis, state.dashboard.clone())),
        tokio::spawn(
            fleet
                .clone()
                .run_heartbeats(state.registry.clone(), state.dashboard.clone()),
        ),
    ];
    FleetTasks { fleet, feed, tasks }
}

/// Turns new calls away, lets the calls in progress finish for up to
/// `timeout`, ends the rest, then lets dashboards send their last events.
async fn drain(state: &AppState, timeout: Duration, cut_short: impl Future<Output = ()>) {
    let registry = &state.registry;
    tracing::info!(
        calls = registry.active(),
        ?timeout,
        "draining: no new calls (a second signal ends the calls at once)"
    );
    registry.drain();
    tokio::select! {
        drained = tokio::time::timeout(timeout, registry.drained()) => {
            if drained.is_err() {
                tracing::warn!(
                    calls = registry.active(),
                    "drain timeout: ending the calls still running"
                );
            }
        }
        () = cut_short => {
            tracing::warn!(
                calls = registry.active(),
                "second signal: ending the calls still running"
            );
        }
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
