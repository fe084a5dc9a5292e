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

use qloophone_domain::{CallEvent, CallEventRecord, StreamSid};

/// Story events kept a call (older ones are forgotten first).
pub const STORY: usize = 32;
/// Ended calls kept.
pub const RECENT: usize = 50;

#[derive(Debug)]
struct Call {
    started: CallEventRecord,
    /// The latest `Activity`.
    state: Option<CallEventRecord>,
    /// The latest `Usage`.
    usage: Option<CallEventRecord>,
    story: VecDeque<CallEventRecord>,
    ended: Option<CallEventRecord>,
}

impl Call {
    fn replay(&self, out: &mut Vec<CallEventRecord>) {
        out.push(self.started.clone());
        // The story in order, then the latest state and cost, then the end:
        // a page applying them in turn ends where the call is now.
        out.extend(self.story.iter().cloned());
        out.extend(self.usage.iter().cloned());
        out.extend(self.state.iter().cloned());
        out.extend(self.ended.iter().cloned());
    }
}

/// The calls a late dashboard is told about.
#[derive(Debug, Default)]
pub struct History {
    live: HashMap<StreamSid, Call>,
    /// When each live call started (an index into nothing: the order the
    /// replay gives them).
    order: VecDeque<StreamSid>,
    ended: VecDeque<Call>,
}

impl History {
    /// Whether an event is worth keeping at all (a cheap test, made before
    /// any lock is taken).
    pub fn keeps(event: &CallEvent) -> bool {
        !matches!(
            event,
            CallEvent::Model { .. }
                | CallEvent::Relayed { .. }
                | CallEvent::ModelConnected { .. }
                | CallEvent::FirstAudio { .. }
        )
    }

    /// Files one event under its call.
    pub fn record(&mut self, record: &CallEventRecord) {
        if let CallEvent::Started { .. } = record.event {
            if !self.live.contains_key(&record.call) {
                self.order.push_back(record.call.clone());
            }
            self.live.insert(
                record.call.clone(),
                Call {
                    started: record.clone(),
                    state: None,
                    usage: None,
                    story: VecDeque::new(),
                    ended: None,
                },
            );
            return;
        }
        let Some(call) = self.live.get_mut(&record.call) else {
            return; // a call that started before anyone kept its story
        };
        match record.event {
            CallEvent::Model { .. }
            | CallEvent::Relayed { .. }
            | CallEvent::ModelConnected { .. }
            | CallEvent::FirstAudio { .. }
            | CallEvent::Started { .. } => {}
            CallEvent::Activity { .. } => call.state = Some(record.clone()),
            CallEvent::Usage { .. } => call.usage = Some(record.clone()),
            CallEvent::Ended { .. } => {
                let Some(mut call) = self.live.remove(&record.call) else {
                    return;
                };
                self.order.retain(|sid| sid != &record.call);
                call.state = None;
                call.ended = Some(record.clone());
                if self.ended.len() >= RECENT {
                    self.ended.pop_front();
                }
                self.ended.push_back(call);
            }
            CallEvent::Turn { .. }
            | CallEvent::ToolCalled { .. }
            | CallEvent::BargeIn { .. }
            | CallEvent::Dtmf { .. }
            | CallEvent::Error { .. }
            | CallEvent::ModelReconnecting { .. }
            | CallEvent::ModelReconnected { .. } => {
                if call.story.len() >= STORY {
                    call.story.pop_front();
                }
                call.story.push_back(record.clone());
            }
        }
    }

    /// Every kept event: the ended calls first (oldest first), then the
    /// calls in progress in the order they started.
    pub fn replay(&self) -> Vec<CallEventRecord> {
        let mut out = Vec::new();
        for call in &self.ended {
            call.replay(&mut out);
        }
        for sid in &self.order {
            if let Some(call) = self.live.get(sid) {
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

    use super::*;

    fn at(call: u32, event: CallEvent) -> CallEventRecord {
        CallEventRecord {
            call: StreamSid::parse(&format!("MZ{call}")).unwrap(),
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

    fn names(records: &[CallEventRecord]) -> Vec<String> {
        records
            .iter()
            .map(|record| format!("{}:{}", record.call, record.event.name()))
            .collect()
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
            replay[2].event,
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
            .filter(|record| matches!(record.event, CallEvent::Ended { .. }))
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
            replay[1].event,
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
