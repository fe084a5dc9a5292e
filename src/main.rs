//! `qloophone`: load configuration, start logging, build, serve.

use anyhow::Context;
use clap::Parser;
use qloophone::cli::{Cli, Command};
use qloophone::config::{Config, Mode};
use qloophone::startup::{Application, shutdown_signal};
use qloophone::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    telemetry::init(&config.telemetry);
    match cli.command.unwrap_or(Command::Serve { sandbox: false }) {
        Command::Serve { sandbox } => {
            let mode = config.mode(sandbox)?;
            let app = Application::build(&config, mode)
                .await
                .context("start-up failed")?;
            announce(&app, &config, mode);
            app.run(shutdown_signal()).await;
        }
    }
    Ok(())
}

fn announce(app: &Application, config: &Config, mode: Mode) {
    let addr = app.addr();
    match (mode, app.sandbox()) {
        (Mode::Sandbox, Some(sandbox)) => tracing::warn!(
            "SANDBOX MODE: no API keys, so the voice model is simulated at {}. \
             Nothing here reaches OpenAI or Qloo.",
            sandbox.realtime.url()
        ),
        _ => tracing::info!(model = %config.openai.model, "live mode"),
    }
    tracing::info!(%addr, public_url = %config.server.public_url, "QlooPhone listening");
}
