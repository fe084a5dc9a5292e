//! The runner over fake legs and mockall doubles of the ports.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::*;
use crate::call::CallRegistry;
use crate::ports::{
    AudioRoute, MediaFormat, ModelCommand, ModelTraits, PhoneCommand, PhoneEvent, ResponseStatus,
};
use crate::ports::{LegError, MockClock, MockEventSink, MockVoiceModel};
use crate::tools::{Known, MockToolExecutor, ToolOutcome};
use crate::types::{AudioChunk, LegId, ResponseId, ToolCallId};

struct FakePhone {
    events: mpsc::UnboundedReceiver<PhoneEvent>,
    sent: Arc<Mutex<Vec<PhoneCommand>>>,
    closed: Arc<AtomicBool>,
    /// Why the call ended, as the leg was told when closed.
    closed_with: Arc<Mutex<Option<EndReason>>>,
    /// Refuse every command as a full queue does (a Twilio socket that
    /// stopped reading).
    backlogged: bool,
}

#[async_trait]
impl AudioInbound for FakePhone {
    fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<PhoneEvent>> {
        self.events.poll_recv(cx)
    }
    fn send(&mut self, command: PhoneCommand) -> Result<(), LegError> {
        if self.backlogged {
            return Err(LegError::Backlogged);
        }
        self.sent.lock().unwrap().push(command);
        Ok(())
    }
    async fn close(&mut self, reason: EndReason) {
        self.closed.store(true, Ordering::SeqCst);
        *self.closed_with.lock().unwrap() = Some(reason);
    }
}

struct FakeModel {
    events: mpsc::UnboundedReceiver<ModelFrame>,
    sent: Arc<Mutex<Vec<ModelCommand>>>,
    closed: Arc<AtomicBool>,
    /// Once set, every command is refused as a full queue does.
    backlogged: Arc<AtomicBool>,
    /// How often the call polled it.
    polls: Arc<AtomicUsize>,
}

#[async_trait]
impl ModelSession for FakeModel {
    fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ModelFrame>> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.events.poll_recv(cx)
    }
    fn send(&mut self, command: ModelCommand) -> Result<(), LegError> {
        if self.backlogged.load(Ordering::SeqCst) {
            return Err(LegError::Backlogged);
        }
        self.sent.lock().unwrap().push(command);
        Ok(())
    }
    async fn close(&mut self) -> Option<crate::ports::Usage> {
        self.closed.store(true, Ordering::SeqCst);
        None
    }
}

struct Harness {
    phone_in: mpsc::UnboundedSender<PhoneEvent>,
    phone_out: Arc<Mutex<Vec<PhoneCommand>>>,
    phone_closed: Arc<AtomicBool>,
    phone_closed_with: Arc<Mutex<Option<EndReason>>>,
    model_in: Option<mpsc::UnboundedSender<ModelFrame>>,
    model_out: Arc<Mutex<Vec<ModelCommand>>>,
    model_closed: Arc<AtomicBool>,
    model_polls: Arc<AtomicUsize>,
}

fn sid() -> LegId {
    LegId::parse("MZ1").unwrap()
}

fn start() -> PhoneEvent {
    PhoneEvent::Start(CallInfo {
        leg_id: sid(),
        call_sid: None,
        caller: None,
        caller_number: None,
        called_number: None,
        audio: AudioRoute::Relayed(MediaFormat::mulaw_8k_mono()),
    })
}

fn setup() -> Arc<SessionSetup> {
    Arc::new(SessionSetup {
        instructions: "test".into(),
        tools: vec![],
    })
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(std::time::SystemTime::now);
    Arc::new(clock)
}

/// A model double whose `open` hands out one fake session.
fn model_opening_once(harness: &mut Harness) -> MockVoiceModel {
    let (tx, rx) = mpsc::unbounded_channel();
    harness.model_in = Some(tx);
    let session = FakeModel {
        events: rx,
        sent: harness.model_out.clone(),
        closed: harness.model_closed.clone(),
        backlogged: Arc::new(AtomicBool::new(false)),
        polls: harness.model_polls.clone(),
    };
    let session = Mutex::new(Some(session));
    let mut model = MockVoiceModel::new();
    model
        .expect_open()
        .withf(|call, setup, context| {
            call.leg_id.as_str() == "MZ1" && setup.instructions == "test" && context.is_none()
        })
        .times(1)
        .returning(move |_, _, _| Ok(Box::new(session.lock().unwrap().take().unwrap())));
    model
}

