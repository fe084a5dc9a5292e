//! `qloophone load`: many simulated calls at once, and what they felt like.
//!
//! Each call asks `/twiml` for its stream like Twilio, then plays a scenario
//! as the simulated caller. The report counts calls that worked, the delay
//! callers felt (end of their speech to the first audio of the answer, and
//! connect to greeting) as percentiles, and, given the server's process id,
//! the CPU time and memory the server used meanwhile (from `/proc`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::caller::{CallReport, CallerOptions, place_call};
use crate::scenario::Scenario;

/// How to load the server.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// The server.
    pub url: String,
    /// Calls to place.
    pub calls: usize,
    /// Calls start evenly over this long.
    pub ramp: Duration,
    /// What each call plays.
    pub scenario: Scenario,
    /// Speed relative to real time.
    pub speed: f64,
    /// The server's process, to read its CPU and memory from `/proc`.
    pub server_pid: Option<u32>,
    /// The Twilio auth token to sign requests with, if the server checks.
    pub auth_token: Option<String>,
}

/// Percentiles of a latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            count: histogram.len(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            max: histogram.max(),
        }
    }
}

/// What the server used, from `/proc`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct ServerUsage {
    /// CPU seconds (user and system) used during the run.
    pub cpu_seconds: f64,
    /// That, as a share of one core over the run (1.0 = one core busy).
    pub cores: f64,
    /// Resident memory at the end, in MiB.
    pub rss_mib: f64,
    /// Peak resident memory, in MiB.
    pub peak_rss_mib: f64,
}

/// The outcome of a load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Calls placed.
    pub calls: usize,
    /// Calls that connected, heard the agent and ended cleanly.
    pub completed: usize,
    /// Calls that failed, with why (first few).
    pub failures: Vec<String>,
    /// Seconds the run took.
    pub seconds: f64,
    /// Connect to the first audio (the greeting), ms.
    pub first_audio_ms: Percentiles,
    /// End of the caller's speech to the answer's first audio, ms.
    pub turn_latency_ms: Percentiles,
    /// Audio frames sent by callers.
    pub frames_sent_estimate: u64,
    /// Audio bytes heard by callers.
    pub bytes_heard: u64,
    /// Marks echoed.
    pub marks: u64,
    /// The most calls the server reported at once (`/health`).
    pub peak_concurrent_calls: u64,
    /// The server's usage, when its process id was given.
    pub server: Option<ServerUsage>,
}

/// `/proc/<pid>/stat` CPU ticks (user + system), and status memory.
pub(crate) fn proc_sample(pid: u32) -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = 100.0; // USER_HZ on Linux
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Some((
        (utime + stime) / ticks,
        kib("VmRSS:") / 1024.0,
        kib("VmHWM:") / 1024.0,
    ))
}

async fn one_call(settings: &LoadSettings, index: usize) -> Result<CallReport, String> {
    let call_sid = format!("CA{index:032x}");
    let token = settings.auth_token.as_deref();
    let (url, parameters) = crate::phone::ask_for_stream(&settings.url, &call_sid, token)
        .await
        .map_err(|err| err.to_string())?;
    let mut options = CallerOptions::new(url, settings.scenario.tag());
    options.speed = settings.speed;
    options.stream_sid = format!("MZ{:016x}{index:016x}", fastrand::u64(..));
    options.call_sid = call_sid;
    options.parameters = parameters;
    options.signature = token.map(|token| crate::signature::sign(token, &options.url, &[]));
    let report = place_call(options, &settings.scenario.caller)
        .await
        .map_err(|err| err.to_string())?;
    if report.bytes_heard == 0 {
        return Err("heard nothing".to_owned());
    }
    if report.closed_by_server {
        return Err("the server ended the call before the caller hung up".to_owned());
    }
    Ok(report)
}

