//! Logging: pretty lines with timestamps, or JSON lines.
//!
//! `RUST_LOG` wins over the configured filter. A filter that does not parse
//! is refused at start-up, never silently replaced. Colour only when the
//! output is a terminal. Phone numbers and secrets are never logged: calls
//! are identified by their stream id.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetrySettings};

/// A log filter that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "{setting} is not a valid log filter ({value:?}): {reason}; expected something like \"info\" or \"info,qloophone=debug\""
)]
pub struct FilterError {
    setting: &'static str,
    value: String,
    reason: String,
}

/// The filter to log with: `rust_log` (the `RUST_LOG` variable) when it is
/// set, else `configured` (`telemetry.filter`).
///
/// # Errors
/// [`FilterError`] naming the setting whose value does not parse.
pub fn filter(rust_log: Option<&str>, configured: &str) -> Result<EnvFilter, FilterError> {
    let (setting, value) = match rust_log.filter(|value| !value.trim().is_empty()) {
        Some(value) => ("RUST_LOG", value),
        None => ("telemetry.filter (QLOOPHONE_TELEMETRY__FILTER)", configured),
    };
    EnvFilter::builder()
        .parse(value)
        .map_err(|err| FilterError {
            setting,
            value: value.to_owned(),
            reason: err.to_string(),
        })
}

fn rust_log() -> Option<String> {
    std::env::var(EnvFilter::DEFAULT_ENV).ok()
}

/// Installs the global subscriber (once; later calls do nothing).
///
/// # Errors
/// [`FilterError`] when `RUST_LOG` or `telemetry.filter` does not parse.
pub fn init(settings: &TelemetrySettings) -> Result<(), FilterError> {
    let filter = filter(rust_log().as_deref(), &settings.filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match settings.log_format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    Ok(())
}

/// For the command-line tools: warnings and errors only, on standard error,
/// so they never mix with a tool's own output.
///
/// # Errors
/// [`FilterError`] when `RUST_LOG` does not parse.
pub fn init_quiet() -> Result<(), FilterError> {
    let filter = filter(rust_log().as_deref(), "warn")?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_wins_and_a_bad_filter_names_its_setting() {
        assert!(filter(None, "info,qloophone=debug").is_ok());
        assert!(filter(Some("warn"), "info").is_ok());
        assert!(
            filter(Some(""), "info").is_ok(),
            "an empty RUST_LOG is unset"
        );
        let bad = filter(Some("qloophone=loud"), "info")
            .unwrap_err()
            .to_string();
        assert!(
            bad.starts_with("RUST_LOG is not a valid log filter"),
            "{bad}"
        );
        assert!(bad.contains("qloophone=loud"), "{bad}");
        let bad = filter(None, "info,=[").unwrap_err().to_string();
        assert!(bad.starts_with("telemetry.filter"), "{bad}");
    }
}