/// The stream starts and, a moment later, the model confirms its session.
async fn start_and_ready(h: &Harness) {
    start_with_and_ready(h, start()).await;
}

/// As [`start_and_ready`], with this `start`.
async fn start_with_and_ready(h: &Harness, start: PhoneEvent) {
    h.phone_in.send(start).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    h.model_in
        .as_ref()
        .unwrap()
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
}

/// The caller's `n`th 20 ms frame.
fn media_frame(n: u64) -> PhoneEvent {
    PhoneEvent::Media {
        timestamp_ms: n * 20,
        audio: AudioChunk::new(Bytes::from_static(b"//79"), 3),
    }
}

fn harness() -> (Harness, FakePhone) {
    let (phone_in, events) = mpsc::unbounded_channel();
    let phone_out = Arc::new(Mutex::new(Vec::new()));
    let phone_closed = Arc::new(AtomicBool::new(false));
    let phone_closed_with = Arc::new(Mutex::new(None));
    let phone = FakePhone {
        events,
        sent: phone_out.clone(),
        closed: phone_closed.clone(),
        closed_with: phone_closed_with.clone(),
        backlogged: false,
    };
    (
        Harness {
            phone_in,
            phone_out,
            phone_closed,
            phone_closed_with,
            model_in: None,
            model_out: Arc::new(Mutex::new(Vec::new())),
            model_closed: Arc::new(AtomicBool::new(false)),
            model_polls: Arc::new(AtomicUsize::new(0)),
        },
        phone,
    )
}

fn services(model: MockVoiceModel, tools: MockToolExecutor, sink: MockEventSink) -> CallServices {
    CallServices {
        model: Arc::new(model),
        tools: Arc::new(tools),
        sink: Arc::new(sink),
        texts: None,
        clock: clock(),
        setup: setup(),
        model_name: "test-model".into(),
        model_api: "test-api".into(),
        policy: SessionPolicy {
            greet: false,
            ..SessionPolicy::default()
        },
        connect_timeout: Duration::from_secs(5),
        start_timeout: Duration::from_secs(10),
        watchdogs: crate::call::Watchdogs::default(),
        hold: None,
        memory: None,
    }
}

fn quiet_sink() -> MockEventSink {
    let mut sink = MockEventSink::new();
    sink.expect_emit().returning(|_| ());
    sink.expect_wants_audio().return_const(false);
    sink
}

fn frame(event: ModelEvent) -> ModelFrame {
    ModelFrame::bare(event)
}

