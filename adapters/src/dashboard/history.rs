//! What a dashboard that connects late is told first: the calls in
//! progress and the last ones to end, each as the server events that tell
//! its story (its start, what it is doing now, its cost so far, its recent
//! turns, tool calls, key presses, barge-ins, errors and reconnects, its
//! end), in the order they happened.
//!
//! Bounded: at most [`STORY`] story events a call, [`RECENT`] ended calls,
//! and the latest state and usage only. Model events (the bulk) and relay
//! timings are never kept.

use std::collections::{HashMap, VecDeque};

use qloophone_domain::{CallEvent, CallEventRecord};

use super::Item;

/// Story events kept a call (older ones are forgotten first).
pub const STORY: usize = 32;
/// Ended calls kept.
pub const RECENT: usize = 50;

/// What an event is to a call's story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The call began.
    Start,
    /// What it is doing now (only the latest is kept).
    State,
    /// Its cost so far (only the latest is kept).
    Usage,
    /// It ended.
    End,
    /// A turn, tool call, key press, barge-in, error or reconnect.
    Story,
    /// Not kept: model traffic and timings.
    Skip,
}

impl Role {
    /// The role of one of this instance's events.
    pub fn of(event: &CallEvent) -> Self {
        match event {
            CallEvent::Model { .. }
            | CallEvent::Relayed { .. }
            | CallEvent::ModelConnected { .. }
            | CallEvent::FirstAudio { .. } => Self::Skip,
            CallEvent::Started { .. } => Self::Start,
            CallEvent::Activity { .. } => Self::State,
            CallEvent::Usage { .. } => Self::Usage,
            CallEvent::Ended { .. } => Self::End,
            CallEvent::Turn { .. }
            | CallEvent::ToolCalled { .. }
            | CallEvent::BargeIn { .. }
            | CallEvent::Dtmf { .. }
            | CallEvent::Hold { .. }
            | CallEvent::Memory { .. }
            | CallEvent::Error { .. }
            | CallEvent::ModelReconnecting { .. }
            | CallEvent::ModelReconnected { .. }
            | CallEvent::Handoff { .. }
            | CallEvent::StreamFailed { .. }
            | CallEvent::Texted { .. }
            | CallEvent::Reported { .. } => Self::Story,
        }
    }

    /// Its name on the fleet feed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::State => "state",
            Self::Usage => "usage",
            Self::End => "end",
            Self::Story => "story",
            Self::Skip => "skip",
        }
    }

    /// The role named `name` on the fleet feed.
    pub fn parse(name: &str) -> Self {
        match name {
            "start" => Self::Start,
            "state" => Self::State,
            "usage" => Self::Usage,
            "end" => Self::End,
            "story" => Self::Story,
            _ => Self::Skip,
        }
    }
}

#[derive(Debug)]
struct Call {
    started: Item,
    /// The latest state.
    state: Option<Item>,
    /// The latest usage.
    usage: Option<Item>,
    story: VecDeque<Item>,
    ended: Option<Item>,
}

impl Call {
    fn replay(&self, out: &mut Vec<Item>) {
        out.push(self.started.clone());
        // The story in order, then the latest state and cost, then the end:
        // a page applying them in turn ends where the call is now.
        out.extend(self.story.iter().cloned());
        out.extend(self.usage.iter().cloned());
        out.extend(self.state.iter().cloned());
        out.extend(self.ended.iter().cloned());
    }
}

/// The calls a late dashboard is told about: this instance's, and with a
/// fleet, the other instances' (keyed `instance/call`).
#[derive(Debug, Default)]
pub struct History {
    live: HashMap<String, Call>,
    /// The live calls in the order they started (the order the replay
    /// gives them).
    order: VecDeque<String>,
    ended: VecDeque<Call>,
}

impl History {
    /// Whether an event is worth keeping at all (a cheap test, made before
    /// any lock is taken).
    pub fn keeps(event: &CallEvent) -> bool {
        Role::of(event) != Role::Skip
    }

    /// Files one of this instance's events under its call.
    pub fn record(&mut self, record: &CallEventRecord) {
        self.file(
            record.call.as_str().to_owned(),
            Role::of(&record.event),
            Item::Local(record.clone()),
        );
    }

    /// Files `item`, which plays `role` in the story of the call `key`.
    pub fn file(&mut self, key: String, role: Role, item: Item) {
        if role == Role::Start {
            if !self.live.contains_key(&key) {
                self.order.push_back(key.clone());
            }
            self.live.insert(
                key,
                Call {
                    started: item,
                    state: None,
                    usage: None,
                    story: VecDeque::new(),
                    ended: None,
                },
            );
            return;
        }
        let Some(call) = self.live.get_mut(&key) else {
            return; // a call that started before anyone kept its story
        };
        match role {
            Role::Skip | Role::Start => {}
            Role::State => call.state = Some(item),
            Role::Usage => call.usage = Some(item),
            Role::End => {
                let Some(mut call) = self.live.remove(&key) else {
                    return;
                };
                self.order.retain(|live| live != &key);
                call.state = None;
                call.ended = Some(item);
                if self.ended.len() >= RECENT {
                    self.ended.pop_front();
                }
                self.ended.push_back(call);
            }
            Role::Story => {
                if call.story.len() >= STORY {
                    call.story.pop_front();
                }
                call.story.push_back(item);
            }
        }
    }

