//! Script tests: a list of inputs, and the commands each must produce.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::ports::{AudioEncoding, AudioRoute, EntityKind, MediaFormat, Rates};
use crate::ports::{Interruption, ModelTraits};
use crate::types::CallerId;

fn sid() -> LegId {
    LegId::parse("MZ00000000000000000000000000000001").unwrap()
}

fn item(id: &str) -> ItemId {
    ItemId::parse(id).unwrap()
}

fn resp(id: &str) -> ResponseId {
    ResponseId::parse(id).unwrap()
}

fn call(id: &str) -> ToolCallId {
    ToolCallId::parse(id).unwrap()
}

fn audio(bytes: u32) -> AudioChunk {
    AudioChunk::new(Bytes::from(vec![b'A'; 4]), bytes)
}

fn info() -> CallInfo {
    CallInfo {
        leg_id: sid(),
        call_sid: None,
        caller: Some(CallerId::parse("+1******4567").unwrap()),
        caller_number: None,
        called_number: None,
        audio: AudioRoute::Relayed(MediaFormat::mulaw_8k_mono()),
    }
}

fn media(ts: u64) -> Input {
    Input::Phone(PhoneEvent::Media {
        timestamp_ms: ts,
        audio: audio(160),
    })
}

fn delta(item_id: &str, bytes: u32) -> Input {
    Input::Model(ModelEvent::AudioDelta {
        item_id: item(item_id),
        audio: audio(bytes),
    })
}

fn speech_started() -> Input {
    Input::Model(ModelEvent::SpeechStarted)
}

fn function_call(id: &str, name: &str) -> Input {
    Input::Model(ModelEvent::FunctionCall {
        call_id: call(id),
        name: name.into(),
        arguments: "{}".into(),
    })
}

fn tool_done(id: &str, output: &str, learned: Vec<KnownEntity>) -> Input {
    Input::Tool(ToolDone {
        call_id: call(id),
        name: "search_entity".into(),
        arguments: "{}".into(),
        outcome: ToolOutcome {
            output: output.into(),
            is_error: output.contains("error"),
            learned: Known::of_entities(learned),
            picks: Vec::new(),
        },
        latency: Duration::from_millis(12),
        upstream_requests: 1,
    })
}

fn created(id: &str) -> Input {
    Input::Model(ModelEvent::ResponseCreated {
        response_id: resp(id),
    })
}

fn done(id: &str, status: ResponseStatus) -> Input {
    Input::Model(ModelEvent::ResponseDone {
        response_id: resp(id),
        status,
        usage: None,
    })
}

/// Runs a session through inputs, keeping the commands of the last step.
/// Timers it asks for are kept apart, in `scheduled` (most tests are about
/// what is said, not when the session wants to be woken).
struct Script {
    session: CallSession,
    scheduled: Vec<Timer>,
    /// What observers were told the call is doing, in order (kept out of
    /// the commands each step returns).
    activities: Vec<Activity>,
}

impl Script {
    fn new(policy: SessionPolicy) -> Self {
        Self {
            session: CallSession::new(policy, "test-model".into(), "test-api".into()),
            scheduled: Vec::new(),
            activities: Vec::new(),
        }
    }

    /// A call that has started and whose model is open; without a
    /// greeting, its session is also confirmed.
    fn live(policy: SessionPolicy) -> Self {
        let mut script = Self::new(policy);
        script.step(Input::Phone(PhoneEvent::Connected));
        script.step(Input::Phone(PhoneEvent::Start(info())));
        script.step(Input::ModelOpened);
        if !policy.greet {
            script.step(Input::Model(ModelEvent::Ready {
                tools: policy.tools_offered,
            }));
        }
        script
    }

    fn step(&mut self, input: Input) -> Vec<Command> {
        self.steps([input])
    }

    fn steps(&mut self, inputs: impl IntoIterator<Item = Input>) -> Vec<Command> {
        let mut out = Vec::new();
        for input in inputs {
            self.session.on(input, &mut out);
        }
        out.retain(|command| match command {
            Command::Schedule { timer, .. } => {
                self.scheduled.push(*timer);
                false
            }
            Command::Emit(CallEvent::Activity { activity }) => {
                self.activities.push(*activity);
                false
            }
            _ => true,
        });
        out
    }
}

fn no_greeting() -> SessionPolicy {
    SessionPolicy {
        greet: false,
        ..SessionPolicy::default()
    }
}

/// The context a new model session is opened with.
fn context_of(commands: &[Command]) -> Arc<str> {
    commands
        .iter()
        .find_map(|c| match c {
            Command::OpenModel {
                context: Some(context),
                ..
            } => Some(context.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no context: {commands:?}"))
}

fn model_cmds(commands: &[Command]) -> Vec<ModelCommand> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Model(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn start_opens_the_model_and_tells_observers() {
    let mut s = Script::new(SessionPolicy::default());
    assert_eq!(s.step(Input::Phone(PhoneEvent::Connected)), vec![]);
    let out = s.step(Input::Phone(PhoneEvent::Start(info())));
    assert_eq!(
        out,
        vec![
            Command::Emit(CallEvent::Started {
                call_sid: None,
                caller: info().caller,
                model: "test-model".into(),
                api: "test-api".into(),
            }),
            Command::OpenModel {
                info: info(),
                after: Duration::ZERO,
                context: None,
            },
        ]
    );
    assert!(s.session.started());
    assert_eq!(s.session.leg_id(), Some(&sid()));
    // A second start is ignored.
    assert_eq!(s.step(Input::Phone(PhoneEvent::Start(info()))), vec![]);
}

#[test]
fn audio_before_the_model_is_open_is_buffered_then_flushed_in_order() {
    let policy = SessionPolicy {
        max_buffered_frames: 2,
        ..SessionPolicy::default()
    };
    let mut s = Script::new(policy);
    assert_eq!(s.step(media(0)), vec![], "before start: dropped");
    s.step(Input::Phone(PhoneEvent::Start(info())));
    let first = AudioChunk::new(Bytes::from_static(b"one"), 160);
    let second = AudioChunk::new(Bytes::from_static(b"two"), 160);
    let third = AudioChunk::new(Bytes::from_static(b"three"), 160);
    for (ts, chunk) in [(20, &first), (40, &second), (60, &third)] {
        let out = s.step(Input::Phone(PhoneEvent::Media {
            timestamp_ms: ts,
            audio: chunk.clone(),
        }));
        assert_eq!(out, vec![]);
    }
    let out = s.step(Input::ModelOpened);
    assert_eq!(
        out,
        vec![
            Command::Model(ModelCommand::AppendAudio(second)),
            Command::Model(ModelCommand::AppendAudio(third)),
        ]
    );
    assert_eq!(s.session.dropped_frames(), 2);
    let out = s.step(media(80));
    assert_eq!(
        out,
        vec![Command::Model(ModelCommand::AppendAudio(audio(160)))]
    );
}

#[test]
fn greeting_is_asked_for_exactly_once_after_tools_are_confirmed() {
    let mut s = Script::live(SessionPolicy::default());
    assert_eq!(s.step(Input::Model(ModelEvent::Other)), vec![]);
    assert_eq!(
        s.step(Input::Model(ModelEvent::Ready { tools: 0 })),
        vec![],
        "no greeting until the session holds its tools"
    );
    assert_eq!(
        s.step(Input::Model(ModelEvent::Ready { tools: 4 })),
        vec![Command::Model(ModelCommand::CreateResponse)]
    );
    assert_eq!(s.step(Input::Model(ModelEvent::Ready { tools: 4 })), vec![]);
    s.steps([created("resp_g"), done("resp_g", ResponseStatus::Completed)]);
    assert_eq!(s.step(Input::Model(ModelEvent::Ready { tools: 4 })), vec![]);
}

#[test]
fn without_tools_the_first_session_update_is_enough_to_greet() {
    let policy = SessionPolicy {
        tools_offered: 0,
        ..SessionPolicy::default()
    };
    let mut s = Script::live(policy);
    assert_eq!(
        s.step(Input::Model(ModelEvent::Ready { tools: 0 })),
        vec![Command::Model(ModelCommand::CreateResponse)]
    );
}

#[test]
fn greeting_can_be_turned_off() {
    let mut s = Script::live(no_greeting());
    assert_eq!(s.step(Input::Model(ModelEvent::Ready { tools: 4 })), vec![]);
}

#[test]
fn each_audio_delta_is_played_then_marked() {
    let mut s = Script::live(no_greeting());
    let out = s.steps([delta("item_a", 800), delta("item_a", 400)]);
    assert_eq!(
        out,
        vec![
            Command::Phone(PhoneCommand::Media(audio(800))),
            Command::Phone(PhoneCommand::Mark(MarkName::new(0))),
            Command::Phone(PhoneCommand::Media(audio(400))),
            Command::Phone(PhoneCommand::Mark(MarkName::new(1))),
        ]
    );
    assert!(s.session.assistant_audible());
    s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(1))));
    assert!(
        !s.session.assistant_audible(),
        "an echo covers earlier marks"
    );
}

#[test]
fn barge_in_while_playing_clears_and_truncates_at_elapsed_time() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(1000),
        created("resp_1"),
        delta("item_a", 8000),
        delta("item_a", 8000),
    ]);
    let out = s.steps([media(1300), speech_started()]);
    assert_eq!(
        out,
        vec![
            Command::Model(ModelCommand::AppendAudio(audio(160))),
            Command::Phone(PhoneCommand::Clear),
            Command::Model(ModelCommand::Truncate {
                item_id: item("item_a"),
                audio_end_ms: 300,
            }),
            Command::Emit(CallEvent::BargeIn {
                item_id: item("item_a"),
                audio_end: AudioMs::new(300),
                unheard: 0,
            }),
        ]
    );
    assert!(!s.session.assistant_audible());
}

#[test]
fn barge_in_truncation_never_passes_the_audio_sent() {
    let mut s = Script::live(no_greeting());
    s.steps([media(0), delta("item_a", 800)]); // 100 ms of audio
    let out = s.steps([media(5000), speech_started()]);
    assert!(out.contains(&Command::Model(ModelCommand::Truncate {
        item_id: item("item_a"),
        audio_end_ms: 100,
    })));
}

#[test]
fn barge_in_uses_mark_echoes_when_it_has_them() {
    let mut s = Script::live(no_greeting());
    // Playback starts at 0 but Twilio only begins playing later: the mark
    // echo is the better witness of what was heard.
    s.steps([
        media(0),
        delta("item_a", 1600),
        delta("item_a", 1600),
        delta("item_a", 1600),
    ]);
    s.steps([media(900), Input::Phone(PhoneEvent::Mark(MarkName::new(0)))]);
    let out = s.steps([media(950), speech_started()]);
    assert!(out.contains(&Command::Model(ModelCommand::Truncate {
        item_id: item("item_a"),
        audio_end_ms: 250, // 200 ms heard at the echo, plus 50 ms since
    })));
}

#[test]
fn barge_in_after_playback_finished_does_nothing() {
    let mut s = Script::live(no_greeting());
    s.steps([delta("item_a", 800), delta("item_a", 800)]);
    s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(1))));
    assert_eq!(s.step(speech_started()), vec![]);
}

#[test]
fn barge_in_with_no_assistant_audio_does_nothing() {
    let mut s = Script::live(no_greeting());
    s.step(created("resp_1"));
    assert_eq!(s.step(speech_started()), vec![]);
}