#[tokio::test]
async fn a_call_relays_audio_runs_a_tool_and_ends_on_stop() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let mut tools = MockToolExecutor::new();
    tools
        .expect_execute()
        .withf(|invocation| &*invocation.name == "search_entity")
        .times(1)
        .returning(|_| {
            ToolOutcome::ok(&serde_json::json!({"name": "The Matrix"}), Known::default())
        });
    let mut sink = MockEventSink::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    sink.expect_emit().returning(move |record| {
        assert_eq!(record.call, sid());
        seen.lock().unwrap().push(record.event.name());
    });
    sink.expect_wants_audio().return_const(true);
    let registry = CallRegistry::new(10);
    let permit = registry.try_admit().unwrap();
    let services = services(model, tools, sink);
    let call = tokio::spawn({
        let registry = registry.clone();
        async move { run_call(phone, &services, permit, registry.shutdown_signal()).await }
    });

    h.phone_in.send(PhoneEvent::Connected).unwrap();
    h.phone_in.send(start()).unwrap();
    let audio = AudioChunk::new(Bytes::from_static(b"//79"), 3);
    h.phone_in
        .send(PhoneEvent::Media {
            timestamp_ms: 20,
            audio: audio.clone(),
        })
        .unwrap();
    let model_in = h.model_in.clone().unwrap();
    let wait = || tokio::time::sleep(Duration::from_millis(20));
    wait().await;
    model_in
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    assert_eq!(
        registry.active(),
        1,
        "the call holds its place while it runs"
    );
    // A frame as the model sent it reaches observers; an event the adapter
    // derived (no frame) does not.
    model_in
        .send(ModelFrame {
            event: ModelEvent::ResponseCreated {
                response_id: ResponseId::parse("resp_1").unwrap(),
            },
            raw: crate::types::RawFrame::new(Bytes::from_static(b"{\"type\":\"x\"}")),
        })
        .unwrap();
    model_in
        .send(frame(ModelEvent::FunctionCall {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: "search_entity".into(),
            arguments: r#"{"query":"The Matrix"}"#.into(),
        }))
        .unwrap();
    model_in
        .send(frame(ModelEvent::ResponseDone {
            response_id: ResponseId::parse("resp_1").unwrap(),
            status: ResponseStatus::Completed,
            usage: None,
        }))
        .unwrap();
    wait().await;
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    let reason = call.await.unwrap();
    assert_eq!(reason, EndReason::PhoneStopped);
    let sent = h.model_out.lock().unwrap().clone();
    assert_eq!(sent[0], ModelCommand::AppendAudio(audio));
    assert!(
        matches!(&sent[1], ModelCommand::ToolOutput { output, .. } if output.contains("The Matrix"))
    );
    assert_eq!(sent[2], ModelCommand::CreateResponse);
    assert!(h.phone_closed.load(Ordering::SeqCst));
    assert_eq!(
        *h.phone_closed_with.lock().unwrap(),
        Some(EndReason::PhoneStopped),
        "the phone leg is told why the call ended"
    );
    assert!(h.model_closed.load(Ordering::SeqCst));
    assert_eq!(registry.active(), 0);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.first(), Some(&"call.started"));
    assert!(events.contains(&"tool.called"));
    assert_eq!(
        events.iter().filter(|name| **name == "model.event").count(),
        1,
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&"call.ended"));
    assert!(h.phone_out.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_model_that_cannot_be_reached_ends_the_call_after_its_attempts() {
    let (h, phone) = harness();
    let mut model = MockVoiceModel::new();
    model
        .expect_open()
        .times(3)
        .returning(|_, _, _| Err(ModelError::Connect("refused".into())));
    let registry = CallRegistry::new(1);
    let mut services = services(model, MockToolExecutor::new(), quiet_sink());
    // Tried at once, then again 250 ms later; then the call ends.
    services.policy.reconnect_attempts = 2;
    h.phone_in.send(start()).unwrap();
    let reason = run_call(
        phone,
        &services,
        registry.try_admit().unwrap(),
        registry.shutdown_signal(),
    )
    .await;
    assert_eq!(reason, EndReason::ModelUnavailable);
    assert!(h.phone_closed.load(Ordering::SeqCst));
}

/// A model whose connection attempt never completes.
struct HangingModel;

#[async_trait]
impl VoiceModel for HangingModel {
    fn traits(&self) -> ModelTraits {
        ModelTraits::default()
    }

    async fn open(
        &self,
        _call: &CallInfo,
        _setup: &SessionSetup,
        _context: Option<Arc<str>>,
    ) -> Result<Box<dyn ModelSession>, ModelError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_model_that_hangs_while_connecting_times_out() {
    let (h, phone) = harness();
    let registry = CallRegistry::new(1);
    let mut services = services(MockVoiceModel::new(), MockToolExecutor::new(), quiet_sink());
    services.model = Arc::new(HangingModel);
    // One more attempt, after it timed out at once.
    services.policy.reconnect_attempts = 1;
    h.phone_in.send(start()).unwrap();
    let started = tokio::time::Instant::now();
    let reason = run_call(
        phone,
        &services,
        registry.try_admit().unwrap(),
        registry.shutdown_signal(),
    )
    .await;
    assert_eq!(reason, EndReason::ModelUnavailable);
    assert_eq!(
        started.elapsed(),
        services.connect_timeout * 2,
        "each attempt gave up at the connect timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn a_phone_that_never_starts_is_hung_up_on() {
    let (h, phone) = harness();
    let registry = CallRegistry::new(1);
    let services = services(
        MockVoiceModel::new(),
        MockToolExecutor::new(),
        MockEventSink::new(),
    );
    h.phone_in.send(PhoneEvent::Connected).unwrap();
    let reason = run_call(
        phone,
        &services,
        registry.try_admit().unwrap(),
        registry.shutdown_signal(),
    )
    .await;
    assert_eq!(reason, EndReason::NeverStarted);
    assert!(h.phone_closed.load(Ordering::SeqCst));
    drop(h.phone_in);
}

#[tokio::test]
async fn shutdown_ends_a_live_call_and_frees_its_place() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let (registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    registry.shut_down();
    assert_eq!(call.await.unwrap(), EndReason::Shutdown);
    assert!(h.model_closed.load(Ordering::SeqCst));
    registry.drained().await;
}

/// One fake model session handed out by [`model_sessions`].
struct SessionHandle {
    events: mpsc::UnboundedSender<ModelFrame>,
    sent: Arc<Mutex<Vec<ModelCommand>>>,
    backlogged: Arc<AtomicBool>,
    /// The context the session was opened with.
    context: Arc<Mutex<Option<Arc<str>>>>,
}

/// A model double whose `open` hands out `count` fake sessions in turn,
/// then refuses.
fn model_sessions(count: usize) -> (MockVoiceModel, Vec<SessionHandle>) {
    let mut sessions = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..count {
        let (tx, rx) = mpsc::unbounded_channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let backlogged = Arc::new(AtomicBool::new(false));
        let context = Arc::new(Mutex::new(None));
        sessions.push((
            FakeModel {
                events: rx,
                sent: sent.clone(),
                closed: Arc::new(AtomicBool::new(false)),
                backlogged: backlogged.clone(),
                polls: Arc::new(AtomicUsize::new(0)),
            },
            context.clone(),
        ));
        handles.push(SessionHandle {
            events: tx,
            sent,
            backlogged,
            context,
        });
    }
    let sessions = Mutex::new(std::collections::VecDeque::from(sessions));
    let mut model = MockVoiceModel::new();
    model.expect_traits().returning(ModelTraits::default);
    model.expect_open().returning(move |_, _, context| {
        match sessions.lock().unwrap().pop_front() {
            Some((session, slot)) => {
                *slot.lock().unwrap() = context;
                Ok(Box::new(session) as Box<dyn ModelSession>)
            }
            None => Err(ModelError::Connect("refused".into())),
        }
    });
    (model, handles)
}

fn recording_sink() -> (MockEventSink, Arc<Mutex<Vec<CallEvent>>>) {
    let mut sink = MockEventSink::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    sink.expect_emit()
        .returning(move |record| seen.lock().unwrap().push(record.event));
    sink.expect_wants_audio().return_const(false);
    (sink, events)
}

#[tokio::test]
async fn a_lost_model_is_reopened_and_told_the_conversation() {
    let (h, phone) = harness();
    let (model, sessions) = model_sessions(2);
    let (sink, events) = recording_sink();
    let mut tools = MockToolExecutor::new();
    tools.expect_execute().returning(|_| {
        ToolOutcome::ok(
            &serde_json::json!({"name": "The Matrix"}),
            Known::of_entities(vec![crate::tools::KnownEntity::new(
                crate::types::EntityId::parse("ENT-MATRIX").unwrap(),
                "The Matrix",
                None,
            )]),
        )
    });
    let services = services(model, tools, sink);
    let (_registry, call) = spawn_call(phone, services);
    let wait = || tokio::time::sleep(Duration::from_millis(30));
    h.phone_in.send(start()).unwrap();
    wait().await;
    let mut sessions = sessions.into_iter();
    let first = sessions.next().unwrap();
    let second = sessions.next().unwrap();
    for event in [
        ModelEvent::Ready { tools: 1 },
        ModelEvent::CallerTranscript {
            text: "I love The Matrix".into(),
        },
        ModelEvent::FunctionCall {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: "search_entity".into(),
            arguments: "{}".into(),
        },
    ] {
        first.events.send(frame(event)).unwrap();
    }
    wait().await;
    // The first session drops; the caller goes on talking meanwhile.
    drop(first);
    for _ in 0..500 {
        let seen = events.lock().unwrap().clone();
        if seen.contains(&CallEvent::ModelReconnecting { attempt: 1 }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let audio = AudioChunk::new(Bytes::from_static(b"//79"), 3);
    h.phone_in
        .send(PhoneEvent::Media {
            timestamp_ms: 40,
            audio: audio.clone(),
        })
        .unwrap();
    wait().await;
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneStopped);
    let events = events.lock().unwrap().clone();
    assert!(events.contains(&CallEvent::ModelReconnecting { attempt: 1 }));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CallEvent::ModelReconnected { .. })),
        "{events:?}"
    );
    let told = second.sent.lock().unwrap().clone();
    let context = second
        .context
        .lock()
        .unwrap()
        .clone()
        .expect("the new session is told the conversation as it opens");
    assert!(context.contains("Caller: I love The Matrix"), "{context}");
    assert!(context.contains("The Matrix: ENT-MATRIX"), "{context}");
    assert!(context.contains("middle of answering"), "{context}");
    assert!(told.contains(&ModelCommand::AppendAudio(audio)), "{told:?}");
    assert!(
        !told
            .iter()
            .any(|command| matches!(command, ModelCommand::ToolOutput { .. })),
        "the old session's tool call is not answered to the new one"
    );
}

#[tokio::test]
async fn a_model_that_cannot_be_reopened_ends_the_call_after_its_attempts() {
    let (h, phone) = harness();
    let (model, sessions) = model_sessions(1);
    let (sink, events) = recording_sink();
    let mut services = services(model, MockToolExecutor::new(), sink);
    services.policy.reconnect_attempts = 2;
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(sessions);
    assert_eq!(call.await.unwrap(), EndReason::ModelClosed);
    assert!(h.phone_closed.load(Ordering::SeqCst));
    let events = events.lock().unwrap().clone();
    let attempts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            CallEvent::ModelReconnecting { attempt } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![1, 2]);
}

