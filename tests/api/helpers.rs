//! `spawn_app()`: the server on port 0, with handles to its peers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use qloophone::config::Api;
use qloophone::config::Config;
use qloophone::sandbox::Sandbox;
use qloophone::startup::Application;
use qloophone_domain::call::CallRegistry;
use qloophone_domain::tools::{Known, ToolExecutor, ToolInvocation, ToolOutcome, ToolSpec};
use qloophone_sandbox::SANDBOX_KEY;
use qloophone_sandbox::caller::{CallReport, CallerOptions, Step, place_call};
use qloophone_sandbox::live::{LiveFaults, LiveOptions};
use qloophone_sandbox::phone::CallSettings;
use qloophone_sandbox::qloo::{QlooControl, QlooOptions};
use qloophone_sandbox::realtime::{ModelFaults, RealtimeOptions, Recorder};
use qloophone_sandbox::scenario::Scenario;
use qloophone_sandbox::script::{ModelScript, ScriptedCall};
use qloophone_sandbox::twilio_api::{Records, TwilioApiOptions};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// A running server.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub registry: CallRegistry,
    pub model: Recorder,
    pub qloo: QlooControl,
    /// What the simulated Twilio REST API took.
    pub twilio: Records,
    /// The simulated SIP control plane (OpenAI's side of SIP calls).
    pub sip: qloophone_sandbox::sip::ControlPlane,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// How to build the app under test.
