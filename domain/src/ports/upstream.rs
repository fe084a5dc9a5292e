//! What a tool run spent upstream: the requests a [`TasteGraph`] adapter
//! sent to its service while running for one tool call (cache hits send
//! none), counted without threading a counter through every port method.
//!
//! The runner wraps each tool run in [`Requests::scope`]; an adapter calls
//! [`record`] once for every request it sends; work an adapter moves to a
//! task of its own keeps counting for the run that started it through
//! [`carry`].
//!
//! [`TasteGraph`]: super::TasteGraph

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

tokio::task_local! {
    static CURRENT: Requests;
}

/// A count of upstream requests, shared by the run it belongs to.
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<AtomicU32>);

impl Requests {
    /// Runs `work`, counting the requests it (and what it carries) sends.
    pub fn scope<F: Future>(&self, work: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.clone(), work)
    }

    /// Requests counted so far.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts one request sent upstream for the tool run in progress, if any.
pub fn record() {
    let _ = CURRENT.try_with(|requests| requests.0.fetch_add(1, Ordering::Relaxed));
}

/// `work`, counting for the run in progress here (for a task spawned on
/// its behalf); as it is when no run is in progress.
pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Clone::clone).ok();
    async move {
        match current {
            Some(requests) => CURRENT.scope(requests, work).await,
            None => work.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_counted_for_the_run_that_sent_them_and_carried_across_tasks() {
        record(); // outside any run: counted nowhere, no panic
        let (first, second) = (Requests::default(), Requests::default());
        first
            .scope(async {
                record();
                let carried = tokio::spawn(carry(async { record() }));
                let not_carried = tokio::spawn(async { record() });
                carried.await.unwrap();
                not_carried.await.unwrap();
            })
            .await;
        second.scope(async { record() }).await;
        assert_eq!((first.get(), second.get()), (2, 1));
        let outside = tokio::spawn(carry(async { record() }));
        outside.await.unwrap();
        assert_eq!(first.get(), 2);
    }
}