#[tokio::test]
async fn a_refusing_model_ends_the_call_at_once() {
    let (h, phone) = harness();
    let mut model = MockVoiceModel::new();
    model
        .expect_open()
        .times(1)
        .returning(|_, _, _| Err(ModelError::Rejected("HTTP 401".into())));
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::ModelRefused);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_sends_nothing_is_hung_up() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let mut services = services(model, MockToolExecutor::new(), quiet_sink());
    // A start limit longer than the silence limit: once started, silence
    // is what is watched.
    services.start_timeout = services.watchdogs.caller_silence * 3;
    let silence = services.watchdogs.caller_silence;
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    h.model_in
        .as_ref()
        .unwrap()
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    // Paused time: the runtime jumps ahead while every task waits.
    let started = tokio::time::Instant::now();
    assert_eq!(call.await.unwrap(), EndReason::CallerSilent);
    // One silence limit after the start, even with a longer start limit.
    assert!(
        started.elapsed() < silence + Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        *h.phone_closed_with.lock().unwrap(),
        Some(EndReason::CallerSilent)
    );
    drop(h);
}

#[tokio::test(start_paused = true)]
async fn a_caller_who_goes_quiet_is_hung_up_one_silence_after_the_last_frame() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let silence = services.watchdogs.caller_silence;
    let (_registry, call) = spawn_call(phone, services);
    start_and_ready(&h).await;
    // Audio for longer than the silence limit, then none.
    let frames = silence.as_millis() as u64 / 20 * 3;
    for n in 0..frames {
        tokio::time::sleep(Duration::from_millis(20)).await;
        h.phone_in.send(media_frame(n)).unwrap();
    }
    tokio::task::yield_now().await;
    let last = tokio::time::Instant::now();
    assert_eq!(call.await.unwrap(), EndReason::CallerSilent);
    let quiet = last.elapsed();
    assert!(
        quiet >= silence && quiet < silence + Duration::from_millis(100),
        "ended {quiet:?} after the last frame (limit {silence:?})"
    );
    drop(h);
}