#[test]
fn barge_in_cancels_only_when_the_server_does_not_and_only_once() {
    let policy = SessionPolicy {
        traits: ModelTraits {
            interruption: Interruption::BridgeTruncates { cancels: true },
            ..ModelTraits::default()
        },
        greet: false,
        ..SessionPolicy::default()
    };
    let mut s = Script::live(policy);
    s.steps([created("resp_1"), delta("item_a", 800)]);
    let out = s.step(speech_started());
    assert_eq!(
        model_cmds(&out),
        vec![
            ModelCommand::Truncate {
                item_id: item("item_a"),
                audio_end_ms: 0
            },
            ModelCommand::CancelResponse,
        ]
    );
    // More audio of another item in the same (cancelled) response.
    s.step(delta("item_b", 800));
    let out = s.step(speech_started());
    assert!(!model_cmds(&out).contains(&ModelCommand::CancelResponse));
}

#[test]
fn barge_in_without_active_response_does_not_cancel() {
    let policy = SessionPolicy {
        traits: ModelTraits {
            interruption: Interruption::BridgeTruncates { cancels: true },
            ..ModelTraits::default()
        },
        greet: false,
        ..SessionPolicy::default()
    };
    let mut s = Script::live(policy);
    s.steps([
        created("resp_1"),
        delta("item_a", 800),
        done("resp_1", ResponseStatus::Completed),
    ]);
    let out = s.step(speech_started());
    assert_eq!(
        model_cmds(&out),
        vec![ModelCommand::Truncate {
            item_id: item("item_a"),
            audio_end_ms: 0
        }]
    );
}

#[test]
fn nothing_of_the_interrupted_answer_plays_after_the_clear() {
    let mut s = Script::live(no_greeting());
    s.steps([created("resp_1"), delta("item_a", 800), speech_started()]);
    assert_eq!(s.step(delta("item_a", 800)), vec![]);
    // Another item of the same answer, begun after the clear: not played,
    // and removed once the answer is over.
    assert_eq!(s.step(delta("item_b", 800)), vec![]);
    assert_eq!(
        model_cmds(&s.step(done("resp_1", ResponseStatus::Cancelled))),
        vec![ModelCommand::DeleteItem {
            item_id: item("item_b")
        }]
    );
    // The next answer plays.
    s.step(created("resp_2"));
    let out = s.step(delta("item_c", 800));
    assert_eq!(out.len(), 2, "{out:?}");
}

/// A response of two audio items, sent faster than real time (the model
/// runs ahead of playback): the caller speaks 600 ms into the first.
#[test]
fn a_barge_in_during_the_first_of_two_items_truncates_it_and_deletes_the_second() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(1000),
        created("resp_1"),
        delta("item_a", 8000),
        delta("item_a", 8000), // A: 2 s
        delta("item_b", 8000),
        delta("item_b", 4000), // B: 1.5 s
    ]);
    let out = s.steps([media(1600), speech_started()]);
    assert_eq!(
        out,
        vec![
            Command::Model(ModelCommand::AppendAudio(audio(160))),
            Command::Phone(PhoneCommand::Clear),
            Command::Model(ModelCommand::Truncate {
                item_id: item("item_a"),
                audio_end_ms: 600,
            }),
            Command::Emit(CallEvent::BargeIn {
                item_id: item("item_a"),
                audio_end: AudioMs::new(600),
                unheard: 1,
            }),
        ],
        "B is not deleted while its response may still write to it"
    );
    assert_eq!(
        s.steps([delta("item_b", 800), delta("item_a", 800)]),
        vec![],
        "nothing of the answer after the clear"
    );
    assert_eq!(
        model_cmds(&s.step(done("resp_1", ResponseStatus::Cancelled))),
        vec![ModelCommand::DeleteItem {
            item_id: item("item_b")
        }]
    );
    assert!(!s.session.assistant_audible());
}

#[test]
fn a_barge_in_during_the_first_of_three_items_deletes_both_unheard_ones() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(0),
        created("resp_1"),
        delta("item_a", 4000),
        delta("item_b", 4000),
        delta("item_c", 4000),
        done("resp_1", ResponseStatus::Completed),
    ]);
    // The answer was all generated: the unheard items go at once.
    let out = s.steps([media(260), speech_started()]);
    assert_eq!(
        model_cmds(&out),
        vec![
            ModelCommand::AppendAudio(audio(160)),
            ModelCommand::Truncate {
                item_id: item("item_a"),
                audio_end_ms: 260,
            },
            ModelCommand::DeleteItem {
                item_id: item("item_b")
            },
            ModelCommand::DeleteItem {
                item_id: item("item_c")
            },
        ]
    );
    assert!(out.contains(&Command::Emit(CallEvent::BargeIn {
        item_id: item("item_a"),
        audio_end: AudioMs::new(260),
        unheard: 2,
    })));
}

/// Every item's mark echoes count, also those of an item that arrive after
/// the next item's audio was sent: the second item starts playing when the
/// first one's last mark is echoed.
#[test]
fn a_barge_in_during_the_second_item_truncates_it_where_the_caller_is() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(0),
        created("resp_1"),
        delta("item_a", 1600), // mark 0: A at 200 ms
        delta("item_a", 1600), // mark 1: A at 400 ms, its end
        delta("item_b", 1600), // mark 2
        delta("item_b", 1600), // mark 3
        delta("item_b", 1600), // mark 4: B at 600 ms
        delta("item_c", 800),  // mark 5
    ]);
    // Twilio began playing late: A's marks are echoed at 300 and 500.
    s.steps([media(300), Input::Phone(PhoneEvent::Mark(MarkName::new(0)))]);
    s.steps([media(500), Input::Phone(PhoneEvent::Mark(MarkName::new(1)))]);
    let out = s.steps([media(650), speech_started()]);
    assert_eq!(
        model_cmds(&out)[1..],
        [ModelCommand::Truncate {
            item_id: item("item_b"),
            audio_end_ms: 150,
        }],
        "A was heard whole and is left as it is"
    );
    assert_eq!(
        model_cmds(&s.step(done("resp_1", ResponseStatus::Cancelled))),
        vec![ModelCommand::DeleteItem {
            item_id: item("item_c")
        }]
    );
}

/// The heard position is extrapolated on the media clock from the last
/// echo, but never past the first mark not yet echoed.
#[test]
fn the_heard_position_never_passes_the_first_unechoed_mark() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(0),
        created("resp_1"),
        delta("item_a", 800),  // mark 0: 100 ms
        delta("item_a", 800),  // mark 1: 200 ms
        delta("item_b", 8000), // mark 2
    ]);
    s.steps([media(100), Input::Phone(PhoneEvent::Mark(MarkName::new(0)))]);
    // Playback stalled at the caller: mark 1 never came back.
    let out = s.steps([media(900), speech_started()]);
    assert_eq!(
        model_cmds(&out)[1],
        ModelCommand::Truncate {
            item_id: item("item_a"),
            audio_end_ms: 200,
        }
    );
}

#[test]
fn items_left_to_delete_are_forgotten_when_the_model_session_is_replaced() {
    let mut s = Script::live(no_greeting());
    s.steps([
        media(0),
        created("resp_1"),
        delta("item_a", 800),
        delta("item_b", 800),
        speech_started(),
    ]);
    s.step(Input::ModelClosed);
    let mut all = s.step(Input::ModelOpened);
    all.extend(s.step(Input::Model(ModelEvent::Ready { tools: 1 })));
    all.extend(s.step(done("resp_1", ResponseStatus::Cancelled)));
    assert!(
        !model_cmds(&all)
            .iter()
            .any(|c| matches!(c, ModelCommand::DeleteItem { .. })),
        "the new session never had them: {all:?}"
    );
    // And its answers play.
    s.step(created("resp_2"));
    assert_eq!(s.step(delta("item_c", 800)).len(), 2);
}

#[test]
fn echoes_of_cleared_marks_are_ignored() {
    let mut s = Script::live(no_greeting());
    s.steps([delta("item_a", 800), speech_started()]);
    assert_eq!(
        s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(0)))),
        vec![]
    );
    assert_eq!(s.step(Input::Phone(PhoneEvent::ForeignMark)), vec![]);
    s.steps([created("resp_2"), delta("item_b", 800)]);
    assert!(s.session.assistant_audible());
}

