//! `qloophone`: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;
use qloophone::cli::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    match qloophone::commands::run(Cli::parse()).await {
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