#[tokio::test(start_paused = true)]
async fn a_call_ends_at_its_longest_duration() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let mut services = services(model, MockToolExecutor::new(), quiet_sink());
    services.watchdogs.max_call_duration = Duration::from_secs(5);
    let (_registry, call) = spawn_call(phone, services);
    start_and_ready(&h).await;
    let phone_in = h.phone_in.clone();
    // The caller keeps talking; the limit ends the call anyway.
    let talker = tokio::spawn(async move {
        for n in 0.. {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if phone_in.send(media_frame(n)).is_err() {
                break;
            }
        }
    });
    assert_eq!(call.await.unwrap(), EndReason::MaxDuration);
    talker.abort();
}

#[tokio::test(start_paused = true)]
async fn a_direct_call_sends_no_audio_and_is_not_hung_up_for_silence() {
    // The caller's audio goes straight to the model's side: no frame ever
    // reaches the call, and only the longest call bounds it.
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let mut services = services(model, MockToolExecutor::new(), quiet_sink());
    services.watchdogs.max_call_duration = services.watchdogs.caller_silence * 4;
    let longest = services.watchdogs.max_call_duration;
    let (_registry, call) = spawn_call(phone, services);
    let PhoneEvent::Start(info) = start() else {
        unreachable!()
    };
    let direct = PhoneEvent::Start(CallInfo {
        audio: AudioRoute::Direct,
        ..info
    });
    start_with_and_ready(&h, direct).await;
    let started = tokio::time::Instant::now();
    assert_eq!(call.await.unwrap(), EndReason::MaxDuration);
    assert!(started.elapsed() + Duration::from_millis(100) >= longest);
    drop(h);
}