#[test]
fn a_tool_call_runs_and_its_result_is_answered_then_spoken() {
    let mut s = Script::live(no_greeting());
    s.step(created("resp_1"));
    let out = s.step(function_call("call_1", "search_entity"));
    let [Command::RunTool(invocation)] = out.as_slice() else {
        panic!("expected one tool run, got {out:?}");
    };
    assert_eq!(invocation.call_id, call("call_1"));
    assert_eq!(&*invocation.name, "search_entity");
    // Announced again by output_item.done: not run twice.
    assert_eq!(s.step(function_call("call_1", "search_entity")), vec![]);
    assert_eq!(s.step(done("resp_1", ResponseStatus::Completed)), vec![]);
    let out = s.step(tool_done("call_1", r#"{"name":"The Matrix"}"#, vec![]));
    assert_eq!(
        model_cmds(&out),
        vec![
            ModelCommand::ToolOutput {
                call_id: call("call_1"),
                output: r#"{"name":"The Matrix"}"#.into(),
            },
            ModelCommand::CreateResponse,
        ]
    );
    assert!(out.iter().any(|c| matches!(
        c,
        Command::Emit(CallEvent::ToolCalled {
            is_error: false,
            ..
        })
    )));
}

#[test]
fn response_create_waits_for_the_active_response_to_end() {
    let mut s = Script::live(no_greeting());
    s.steps([created("resp_1"), function_call("call_1", "search_entity")]);
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert_eq!(
        model_cmds(&out),
        vec![ModelCommand::ToolOutput {
            call_id: call("call_1"),
            output: "{}".into()
        }],
        "no response.create while resp_1 is active"
    );
    let out = s.step(done("resp_1", ResponseStatus::Completed));
    assert_eq!(model_cmds(&out), vec![ModelCommand::CreateResponse]);
    // Until the model confirms it, no second create.
    s.step(function_call("call_2", "search_entity"));
    let out = s.step(tool_done("call_2", "{}", vec![]));
    assert!(!model_cmds(&out).contains(&ModelCommand::CreateResponse));
    s.step(created("resp_2"));
    let out = s.step(done("resp_2", ResponseStatus::Completed));
    assert_eq!(model_cmds(&out), vec![ModelCommand::CreateResponse]);
}

#[test]
fn a_response_created_meanwhile_satisfies_the_pending_create() {
    let mut s = Script::live(no_greeting());
    s.steps([created("resp_1"), function_call("call_1", "search_entity")]);
    s.step(tool_done("call_1", "{}", vec![]));
    s.step(done("resp_1", ResponseStatus::Completed));
    // Our create was sent; the server's own VAD response comes first.
    s.step(created("resp_vad"));
    let out = s.step(done("resp_vad", ResponseStatus::Completed));
    assert_eq!(model_cmds(&out), vec![], "nothing is owed any more");
}

#[test]
fn several_tool_calls_are_all_answered_before_one_response_create() {
    let mut s = Script::live(no_greeting());
    s.step(created("resp_1"));
    let out = s.steps([
        function_call("call_1", "search_entity"),
        function_call("call_2", "search_entity"),
        done("resp_1", ResponseStatus::Completed),
    ]);
    assert_eq!(
        out.iter()
            .filter(|c| matches!(c, Command::RunTool(_)))
            .count(),
        2
    );
    let out = s.step(tool_done("call_2", "{}", vec![]));
    assert!(!model_cmds(&out).contains(&ModelCommand::CreateResponse));
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert_eq!(
        model_cmds(&out),
        vec![
            ModelCommand::ToolOutput {
                call_id: call("call_1"),
                output: "{}".into()
            },
            ModelCommand::CreateResponse
        ]
    );
    // A stray result for an unknown call changes nothing.
    assert_eq!(s.step(tool_done("call_9", "{}", vec![])), vec![]);
}

#[test]
fn error_results_are_answered_like_any_other() {
    let mut s = Script::live(no_greeting());
    s.step(function_call("call_1", "nope"));
    let out = s.step(tool_done("call_1", r#"{"error":"Unknown tool"}"#, vec![]));
    assert!(out.iter().any(|c| matches!(
        c,
        Command::Emit(CallEvent::ToolCalled { is_error: true, .. })
    )));
    assert!(model_cmds(&out).contains(&ModelCommand::CreateResponse));
}

#[test]
fn entities_found_are_offered_to_later_tool_runs() {
    let mut s = Script::live(no_greeting());
    s.step(function_call("call_1", "search_entity"));
    let matrix = KnownEntity::new(
        crate::types::EntityId::parse("F00D").unwrap(),
        "The Matrix",
        Some(EntityKind::Movie),
    );
    s.step(tool_done("call_1", "{}", vec![matrix.clone()]));
    assert_eq!(s.session.known_entities(), std::slice::from_ref(&matrix));
    let out = s.step(function_call("call_2", "get_recommendation"));
    let [Command::RunTool(invocation)] = out.as_slice() else {
        panic!("expected a tool run");
    };
    assert_eq!(invocation.known.entities, std::slice::from_ref(&matrix));
}

#[test]
fn barge_in_mid_tool_call_waits_for_the_caller_to_finish() {
    let mut s = Script::live(no_greeting());
    s.steps([created("resp_1"), function_call("call_1", "search_entity")]);
    s.steps([speech_started(), done("resp_1", ResponseStatus::Cancelled)]);
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert_eq!(
        model_cmds(&out),
        vec![ModelCommand::ToolOutput {
            call_id: call("call_1"),
            output: "{}".into()
        }],
        "the output is added, but no response while the caller talks"
    );
    s.step(Input::Model(ModelEvent::SpeechStopped));
    // The server's VAD answers the caller's turn; that response sees the output.
    s.step(created("resp_2"));
    assert_eq!(
        model_cmds(&s.step(done("resp_2", ResponseStatus::Completed))),
        vec![]
    );
}

#[test]
fn active_response_error_releases_a_requested_response() {
    let mut s = Script::live(SessionPolicy::default());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    let out = s.step(Input::Model(ModelEvent::Error {
        kind: ModelErrorKind::ResponseAlreadyActive,
        code: Some("busy_code".into()),
        message: "busy".into(),
    }));
    assert!(matches!(
        out.as_slice(),
        [Command::Emit(CallEvent::Error { .. })]
    ));
    s.step(function_call("call_1", "x"));
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert!(model_cmds(&out).contains(&ModelCommand::CreateResponse));
}

#[test]
fn model_errors_are_reported_with_their_code() {
    let mut s = Script::live(no_greeting());
    let out = s.step(Input::Model(ModelEvent::Error {
        kind: ModelErrorKind::Other,
        code: None,
        message: "oops".into(),
    }));
    assert_eq!(
        out,
        vec![Command::Emit(CallEvent::Error {
            message: "model error: oops".into()
        })]
    );
}

#[test]
fn dtmf_is_reported() {
    let mut s = Script::live(no_greeting());
    assert_eq!(
        s.step(Input::Phone(PhoneEvent::Dtmf('5'))),
        vec![Command::Emit(CallEvent::Dtmf { digit: '5' })]
    );
}

fn ends_with(mut s: Script, input: Input, reason: EndReason) {
    let out = s.step(input);
    assert_eq!(
        out,
        vec![
            Command::Emit(CallEvent::Ended { reason }),
            Command::End(reason)
        ]
    );
    assert!(s.session.ended());
    assert_eq!(
        s.step(media(10)),
        vec![],
        "an ended call ignores everything"
    );
    assert_eq!(s.step(Input::Shutdown), vec![]);
}

#[test]
fn every_end_reason_ends_the_call_once() {
    ends_with(
        Script::live(no_greeting()),
        Input::Phone(PhoneEvent::Stop),
        EndReason::PhoneStopped,
    );
    ends_with(
        Script::live(no_greeting()),
        Input::PhoneClosed,
        EndReason::PhoneClosed,
    );
    ends_with(
        Script::live(no_greeting()),
        Input::CallerSilent,
        EndReason::CallerSilent,
    );
    ends_with(
        Script::live(no_greeting()),
        Input::MaxDuration,
        EndReason::MaxDuration,
    );
    ends_with(
        Script::live(no_greeting()),
        Input::Shutdown,
        EndReason::Shutdown,
    );
    // A first connection that fails for a passing reason is tried again
    // (with no context: there is nothing to tell yet), until the attempts
    // run out.
    let mut connecting = Script::new(SessionPolicy {
        reconnect_attempts: 1,
        ..no_greeting()
    });
    connecting.step(Input::Phone(PhoneEvent::Start(info())));
    let out = connecting.step(Input::ModelFailed { fatal: false });
    assert!(
        out.iter()
            .any(|c| matches!(c, Command::OpenModel { context: None, .. })),
        "{out:?}"
    );
    ends_with(
        connecting,
        Input::ModelFailed { fatal: false },
        EndReason::ModelUnavailable,
    );
}

#[test]
fn a_call_that_never_starts_ends_without_observers() {
    let mut s = Script::new(no_greeting());
    assert_eq!(
        s.step(Input::StartTimeout),
        vec![Command::End(EndReason::NeverStarted)]
    );
    let mut s = Script::new(no_greeting());
    assert_eq!(
        s.step(Input::PhoneClosed),
        vec![Command::End(EndReason::NeverStarted)]
    );
    // After start, the start timer means nothing.
    let mut s = Script::live(no_greeting());
    assert_eq!(s.step(Input::StartTimeout), vec![]);
}

#[test]
fn pending_tool_results_are_dropped_when_the_call_ends() {
    let mut s = Script::live(no_greeting());
    s.steps([
        function_call("call_1", "search_entity"),
        Input::Phone(PhoneEvent::Stop),
    ]);
    assert_eq!(s.step(tool_done("call_1", "{}", vec![])), vec![]);
}

#[test]
fn unsupported_media_format_ends_the_call_with_an_explanation() {
    let mut s = Script::new(no_greeting());
    let mut wrong = info();
    wrong.audio = AudioRoute::Relayed(MediaFormat {
        encoding: AudioEncoding::Other("audio/l16".into()),
        sample_rate: 16000,
        channels: 1,
    });
    let out = s.step(Input::Phone(PhoneEvent::Start(wrong)));
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(
        matches!(&out[1], Command::Emit(CallEvent::Error { message }) if message.contains("audio/l16 at 16000 Hz"))
    );
    assert_eq!(out[3], Command::End(EndReason::UnsupportedMediaFormat));
    let _ = Arc::new(());
}

fn model_error(kind: ModelErrorKind, code: &str) -> Input {
    Input::Model(ModelEvent::Error {
        kind,
        code: Some(code.into()),
        message: "m".into(),
    })
}

#[test]
fn a_greeting_refused_by_a_passing_error_is_asked_for_again() {
    let mut s = Script::live(SessionPolicy::default());
    let out = s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    assert_eq!(model_cmds(&out), vec![ModelCommand::CreateResponse]);
    s.step(model_error(
        ModelErrorKind::Transient,
        "rate_limit_exceeded",
    ));
    assert_eq!(s.scheduled.last(), Some(&Timer::RetryResponse(1)));
    let out = s.step(Input::Timer(Timer::RetryResponse(1)));
    assert_eq!(model_cmds(&out), vec![ModelCommand::CreateResponse]);
}

#[test]
fn a_response_that_never_starts_is_asked_for_again_then_given_up() {
    let mut s = Script::live(SessionPolicy::default());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    for _ in 0..RESPONSE_RETRIES {
        s.step(Input::Timer(Timer::ResponseStart(1)));
        let out = s.step(Input::Timer(Timer::RetryResponse(1)));
        assert_eq!(model_cmds(&out), vec![ModelCommand::CreateResponse]);
    }
    let out = s.step(Input::Timer(Timer::ResponseStart(1)));
    assert!(
        matches!(out.as_slice(), [Command::Emit(CallEvent::Error { .. })]),
        "given up, said once: {out:?}"
    );
    // Nothing is pending any more: the caller's next turn is answered.
    s.steps([created("resp_9"), done("resp_9", ResponseStatus::Completed)]);
    assert!(!s.session.ended());
}

#[test]
fn a_timer_for_a_replaced_session_is_ignored() {
    let mut s = Script::live(SessionPolicy::default());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    assert_eq!(s.step(Input::Timer(Timer::ResponseStart(7))), vec![]);
    assert_eq!(s.step(Input::Timer(Timer::SessionReady(1))), vec![]);
}

#[test]
fn a_rejected_session_configuration_ends_the_call() {
    let mut s = Script::live(SessionPolicy::default());
    let out = s.step(model_error(ModelErrorKind::Other, "invalid_value"));
    assert_eq!(out.last(), Some(&Command::End(EndReason::ModelRefused)));
}

#[test]
fn a_fatal_model_error_ends_the_call_at_once() {
    let mut s = Script::live(no_greeting());
    let out = s.step(model_error(ModelErrorKind::Fatal, "insufficient_quota"));
    assert_eq!(out.last(), Some(&Command::End(EndReason::ModelRefused)));
    // An unknown error once the session is configured is only reported.
    let mut s = Script::live(no_greeting());
    let out = s.step(model_error(ModelErrorKind::Other, "whatever"));
    assert!(matches!(
        out.as_slice(),
        [Command::Emit(CallEvent::Error { .. })]
    ));
}

#[test]
fn a_session_that_never_confirms_is_replaced() {
    let mut s = Script::live(SessionPolicy::default());
    let out = s.step(Input::Timer(Timer::SessionReady(1)));
    assert_eq!(out[0], Command::CloseModel);
    assert!(out.contains(&Command::Emit(CallEvent::ModelReconnecting { attempt: 1 })));
    assert!(out.iter().any(|c| matches!(
        c,
        Command::OpenModel { info: i, after, context: Some(_) } if *i == info() && *after == Duration::ZERO
    )));
}

/// A model that takes the call and says nothing (issue 28, finding 10):
/// replaced once; when the second says nothing either, the call ends
/// then, not after every reconnect. A session that once worked keeps all
/// its reconnects.
#[test]
fn a_call_whose_model_never_confirms_ends_after_one_replacement() {
    let mut s = Script::live(SessionPolicy::default());
    let out = s.step(Input::Timer(Timer::SessionReady(1)));
    assert!(out.iter().any(|c| matches!(c, Command::OpenModel { .. })));
    s.step(Input::ModelOpened);
    let out = s.step(Input::Timer(Timer::SessionReady(2)));
    assert_eq!(out.first(), Some(&Command::CloseModel));
    assert_eq!(out.last(), Some(&Command::End(EndReason::ModelUnavailable)));
    assert!(!out.iter().any(|c| matches!(c, Command::OpenModel { .. })));

    // Once a session has worked, a silent replacement is retried as usual.
    let mut s = Script::live(no_greeting());
    s.step(Input::ModelClosed);
    s.step(Input::ModelOpened);
    let out = s.step(Input::Timer(Timer::SessionReady(2)));
    assert!(
        out.iter().any(|c| matches!(c, Command::OpenModel { .. })),
        "{out:?}"
    );
}

#[test]
fn reconnect_attempts_back_off_then_give_up() {
    let policy = SessionPolicy {
        reconnect_attempts: 3,
        ..no_greeting()
    };
    let mut s = Script::live(policy);
    let mut delays = Vec::new();
    let mut out = s.step(Input::ModelClosed);
    while let Some(Command::OpenModel { after, .. }) =
        out.iter().find(|c| matches!(c, Command::OpenModel { .. }))
    {
        delays.push(*after);
        out = s.step(Input::ModelFailed { fatal: false });
    }
    assert_eq!(
        delays,
        vec![
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_millis(500)
        ]
    );
    assert_eq!(out.last(), Some(&Command::End(EndReason::ModelClosed)));
}

#[test]
fn caller_audio_during_a_reconnect_is_bounded_and_flushed_after_the_context() {
    let policy = SessionPolicy {
        max_buffered_frames: 2,
        ..no_greeting()
    };
    let mut s = Script::live(policy);
    s.step(Input::Model(ModelEvent::CallerTranscript {
        text: "I love Khruangbin".into(),
    }));
    s.step(media(100));
    let context = context_of(&s.step(Input::ModelClosed));
    assert!(context.contains("Caller: I love Khruangbin"), "{context}");
    for ts in [120, 140, 160] {
        assert_eq!(s.step(media(ts)), vec![]);
    }
    let out = s.step(Input::ModelOpened);
    let model = model_cmds(&out);
    assert_eq!(model.len(), 2, "the two newest frames: {model:?}");
    assert!(out.contains(&Command::Emit(CallEvent::ModelReconnected {
        gap: AudioMs::new(60)
    })));
    assert_eq!(s.session.dropped_frames(), 1);
}

#[test]
fn an_old_session_is_rolled_over_only_at_a_quiet_moment() {
    let mut s = Script::live(no_greeting());
    s.steps([delta("item_a", 800)]);
    // Assistant audio is still playing: not now.
    assert_eq!(s.step(Input::Timer(Timer::Rollover(1))), vec![]);
    let out = s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(0))));
    assert_eq!(out[0], Command::CloseModel, "{out:?}");
    assert!(out.iter().any(|c| matches!(c, Command::OpenModel { .. })));
}

#[test]
fn turns_kept_for_the_context_are_bounded() {
    let mut s = Script::live(no_greeting());
    for n in 0..40 {
        s.step(Input::Model(ModelEvent::AssistantTranscript {
            text: format!("answer {n} {}", "x".repeat(1000)).into(),
        }));
    }
    let text = context_of(&s.step(Input::ModelClosed));
    assert!(!text.contains("answer 27 "), "old turns dropped");
    assert!(text.contains("answer 39 "));
    assert!(text.len() < CONTEXT_TURNS * (CONTEXT_TURN_CHARS + 10) + 1000);
}

/// The context a new model session is told fits the policy's budget:
/// the entities' ids first, then as many of the newest turns as fit.
#[test]
fn the_reconnect_context_fits_the_models_context_budget() {
    let mut s = Script::live(SessionPolicy {
        context_chars: 1_200,
        ..no_greeting()
    });
    s.steps([function_call("call_1", "search_entity")]);
    let matrix = KnownEntity::new(
        crate::types::EntityId::parse("E-MATRIX").unwrap(),
        "The Matrix",
        Some(EntityKind::Movie),
    );
    s.step(tool_done(
        "call_1",
        r#"{"name":"The Matrix"}"#,
        vec![matrix],
    ));
    for n in 0..10 {
        s.step(Input::Model(ModelEvent::CallerTranscript {
            text: format!("turn {n} {}", "y".repeat(200)).into(),
        }));
    }
    let text = context_of(&s.step(Input::ModelClosed));
    assert!(text.len() <= 1_200, "{} chars", text.len());
    assert!(text.contains("- The Matrix: E-MATRIX"), "{text}");
    assert!(text.contains("turn 9 "), "the newest turn is kept: {text}");
    assert!(!text.contains("turn 0 "), "the oldest are cut: {text}");
    let kept: Vec<usize> = (0..10)
        .filter(|n| text.contains(&format!("turn {n} ")))
        .collect();
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1) && kept.last() == Some(&9),
        "the newest turns, in order: {kept:?}"
    );
}

