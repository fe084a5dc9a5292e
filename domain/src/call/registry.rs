//! The registry of live calls: admission up to a limit, draining, and the
//! shutdown signal every call listens to.
//!
//! This is the only state calls share (besides caches and sinks). It is
//! touched once when a call is admitted and once when it ends, never on the
//! audio path.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

#[derive(Debug)]
struct Inner {
    max_calls: usize,
    admitted: AtomicUsize,
    shutdown: watch::Sender<bool>,
    draining: std::sync::atomic::AtomicBool,
    idle: Notify,
}

/// Live calls. Cloning shares the registry.
#[derive(Debug, Clone)]
pub struct CallRegistry {
    inner: Arc<Inner>,
}

/// A call's place in the registry; dropping it frees the place.
#[derive(Debug)]
pub struct CallPermit {
    inner: Arc<Inner>,
}

impl CallRegistry {
    /// A registry admitting at most `max_calls` calls at once.
    pub fn new(max_calls: usize) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                max_calls,
                admitted: AtomicUsize::new(0),
                shutdown,
                draining: std::sync::atomic::AtomicBool::new(false),
                idle: Notify::new(),
            }),
        }
    }

    /// Admits a call, or `None` when the limit is reached or the server
    /// is shutting down.
    pub fn try_admit(&self) -> Option<CallPermit> {
        if self.is_draining() {
            return None;
        }
        let admitted = self
            .inner
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.inner.max_calls).then_some(n + 1)
            });
        admitted.ok().map(|_| CallPermit {
            inner: self.inner.clone(),
        })
    }

    /// Calls admitted and not yet ended.
    pub fn active(&self) -> usize {
        self.inner.admitted.load(Ordering::Acquire)
    }

    /// The most calls admitted at once.
    pub fn max_calls(&self) -> usize {
        self.inner.max_calls
    }

    /// Whether a new call would be refused.
    pub fn is_full(&self) -> bool {
        self.active() >= self.inner.max_calls || self.is_draining()
    }

    /// Refuses new calls; the calls running go on.
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether new calls are refused (draining or shut down).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire) || self.is_shutting_down()
    }

    /// Tells every call to end and refuses new ones.
    pub fn shut_down(&self) {
        self.drain();
        self.inner.shutdown.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// A receiver that changes to `true` when shutdown begins.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Waits until no call is left.
    pub async fn drained(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if self.inner.admitted.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_frees_places_on_drop() {
        let registry = CallRegistry::new(2);
        let a = registry.try_admit().expect("first");
        let b = registry.try_admit().expect("second");
        assert!(registry.try_admit().is_none());
        assert!(registry.is_full());
        drop(a);
        assert_eq!(registry.active(), 1);
        assert!(registry.try_admit().is_some());
        drop(b);
        assert_eq!(registry.active(), 0);
        assert_eq!(registry.max_calls(), 2);
    }

    #[test]
    fn draining_refuses_new_calls_but_keeps_the_running_ones() {
        let registry = CallRegistry::new(5);
        let permit = registry.try_admit().unwrap();
        let signal = registry.shutdown_signal();
        registry.drain();
        assert!(registry.is_draining() && registry.is_full());
        assert!(registry.try_admit().is_none());
        assert!(!*signal.borrow(), "running calls are not told to end");
        assert_eq!(registry.active(), 1);
        drop(permit);
        assert!(!registry.is_shutting_down());
    }

    #[tokio::test]
    async fn shutdown_refuses_new_calls_and_drains() {
        let registry = CallRegistry::new(5);
        let permit = registry.try_admit().unwrap();
        let mut signal = registry.shutdown_signal();
        registry.shut_down();
        assert!(signal.changed().await.is_ok());
        assert!(*signal.borrow());
        assert!(registry.try_admit().is_none());
        assert!(registry.is_full());
        let waiter = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.drained().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(permit);
        waiter.await.unwrap();
    }
}