#[tokio::test]
async fn a_call_admitted_during_shutdown_ends_at_once() {
    let (_h, phone) = harness();
    let registry = CallRegistry::new(1);
    let permit = registry.try_admit().unwrap();
    registry.shut_down();
    let services = services(
        MockVoiceModel::new(),
        MockToolExecutor::new(),
        MockEventSink::new(),
    );
    let reason = run_call(phone, &services, permit, registry.shutdown_signal()).await;
    assert_eq!(reason, EndReason::Shutdown);
}

/// A tool that never answers.
struct HangingTool;

#[async_trait]
impl ToolExecutor for HangingTool {
    fn specs(&self) -> Vec<crate::ports::ToolSpec> {
        Vec::new()
    }
    async fn execute(&self, _invocation: crate::tools::ToolInvocation) -> ToolOutcome {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_tool_past_its_deadline_answers_the_model_with_a_speakable_error() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let mut services = services(model, MockToolExecutor::new(), quiet_sink());
    services.tools = Arc::new(HangingTool);
    services.watchdogs.tool_deadline = Duration::from_secs(3);
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let model_in = h.model_in.clone().unwrap();
    model_in
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    model_in
        .send(frame(ModelEvent::FunctionCall {
            call_id: ToolCallId::parse("call_1").unwrap(),
            name: "get_recommendation".into(),
            arguments: "{}".into(),
        }))
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let sent = h.model_out.lock().unwrap().clone();
    assert!(
        sent.iter().any(|c| matches!(c, ModelCommand::ToolOutput { output, .. } if output.contains("took too long"))),
        "{sent:?}"
    );
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneStopped);
}

#[tokio::test(start_paused = true)]
async fn a_phone_leg_that_stops_taking_audio_ends_its_call() {
    let (mut h, mut phone) = harness();
    phone.backlogged = true;
    let model = model_opening_once(&mut h);
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let model_in = h.model_in.clone().unwrap();
    model_in
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    model_in
        .send(frame(ModelEvent::AudioDelta {
            item_id: crate::types::ItemId::parse("item_1").unwrap(),
            audio: AudioChunk::new(Bytes::from_static(b"//79"), 3),
        }))
        .unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneClosed);
    assert!(h.phone_closed.load(Ordering::SeqCst));
}

/// Runs `phone` as a call with one place in a fresh registry.
fn spawn_call<P: AudioInbound + 'static>(
    phone: P,
    services: CallServices,
) -> (CallRegistry, tokio::task::JoinHandle<EndReason>) {
    let registry = CallRegistry::new(1);
    let permit = registry.try_admit().unwrap();
    let signal = registry.shutdown_signal();
    let call = tokio::spawn(async move { run_call(phone, &services, permit, signal).await });
    (registry, call)
}