/// A price of `dollars` a million tokens, as the catalogue gives it.
fn per_million(dollars: f64) -> Option<u64> {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((dollars * 1e6).round() as u64)
}

/// gpt-realtime-2's list prices: text 4 / 0.40 / 24, audio 32 / 0.40 / 64,
/// image 5 / 0.50 (in and cached only).
fn realtime_2_prices() -> Prices {
    Prices {
        text: Rates {
            input: per_million(4.0),
            cached_input: per_million(0.4),
            output: per_million(24.0),
        },
        audio: Rates {
            input: per_million(32.0),
            cached_input: per_million(0.4),
            output: per_million(64.0),
        },
        image: Rates {
            input: per_million(5.0),
            cached_input: per_million(0.5),
            output: None,
        },
        per_minute: None,
    }
}

/// A model billed by the minute ($0.05) reports its session time apart
/// from any response: priced by the minute, or unknown without a price.
#[test]
fn session_time_is_priced_by_the_minute() {
    let minute = Usage {
        session_ms: 90_000,
        ..Usage::default()
    };
    let by_the_minute = Prices {
        per_minute: Some(50_000),
        ..Prices::default()
    };
    assert_eq!(minute.cost_micros(&by_the_minute), Some(75_000));
    assert_eq!(minute.cost_micros(&realtime_2_prices()), None);
    let mut s = Script::live(SessionPolicy {
        prices: Some(by_the_minute),
        ..no_greeting()
    });
    s.step(Input::Model(ModelEvent::Usage(Usage {
        session_ms: 60_000,
        ..Usage::default()
    })));
    let out = s.step(Input::Model(ModelEvent::Usage(Usage {
        session_ms: 30_000,
        ..Usage::default()
    })));
    assert!(out.contains(&Command::Emit(CallEvent::Usage {
        response: Usage {
            session_ms: 30_000,
            ..Usage::default()
        },
        total: minute,
        cost_micros: Some(75_000),
    })));
}

/// Each response's tokens are reported with the call's running total, and
/// the session keeps the total for the call's end line; a response without
/// usage reports nothing.
#[test]
fn model_usage_is_summed_over_the_call() {
    let mut s = Script::live(SessionPolicy {
        prices: Some(realtime_2_prices()),
        ..no_greeting()
    });
    let used = |input_audio, output_audio| Usage {
        input_text: 600,
        input_audio,
        cached_text: 100,
        output_text: 20,
        output_audio,
        ..Usage::default()
    };
    s.step(created("resp_1"));
    let out = s.step(Input::Model(ModelEvent::ResponseDone {
        response_id: resp("resp_1"),
        status: ResponseStatus::Completed,
        usage: Some(used(10, 40)),
    }));
    let first = used(10, 40);
    // 500 text tokens at $4, 100 cached at $0.40, 10 audio at $32, 20 text
    // out at $24 and 40 audio out at $64 a million: $0.0054.
    assert!(
        out.contains(&Command::Emit(CallEvent::Usage {
            response: first,
            total: first,
            cost_micros: Some(5400),
        })),
        "{out:?}"
    );
    s.step(created("resp_2"));
    let out = s.step(Input::Model(ModelEvent::ResponseDone {
        response_id: resp("resp_2"),
        status: ResponseStatus::Cancelled,
        usage: Some(used(30, 8)),
    }));
    let total = Usage {
        input_text: 1200,
        input_audio: 40,
        cached_text: 200,
        output_text: 40,
        output_audio: 48,
        ..Usage::default()
    };
    assert!(
        out.contains(&Command::Emit(CallEvent::Usage {
            response: used(30, 8),
            total,
            cost_micros: Some(9392),
        })),
        "a cancelled response is billed too: {out:?}"
    );
    assert_eq!(s.session.usage(), total);
    assert_eq!(s.session.cost_micros(), Some(9392));
    assert_eq!(total.total(), 1328);
    s.step(created("resp_3"));
    let out = s.step(done("resp_3", ResponseStatus::Completed));
    assert!(
        !out.iter()
            .any(|c| matches!(c, Command::Emit(CallEvent::Usage { .. }))),
        "{out:?}"
    );
    assert_eq!(s.session.usage(), total);
}

/// The worked example of protocols-2026.md §2.4, at gpt-realtime-2's
/// prices: each modality's cached tokens at their own rate.
#[test]
fn cached_tokens_are_priced_by_modality() {
    let usage = Usage {
        input_text: 900,
        input_audio: 2400,
        cached_text: 800,
        cached_audio: 1600,
        output_text: 120,
        output_audio: 600,
        ..Usage::default()
    };
    assert_eq!(usage.cost_micros(&realtime_2_prices()), Some(68_240));
    assert_eq!(usage.cached_input(), 2400);
    // Counts the model got wrong (more cached than read) never underflow.
    let odd = Usage {
        input_text: 5,
        cached_text: 50,
        input_audio: 1,
        cached_audio: 9,
        ..Usage::default()
    };
    assert_eq!(odd.cost_micros(&realtime_2_prices()), Some(3));
    assert_eq!(Usage::default().cost_micros(&Prices::default()), Some(0));
}

/// A price that is not known makes the cost unknown, never a guess; only
/// a kind of token actually used needs its price.
#[test]
fn a_cost_with_a_price_not_known_is_unknown() {
    let mut prices = realtime_2_prices();
    prices.audio.output = None;
    let text_only = Usage {
        input_text: 100,
        output_text: 10,
        ..Usage::default()
    };
    assert_eq!(text_only.cost_micros(&prices), Some(640));
    let spoken = Usage {
        output_audio: 1,
        ..text_only
    };
    assert_eq!(spoken.cost_micros(&prices), None);
    let imaged = Usage {
        input_image: 10,
        cached_image: 10,
        ..Usage::default()
    };
    assert_eq!(imaged.cost_micros(&prices), Some(5));

    // A model the server has no prices for: the call's cost is unknown.
    let mut s = Script::live(no_greeting());
    s.step(created("resp_1"));
    let out = s.step(Input::Model(ModelEvent::ResponseDone {
        response_id: resp("resp_1"),
        status: ResponseStatus::Completed,
        usage: Some(text_only),
    }));
    assert!(out.contains(&Command::Emit(CallEvent::Usage {
        response: text_only,
        total: text_only,
        cost_micros: None,
    })));
    assert_eq!(s.session.cost_micros(), None);
}

