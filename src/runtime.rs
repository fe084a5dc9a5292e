//! The runtime's shape: which threads run the calls.
//!
//! - **One CPU** (a small container, a process pinned to a core): one
//!   current-thread runtime, every task on the thread that waits for the
//!   sockets, no second thread to hand work to and no work-stealing queues
//!   (10 % less CPU a frame than the multi-thread runtime on one pinned
//!   core, BENCHMARKS.md).
//! - **Several**, `server.runtime = "per-core"`: a current-thread runtime
//!   a core, each connection dealt to the least busy and staying there
//!   with everything it starts ([`Shards`]).
//! - **Several**, `server.runtime = "shared"` (the default): tokio's
//!   multi-thread runtime, its workers stealing tasks from each other.
//!
//! `TOKIO_WORKER_THREADS` sets how many threads either of the last two
//! uses (default: one a CPU). Only `serve` reads the setting; the other
//! commands run on the shared runtime.

use std::io;

use qloophone_adapters::http::Shards;
use serde::{Deserialize, Serialize};
use tokio::runtime::{Builder, Runtime};

/// How the threads are laid out (`server.runtime`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// One current-thread runtime a thread; connections dealt to the least
    /// busy.
    PerCore,
    /// tokio's multi-thread runtime.
    #[default]
    Shared,
}

/// The runtime `main` blocks on, and the shards connections are dealt to.
#[derive(Debug)]
pub struct Runtimes {
    /// Runs the command (and, serving, accepts connections).
    pub main: Runtime,
    /// Where connections run.
    pub shards: Shards,
}

impl Runtimes {
    /// Starts `shape`'s threads, as many as `TOKIO_WORKER_THREADS` or the
    /// CPUs say.
    ///
    /// # Errors
    /// A bad `TOKIO_WORKER_THREADS`, or a runtime or thread that cannot be
    /// started.
    pub fn start(shape: Shape) -> io::Result<Self> {
        Self::with(shape, threads()?)
    }

    /// `threads` threads laid out as `shape`.
    ///
    /// # Errors
    /// A runtime or thread that cannot be started.
    pub fn with(shape: Shape, threads: usize) -> io::Result<Self> {
        if threads <= 1 {
            return Ok(Self {
                main: Builder::new_current_thread().enable_all().build()?,
                shards: Shards::none(),
            });
        }
        match shape {
            Shape::Shared => Ok(Self {
                main: Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()?,
                shards: Shards::none(),
            }),
            Shape::PerCore => {
                let main = Builder::new_current_thread().enable_all().build()?;
                let mut handles = vec![main.handle().clone()];
                for index in 1..threads {
                    let runtime = Builder::new_current_thread().enable_all().build()?;
                    handles.push(runtime.handle().clone());
                    // Runs its connections' tasks for the process's life.
                    std::thread::Builder::new()
                        .name(format!("qloophone-shard-{index}"))
                        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
                }
                Ok(Self {
                    main,
                    shards: Shards::over(handles),
                })
            }
        }
    }
}

/// `TOKIO_WORKER_THREADS` when set, else the CPUs this process may use.
fn threads() -> io::Result<usize> {
    match std::env::var("TOKIO_WORKER_THREADS") {
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|threads| *threads > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("TOKIO_WORKER_THREADS={value:?}: expected a number above 0"),
                )
            }),
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZero::get)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_core_deals_to_a_thread_a_core_and_one_thread_needs_no_dealing() {
        let runtimes = Runtimes::with(Shape::PerCore, 3).unwrap();
        assert_eq!(runtimes.shards.len(), 3);
        let runtimes = Runtimes::with(Shape::PerCore, 1).unwrap();
        assert!(runtimes.shards.is_empty());
        let runtimes = Runtimes::with(Shape::Shared, 2).unwrap();
        assert!(runtimes.shards.is_empty());
        assert_eq!(runtimes.main.metrics().num_workers(), 2);
    }
}