#[tokio::test]
async fn one_relayed_frame_in_sixteen_each_way_is_timed_for_observers() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let (sink, events) = recording_sink();
    let services = services(model, MockToolExecutor::new(), sink);
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let model_in = h.model_in.clone().unwrap();
    model_in
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let audio = AudioChunk::new(Bytes::from_static(b"//79"), 3);
    for n in 0..37 {
        h.phone_in
            .send(PhoneEvent::Media {
                timestamp_ms: n * 20,
                audio: audio.clone(),
            })
            .unwrap();
    }
    for _ in 0..19 {
        model_in
            .send(frame(ModelEvent::AudioDelta {
                item_id: crate::types::ItemId::parse("item_1").unwrap(),
                audio: audio.clone(),
            }))
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneStopped);
    let events = events.lock().unwrap().clone();
    let timed = |way: RelayDirection| {
        events
            .iter()
            .filter(|e| {
                matches!(e, CallEvent::Relayed { direction, latency: Some(_), .. } if *direction == way)
            })
            .count()
    };
    assert_eq!(timed(RelayDirection::Uplink), 2, "37 frames up");
    assert_eq!(timed(RelayDirection::Downlink), 1, "19 deltas down");
    // Every frame is counted, the remainder told before the end.
    let counted = |way: RelayDirection| -> u32 {
        events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Relayed {
                    direction, frames, ..
                } if *direction == way => Some(*frames),
                _ => None,
            })
            .sum()
    };
    assert_eq!(counted(RelayDirection::Uplink), 37);
    assert_eq!(counted(RelayDirection::Downlink), 19);
    assert!(matches!(events.last(), Some(CallEvent::Ended { .. })));
    let connects = events
        .iter()
        .filter(|e| matches!(e, CallEvent::ModelConnected { .. }))
        .count();
    assert_eq!(connects, 1, "the model's connect time");
}

#[tokio::test]
async fn a_model_session_that_stops_taking_events_is_replaced() {
    let (h, phone) = harness();
    let (model, sessions) = model_sessions(2);
    let (sink, events) = recording_sink();
    let services = services(model, MockToolExecutor::new(), sink);
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut sessions = sessions.into_iter();
    let first = sessions.next().unwrap();
    let second = sessions.next().unwrap();
    first
        .events
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Its queue fills: the caller's next audio cannot be handed to it.
    first.backlogged.store(true, Ordering::SeqCst);
    h.phone_in
        .send(PhoneEvent::Media {
            timestamp_ms: 20,
            audio: AudioChunk::new(Bytes::from_static(b"//79"), 3),
        })
        .unwrap();
    for _ in 0..500 {
        if !second.sent.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneStopped);
    let events = events.lock().unwrap().clone();
    assert!(
        events.contains(&CallEvent::ModelReconnecting { attempt: 1 }),
        "{events:?}"
    );
    assert!(
        second.context.lock().unwrap().is_some(),
        "the new session is told the call so far"
    );
}

/// Counts the heap allocations made on one thread while it asks: the
/// runner's own per-frame work is measured on a current-thread runtime,
/// whatever other tests do on theirs.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    fn note() {
        let _ = ON.try_with(|on| {
            if on.get() {
                COUNT.with(|count| count.set(count.get() + 1));
            }
        });
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note();
            // SAFETY: the caller's contract is the system allocator's.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `alloc` above, with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note();
            // SAFETY: as for `alloc` and `dealloc`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Starts counting this thread's allocations from zero.
    pub fn start() {
        COUNT.with(|count| count.set(0));
        ON.with(|on| on.set(true));
    }

    /// Stops counting and says how many there were.
    pub fn stop() -> u64 {
        ON.with(|on| on.set(false));
        COUNT.with(Cell::get)
    }
}

