//! `qloophone`: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;
use qloophone::cli::{Cli, Command};
use qloophone::config::Config;
use qloophone::runtime::{Runtimes, Shape};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {:#}", anyhow::Error::from(err));
            return ExitCode::FAILURE;
        }
    };
    // The server's setting; the sandbox's commands share one runtime.
    let shape = match cli.command {
        None | Some(Command::Serve { .. }) => config.server.runtime,
        Some(_) => Shape::Shared,
    };
    let Runtimes { main, shards } = match Runtimes::start(shape) {
        Ok(runtimes) => runtimes,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match main.block_on(qloophone::commands::run(cli, config, shards)) {
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