pub struct AppOptions {
    pub script: ModelScript,
    pub pace: f64,
    pub ms_per_char: u64,
    pub config: Config,
    pub tools: Option<Arc<dyn ToolExecutor>>,
    pub scenarios: Vec<(u16, Arc<ModelScript>)>,
    pub qloo_latency: Duration,
    /// Latency of the simulated Qloo's recommendations, when not
    /// `qloo_latency`.
    pub qloo_insights_latency: Option<Duration>,
    pub model_faults: ModelFaults,
    /// How the simulated GPT-Live model misbehaves.
    pub live_faults: LiveFaults,
    /// Where to listen (default: a free loopback port).
    pub bind: Option<std::net::SocketAddr>,
    /// How the simulated Twilio REST API behaves.
    pub twilio_api: TwilioApiOptions,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            script: ModelScript::default(),
            pace: 4.0,
            ms_per_char: 20,
            config: Config::default(),
            tools: Some(Arc::new(EchoTools)),
            scenarios: Vec::new(),
            qloo_latency: Duration::ZERO,
            qloo_insights_latency: None,
            model_faults: ModelFaults::default(),
            live_faults: LiveFaults::default(),
            bind: None,
            twilio_api: Sandbox::twilio_options(),
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let listener = match options.bind {
        Some(addr) => TcpListener::bind(addr).await.unwrap(),
        None => TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let script = Arc::new(options.script);
    let sandbox = Sandbox::start_with(
        RealtimeOptions {
            script: script.clone(),
            pace: options.pace,
            ms_per_char: options.ms_per_char,
            api_key: Some(SANDBOX_KEY.to_owned()),
            seed: 11,
            scenarios: options.scenarios.clone(),
            faults: options.model_faults,
            sip: None,
        },
        LiveOptions {
            script,
            ms_per_char: options.ms_per_char,
            api_key: Some(SANDBOX_KEY.to_owned()),
            scenarios: options.scenarios,
            faults: options.live_faults,
            ..LiveOptions::default()
        },
        QlooOptions {
            api_key: Some(SANDBOX_KEY.to_owned()),
            latency: options.qloo_latency,
            insights_latency: options.qloo_insights_latency,
            ..QlooOptions::default()
        },
        options.twilio_api,
        qloophone::config::SandboxSettings::default().report_failures,
    )
    .await
    .unwrap();
    let mut config = options.config;
    if config.server.public_url == Config::default().server.public_url {
        // Where this server really is, so the TwiML's stream URL reaches it.
        config.server.public_url = format!("http://{}", listener.local_addr().unwrap());
    }
    if config.server.drain_timeout_secs == Config::default().server.drain_timeout_secs {
        config.server.drain_timeout_secs = 5;
    }
    if config.qloo.api_log == Config::default().qloo.api_log {
        config.qloo.api_log = String::new();
    }
    config.cache.snapshot = String::new();
    let config_vendor = config.vendor();
    let mut builder = Application::builder(listener, config).sandbox(sandbox);
    if let Some(tools) = options.tools {
        builder = builder.tools(tools);
    }
    let app = builder.build().unwrap();
    let addr = app.addr();
    let registry = app.registry();
    // The recorder of the simulated model the configuration speaks to.
    let sandbox = app.sandbox().unwrap();
    let model = match config_vendor {
        Api::Realtime => sandbox.realtime.recorder().clone(),
        Api::Live => sandbox.live.recorder().clone(),
    };
    let qloo = app.sandbox().unwrap().qloo.control();
    let twilio = app.sandbox().unwrap().twilio.records();
    let sip = app.sandbox().unwrap().sip.clone();
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        registry,
        model,
        qloo,
        twilio,
        sip,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Asserts a WebSocket upgrade on `path` is refused with `status`.
    pub async fn assert_upgrade_refused(&self, path: &str, status: u16) {
        match tokio_tungstenite::connect_async(self.ws_url(path)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), status, "upgrade on {path}");
            }
            other => panic!(
                "the upgrade on {path} must be refused, got {:?}",
                other.map(|_| ())
            ),
        }
    }

    /// Asserts a stream that starts as the call `call_sid` past the call
    /// limit is put through to nothing: the server closes it without a
    /// model session, and Twilio, asking what follows, is told the lines
    /// are busy.
    pub async fn assert_started_stream_busy(&self, call_sid: &str) {
        use futures_util::StreamExt;

        let sessions = self.model.sessions().len();
        let mut socket = started_call_stream(&self.ws_url("/call"), call_sid).await;
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = socket.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await
        .expect("the server closes a stream it has no line for");
        assert_eq!(self.model.sessions().len(), sessions, "no model session");
        let next = self
            .http
            .post(self.url("/twilio/after-stream"))
            .form(&[("CallSid", call_sid), ("CallStatus", "in-progress")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            next.contains("busy") && next.contains("<Hangup/>"),
            "{next}"
        );
    }

    /// A caller that plays at the same pace as the model speaks.
    pub fn caller(&self, tag: u16) -> CallerOptions {
        let mut options = CallerOptions::new(self.ws_url("/call"), tag);
        options.speed = 4.0;
        options.hold_sound = Some(shipped_hold_sound());
        options
    }

    /// A call placed in the background, for tests that act while it runs.
    /// A well-behaved call to run beside a rogue peer: it waits for the
    /// greeting, speaks a second of silence and hangs up.
    pub fn healthy_call(&self) -> JoinHandle<CallReport> {
        self.spawn_call(
            8,
            vec![
                Step::WaitForAnswer { max_ms: 10_000 },
                Step::Silence { ms: 1_000 },
                Step::Hangup,
            ],
        )
    }

    pub fn spawn_call(&self, tag: u16, steps: Vec<Step>) -> JoinHandle<CallReport> {
        let caller = self.caller(tag);
        tokio::spawn(async move { place_call(caller, &steps).await.expect("call placed") })
    }

    pub async fn call(&self, tag: u16, steps: &[Step]) -> CallReport {
        place_call(self.caller(tag), steps)
            .await
            .expect("call placed")
    }

    /// `GET path`'s body as text.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// `POST /twiml` with `form`, as Twilio's webhook; the TwiML.
    pub async fn twiml(&self, form: &[(&str, &str)]) -> String {
        let request = self.http.post(self.url("/twiml")).form(form);
        request.send().await.unwrap().text().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Waits until every call has ended and every model session closed.
    pub async fn idle(&self) {
        wait_until("calls to end", || {
            self.registry.active() == 0 && self.model.open_sessions() == 0
        })
        .await;
    }

    /// Tells the server to stop (as SIGTERM would) without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A caller's whole call: hear the greeting, say something, hear the answer,
/// hang up.
pub fn one_turn() -> Vec<Step> {
    vec![
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Speak { ms: 600 },
        Step::WaitForAnswer { max_ms: 10_000 },
        Step::Hangup,
    ]
}

/// A model that greets, hears "I love The Matrix", searches for it with
/// the real tools, and says `answer`.
pub fn film_search(answer: &str) -> ModelScript {
    use qloophone_sandbox::script::{ScriptedCall, Turn};
    ModelScript {
        greeting: "Hi, this is QlooPhone.".into(),
        turns: vec![Turn {
            heard: "I love The Matrix".into(),
            tool_calls: vec![ScriptedCall {
                name: "search_entity".into(),
                arguments: json!({"query": "The Matrix", "type": "movie"}),
                round: 0,
            }],
            answer: answer.into(),
        }],
        ..ModelScript::default()
    }
}

/// Polls `condition` for up to 10 s; fails the test if it never holds.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Tools for pipeline tests: `search_entity` finds whatever was asked for;
/// `slow_tool` takes a second; anything else is unknown.
pub struct EchoTools;

#[async_trait]
impl ToolExecutor for EchoTools {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "search_entity".into(),
            description: "Finds an entity by name.".into(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
        }]
    }

    async fn execute(&self, invocation: ToolInvocation) -> ToolOutcome {
        match &*invocation.name {
            "search_entity" => {
                let args: Value = serde_json::from_str(&invocation.arguments).unwrap_or_default();
                let query = args["query"].as_str().unwrap_or("nothing");
                ToolOutcome::ok(
                    &json!({"entity_id": "E1", "name": query, "type": "urn:entity:movie"}),
                    Known::default(),
                )
            }
            "slow_tool" => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                ToolOutcome::ok(&json!({"name": "slow"}), Known::default())
            }
            other => ToolOutcome::error(format!("Unknown tool \"{other}\""), None),
        }
    }
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Media Stream on `url` (a `/call` WebSocket URL) that has sent
/// `start` for `stream` and nothing else.
pub async fn started_stream(url: &str, stream: &str) -> Socket {
    use futures_util::SinkExt;

    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let start = json!({
        "event": "start",
        "streamSid": stream,
        "start": {
            "streamSid": stream,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    });
    socket.send(Message::text(start.to_string())).await.unwrap();
    socket
}

/// A raw Media Stream on `url` that has sent `start` for the call
/// `call_sid` (stream `MZ` + the same digits) and nothing else.
pub async fn started_call_stream(url: &str, call_sid: &str) -> Socket {
    use futures_util::SinkExt;

    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let stream = format!("MZ{}", call_sid.trim_start_matches("CA"));
    let start = json!({
        "event": "start",
        "streamSid": stream,
        "start": {
            "streamSid": stream,
            "callSid": call_sid,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    });
    socket.send(Message::text(start.to_string())).await.unwrap();
    socket
}

/// Polls `url` until its body satisfies `done`; panics after ten seconds.
pub async fn poll_until(url: &str, what: &str, done: impl Fn(&str) -> bool) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = client.get(url).send().await
            && let Ok(body) = response.text().await
            && done(&body)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not reached in ten seconds");
}

/// A dashboard on `/logs{query}`, past its greeting (and, in the envelope
/// form, past the replay of the recent past).
pub async fn dashboard(app: &TestApp, query: &str) -> Socket {
    dashboard_with_past(app, query).await.0
}

/// A dashboard and, in the envelope form, the recent past it was replayed
/// (ending with `connection.replayed`).
pub async fn dashboard_with_past(app: &TestApp, query: &str) -> (Socket, Vec<Value>) {
    let (mut socket, _) = tokio_tungstenite::connect_async(app.ws_url(&format!("/logs{query}")))
        .await
        .unwrap();
    let hello = next_json(&mut socket).await.unwrap();
    assert_eq!(hello["type"], "connection.established");
    let past = if query.contains("format=envelope") {
        read_until(&mut socket, |e| e["type"] == "connection.replayed").await
    } else {
        Vec::new()
    };
    (socket, past)
}

pub async fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .ok()??
            .ok()?;
        if let Message::Text(text) = message {
            return Some(serde_json::from_str(text.as_str()).unwrap());
        }
    }
}

