//! Who gets a call place, and when: a stream takes one only once its
//! `start` has passed its checks, never at the upgrade.
//!
//! - [`WaitingRoom`]: streams that have not sent `start` yet wait here, a
//!   few at a time, for a short while. It is full only of sockets that say
//!   nothing, so a new arrival is never refused for them: the one that has
//!   waited longest gives way. A caller's own stream, which sends `start`
//!   at once, therefore gets through however many silent signed sockets
//!   sit here.
//! - [`LiveStreams`]: the call and stream ids of this instance's live
//!   streams: a second stream naming either is refused, and the first one
//!   goes on untouched.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Streams upgraded and not yet started.
#[derive(Debug)]
pub struct WaitingRoom {
    capacity: usize,
    deadline: Duration,
    inner: Mutex<Room>,
}

#[derive(Debug, Default)]
struct Room {
    next: u64,
    /// Oldest first: each ticket's number and the sender that tells it to
    /// give way.
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
}

/// A stream's place in the [`WaitingRoom`]; dropping it leaves.
#[derive(Debug)]
pub struct Waiting {
    room: Arc<WaitingRoom>,
    number: u64,
    /// Resolves when a newer arrival took this place.
    evicted: oneshot::Receiver<()>,
}

impl WaitingRoom {
    /// A room for `capacity` streams, each of which must start within
    /// `deadline`.
    pub fn new(capacity: usize, deadline: Duration) -> Arc<Self> {
        Arc::new(Self {
            capacity: capacity.max(1),
            deadline,
            inner: Mutex::new(Room::default()),
        })
    }

    /// How long a stream may wait for its `start`.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Streams waiting now.
    pub fn len(&self) -> usize {
        lock(&self.inner).waiting.len()
    }

    /// Whether no stream is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets a new stream in; when the room is full, the one that has
    /// waited longest is told to give way.
    pub fn enter(self: &Arc<Self>) -> Waiting {
        let (tell, evicted) = oneshot::channel();
        let mut room = lock(&self.inner);
        while room.waiting.len() >= self.capacity {
            if let Some((_, oldest)) = room.waiting.pop_front() {
                let _ = oldest.send(());
            }
        }
        room.next += 1;
        let number = room.next;
        room.waiting.push_back((number, tell));
        Waiting {
            room: self.clone(),
            number,
            evicted,
        }
    }
}

impl Waiting {
    /// Resolves once a newer stream has taken this one's place (never, if
    /// none does).
    pub async fn evicted(&mut self) {
        if (&mut self.evicted).await.is_err() {
            // The room let us go without a word: it never does, but a
            // place that cannot be taken is one that waits forever.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut room = lock(&self.room.inner);
        if let Some(at) = room.waiting.iter().position(|(n, _)| *n == self.number) {
            room.waiting.remove(at);
        }
    }
}

/// The call and stream ids of this instance's live streams.
#[derive(Debug, Default)]
pub struct LiveStreams {
    ids: Mutex<HashSet<String>>,
}

/// Which id of a stream another live stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Taken {
    /// Its `callSid`.
    #[error("another live stream has this callSid")]
    Call,
    /// Its `streamSid`.
    #[error("another live stream has this streamSid")]
    Stream,
}

/// A live stream's ids, held until dropped.
#[derive(Debug)]
pub struct LiveClaim {
    streams: Arc<LiveStreams>,
    ids: Vec<String>,
}

impl LiveStreams {
    /// No stream yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Holds `call_sid` (when there is one) and `stream_sid` for one
    /// stream, or says which another live stream already holds.
    ///
    /// # Errors
    /// [`Taken`] when either id is another live stream's.
    pub fn claim(
        self: &Arc<Self>,
        call_sid: Option<&str>,
        stream_sid: &str,
    ) -> Result<LiveClaim, Taken> {
        let call = call_sid.map(|sid| format!("call:{sid}"));
        let stream = format!("stream:{stream_sid}");
        let mut ids = lock(&self.ids);
        if call.as_ref().is_some_and(|call| ids.contains(call)) {
            return Err(Taken::Call);
        }
        if ids.contains(&stream) {
            return Err(Taken::Stream);
        }
        let claimed: Vec<String> = call.into_iter().chain([stream]).collect();
        ids.extend(claimed.iter().cloned());
        Ok(LiveClaim {
            streams: self.clone(),
            ids: claimed,
        })
    }

    /// Live streams.
    pub fn len(&self) -> usize {
        lock(&self.ids)
            .iter()
            .filter(|id| id.starts_with("stream:"))
            .count()
    }

    /// Whether no stream is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for LiveClaim {
    fn drop(&mut self) {
        let mut ids = lock(&self.streams.ids);
        for id in &self.ids {
            ids.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_room_lets_the_newcomer_in_and_the_oldest_go() {
        let room = WaitingRoom::new(2, Duration::from_secs(5));
        let mut first = room.enter();
        let mut second = room.enter();
        assert_eq!(room.len(), 2);
        let third = room.enter();
        assert_eq!(room.len(), 2);
        tokio::time::timeout(Duration::from_secs(1), first.evicted())
            .await
            .expect("the oldest gives way");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.evicted())
                .await
                .is_err(),
            "the next one stays"
        );
        drop(third);
        drop(second);
        assert!(room.is_empty());
        drop(first);
        assert!(room.is_empty());
    }

    #[test]
    fn a_live_call_or_stream_id_opens_no_second_stream_until_it_ends() {
        let live = LiveStreams::new();
        let claim = live.claim(Some("CA1"), "MZ1").unwrap();
        assert_eq!(live.claim(Some("CA1"), "MZ2").unwrap_err(), Taken::Call);
        assert_eq!(live.claim(Some("CA2"), "MZ1").unwrap_err(), Taken::Stream);
        assert_eq!(live.claim(None, "MZ1").unwrap_err(), Taken::Stream);
        let other = live.claim(Some("CA2"), "MZ2").unwrap();
        assert_eq!(live.len(), 2);
        drop(claim);
        assert!(live.claim(Some("CA1"), "MZ1").is_ok());
        drop(other);
        assert!(live.is_empty());
    }
}
