//! `qloophone load --sip`: many calls OpenAI answers over SIP held at
//! once, for what the control plane alone costs the server. This command
//! plays OpenAI's side ([`crate::sip`]: the webhook, REST and, on
//! `--model-listen`, the sideband) in its own process, so the server's CPU
//! is the server's: point its `OPENAI_REALTIME_URL`, `OPENAI_BASE_URL` and
//! `OPENAI_WEBHOOK_SECRET` here. Each call talks in real time (a turn about
//! every five seconds, no tools) until the run's end, then hangs up.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;

use crate::load::{ServerUsage, proc_sample};
use crate::realtime::{RealtimeOptions, RealtimeSim};
use crate::script::ModelScript;
use crate::sip::{CallStatus, ControlPlane, PlaceCall, SipOptions};

/// How to load the server's SIP door.
#[derive(Debug, Clone)]
pub struct SipLoadSettings {
    /// The server.
    pub url: String,
    /// Calls held at once.
    pub calls: usize,
    /// Calls start evenly over this long.
    pub ramp: Duration,
    /// How long every call is held once all have started.
    pub hold: Duration,
    /// Where the sideband (the simulated Realtime API) listens.
    pub model_listen: SocketAddr,
    /// Where the control plane's REST side listens.
    pub control_listen: SocketAddr,
    /// The server's process, for its CPU and memory.
    pub server_pid: Option<u32>,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
pub struct SipLoadReport {
    /// Calls placed.
    pub calls: usize,
    /// Calls the server accepted.
    pub accepted: usize,
    /// Calls it rejected.
    pub rejected: usize,
    /// Calls still ringing at the end (neither).
    pub unanswered: usize,
    /// Calls that ended before the hold was over.
    pub ended_early: usize,
    /// Sideband events the calls received from the server during the hold.
    pub events_from_server: usize,
    /// The hold, seconds (the window the CPU is measured over).
    pub hold_seconds: f64,
    /// The server's usage over the hold, when its process id was given.
    pub server: Option<ServerUsage>,
    /// Server CPU a call-second over the hold, µs.
    pub server_cpu_us_per_call_second: Option<f64>,
    /// Calls one core would hold at that rate.
    pub calls_per_core: Option<f64>,
}

impl SipLoadReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "SIP: {} calls, {} accepted, {} rejected, {} unanswered, {} ended early; held {:.0} s",
            self.calls,
            self.accepted,
            self.rejected,
            self.unanswered,
            self.ended_early,
            self.hold_seconds
        );
        if let (Some(server), Some(per), Some(core)) = (
            &self.server,
            self.server_cpu_us_per_call_second,
            self.calls_per_core,
        ) {
            out.push_str(&format!(
                "\nserver: {:.2} CPU s over the hold ({:.3} cores), {per:.1} µs a call-second, about {core:.0} calls a core; RSS {:.1} MiB (peak {:.1})",
                server.cpu_seconds, server.cores, server.rss_mib, server.peak_rss_mib
            ));
        }
        out
    }
}

/// Runs the load.
///
/// # Errors
/// When a listener cannot be bound.
pub async fn run(settings: &SipLoadSettings) -> std::io::Result<SipLoadReport> {
    let plane = ControlPlane::new(SipOptions::default());
    let _rest = plane.serve(TcpListener::bind(settings.control_listen).await?)?;
    let _sideband = RealtimeSim::spawn(
        TcpListener::bind(settings.model_listen).await?,
        RealtimeOptions {
            sip: Some(plane.clone()),
            ..RealtimeOptions::default()
        },
    )?;
    let webhook_url = format!("{}/openai/webhook", settings.url.trim_end_matches('/'));
    let gap = settings
        .ramp
        .checked_div(u32::try_from(settings.calls.max(1)).unwrap_or(u32::MAX))
        .unwrap_or_default();
    // A short turn about every five seconds, until the hold is over.
    let script = ModelScript::talking(2000);
    let placing: Vec<_> = (0..settings.calls)
        .map(|index| {
            let plane = plane.clone();
            let call = PlaceCall {
                webhook_url: webhook_url.clone(),
                script: script.clone(),
                from: format!("+1555010{:04}", index % 10_000),
                to: "+15550100000".to_owned(),
                redeliver: 0,
                tamper: None,
                also_to: Vec::new(),
                drop_sideband_after_turn: None,
                interrupt_turn: None,
            };
            tokio::spawn(async move {
                tokio::time::sleep(gap * u32::try_from(index).unwrap_or(u32::MAX)).await;
                plane.place(call).await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for placed in placing {
        if let Ok(Ok(id)) = placed.await {
            ids.push(id);
        }
    }
    // Every call past its greeting before the window opens.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = |plane: &ControlPlane, ids: &[String]| -> usize {
        ids.iter()
            .filter_map(|id| plane.call(id))
            .map(|call| call.events.len())
            .sum()
    };
    let events_before = events(&plane, &ids);
    let before = settings.server_pid.and_then(proc_sample);
    let opened = Instant::now();
    tokio::time::sleep(settings.hold).await;
    let after = settings.server_pid.and_then(proc_sample);
    let hold_seconds = opened.elapsed().as_secs_f64();
    let events_from_server = events(&plane, &ids) - events_before;
    let calls: Vec<_> = ids.iter().filter_map(|id| plane.call(id)).collect();
    let count = |status: CallStatus| calls.iter().filter(|call| call.status == status).count();
    let accepted = calls.iter().filter(|call| !call.accepts.is_empty()).count();
    let report_calls = settings.calls;
    let ended_early = count(CallStatus::Ended);
    let live = count(CallStatus::Accepted);
    for id in &ids {
        plane.hang_up(id);
    }
    let server = match (before, after) {
        (Some((cpu_before, _, _)), Some((cpu_after, rss, peak))) => Some(ServerUsage {
            cpu_seconds: cpu_after - cpu_before,
            cores: (cpu_after - cpu_before) / hold_seconds.max(0.001),
            rss_mib: rss,
            peak_rss_mib: peak,
        }),
        _ => None,
    };
    #[allow(clippy::cast_precision_loss)] // call counts
    let per_call_second = server
        .as_ref()
        .filter(|_| live > 0)
        .map(|server| server.cpu_seconds * 1e6 / (live as f64 * hold_seconds));
    // Let the server see the hang-ups before the peers go.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(SipLoadReport {
        calls: report_calls,
        accepted,
        rejected: count(CallStatus::Rejected),
        unanswered: count(CallStatus::Ringing),
        ended_early,
        events_from_server,
        hold_seconds,
        server,
        server_cpu_us_per_call_second: per_call_second,
        calls_per_core: per_call_second
            .filter(|per| *per > 0.0)
            .map(|per| 1e6 / per),
    })
}
