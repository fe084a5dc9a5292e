//! Which of a call's sources woke it, so a wake polls only those.
//!
//! A call waits on about ten sources at once (both legs, the model being
//! opened, tools, timers, the watchdogs' deadline, the stop signal). A
//! `select!` polls every one of them on every wake, and nearly every wake
//! is one audio frame on one leg: the other leg's socket, the timers and
//! the stop signal were polled for nothing (and an idle socket's poll is
//! not free: tungstenite zero-fills its read buffer first). Here each
//! source is polled with its own waker, which records that it fired; a
//! wake then polls the sources that fired, the one that was ready last
//! time (it may hold more), and every source whenever that cannot be known:
//! on the first wake, when the caller says so (something was added or
//! re-armed), or when the task was woken by something else.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Wake, Waker};

use atomic_waker::AtomicWaker;

/// A set of sources, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sources(u32);

impl Sources {
    pub(super) const NONE: Self = Self(0);
    pub(super) const ALL: Self = Self(u32::MAX);

    /// The source numbered `index` (below [`MAX_SOURCES`]).
    pub(super) const fn one(index: usize) -> Self {
        Self(1 << index)
    }

    pub(super) fn contains(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// Those numbered above `index`.
    pub(super) fn after(self, index: usize) -> Self {
        Self(self.0 & !((2 << index) - 1))
    }

    pub(super) fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// How many sources one [`Wakes`] tells apart.
pub(super) const MAX_SOURCES: usize = 10;

/// What the sources' wakers share with the task's.
#[derive(Default)]
struct Shared {
    fired: AtomicU32,
    task: AtomicWaker,
}

/// One source's waker: marks it fired, then wakes the task.
struct SourceWaker {
    shared: Arc<Shared>,
    bit: u32,
}

impl Wake for SourceWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.fired.fetch_or(self.bit, Ordering::AcqRel);
        // The first source to fire takes the task's waker; the rest find
        // the task already woken. The task registers again when polled.
        self.shared.task.wake();
    }
}

/// The wakers of a call's sources, and which have fired.
pub(super) struct Wakes {
    shared: Arc<Shared>,
    wakers: Vec<Waker>,
    /// Sources to poll at the next wake whether or not they fired.
    owed: Sources,
}

impl Wakes {
    pub(super) fn new() -> Self {
        let shared = Arc::new(Shared::default());
        let wakers = (0..MAX_SOURCES)
            .map(|index| {
                Waker::from(Arc::new(SourceWaker {
                    shared: Arc::clone(&shared),
                    bit: 1 << index,
                }))
            })
            .collect();
        Self {
            shared,
            wakers,
            // The first wake polls everything, so every source has a waker.
            owed: Sources::ALL,
        }
    }

    /// Every source is polled at the next wake.
    pub(super) fn owe_all(&mut self) {
        self.owed = Sources::ALL;
    }

    /// `sources` are polled at the next wake.
    pub(super) fn owe(&mut self, sources: Sources) {
        self.owed = self.owed.with(sources);
    }

    /// Called at the start of each poll of the task's wait with its
    /// context: which sources to poll now. `first` is the wait's first
    /// poll, which also takes what is owed.
    pub(super) fn due(&mut self, cx: &Context<'_>, first: bool) -> Sources {
        // Registered before the sources are read, so one that fires from
        // here on wakes the task again.
        self.shared.task.register(cx.waker());
        let fired = Sources(self.shared.fired.swap(0, Ordering::AcqRel));
        let due = if first {
            fired.with(std::mem::replace(&mut self.owed, Sources::NONE))
        } else {
            fired
        };
        // Woken by none of the sources' wakers (a waker registered with the
        // task's own context, or a spurious wake): poll them all.
        if due == Sources::NONE {
            Sources::ALL
        } else {
            due
        }
    }

    /// The waker source `index` is polled with.
    pub(super) fn waker(&self, index: usize) -> &Waker {
        &self.wakers[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        (count, waker)
    }

    #[test]
    fn the_first_wake_polls_every_source() {
        let (_, waker) = task();
        let mut wakes = Wakes::new();
        assert_eq!(wakes.due(&Context::from_waker(&waker), true), Sources::ALL);
    }

    #[test]
    fn a_source_that_fired_is_due_and_wakes_the_task() {
        let (count, waker) = task();
        let cx = Context::from_waker(&waker);
        let mut wakes = Wakes::new();
        wakes.due(&cx, true);
        wakes.waker(3).wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let due = wakes.due(&cx, false);
        assert!(due.contains(3));
        assert!(!due.contains(2) && !due.contains(4));
        // Taken: a second poll with nothing fired polls everything.
        assert_eq!(wakes.due(&cx, false), Sources::ALL);
    }

    #[test]
    fn what_is_owed_is_polled_at_the_next_wait_only() {
        let (_, waker) = task();
        let cx = Context::from_waker(&waker);
        let mut wakes = Wakes::new();
        wakes.due(&cx, true);
        wakes.owe(Sources::one(5));
        wakes.waker(1).wake_by_ref();
        let due = wakes.due(&cx, true);
        assert!(due.contains(5) && due.contains(1));
        assert!(!due.contains(0));
        wakes.waker(1).wake_by_ref();
        let due = wakes.due(&cx, false);
        assert!(due.contains(1) && !due.contains(5));
    }

    #[test]
    fn after_keeps_the_sources_numbered_above() {
        let due = Sources::one(1).with(Sources::one(4)).with(Sources::one(9));
        assert_eq!(due.after(4), Sources::one(9));
        assert_eq!(due.after(0), due);
        assert_eq!(due.after(9), Sources::NONE);
        assert_eq!(Sources::ALL.after(10), Sources(u32::MAX << 11));
    }

    #[test]
    fn a_new_task_waker_replaces_the_old() {
        let (old, old_waker) = task();
        let (new, new_waker) = task();
        let mut wakes = Wakes::new();
        wakes.due(&Context::from_waker(&old_waker), true);
        wakes.due(&Context::from_waker(&new_waker), false);
        wakes.waker(0).wake_by_ref();
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
    }
}