    /// The keys of the calls in progress whose key starts with `prefix`.
    pub fn live_under(&self, prefix: &str) -> Vec<String> {
        self.order
            .iter()
            .filter(|key| key.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Every kept event: the ended calls first (oldest first), then the
    /// calls in progress in the order they started.
    pub fn replay(&self) -> Vec<Item> {
        let mut out = Vec::new();
        for call in &self.ended {
            call.replay(&mut out);
        }
        for key in &self.order {
            if let Some(call) = self.live.get(key) {
                call.replay(&mut out);
            }
        }
        out
    }

    /// Calls in progress it knows of.
    pub fn live_calls(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use qloophone_domain::EndReason;
    use qloophone_domain::ports::{Activity, Speaker};

    use qloophone_domain::LegId;

    use super::*;

    fn at(call: u32, event: CallEvent) -> CallEventRecord {
        CallEventRecord {
            call: LegId::parse(&format!("MZ{call}")).unwrap(),
            at: SystemTime::UNIX_EPOCH,
            event,
        }
    }

    fn started(call: u32) -> CallEventRecord {
        at(
            call,
            CallEvent::Started {
                call_sid: None,
                caller: None,
                model: "gpt-realtime-2.1".into(),
                api: "realtime".into(),
            },
        )
    }

    fn state(call: u32, activity: Activity) -> CallEventRecord {
        at(call, CallEvent::Activity { activity })
    }

    fn turn(call: u32, text: &str) -> CallEventRecord {
        at(
            call,
            CallEvent::Turn {
                speaker: Speaker::Caller,
                text: text.into(),
            },
        )
    }

    fn names(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|item| {
                let record = local(item);
                format!("{}:{}", record.call, record.event.name())
            })
            .collect()
    }

    fn local(item: &Item) -> &CallEventRecord {
        match item {
            Item::Local(record) => record,
            Item::Remote(_) => panic!("only local events here"),
        }
    }

    #[test]
    fn a_call_is_replayed_as_its_story_then_where_it_is_now() {
        let mut history = History::default();
        for record in [
            started(1),
            state(1, Activity::Connecting),
            state(1, Activity::Greeting),
            turn(1, "hello"),
            state(1, Activity::Listening),
        ] {
            history.record(&record);
        }
        let replay = history.replay();
        assert_eq!(
            names(&replay),
            ["MZ1:call.started", "MZ1:turn", "MZ1:call.state"]
        );
        assert_eq!(
            local(&replay[2]).event,
            CallEvent::Activity {
                activity: Activity::Listening
            },
            "only the latest state"
        );
    }

    #[test]
    fn ended_calls_come_first_and_only_the_most_recent_are_kept() {
        let mut history = History::default();
        history.record(&started(1));
        history.record(&started(2));
        history.record(&state(2, Activity::Speaking));
        let ended = |call| {
            at(
                call,
                CallEvent::Ended {
                    reason: EndReason::PhoneStopped,
                },
            )
        };
        history.record(&ended(2));
        assert_eq!(
            names(&history.replay()),
            ["MZ2:call.started", "MZ2:call.ended", "MZ1:call.started"],
            "an ended call has no state but its end"
        );
        assert_eq!(history.live_calls(), 1);
        for call in 10..10 + u32::try_from(RECENT).unwrap() + 5 {
            history.record(&started(call));
            history.record(&ended(call));
        }
        let replay = history.replay();
        let ends = replay
            .iter()
            .filter(|item| matches!(local(item).event, CallEvent::Ended { .. }))
            .count();
        assert_eq!(ends, RECENT);
        assert!(!names(&replay).contains(&"MZ2:call.ended".to_owned()));
    }

    #[test]
    fn stories_are_bounded_and_events_of_unknown_calls_and_model_traffic_are_not_kept() {
        let mut history = History::default();
        history.record(&turn(9, "before anyone listened"));
        assert!(history.replay().is_empty());
        history.record(&started(1));
        for n in 0..STORY + 10 {
            history.record(&turn(1, &format!("turn {n}")));
        }
        let replay = history.replay();
        assert_eq!(replay.len(), 1 + STORY);
        assert_eq!(
            local(&replay[1]).event,
            CallEvent::Turn {
                speaker: Speaker::Caller,
                text: "turn 10".into()
            },
            "the oldest are forgotten first"
        );
        assert!(!History::keeps(&CallEvent::Model {
            audio: false,
            raw: qloophone_domain::RawFrame::default(),
        }));
        assert!(History::keeps(&CallEvent::Dtmf { digit: '1' }));
    }
}
