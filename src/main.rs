//! `qloophone`: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;
use qloophone::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(qloophone::commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The causes on one line; no backtrace, whatever RUST_BACKTRACE
            // says: these are an operator's errors (a bad setting, a port
            // in use, a failed smoke test), not the program's.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// With one CPU to run on (a small container, a process pinned to a core)
/// every task runs on the thread that waits for the sockets: a
/// current-thread runtime, with no second thread to hand work to and no
/// work-stealing queues (it measured 10 % less CPU a frame than the
/// multi-thread runtime on one pinned core, BENCHMARKS.md). With more, the
/// multi-thread runtime spreads the calls over them
/// (`TOKIO_WORKER_THREADS` sets how many).
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut builder = if cpus == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build()
}