#[test]
fn observers_follow_what_the_call_is_doing_and_hear_each_change_once() {
    use Activity::*;
    let mut s = Script::new(SessionPolicy::default());
    assert_eq!(s.session.activity(), None, "nothing before start");
    s.step(Input::Phone(PhoneEvent::Start(info())));
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready { tools: 4 }));
    // The greeting: asked for, started, played, heard.
    s.steps([
        created("resp_1"),
        delta("item_g", 800),
        delta("item_g", 800),
    ]);
    s.step(done("resp_1", ResponseStatus::Completed));
    s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(1))));
    assert_eq!(s.activities, [Connecting, Greeting, Listening]);
    // The caller asks; the model answers with a tool, then speaks.
    s.activities.clear();
    s.steps([speech_started(), media(100), media(120)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(created("resp_2"));
    s.step(function_call("call_1", "search_entity"));
    s.step(done("resp_2", ResponseStatus::Completed));
    s.step(tool_done("call_1", r#"{"name":"The Matrix"}"#, vec![]));
    s.steps([created("resp_3"), delta("item_b", 800)]);
    s.step(done("resp_3", ResponseStatus::Completed));
    assert_eq!(s.activities, [Thinking, ToolRunning, Thinking, Speaking]);
    // The caller speaks over it: listening again at once.
    s.step(speech_started());
    assert_eq!(s.activities.last(), Some(&Listening));
    assert_eq!(s.session.activity(), Some(Listening));
    // The model goes away and comes back.
    s.activities.clear();
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(Input::ModelClosed);
    assert_eq!(s.activities, [Reconnecting]);
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready { tools: 4 }));
    assert_eq!(
        s.activities,
        [Reconnecting, Listening],
        "reconnecting until the new session is ready"
    );
    // The end says so by itself: no activity after it.
    s.activities.clear();
    let out = s.step(Input::Phone(PhoneEvent::Stop));
    assert!(out.contains(&Command::End(EndReason::PhoneStopped)));
    assert_eq!(s.activities, []);
    assert_eq!(s.session.activity(), None);
}

#[test]
fn a_greeting_the_caller_interrupts_is_no_longer_a_greeting() {
    let mut s = Script::live(SessionPolicy::default());
    s.step(Input::Model(ModelEvent::Ready { tools: 4 }));
    s.steps([created("resp_1"), delta("item_g", 800)]);
    assert_eq!(s.session.activity(), Some(Activity::Greeting));
    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.steps([
        done("resp_1", ResponseStatus::Cancelled),
        created("resp_2"),
        delta("item_b", 800),
    ]);
    assert_eq!(s.session.activity(), Some(Activity::Speaking));
}

#[test]
fn each_finished_turn_is_told_to_observers_trimmed_and_empty_ones_are_not() {
    let mut s = Script::live(no_greeting());
    let out = s.steps([
        Input::Model(ModelEvent::CallerTranscript {
            text: "  I love The Matrix \n".into(),
        }),
        Input::Model(ModelEvent::CallerTranscript { text: "   ".into() }),
        Input::Model(ModelEvent::AssistantTranscript {
            text: "Then try Ghost in the Shell.".into(),
        }),
    ]);
    let turns: Vec<(Speaker, &str)> = out
        .iter()
        .filter_map(|command| match command {
            Command::Emit(CallEvent::Turn { speaker, text }) => Some((*speaker, &**text)),
            _ => None,
        })
        .collect();
    assert_eq!(
        turns,
        [
            (Speaker::Caller, "I love The Matrix"),
            (Speaker::Assistant, "Then try Ghost in the Shell."),
        ]
    );
}

#[test]
fn the_first_audio_of_an_answer_is_timed_from_the_end_of_the_callers_speech() {
    let first_audio = |out: &[Command]| -> Vec<AudioMs> {
        out.iter()
            .filter_map(|c| match c {
                Command::Emit(CallEvent::FirstAudio { after }) => Some(*after),
                _ => None,
            })
            .collect()
    };
    let mut s = Script::live(no_greeting());
    // Audio with no turn before it (a greeting) is not an answer.
    assert_eq!(first_audio(&s.step(delta("item_g", 160))), []);
    s.steps([speech_started(), media(1_000)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.steps([media(1_020), media(1_040), created("resp_1")]);
    s.step(media(1_360));
    let out = s.steps([delta("item_a", 160), delta("item_a", 160)]);
    assert_eq!(first_audio(&out), [AudioMs::new(360)], "once an answer");
    // A caller who speaks again before any audio starts a new wait.
    s.steps([speech_started(), media(2_000)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(speech_started());
    s.step(media(2_500));
    assert_eq!(first_audio(&s.step(delta("item_b", 160))), []);
}

/// A model that stops itself and speaks on its own (as GPT-Live does).
fn self_stopping() -> SessionPolicy {
    SessionPolicy {
        traits: ModelTraits {
            interruption: Interruption::ModelStops {
                clear_above_ms: 400,
            },
            confirms_responses: false,
        },
        ..SessionPolicy::default()
    }
}

#[test]
fn a_model_that_speaks_on_its_own_is_prompted_to_greet_and_never_waited_on() {
    let mut s = Script::live(self_stopping());
    let out = s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    assert_eq!(
        out,
        vec![Command::Model(ModelCommand::Speak {
            prompt: GREET_PROMPT.into()
        })]
    );
    assert!(
        !s.scheduled
            .iter()
            .any(|t| matches!(t, Timer::ResponseStart(_))),
        "nothing confirms a prompt, so nothing waits for one"
    );
    // After a tool, it is asked for an answer as any model is.
    s.step(function_call("call_1", "search_entity"));
    let out = s.step(tool_done("call_1", r#"{"name":"x"}"#, vec![]));
    assert!(model_cmds(&out).contains(&ModelCommand::CreateResponse));
    // Taking over mid-answer, the new session is prompted to answer again.
    s.step(Input::ModelClosed);
    s.step(Input::ModelOpened);
    let out = s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    assert_eq!(
        model_cmds(&out),
        vec![ModelCommand::Speak {
            prompt: RESUME_PROMPT.into()
        }]
    );
}

/// The model stops itself: the bridge truncates nothing, and clears the
/// caller's queue only when much is queued ahead of them.
#[test]
fn a_model_that_stops_itself_is_not_truncated_and_cleared_only_when_far_ahead() {
    let mut s = Script::live(SessionPolicy {
        greet: false,
        ..self_stopping()
    });
    // 200 ms of its speech queued: the model's own stop is enough; the
    // barge-in is told.
    s.steps([
        media(0),
        Input::Model(ModelEvent::AssistantSpeaking),
        delta("live_1", 800),
        delta("live_1", 800),
    ]);
    assert_eq!(
        s.step(speech_started()),
        vec![Command::Emit(CallEvent::BargeIn {
            item_id: item("live_1"),
            audio_end: AudioMs::new(0),
            unheard: 0,
        })]
    );
    assert!(!s.session.assistant_audible());
    // Over silence the stream goes on: no barge-in at all.
    s.step(delta("live_1", 16_000));
    assert_eq!(s.step(speech_started()), vec![]);
    // Two seconds of its speech queued ahead of the caller: cleared,
    // nothing truncated.
    s.step(Input::Model(ModelEvent::AssistantSpeaking));
    assert!(s.session.assistant_audible());
    let out = s.steps([media(100), speech_started()]);
    assert_eq!(
        out,
        vec![
            Command::Model(ModelCommand::AppendAudio(audio(160))),
            Command::Phone(PhoneCommand::Clear),
            Command::Emit(CallEvent::BargeIn {
                item_id: item("live_1"),
                audio_end: AudioMs::new(100),
                unheard: 0,
            }),
        ]
    );
    // Its audio plays on: nothing is muted.
    assert_eq!(s.step(delta("live_1", 800)).len(), 2);
}

fn ended(commands: &[Command]) -> Option<EndReason> {
    commands.iter().find_map(|c| match c {
        Command::End(reason) => Some(*reason),
        _ => None,
    })
}

fn tool_called(commands: &[Command]) -> Option<(Arc<str>, bool)> {
    commands.iter().find_map(|c| match c {
        Command::Emit(CallEvent::ToolCalled {
            result, is_error, ..
        }) => Some((result.clone(), *is_error)),
        _ => None,
    })
}

/// A call whose caller has spoken, with the model's answer `r1` under way.
fn answering(policy: SessionPolicy) -> Script {
    let mut s = Script::live(policy);
    s.steps([speech_started(), media(1_000)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(created("r1"));
    s
}

#[test]
fn end_call_plays_the_goodbye_to_its_last_mark_then_ends_the_call() {
    let mut s = answering(no_greeting());
    let out = s.step(function_call("c1", "end_call"));
    let (result, is_error) = tool_called(&out).unwrap();
    assert!(!is_error && result.contains("goodbye"), "{result}");
    assert!(matches!(
        &model_cmds(&out)[..],
        [ModelCommand::ToolOutput { output, .. }] if output.contains("goodbye")
    ));
    assert!(s.scheduled.contains(&Timer::Closing), "bounded");
    // The answer that called the tool ends; the goodbye is asked for.
    let out = s.step(done("r1", ResponseStatus::Completed));
    assert_eq!(model_cmds(&out), [ModelCommand::CreateResponse]);
    assert_eq!(ended(&out), None);
    // The goodbye is said, and its audio queued at the caller.
    s.step(created("r2"));
    s.step(delta("goodbye", 800));
    s.step(delta("goodbye", 800));
    let out = s.step(done("r2", ResponseStatus::Completed));
    assert_eq!(ended(&out), None, "its audio is still playing");
    let out = s.steps([
        media(1_100),
        Input::Phone(PhoneEvent::Mark(MarkName::new(0))),
    ]);
    assert_eq!(ended(&out), None, "half of it played");
    let out = s.steps([
        media(1_200),
        Input::Phone(PhoneEvent::Mark(MarkName::new(1))),
    ]);
    assert_eq!(ended(&out), Some(EndReason::AgentEnded));
    assert!(out.contains(&Command::Emit(CallEvent::Ended {
        reason: EndReason::AgentEnded
    })));
    assert!(s.session.ended());
}

#[test]
fn a_goodbye_that_never_finishes_ends_the_call_at_the_deadline() {
    let mut s = answering(no_greeting());
    s.step(function_call("c1", "end_call"));
    s.step(done("r1", ResponseStatus::Completed));
    s.step(created("r2"));
    s.step(delta("goodbye", 800));
    let out = s.step(Input::Timer(Timer::Closing));
    assert_eq!(ended(&out), Some(EndReason::AgentEnded));
}

#[test]
fn the_call_cannot_be_ended_before_the_caller_has_spoken() {
    let mut s = Script::live(no_greeting());
    s.step(created("r1"));
    let out = s.step(function_call("c1", "end_call"));
    let (result, is_error) = tool_called(&out).unwrap();
    assert!(is_error && result.contains("not said anything"), "{result}");
    assert!(!s.scheduled.contains(&Timer::Closing));
    s.step(done("r1", ResponseStatus::Completed));
    let out = s.steps([created("r2"), done("r2", ResponseStatus::Completed)]);
    assert_eq!(ended(&out), None);
    assert!(!s.session.ended());
    // A closing timer of no closing does nothing either.
    assert_eq!(ended(&s.step(Input::Timer(Timer::Closing))), None);
}

#[test]
fn transfer_is_a_call_control_tool_only_when_offered() {
    // Not offered: just another tool, run by the executor.
    let mut s = answering(no_greeting());
    let out = s.step(function_call("c1", "transfer_to_human"));
    assert!(
        matches!(&out[..], [Command::RunTool(invocation)] if &*invocation.name == "transfer_to_human")
    );

    let policy = SessionPolicy {
        control: CallControl {
            transfer: true,
            ..CallControl::default()
        },
        ..no_greeting()
    };
    let mut s = answering(policy);
    let out = s.step(function_call("c1", "transfer_to_human"));
    let (result, _) = tool_called(&out).unwrap();
    assert!(result.contains("connecting them to a person"), "{result}");
    s.step(done("r1", ResponseStatus::Completed));
    s.step(created("r2"));
    // Nothing said (no audio): the call is handed over once it is done.
    let out = s.step(done("r2", ResponseStatus::Completed));
    assert_eq!(ended(&out), Some(EndReason::Transferred));
}

#[test]
fn a_model_that_speaks_on_its_own_closes_after_its_last_utterance() {
    let mut s = Script::live(self_stopping());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    s.steps([speech_started(), media(1_000)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(function_call("c1", "end_call"));
    // Its backend answers the tool output; the voice then speaks.
    s.step(created("r1"));
    let out = s.step(done("r1", ResponseStatus::Completed));
    assert_eq!(ended(&out), None, "the voice has not spoken yet");
    s.step(Input::Model(ModelEvent::AssistantSpeaking));
    let out = s.step(delta("utterance-1", 800));
    assert_eq!(ended(&out), None);
    let out = s.step(Input::Model(ModelEvent::AssistantTranscript {
        text: "Bye now!".into(),
    }));
    assert_eq!(ended(&out), None, "said, not yet heard");
    let out = s.steps([
        media(1_100),
        Input::Phone(PhoneEvent::Mark(MarkName::new(0))),
    ]);
    assert_eq!(ended(&out), None, "heard; it may say more after a pause");
    // It does: the call waits for that too.
    s.step(Input::Model(ModelEvent::AssistantSpeaking));
    s.step(delta("utterance-2", 800)); // mark 1
    s.step(Input::Model(ModelEvent::AssistantTranscript {
        text: "Take care!".into(),
    }));
    let out = s.steps([
        media(1_800),
        Input::Phone(PhoneEvent::Mark(MarkName::new(1))),
    ]);
    assert_eq!(ended(&out), None);
    assert_eq!(ended(&s.step(media(2_300))), None, "quiet for 500 ms");
    assert_eq!(ended(&s.step(media(2_400))), Some(EndReason::AgentEnded));
}

#[test]
fn a_model_streaming_silence_closes_once_its_last_words_have_played() {
    let mut s = Script::live(self_stopping());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    s.steps([speech_started(), media(1_000)]);
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(function_call("c1", "end_call"));
    s.steps([created("r1"), done("r1", ResponseStatus::Completed)]);
    s.step(Input::Model(ModelEvent::AssistantSpeaking));
    s.step(delta("utterance-1", 800)); // mark 0
    s.step(delta("utterance-1", 800)); // mark 1
    let out = s.step(Input::Model(ModelEvent::AssistantTranscript {
        text: "Bye now!".into(),
    }));
    assert_eq!(
        ended(&out),
        None,
        "its words are still queued at the caller"
    );
    // The silence it streams after them is not waited for.
    s.step(delta("utterance-1", 800)); // mark 2
    let out = s.steps([
        media(1_100),
        Input::Phone(PhoneEvent::Mark(MarkName::new(0))),
    ]);
    assert_eq!(ended(&out), None);
    let out = s.steps([
        media(1_200),
        Input::Phone(PhoneEvent::Mark(MarkName::new(1))),
    ]);
    assert_eq!(ended(&out), None, "played; quiet from now");
    assert_eq!(ended(&s.step(media(1_820))), Some(EndReason::AgentEnded));
}

fn texting() -> SessionPolicy {
    SessionPolicy {
        greet: false,
        control: CallControl {
            text_picks: true,
            ..CallControl::default()
        },
        ..SessionPolicy::default()
    }
}

/// A texting call from a known number, past `start`, with its model ready.
fn texting_call(number: Option<&str>) -> Script {
    let mut s = Script::new(texting());
    s.step(Input::Phone(PhoneEvent::Connected));
    s.step(Input::Phone(PhoneEvent::Start(CallInfo {
        caller_number: number.map(|n| crate::types::PhoneNumber::parse(n).unwrap()),
        called_number: Some(crate::types::PhoneNumber::parse("+15550100000").unwrap()),
        ..info()
    })));
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready { tools: 0 }));
    s
}

fn text_call(id: &str, arguments: &str) -> Input {
    Input::Model(ModelEvent::FunctionCall {
        call_id: call(id),
        name: texting::TEXT_PICKS.into(),
        arguments: arguments.into(),
    })
}

fn picks_done(id: &str, picks: &[(&str, &str)]) -> Input {
    Input::Tool(ToolDone {
        call_id: call(id),
        name: "get_recommendation".into(),
        arguments: "{}".into(),
        outcome: ToolOutcome::ok(
            &serde_json::json!({"recommendations": []}),
            Known::default(),
        )
        .with_picks(
            picks
                .iter()
                .map(|(name, line)| Pick {
                    name: (*name).into(),
                    line: (*line).into(),
                })
                .collect(),
        ),
        latency: Duration::from_millis(12),
        upstream_requests: 1,
    })
}

/// The error the model was told, if the commands refused a text.
fn refused(commands: &[Command]) -> Option<String> {
    commands.iter().find_map(|c| match c {
        Command::Emit(CallEvent::ToolCalled {
            result, is_error, ..
        }) if *is_error => Some(result.to_string()),
        _ => None,
    })
}

fn sent(commands: &[Command]) -> Option<TextMessage> {
    commands.iter().find_map(|c| match c {
        Command::SendText { message, .. } => Some(message.clone()),
        _ => None,
    })
}

#[test]
fn a_text_needs_picks_then_a_caller_turn_then_a_yes() {
    let yes = r#"{"caller_said_yes": true}"#;
    let mut s = texting_call(Some("+15550123456"));
    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));

    // Nothing recommended yet.
    let out = s.step(text_call("call_t1", yes));
    assert!(
        refused(&out)
            .unwrap()
            .contains("Nothing has been recommended")
    );
    assert!(sent(&out).is_none());

    s.step(function_call("call_r", "get_recommendation"));
    s.step(picks_done(
        "call_r",
        &[
            ("Dark City", "film, 1998"),
            ("Ghost in the Shell", "film, 1995"),
        ],
    ));
    // Asked in the same breath as the picks: the caller cannot have said yes.
    let out = s.step(text_call("call_t2", yes));
    assert!(refused(&out).unwrap().contains("not answered"), "{out:?}");

    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));
    // Not a yes.
    let out = s.step(text_call("call_t3", r#"{"caller_said_yes": false}"#));
    assert!(refused(&out).unwrap().contains("not agreed"));

    let out = s.step(text_call("call_t4", yes));
    let message = sent(&out).expect("sent after a yes");
    assert_eq!(message.to.expose(), "+15550123456");
    assert_eq!(message.from.unwrap().expose(), "+15550100000");
    assert_eq!(
        message.body,
        "Your picks from the call:\n1. Dark City (film, 1998)\n2. Ghost in the Shell (film, 1995)"
    );
    assert_eq!(s.session.activity(), Some(Activity::ToolRunning));

    // Asked again while it is being sent, and after: refused.
    let out = s.step(text_call("call_t5", yes));
    assert!(refused(&out).unwrap().contains("already tried"));

    let out = s.step(Input::Texted(TextDone {
        call_id: call("call_t4"),
        arguments: yes.into(),
        result: Ok(TextReceipt {
            id: "SM1".into(),
            segments: Some(1),
        }),
        latency: Duration::from_millis(40),
    }));
    assert!(out.contains(&Command::Emit(CallEvent::Texted {
        failure: None,
        picks: 2,
        segments: Some(1),
    })));
    assert!(model_cmds(&out).iter().any(|c| matches!(
        c,
        ModelCommand::ToolOutput { call_id, output } if *call_id == call("call_t4") && output.contains("sent")
    )));
    let out = s.step(text_call("call_t6", yes));
    assert!(refused(&out).is_some() && sent(&out).is_none());
}

#[test]
fn a_hidden_number_or_a_failed_text_is_spoken_and_never_retried() {
    let yes = r#"{"caller_said_yes": true}"#;
    let mut s = texting_call(None);
    s.step(function_call("call_r", "get_recommendation"));
    s.step(picks_done("call_r", &[("Dark City", "film, 1998")]));
    s.step(speech_started());
    let out = s.step(text_call("call_t1", yes));
    assert!(refused(&out).unwrap().contains("hidden"), "{out:?}");

    let mut s = texting_call(Some("+15550123456"));
    s.step(function_call("call_r", "get_recommendation"));
    s.step(picks_done("call_r", &[("Dark City", "film, 1998")]));
    s.step(speech_started());
    assert!(sent(&s.step(text_call("call_t1", yes))).is_some());
    let out = s.step(Input::Texted(TextDone {
        call_id: call("call_t1"),
        arguments: yes.into(),
        result: Err(TextFailure::OptedOut),
        latency: Duration::from_millis(40),
    }));
    assert!(out.contains(&Command::Emit(CallEvent::Texted {
        failure: Some(TextFailure::OptedOut),
        picks: 1,
        segments: None,
    })));
    assert!(refused(&out).unwrap().contains("opted out"));
    assert!(sent(&s.step(text_call("call_t2", yes))).is_none());
}

#[test]
fn text_is_an_ordinary_unknown_tool_when_not_offered() {
    let mut s = Script::live(no_greeting());
    let out = s.step(text_call("call_t1", r#"{"caller_said_yes": true}"#));
    assert!(sent(&out).is_none());
    assert!(
        matches!(&out[..], [Command::RunTool(invocation)] if &*invocation.name == texting::TEXT_PICKS)
    );
}

/// A hold sound of three 100 ms pieces (`H1`..`H3`), after 700 ms.
fn hold_sound() -> HoldSound {
    let piece = |tag: u8| AudioChunk::new(Bytes::from(vec![b'H', tag, b'=', b'=']), 800);
    HoldSound::new(
        Duration::from_millis(700),
        vec![piece(b'1'), piece(b'2'), piece(b'3')],
    )
    .unwrap()
}

fn is_hold(chunk: &AudioChunk) -> bool {
    chunk.encoded().starts_with(b"H")
}

/// The hold timer the session last asked for.
fn hold_timer(s: &Script) -> Input {
    let timer = s
        .scheduled
        .iter()
        .rev()
        .find(|t| matches!(t, Timer::Hold(_)))
        .copied()
        .expect("a hold timer");
    Input::Timer(timer)
}

/// What reached the caller's side, in order: `H` a hold piece, `A` the
/// assistant's audio, `m` a mark, `C` a clear.
fn phone_trace(commands: &[Command]) -> String {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Phone(PhoneCommand::Media(chunk)) if is_hold(chunk) => Some('H'),
            Command::Phone(PhoneCommand::Media(_)) => Some('A'),
            Command::Phone(PhoneCommand::Mark(_)) => Some('m'),
            Command::Phone(PhoneCommand::Clear) => Some('C'),
            _ => None,
        })
        .collect()
}

fn hold_events(commands: &[Command]) -> Vec<Option<HoldStop>> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Emit(CallEvent::Hold { stopped_by }) => Some(*stopped_by),
            _ => None,
        })
        .collect()
}

fn holding(policy: SessionPolicy) -> Script {
    let mut s = Script::live(policy);
    s.session = std::mem::replace(
        &mut s.session,
        CallSession::new(policy, "m".into(), "a".into()),
    )
    .with_hold_sound(Some(hold_sound()));
    s
}

#[test]
fn a_slow_tool_plays_the_hold_sound_paced_until_it_answers() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    let out = s.step(function_call("call_1", "get_recommendation"));
    assert!(matches!(out[0], Command::RunTool(_)));
    assert_eq!(phone_trace(&out), "", "nothing before the threshold");
    // The threshold: two pieces ahead, each with a mark; then one a piece.
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "HmHm");
    assert_eq!(hold_events(&out), [None]);
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "Hm");
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "Hm", "looped: the first piece again");
    // The tool answers: cleared at once, and later timers are stale.
    let stale = hold_timer(&s);
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert_eq!(phone_trace(&out), "C");
    assert_eq!(hold_events(&out), [Some(HoldStop::Tool)]);
    assert_eq!(phone_trace(&s.step(stale)), "");
    // Hold marks are not the assistant's: nothing is audible, nothing to
    // truncate when the caller speaks.
    assert!(!s.session.assistant_audible());
    let out = s.step(speech_started());
    assert_eq!(phone_trace(&out), "");
    assert!(
        model_cmds(&out)
            .iter()
            .all(|c| !matches!(c, ModelCommand::Truncate { .. }))
    );
}