/// Polls `/health` (served in every mode) until aborted, keeping the most
/// calls seen at once.
async fn watch_sessions(url: String, peak: Arc<AtomicU64>) {
    let client = reqwest::Client::new();
    let health = format!("{}/health", url.trim_end_matches('/'));
    loop {
        if let Ok(response) = client.get(&health).send().await
            && let Ok(body) = response.json::<serde_json::Value>().await
            && let Some(active) = body["activeCalls"].as_u64()
        {
            peak.fetch_max(active, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Places the calls and reports.
pub async fn run(settings: &LoadSettings) -> LoadReport {
    let before = settings.server_pid.and_then(proc_sample);
    let started = Instant::now();
    let gap = settings
        .ramp
        .checked_div(u32::try_from(settings.calls.max(1)).unwrap_or(u32::MAX))
        .unwrap_or_default();
    let mut calls = Vec::with_capacity(settings.calls);
    for index in 0..settings.calls {
        let settings = settings.clone();
        calls.push(tokio::spawn(async move {
            tokio::time::sleep(gap * u32::try_from(index).unwrap_or(u32::MAX)).await;
            one_call(&settings, index).await
        }));
    }
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = tokio::spawn(watch_sessions(settings.url.clone(), peak.clone()));
    let mut first_audio = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut turns = Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let mut report = LoadReport {
        calls: settings.calls,
        completed: 0,
        failures: Vec::new(),
        seconds: 0.0,
        first_audio_ms: Percentiles::default(),
        turn_latency_ms: Percentiles::default(),
        frames_sent_estimate: 0,
        bytes_heard: 0,
        marks: 0,
        peak_concurrent_calls: 0,
        server: None,
    };
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    for call in calls {
        match call.await {
            Ok(Ok(call)) => {
                report.completed += 1;
                report.bytes_heard += call.bytes_heard as u64;
                report.marks += call.marks_echoed as u64;
                if let Some(first) = call.first_audio {
                    let _ = first_audio.record(millis(first));
                }
                for latency in &call.turn_latencies {
                    let _ = turns.record(millis(*latency));
                }
            }
            Ok(Err(err)) if report.failures.len() < 10 => report.failures.push(err),
            Err(err) if report.failures.len() < 10 => report.failures.push(err.to_string()),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    watcher.abort();
    report.peak_concurrent_calls = peak.load(Ordering::Relaxed);
    report.seconds = elapsed.as_secs_f64();
    report.first_audio_ms = Percentiles::of(&first_audio);
    report.turn_latency_ms = Percentiles::of(&turns);
    let speaking_ms: u64 = settings
        .scenario
        .caller
        .iter()
        .map(|step| match step {
            crate::caller::Step::Speak { ms } | crate::caller::Step::Silence { ms } => *ms,
            _ => 0,
        })
        .sum();
    report.frames_sent_estimate = speaking_ms / 20 * report.completed as u64;
    if let (Some((cpu_before, _, _)), Some((cpu_after, rss, peak))) =
        (before, settings.server_pid.and_then(proc_sample))
    {
        let cpu = cpu_after - cpu_before;
        report.server = Some(ServerUsage {
            cpu_seconds: cpu,
            cores: cpu / report.seconds.max(0.001),
            rss_mib: rss,
            peak_rss_mib: peak,
        });
    }
    report
}

impl LoadReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} of {} calls completed in {:.1} s",
            self.completed, self.calls, self.seconds
        );
        for (name, p) in [
            ("first audio (connect to greeting)", self.first_audio_ms),
            ("turn latency (speech end to answer)", self.turn_latency_ms),
        ] {
            let _ = writeln!(
                out,
                "{name:38} n={:<5} p50={} ms  p90={} ms  p99={} ms  max={} ms",
                p.count, p.p50, p.p90, p.p99, p.max
            );
        }
        let _ = writeln!(
            out,
            "at most {} calls at once; audio heard: {:.0} s, marks echoed: {}",
            self.peak_concurrent_calls,
            self.bytes_heard as f64 / 8000.0,
            self.marks
        );
        if let Some(server) = self.server {
            let _ = writeln!(
                out,
                "server: {:.1} CPU s ({:.2} cores), RSS {:.1} MiB (peak {:.1} MiB)",
                server.cpu_seconds, server.cores, server.rss_mib, server.peak_rss_mib
            );
        }
        for failure in &self.failures {
            let _ = writeln!(out, "failure: {failure}");
        }
        out
    }
}