#[tokio::test]
async fn a_caller_frame_leaves_the_silent_model_unpolled() {
    // A wake polls only the sources that fired: the caller's frames, with
    // the model saying nothing, do not poll the model's socket (a select
    // over every source polls it once a frame).
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let (_registry, call) = spawn_call(phone, services);
    start_and_ready(&h).await;
    let appended = |h: &Harness| {
        h.model_out
            .lock()
            .unwrap()
            .iter()
            .filter(|command| matches!(command, ModelCommand::AppendAudio(_)))
            .count() as u64
    };
    const FRAMES: u64 = 500;
    let mut polls = 0;
    for n in 0..FRAMES {
        h.phone_in.send(media_frame(n)).unwrap();
        while appended(&h) < n + 1 {
            tokio::task::yield_now().await;
        }
        if n == 0 {
            polls = h.model_polls.load(Ordering::SeqCst);
        }
    }
    let polls = h.model_polls.load(Ordering::SeqCst) - polls;
    assert!(
        polls < 10,
        "the silent model was polled {polls} times for {FRAMES} caller frames"
    );
    // And it is still heard the moment it speaks.
    h.model_in
        .as_ref()
        .unwrap()
        .send(frame(ModelEvent::AudioDelta {
            item_id: crate::types::ItemId::parse("item_1").unwrap(),
            audio: AudioChunk::new(Bytes::from_static(b"//79"), 3),
        }))
        .unwrap();
    while !h
        .phone_out
        .lock()
        .unwrap()
        .iter()
        .any(|command| matches!(command, PhoneCommand::Media(_)))
    {
        tokio::task::yield_now().await;
    }
    drop(h);
    call.abort();
}

#[tokio::test]
async fn relaying_audio_both_ways_allocates_nothing_in_the_runner() {
    let (mut h, phone) = harness();
    let model = model_opening_once(&mut h);
    let services = services(model, MockToolExecutor::new(), quiet_sink());
    let (_registry, call) = spawn_call(phone, services);
    h.phone_in.send(start()).unwrap();
    let model_in = h.model_in.clone().unwrap();
    model_in
        .send(frame(ModelEvent::Ready { tools: 1 }))
        .unwrap();
    let audio = AudioChunk::new(Bytes::from_static(b"//79"), 3);
    let item = crate::types::ItemId::parse("item_1").unwrap();
    // What the fakes record is cleared after every round, so its growth
    // is not counted.
    h.phone_out.lock().unwrap().reserve(64);
    h.model_out.lock().unwrap().reserve(64);
    // One round is a caller frame, an audio delta back, and the delta's
    // mark echoed as Twilio does: what the full-duplex bench sends.
    let round = async |n: u64| {
        h.phone_in
            .send(PhoneEvent::Media {
                timestamp_ms: n * 20,
                audio: audio.clone(),
            })
            .unwrap();
        model_in
            .send(frame(ModelEvent::AudioDelta {
                item_id: item.clone(),
                audio: audio.clone(),
            }))
            .unwrap();
        let mark = loop {
            tokio::task::yield_now().await;
            let mut sent = h.phone_out.lock().unwrap();
            if let Some(PhoneCommand::Mark(mark)) = sent.last() {
                let mark = *mark;
                sent.clear();
                break mark;
            }
        };
        h.phone_in.send(PhoneEvent::Mark(mark)).unwrap();
        loop {
            tokio::task::yield_now().await;
            let mut sent = h.model_out.lock().unwrap();
            if sent
                .iter()
                .any(|command| matches!(command, ModelCommand::AppendAudio(_)))
            {
                sent.clear();
                break;
            }
        }
    };
    // Warm up: buffers reach their working size, the response starts.
    for n in 0..200 {
        round(n).await;
    }
    const ROUNDS: u64 = 2_000;
    counting::start();
    for n in 200..200 + ROUNDS {
        round(n).await;
    }
    let allocations = counting::stop();
    // Two frames relayed a round (one each way) and a mark. Measured: none
    // at all. The bound leaves room for the channels feeding the fakes (a
    // block every 32 messages); a future boxed per poll, as `async_trait`
    // does, is 1.5 a frame and fails it.
    let frames = 2 * ROUNDS;
    assert!(
        allocations * 10 <= frames,
        "{allocations} heap allocations for {frames} relayed frames"
    );
    h.phone_in.send(PhoneEvent::Stop).unwrap();
    assert_eq!(call.await.unwrap(), EndReason::PhoneStopped);
}