#[test]
fn a_fast_tool_plays_no_hold_sound() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    s.step(function_call("call_1", "search_entity"));
    let timer = hold_timer(&s);
    let out = s.step(tool_done("call_1", "{}", vec![]));
    assert_eq!(phone_trace(&out), "");
    assert_eq!(hold_events(&out), [], "it never started: nothing to say");
    assert_eq!(
        phone_trace(&s.step(timer)),
        "",
        "its timer comes to nothing"
    );
}

#[test]
fn the_assistant_speaking_stops_the_hold_sound_before_its_audio() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    s.step(function_call("call_1", "get_recommendation"));
    s.step(hold_timer(&s));
    // The model speaks (a preamble) while the tool still works.
    let out = s.step(delta("item_1", 800));
    assert_eq!(phone_trace(&out), "CAm", "the clear goes before its audio");
    assert_eq!(hold_events(&out), [Some(HoldStop::Model)]);
    assert!(s.session.assistant_audible());
}

#[test]
fn the_caller_speaking_stops_the_hold_sound() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    s.step(function_call("call_1", "get_recommendation"));
    s.step(hold_timer(&s));
    let out = s.step(speech_started());
    assert_eq!(phone_trace(&out), "C");
    assert_eq!(hold_events(&out), [Some(HoldStop::Caller)]);
    // The tool still works: once the caller is quiet again, it comes back.
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "", "not while the caller speaks");
    s.step(Input::Model(ModelEvent::SpeechStopped));
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "HmHm");
    assert_eq!(hold_events(&out), [None]);
}