/// Reads events until one matches `last`.
pub async fn read_until(socket: &mut Socket, last: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(event) = next_json(socket).await {
        let done = last(&event);
        events.push(event);
        if done {
            return events;
        }
    }
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            e["type"]
                .as_str()
                .or(e["event"]["type"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    panic!(
        "the dashboard stream ended early after {} events: {kinds:?}",
        events.len()
    );
}

/// A loopback port free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the assistant said, an answer a response: a response's audio items
/// (a preamble, then the rest, on the `gpt-realtime-2` models) together.
pub fn answers<'a>(model_events: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    let mut answers: Vec<(Option<String>, String)> = Vec::new();
    for event in model_events {
        if event["type"] != "response.output_audio_transcript.done" {
            continue;
        }
        let response = event["response_id"].as_str().map(str::to_owned);
        let text = event["transcript"].as_str().unwrap_or_default();
        match answers.last_mut() {
            Some((last, answer)) if response.is_some() && *last == response => {
                // Items are said one after the other: a word break between.
                if !answer.ends_with(char::is_whitespace) && !text.starts_with(char::is_whitespace)
                {
                    answer.push(' ');
                }
                answer.push_str(text);
            }
            _ => answers.push((response, text.to_owned())),
        }
    }
    answers.into_iter().map(|(_, answer)| answer).collect()
}

/// How `qloophone call` places `scenario` against the server at `url` (at
/// four times real speed, as the test servers' models speak), telling the
/// server's hold sound (QlooPhone's own) from the assistant's audio.
pub fn call_settings(url: String, scenario: Scenario) -> CallSettings {
    CallSettings {
        url,
        scenario,
        wav: None,
        speed: 4.0,
        auth_token: None,
        dashboard_token: None,
        callee: None,
        hold_sound: Some(shipped_hold_sound()),
    }
}

/// QlooPhone's own hold sound, as μ-law samples.
pub fn shipped_hold_sound() -> Arc<[u8]> {
    qloophone_adapters::hold::mulaw_samples(qloophone_adapters::hold::SHIPPED)
        .expect("the shipped hold sound plays")
        .into()
}

/// A tool call a scripted model makes, in `round` (rounds run in order).
pub fn scripted_call(name: &str, arguments: Value, round: u32) -> ScriptedCall {
    ScriptedCall {
        name: name.into(),
        arguments,
        round,
    }
}
