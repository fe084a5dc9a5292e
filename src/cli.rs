//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// QlooPhone: a phone concierge that turns what you love into what to try next.
#[derive(Debug, Parser)]
#[command(name = "qloophone", version, about)]
pub struct Cli {
    /// A TOML configuration file (default: qloophone.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default). With no API keys it runs the sandbox.
    Serve {
        /// Run the sandbox even when API keys are set.
        #[arg(long)]
        sandbox: bool,
    },
}