#[test]
fn the_hold_sound_waits_for_the_assistant_to_finish() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    // "Let me look that up" is still playing when the threshold comes.
    s.step(delta("item_1", 8000));
    s.step(function_call("call_1", "get_recommendation"));
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "", "never over the assistant");
    assert!(
        matches!(s.scheduled.last(), Some(Timer::Hold(_))),
        "asked again soon"
    );
    // Its last mark is echoed: it has played, and the hold may start.
    let last = MarkName::new(s.session.next_mark - 1);
    s.step(Input::Phone(PhoneEvent::Mark(last)));
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "HmHm");
}

#[test]
fn a_streaming_models_silence_is_held_back_and_its_words_are_not_lost() {
    let mut s = holding(self_stopping());
    s.step(Input::Model(ModelEvent::Ready { tools: 1 }));
    s.step(function_call("call_1", "get_recommendation"));
    s.step(hold_timer(&s));
    // Silence streams on between utterances: not played over the sound.
    for _ in 0..10 {
        let out = s.step(delta("item_1", 800));
        assert_eq!(phone_trace(&out), "");
    }
    // An utterance starts (its words come just after its audio): the
    // sound is cleared and the last 300 ms held back play, in order.
    let out = s.step(Input::Model(ModelEvent::AssistantSpeaking));
    assert_eq!(phone_trace(&out), "CAmAmAm");
    assert_eq!(hold_events(&out), [Some(HoldStop::Model)]);
    // A streaming model's audio between utterances does not hold it off:
    // the next tool's sound starts while silence streams.
    s.step(tool_done("call_1", "{}", vec![]));
    s.step(Input::Model(ModelEvent::AssistantTranscript {
        text: "Here.".into(),
    }));
    s.step(function_call("call_2", "get_fan_venues"));
    let out = s.step(hold_timer(&s));
    assert_eq!(phone_trace(&out), "HmHm");
    // Stopped otherwise, what was held back is dropped (it was silence).
    s.step(delta("item_2", 800));
    let out = s.step(tool_done("call_2", "{}", vec![]));
    assert_eq!(phone_trace(&out), "C");
}

#[test]
fn without_a_hold_sound_tools_run_in_silence() {
    let mut s = Script::live(no_greeting());
    s.step(created("resp_1"));
    s.step(function_call("call_1", "get_recommendation"));
    assert!(!s.scheduled.iter().any(|t| matches!(t, Timer::Hold(_))));
}

#[test]
fn a_lost_model_session_stops_the_hold_sound() {
    let mut s = holding(no_greeting());
    s.step(created("resp_1"));
    s.step(function_call("call_1", "get_recommendation"));
    s.step(hold_timer(&s));
    let out = s.step(Input::ModelClosed);
    assert!(phone_trace(&out).starts_with('C'), "{out:?}");
    assert_eq!(hold_events(&out), [Some(HoldStop::Call)]);
}

fn remembering() -> SessionPolicy {
    SessionPolicy {
        greet: false,
        control: CallControl {
            memory: true,
            ..CallControl::default()
        },
        ..SessionPolicy::default()
    }
}

fn start_from(number: Option<&str>) -> Input {
    Input::Phone(PhoneEvent::Start(CallInfo {
        caller_number: number.map(|n| crate::types::PhoneNumber::parse(n).unwrap()),
        ..info()
    }))
}

fn arrival() -> crate::ports::Remembered {
    crate::ports::Remembered {
        likes: vec![crate::ports::Liked {
            id: crate::types::EntityId::parse("A1").unwrap(),
            name: "Arrival".into(),
        }],
    }
}

fn memory_call(id: &str, name: &str, arguments: &str) -> Input {
    Input::Model(ModelEvent::FunctionCall {
        call_id: call(id),
        name: name.into(),
        arguments: arguments.into(),
    })
}

fn memory_op(commands: &[Command]) -> Option<MemoryOp> {
    commands.iter().find_map(|c| match c {
        Command::Memory { op, .. } => Some(op.clone()),
        _ => None,
    })
}

#[test]
fn a_returning_callers_likes_are_recalled_before_the_model_opens() {
    let mut s = Script::new(remembering());
    let out = s.step(start_from(Some("+15550100777")));
    assert!(
        matches!(out.as_slice(), [Command::Emit(CallEvent::Started { .. }), Command::Recall { caller }] if caller.expose() == "+15550100777"),
        "{out:?}"
    );
    assert!(s.scheduled.contains(&Timer::Recall));
    let out = s.step(Input::Recalled(Some(arrival())));
    assert_eq!(
        out[0],
        Command::Emit(CallEvent::Memory {
            what: MemoryEvent::Recalled(1)
        })
    );
    let context = context_of(&out);
    assert!(context.contains("asked to be remembered") && context.contains("- Arrival: A1"));
    assert_eq!(
        s.session.known_entities()[0].name,
        "Arrival",
        "its id works in the tools"
    );
    // The deadline afterwards changes nothing.
    assert_eq!(s.step(Input::Timer(Timer::Recall)), vec![]);
}

#[test]
fn a_memory_too_slow_or_empty_opens_the_model_without_it() {
    for late in [true, false] {
        let mut s = Script::new(remembering());
        s.step(start_from(Some("+15550100777")));
        let out = if late {
            s.step(Input::Timer(Timer::Recall))
        } else {
            s.step(Input::Recalled(None))
        };
        assert!(
            matches!(out.as_slice(), [Command::OpenModel { context: None, .. }]),
            "{out:?}"
        );
        // What comes after is ignored: the model is already opening.
        assert_eq!(s.step(Input::Recalled(Some(arrival()))), vec![]);
        assert!(s.session.known_entities().is_empty());
    }
    // A withheld number, or no memory: nothing is asked.
    for (policy, number) in [(remembering(), None), (no_greeting(), Some("+15550100777"))] {
        let mut s = Script::new(policy);
        let out = s.step(start_from(number));
        assert!(out.iter().any(|c| matches!(c, Command::OpenModel { .. })));
        assert!(!out.iter().any(|c| matches!(c, Command::Recall { .. })));
    }
}

#[test]
fn only_a_yes_after_picks_and_a_caller_turn_keeps_the_likes() {
    let yes = r#"{"caller_said_yes": true}"#;
    let mut s = Script::new(remembering());
    s.step(start_from(Some("+15550100777")));
    s.step(Input::Recalled(Some(arrival())));
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready { tools: 0 }));
    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));
    let out = s.step(memory_call("m1", memory::REMEMBER, yes));
    assert!(
        refused(&out).unwrap().contains("not answered"),
        "no picks yet"
    );
    s.step(function_call("call_s", "search_entity"));
    s.step(tool_done(
        "call_s",
        "{}",
        vec![KnownEntity::new(
            crate::types::EntityId::parse("K1").unwrap(),
            "Khruangbin",
            Some(EntityKind::Artist),
        )],
    ));
    s.step(function_call("call_r", "get_recommendation"));
    s.step(picks_done("call_r", &[("Dark City", "film, 1998")]));
    let out = s.step(memory_call("m2", memory::REMEMBER, yes));
    assert!(
        refused(&out).unwrap().contains("not answered"),
        "asked with the picks"
    );
    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));
    let out = s.step(memory_call(
        "m3",
        memory::REMEMBER,
        r#"{"caller_said_yes": false}"#,
    ));
    assert!(refused(&out).unwrap().contains("not agreed"));
    assert!(memory_op(&out).is_none());
    let out = s.step(memory_call("m4", memory::REMEMBER, yes));
    let Some(MemoryOp::Remember(kept)) = memory_op(&out) else {
        panic!("{out:?}");
    };
    let names: Vec<&str> = kept.likes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["Khruangbin", "Arrival"],
        "this call's, then what was kept"
    );
    // The store's answer reaches the model and observers.
    let out = s.step(Input::Memory(MemoryDone {
        call_id: call("m4"),
        name: memory::REMEMBER.into(),
        arguments: yes.into(),
        result: Ok(MemoryOutcome::Stored(2)),
        latency: Duration::from_millis(3),
    }));
    assert!(out.contains(&Command::Emit(CallEvent::Memory {
        what: MemoryEvent::Stored(2)
    })));
    assert!(model_cmds(&out).iter().any(
        |c| matches!(c, ModelCommand::ToolOutput { output, .. } if output.contains("remembered"))
    ));
}

