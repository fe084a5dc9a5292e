//! `qloophone`: parse the command line and run it.

use clap::Parser;
use qloophone::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qloophone::commands::run(Cli::parse()).await
}
