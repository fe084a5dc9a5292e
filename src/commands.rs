//! The subcommands: `serve` runs the server; `call`, `load` and `sim` run
//! the sandbox's simulated phone, load generator and peers.

use std::time::Duration;

use anyhow::{Context, bail};
use qloophone_adapters::http::Shards;
use qloophone_sandbox::duplex::DuplexSettings;
use qloophone_sandbox::live::{LiveOptions, LiveSim};
use qloophone_sandbox::load::LoadSettings;
use qloophone_sandbox::phone::{CallSettings, place, place_sip};
use qloophone_sandbox::qloo::{QlooOptions, QlooSim};
use qloophone_sandbox::realtime::{ModelFaults, RealtimeOptions, RealtimeSim};
use qloophone_sandbox::scenario::Scenario;
use qloophone_sandbox::tls::ServerTls;
use tokio::net::TcpListener;

use crate::cli::{Cli, Command, SimPeer};
use crate::config::{Config, Mode, is_set};
use crate::startup::{Application, shutdown_signal};
use crate::telemetry;

/// Runs what the command line asks for with `config` (loaded from
/// `cli.config` and the environment); a server deals its connections to
/// `shards` ([`crate::runtime`]).
///
/// # Errors
/// When start-up fails, a call's expectations are not met, or load calls fail.
pub async fn run(cli: Cli, mut config: Config, shards: Shards) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve {
        sandbox: false,
        insecure: false,
    });
    match command {
        Command::Serve { sandbox, insecure } => {
            telemetry::init(&config.telemetry)?;
            config.server.insecure |= insecure;
            let mode = config.mode(sandbox)?;
            config.check_protected(mode)?;
            let app = Application::build(&config, mode)
                .await
                .context("start-up failed")?
                .spread_over(shards);
            announce(&app, &config);
            // The second signal's listener starts once the first has come
            // (an async block runs only when polled, during the drain).
            app.run_until(shutdown_signal(), async { shutdown_signal().await })
                .await;
        }
        Command::Call {
            url,
            scenario,
            auth_token,
            dashboard_token,
            wav,
            speed,
            callee,
            sip,
            list,
        } => {
            telemetry::init_quiet()?;
            if list {
                for scenario in Scenario::shipped() {
                    let over = if scenario.sip { "also over SIP" } else { "" };
                    println!("{:32} {over:14} {}", scenario.name, scenario.description);
                }
                return Ok(());
            }
            let scenario = Scenario::find(&scenario).map_err(anyhow::Error::msg)?;
            let settings = CallSettings {
                url,
                scenario,
                wav,
                speed,
                callee: callee
                    .map(|how| how.parse())
                    .transpose()
                    .map_err(anyhow::Error::msg)?,
                auth_token: auth_token.or_else(|| twilio_token(&config)),
                dashboard_token: dashboard_token.or_else(|| {
                    config
                        .dashboard
                        .token
                        .as_ref()
                        .map(|token| token.expose().to_owned())
                }),
                // To tell the server's hold sound from the assistant.
                hold_sound: config.hold.samples().ok().flatten().map(Into::into),
            };
            // A scenario that needs another first (a returning caller
            // needs the call that remembered them) gets it.
            if let Some(first) = &settings.scenario.after {
                let first = CallSettings {
                    scenario: Scenario::find(first).map_err(anyhow::Error::msg)?,
                    ..settings.clone()
                };
                let outcome = if sip {
                    place_sip(&first, &mut std::io::stdout()).await?
                } else {
                    place(&first, &mut std::io::stdout()).await?
                };
                if !outcome.passed() {
                    bail!(
                        "{} expectation(s) of {} not met",
                        outcome.failures.len(),
                        first.scenario.name
                    );
                }
            }
            let outcome = if sip {
                place_sip(&settings, &mut std::io::stdout()).await?
            } else {
                place(&settings, &mut std::io::stdout()).await?
            };
            if !outcome.passed() {
                bail!("{} expectation(s) not met", outcome.failures.len());
            }
        }
        Command::Load {
            url,
            calls,
            ramp_ms,
            scenario,
            speed,
            server_pid,
            json,
            duplex,
            seconds,
            model_listen,
            stream_url,
            model_tls_cert,
            model_tls_key,
            ca_file,
            sip,
            control_listen,
        } => {
            telemetry::init_quiet()?;
            if sip {
                let settings = qloophone_sandbox::sip_load::SipLoadSettings {
                    url,
                    calls,
                    ramp: Duration::from_millis(ramp_ms),
                    hold: Duration::from_secs(seconds),
                    model_listen,
                    control_listen,
                    server_pid,
                };
                let report = qloophone_sandbox::sip_load::run(&settings)
                    .await
                    .context("cannot listen for the SIP load's peers")?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    println!("{}", report.summary());
                }
                let held = report.accepted - report.ended_early;
                if held < report.calls {
                    bail!(
                        "{} of {} calls were not held",
                        report.calls - held,
                        report.calls
                    );
                }
                return Ok(());
            }
            if duplex {
                let settings = DuplexSettings {
                    url,
                    calls,
                    ramp: Duration::from_millis(ramp_ms),
                    duration: Duration::from_secs(seconds),
                    server_pid,
                    auth_token: twilio_token(&config),
                    stream_url,
                    ca_file,
                };
                let tls = match model_tls_cert.zip(model_tls_key) {
                    Some((cert, key)) => Some(
                        ServerTls::from_pem_files(&cert, &key)
                            .context("--model-tls-cert, --model-tls-key")?,
                    ),
                    None => None,
                };
                let model = qloophone_sandbox::duplex::start_model(model_listen, calls, tls)
                    .await
                    .with_context(|| format!("cannot listen on {model_listen}"))?;
                let report = qloophone_sandbox::duplex::run(&settings, model)
                    .await
                    .context("--ca-file")?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    print!("{}", report.summary());
                }
                if report.connected < report.calls as u64 {
                    bail!(
                        "{} of {} calls failed",
                        report.calls as u64 - report.connected,
                        report.calls
                    );
                }
                return Ok(());
            }
            let scenario = Scenario::find(&scenario).map_err(anyhow::Error::msg)?;
            let settings = LoadSettings {
                url,
                calls,
                ramp: Duration::from_millis(ramp_ms),
                scenario,
                speed,
                server_pid,
                auth_token: twilio_token(&config),
            };
            let report = qloophone_sandbox::load::run(&settings).await;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{}", report.summary());
            }
            if report.completed < report.calls {
                bail!(
                    "{} of {} calls failed",
                    report.calls - report.completed,
                    report.calls
                );
            }
        }
        Command::Sim { peer } => {
            telemetry::init(&config.telemetry)?;
            match peer {
                SimPeer::Realtime {
                    listen,
                    pace,
                    api_key,
                    fault_every,
                    fault_close_after_ms,
                    fault_close_code,
                    fault_refuse_responses,
                    fault_malformed_every,
                } => {
                    let options = RealtimeOptions {
                        faults: ModelFaults {
                            every: fault_every,
                            close_after: fault_close_after_ms
                                .map(|ms| (Duration::from_millis(ms), fault_close_code)),
                            refuse_responses: fault_refuse_responses,
                            malformed_every: fault_malformed_every,
                            ..ModelFaults::default()
                        },
                        pace,
                        api_key,
                        scenarios: Scenario::registry(),
                        ..RealtimeOptions::default()
                    };
                    let sim = RealtimeSim::spawn(TcpListener::bind(listen).await?, options)?;
                    tracing::info!(url = %sim.url(), "simulated Realtime model listening");
                    shutdown_signal().await;
                }
                SimPeer::Live {
                    listen,
                    api_key,
                    start_delay_ms,
                } => {
                    let options = LiveOptions {
                        api_key,
                        start_delay: Duration::from_millis(start_delay_ms),
                        scenarios: Scenario::registry(),
                        ..LiveOptions::default()
                    };
                    let sim = LiveSim::spawn(TcpListener::bind(listen).await?, options)?;
                    tracing::info!(url = %sim.url(), "simulated GPT-Live model listening");
                    shutdown_signal().await;
                }
                SimPeer::Qloo {
                    listen,
                    latency_ms,
                    api_key,
                    error_every,
                } => {
                    let options = QlooOptions {
                        api_key,
                        error_every,
                        latency: Duration::from_millis(latency_ms),
                        ..QlooOptions::default()
                    };
                    let sim = QlooSim::spawn(TcpListener::bind(listen).await?, options)?;
                    tracing::info!(url = %sim.url(), "simulated Qloo listening");
                    shutdown_signal().await;
                }
                SimPeer::Twilio {
                    listen,
                    account_sid,
                    auth_token,
                    api_key,
                    stop,
                    busy_first,
                    rfc9457,
                } => {
                    let api_keys = api_key
                        .iter()
                        .map(|pair| {
                            pair.split_once(':')
                                .map(|(sid, secret)| (sid.to_owned(), secret.to_owned()))
                                .context("--api-key takes SID:SECRET")
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    if auth_token.is_none() && api_keys.is_empty() {
                        bail!("give --auth-token or --api-key: the API signs nobody in otherwise");
                    }
                    serve_twilio_api(
                        listen,
                        qloophone_sandbox::twilio_api::TwilioApiOptions {
                            account_sid: account_sid.unwrap_or_else(|| {
                                qloophone_sandbox::twilio_api::SANDBOX_ACCOUNT_SID.to_owned()
                            }),
                            auth_token,
                            api_keys,
                            stop_list: stop,
                            busy_first,
                            rfc9457,
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                SimPeer::ReportSink {
                    listen,
                    secret,
                    fail_first,
                } => {
                    let sink = qloophone_sandbox::report_sink::ReportSink::spawn(
                        TcpListener::bind(listen).await?,
                        &secret,
                        vec![500; fail_first],
                    )?;
                    tracing::info!(url = %sink.url(), "simulated report endpoint listening");
                    let mut seen = 0;
                    let mut shutdown = std::pin::pin!(shutdown_signal());
                    loop {
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                        for delivery in sink.deliveries().into_iter().skip(seen) {
                            seen += 1;
                            tracing::info!(
                                id = delivery.id.as_deref().unwrap_or("?"),
                                verified = delivery.verified.is_ok(),
                                status = delivery.status,
                                ended_reason = %delivery.body["data"]["ended_reason"],
                                "report received"
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Runs the simulated Twilio REST API until a signal, logging each text.
async fn serve_twilio_api(
    listen: std::net::SocketAddr,
    options: qloophone_sandbox::twilio_api::TwilioApiOptions,
) -> anyhow::Result<()> {
    let api =
        qloophone_sandbox::twilio_api::TwilioApi::spawn(TcpListener::bind(listen).await?, options)?;
    tracing::info!(url = %api.url(), "simulated Twilio REST API listening (TWILIO_API_URL)");
    let mut seen = 0;
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        for attempt in api.attempts().into_iter().skip(seen) {
            seen += 1;
            tracing::info!(
                status = attempt.status,
                code = attempt.code,
                "text request answered"
            );
        }
    }
    Ok(())
}

/// The token the simulated phone signs with, as Twilio would.
fn twilio_token(config: &Config) -> Option<String> {
    config
        .twilio
        .auth_token
        .as_ref()
        .map(|token| token.expose().to_owned())
}

/// Why Twilio could not reach `public_url`, if it could not: it streams
/// only to `wss://` (an `https` public URL) on a host it can resolve.
fn unreachable_by_twilio(public_url: &str) -> Option<&'static str> {
    let url = url::Url::parse(public_url).ok()?;
    let local = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost" || host.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    };
    if local {
        Some("names this machine or a private network")
    } else if url.scheme() != "https" {
        Some("is not https")
    } else {
        None
    }
}

fn announce(app: &Application, config: &Config) {
    let addr = app.addr();
    match app.sandbox() {
        Some(sandbox) => {
            let (model, qloo) = sandbox.urls(config);
            tracing::warn!(
                "SANDBOX MODE (no API keys): the voice model is simulated at {model} and Qloo at {qloo}; \
                 nothing reaches OpenAI or Qloo. Place a call with: cargo run --release -- call --url http://localhost:{}",
                addr.port()
            );
        }
        None if config.mode(false).ok() == Some(Mode::Live) => {
            tracing::info!(model = %config.openai.model, "live mode");
            if let Some(problem) = unreachable_by_twilio(&config.server.public_url) {
                tracing::warn!(
                    public_url = %config.server.public_url,
                    "PUBLIC_URL {problem}: Twilio cannot stream to it; set it to the https address Twilio reaches (a proxy or tunnel)"
                );
            }
            if !is_set(&config.twilio.auth_token) {
                tracing::error!(
                    "INSECURE: TWILIO_AUTH_TOKEN is not set: anyone who finds /twiml and /call can open billed model sessions"
                );
            }
            if !is_set(&config.dashboard.token) {
                tracing::error!(
                    "INSECURE: DASHBOARD_TOKEN is not set: anyone who finds /logs can read every caller's conversation"
                );
            }
        }
        None => {}
    }
    tracing::info!(%addr, public_url = %config.server.public_url, "QlooPhone listening");
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_urls_twilio_cannot_reach_are_named() {
        use super::unreachable_by_twilio as check;
        assert_eq!(check("https://abc.ngrok.app"), None);
        assert_eq!(check("https://abc.ngrok.app/phone"), None);
        assert_eq!(check("http://abc.ngrok.app"), Some("is not https"));
        for local in [
            "http://localhost:8081",
            "https://127.0.0.1",
            "https://10.0.0.5",
            "https://[::1]:8443",
        ] {
            assert!(
                check(local).is_some_and(|why| why.contains("this machine")),
                "{local}"
            );
        }
    }
}