#[test]
fn forget_me_goes_to_the_store_at_once_and_a_hidden_number_is_refused() {
    let mut s = Script::new(remembering());
    s.step(start_from(Some("+15550100777")));
    s.step(Input::Recalled(None));
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready { tools: 0 }));
    let out = s.step(memory_call("f1", memory::FORGET, "{}"));
    assert_eq!(memory_op(&out), Some(MemoryOp::Forget));
    let out = s.step(Input::Memory(MemoryDone {
        call_id: call("f1"),
        name: memory::FORGET.into(),
        arguments: "{}".into(),
        result: Err(MemoryError("away".into())),
        latency: Duration::from_millis(3),
    }));
    assert!(out.contains(&Command::Emit(CallEvent::Memory {
        what: MemoryEvent::Failed
    })));
    let mut hidden = Script::new(remembering());
    hidden.step(start_from(None));
    hidden.step(Input::ModelOpened);
    hidden.step(Input::Model(ModelEvent::Ready { tools: 0 }));
    let out = hidden.step(memory_call("f2", memory::FORGET, "{}"));
    assert!(refused(&out).unwrap().contains("hidden"));
    // Without a memory, the names are the tool executor's to answer.
    let mut plain = Script::live(no_greeting());
    let out = plain.step(memory_call("f3", memory::FORGET, "{}"));
    assert!(matches!(out[0], Command::RunTool(_)), "{out:?}");
}

/// A session marking every `ms` of audio, as the server does by default.
fn marking_every(ms: u64) -> SessionPolicy {
    SessionPolicy {
        mark_every: AudioMs::new(ms),
        ..no_greeting()
    }
}

fn marks_in(commands: &[Command]) -> Vec<u64> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Phone(PhoneCommand::Mark(name)) => Some(name.seq()),
            _ => None,
        })
        .collect()
}

#[test]
fn marks_follow_each_stretch_and_each_items_end() {
    let mut s = Script::live(marking_every(100));
    s.steps([media(0), created("resp_1")]);
    // 20 ms pieces: a mark after the fifth (100 ms), none before.
    let out = s.steps((0..4).map(|_| delta("item_a", 160)));
    assert!(marks_in(&out).is_empty(), "{out:?}");
    assert!(s.session.assistant_audible(), "unmarked audio is queued");
    let out = s.step(delta("item_a", 160));
    assert_eq!(marks_in(&out), [0]);
    // Two more, then the next item: the first item's end is marked
    // before the next item's audio.
    s.steps([delta("item_a", 160), delta("item_a", 160)]);
    let out = s.step(delta("item_b", 160));
    assert_eq!(
        out,
        vec![
            Command::Phone(PhoneCommand::Mark(MarkName::new(1))),
            Command::Phone(PhoneCommand::Media(audio(160))),
        ]
    );
    // The answer ends: its last audio is marked.
    let out = s.step(done("resp_1", ResponseStatus::Completed));
    assert_eq!(marks_in(&out), [2]);
    // A piece as long as the stretch is marked at once.
    s.step(created("resp_2"));
    assert_eq!(marks_in(&s.step(delta("item_c", 800))), [3]);
    s.step(Input::Phone(PhoneEvent::Mark(MarkName::new(3))));
    assert!(!s.session.assistant_audible(), "every mark echoed");
}

/// Plays two items of 20 ms pieces to a caller who hears them in real time
/// (each mark echoes once the media clock reaches its audio), and barges in
/// at `barge_ms`: what the model is told was heard.
fn barge_in_at(mark_every_ms: u64, barge_ms: u64) -> Vec<ModelCommand> {
    let mut s = Script::live(marking_every(mark_every_ms));
    s.steps([media(0), created("resp_1")]);
    let mut sent = Vec::new();
    for item_id in ["item_a", "item_b"] {
        for _ in 0..15 {
            sent.extend(s.step(delta(item_id, 160)));
        }
    }
    sent.extend(s.step(done("resp_1", ResponseStatus::Completed)));
    // Where each mark sits in the caller's playback, in ms.
    let mut at_ms = Vec::new();
    let mut bytes = 0;
    for command in &sent {
        match command {
            Command::Phone(PhoneCommand::Media(audio)) => bytes += u64::from(audio.byte_len()),
            Command::Phone(PhoneCommand::Mark(name)) => at_ms.push((*name, bytes / 8)),
            _ => {}
        }
    }
    let mut t = 0;
    while t < barge_ms {
        t = (t + 20).min(barge_ms);
        s.step(media(t));
        for (name, _) in at_ms.iter().filter(|(_, at)| *at + 20 > t && *at <= t) {
            s.step(Input::Phone(PhoneEvent::Mark(*name)));
        }
    }
    model_cmds(&s.step(speech_started()))
}

#[test]
fn fewer_marks_cut_a_real_time_caller_exactly_where_a_mark_a_piece_does() {
    for barge_ms in (10..600).step_by(30) {
        let every_piece = barge_in_at(0, barge_ms);
        assert!(
            matches!(every_piece.first(), Some(ModelCommand::Truncate { .. })),
            "at {barge_ms} ms: {every_piece:?}"
        );
        for mark_every in [100, 200] {
            assert_eq!(
                barge_in_at(mark_every, barge_ms),
                every_piece,
                "marks every {mark_every} ms, barge-in at {barge_ms} ms"
            );
        }
    }
}

#[test]
fn with_fewer_marks_the_heard_position_never_passes_the_audio_sent() {
    let mut s = Script::live(marking_every(200));
    s.steps([media(0), created("resp_1")]);
    s.steps((0..12).map(|_| delta("item_a", 160))); // mark 0 at 200 ms, 40 ms unmarked
    s.steps([media(200), Input::Phone(PhoneEvent::Mark(MarkName::new(0)))]);
    // Playback stalled at the caller; the clock ran on for a second.
    let out = s.steps([media(1_200), speech_started()]);
    assert_eq!(
        model_cmds(&out)[1],
        ModelCommand::Truncate {
            item_id: item("item_a"),
            audio_end_ms: 240,
        },
        "at most the audio sent: the stall costs at most one stretch of precision"
    );
}

#[test]
fn with_fewer_marks_a_goodbye_ends_the_call_once_its_last_audio_is_echoed() {
    let mut s = answering(marking_every(200));
    s.step(function_call("c1", "end_call"));
    s.step(done("r1", ResponseStatus::Completed));
    s.step(created("r2"));
    let out = s.steps((0..3).map(|_| delta("goodbye", 160)));
    assert!(marks_in(&out).is_empty());
    let out = s.step(done("r2", ResponseStatus::Completed));
    assert_eq!(marks_in(&out), [0], "its end is marked");
    assert_eq!(ended(&out), None, "its audio is still playing");
    let out = s.steps([
        media(1_060),
        Input::Phone(PhoneEvent::Mark(MarkName::new(0))),
    ]);
    assert_eq!(ended(&out), Some(EndReason::AgentEnded));
}

/// The traits of a model that plays its own audio to the caller.
fn plays_itself() -> SessionPolicy {
    SessionPolicy {
        traits: ModelTraits {
            interruption: Interruption::ModelStops {
                clear_above_ms: u64::MAX,
            },
            confirms_responses: true,
        },
        ..no_greeting()
    }
}

/// A call whose audio goes straight to the model's side, the caller's
/// first answer under way.
fn direct_answering(policy: SessionPolicy) -> Script {
    let mut s = Script::new(policy);
    let info = CallInfo {
        audio: AudioRoute::Direct,
        ..info()
    };
    let out = s.step(Input::Phone(PhoneEvent::Start(info)));
    assert!(
        out.iter().any(|c| matches!(c, Command::OpenModel { .. })),
        "a direct call is always supported: {out:?}"
    );
    assert!(!s.session.relays_audio());
    s.step(Input::ModelOpened);
    s.step(Input::Model(ModelEvent::Ready {
        tools: policy.tools_offered,
    }));
    s.step(speech_started());
    s.step(Input::Model(ModelEvent::SpeechStopped));
    s.step(created("r1"));
    s
}

fn phone_cmds(commands: &[Command]) -> Vec<PhoneCommand> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Phone(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_direct_call_sends_nothing_to_play_mark_or_clear() {
    let mut s = direct_answering(plays_itself());
    let out = s.steps([
        Input::Model(ModelEvent::AssistantSpeaking),
        delta("a1", 800),
        delta("a1", 800),
        done("r1", ResponseStatus::Completed),
        speech_started(),
        Input::Model(ModelEvent::PlayedOut),
    ]);
    assert_eq!(phone_cmds(&out), [], "{out:?}");
    assert!(
        !model_cmds(&out).iter().any(|c| matches!(
            c,
            ModelCommand::Truncate { .. } | ModelCommand::DeleteItem { .. }
        )),
        "the model's side stops itself: {out:?}"
    );
}

#[test]
fn a_direct_goodbye_ends_the_call_once_the_models_side_has_played_it() {
    let mut s = direct_answering(plays_itself());
    s.step(function_call("c1", "end_call"));
    let out = s.step(done("r1", ResponseStatus::Completed));
    assert_eq!(model_cmds(&out), [ModelCommand::CreateResponse]);
    s.steps([
        created("r2"),
        Input::Model(ModelEvent::AssistantSpeaking),
        Input::Model(ModelEvent::AssistantTranscript {
            text: "Goodbye!".into(),
        }),
    ]);
    let out = s.step(done("r2", ResponseStatus::Completed));
    assert_eq!(ended(&out), None, "the goodbye is still playing");
    let out = s.step(Input::Model(ModelEvent::PlayedOut));
    assert_eq!(ended(&out), Some(EndReason::AgentEnded));
}

#[test]
fn a_direct_goodbye_whose_playback_is_never_told_ends_with_its_response() {
    // Whether the model's side tells its playback at all is not known:
    // without a word of it, the response's end is the last that is.
    let mut s = direct_answering(plays_itself());
    s.step(function_call("c1", "end_call"));
    s.steps([done("r1", ResponseStatus::Completed), created("r2")]);
    let out = s.step(done("r2", ResponseStatus::Completed));
    assert_eq!(ended(&out), Some(EndReason::AgentEnded));
}

#[test]
fn a_direct_call_never_starts_the_hold_sound() {
    let sound = HoldSound::new(
        Duration::from_millis(1),
        vec![AudioChunk::new(Bytes::from_static(b"hold"), 800)],
    );
    let mut s = direct_answering(plays_itself());
    s.session = std::mem::replace(
        &mut s.session,
        CallSession::new(plays_itself(), "m".into(), "a".into()),
    )
    .with_hold_sound(sound);
    let out = s.steps([
        done("r1", ResponseStatus::Completed),
        function_call("c1", "search_entity"),
    ]);
    assert!(
        out.iter().any(|c| matches!(c, Command::RunTool(_))),
        "{out:?}"
    );
    assert!(!s.scheduled.iter().any(|t| matches!(t, Timer::Hold(_))));
}
