//! The command line.

use std::net::SocketAddr;
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
        /// Run live without TWILIO_AUTH_TOKEN or DASHBOARD_TOKEN (unsafe on
        /// a real number: said loudly at start and on /health).
        #[arg(long)]
        insecure: bool,
    },
    /// Place a simulated phone call against a running server.
    Call {
        /// The server, as Twilio would reach its webhook.
        #[arg(long, default_value = "http://localhost:8081")]
        url: String,
        /// A shipped scenario's name, or a scenario file.
        #[arg(long, default_value = "two-films-to-a-film")]
        scenario: String,
        /// Sign the webhook and the stream as Twilio does, with this auth
        /// token (default: TWILIO_AUTH_TOKEN / twilio.auth_token), to
        /// smoke-test a server that checks signatures.
        #[arg(long, value_name = "TOKEN")]
        auth_token: Option<String>,
        /// The dashboard key, to read the call's events from /logs
        /// (default: DASHBOARD_TOKEN / dashboard.token).
        #[arg(long, value_name = "KEY")]
        dashboard_token: Option<String>,
        /// Write what the caller heard to this WAV file.
        #[arg(long, value_name = "FILE")]
        wav: Option<PathBuf>,
        /// Speed relative to real time (match the server's sandbox pace).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// How the person a transferred call is handed to answers:
        /// answers, busy or no-answer (default: the scenario's, else
        /// answers).
        #[arg(long, value_name = "HOW", value_parser = ["answers", "busy", "no-answer"])]
        callee: Option<String>,
        /// Place it as a call OpenAI answers over SIP: the sandbox's
        /// simulated control plane rings the server's /openai/webhook
        /// (scenarios marked `sip = true`).
        #[arg(long)]
        sip: bool,
        /// List the shipped scenarios and exit.
        #[arg(long)]
        list: bool,
    },
    /// Place many simulated calls at once and report what callers felt.
    Load {
        /// The server, as Twilio would reach its webhook.
        #[arg(long, default_value = "http://localhost:8081")]
        url: String,
        /// Calls to place.
        #[arg(long, default_value_t = 50)]
        calls: usize,
        /// Spread the call starts over this many milliseconds.
        #[arg(long, default_value_t = 5000)]
        ramp_ms: u64,
        /// The scenario each call plays.
        #[arg(long, default_value = "two-films-to-a-film")]
        scenario: String,
        /// Speed relative to real time.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// The server's process id, to report its CPU and memory.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Print the report as one JSON line.
        #[arg(long)]
        json: bool,
        /// Full duplex: every call streams stamped 20 ms frames both ways
        /// for --seconds, the model side played by this command on
        /// --model-listen (point the server's OPENAI_REALTIME_URL there);
        /// reports loss, order, routing and latency each way, and CPU per
        /// frame. --scenario and --speed do not apply.
        #[arg(long)]
        duplex: bool,
        /// How long each full-duplex call streams.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Where the full-duplex model side listens.
        #[arg(long, default_value = "127.0.0.1:8082")]
        model_listen: SocketAddr,
        /// Full duplex: open this Media Stream URL directly instead of
        /// asking /twiml (to measure another bridge the same way).
        #[arg(long)]
        stream_url: Option<String>,
        /// Full duplex: the model side serves wss:// with this PEM
        /// certificate chain (and --model-tls-key); the server must trust
        /// its CA (tls.ca_file).
        #[arg(long, requires = "model_tls_key")]
        model_tls_cert: Option<PathBuf>,
        /// The PEM key of --model-tls-cert.
        #[arg(long, requires = "model_tls_cert")]
        model_tls_key: Option<PathBuf>,
        /// Full duplex: trust only this PEM CA file on wss:// streams (a
        /// server serving TLS itself, tls.cert_file).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// SIP: every call is one OpenAI answers, held for --seconds once
        /// all have started; this command plays OpenAI's side (the
        /// sideband on --model-listen, REST on --control-listen; point the
        /// server's OPENAI_REALTIME_URL, OPENAI_BASE_URL and
        /// OPENAI_WEBHOOK_SECRET, the sandbox's, here) and reports the
        /// server's CPU a call-second.
        #[arg(long, conflicts_with = "duplex")]
        sip: bool,
        /// Where the SIP control plane's REST side listens.
        #[arg(long, default_value = "127.0.0.1:8087")]
        control_listen: SocketAddr,
    },
    /// Run one simulated peer on its own.
    Sim {
        /// Which one.
        #[command(subcommand)]
        peer: SimPeer,
    },
}

/// The simulated peers.
#[derive(Debug, Subcommand)]
pub enum SimPeer {
    /// The OpenAI Realtime model (GA protocol) at ws://ADDR/v1/realtime.
    Realtime {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8082")]
        listen: SocketAddr,
        /// Speed of its speech relative to real time.
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
        /// The API key it accepts (default: any).
        #[arg(long)]
        api_key: Option<String>,
        /// Misbehave in every N-th session (with the --fault-* options).
        #[arg(long)]
        fault_every: Option<usize>,
        /// In those sessions, close the socket after this many ms.
        #[arg(long)]
        fault_close_after_ms: Option<u64>,
        /// The close code (1001: OpenAI's maximum duration; 1011: error).
        #[arg(long, default_value_t = 1001)]
        fault_close_code: u16,
        /// In those sessions, refuse this many `response.create` with a
        /// rate limit.
        #[arg(long, default_value_t = 0)]
        fault_refuse_responses: usize,
        /// In those sessions, send a malformed frame after every N events.
        #[arg(long)]
        fault_malformed_every: Option<usize>,
    },
    /// OpenAI's GPT-Live (primary WebSocket) at ws://ADDR/v1/live/sessions.
    Live {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8084")]
        listen: SocketAddr,
        /// The API key it accepts (default: any).
        #[arg(long)]
        api_key: Option<String>,
        /// How long after `session.start` it says `session.started`, in
        /// ms (the real service: 1,200 to 1,700).
        #[arg(long, default_value_t = 1200)]
        start_delay_ms: u64,
    },
    /// The Qloo Insights API at http://ADDR.
    Qloo {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8083")]
        listen: SocketAddr,
        /// Delay before each answer, in ms.
        #[arg(long, default_value_t = 300)]
        latency_ms: u64,
        /// The API key it accepts (default: any).
        #[arg(long)]
        api_key: Option<String>,
        /// Answer every N-th request with a 503.
        #[arg(long)]
        error_every: Option<usize>,
    },
    /// An operator's call-report endpoint at http://ADDR/reports: checks
    /// every delivery's Standard Webhooks signature and logs it.
    ReportSink {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8085")]
        listen: SocketAddr,
        /// The signing secret (whsec_…), as REPORT_WEBHOOK_SECRET.
        #[arg(long)]
        secret: String,
        /// Answer the first N deliveries with a 500 (to see retries).
        #[arg(long, default_value_t = 0)]
        fail_first: usize,
    },
    /// Twilio's REST API (texts) at http://ADDR/2010-04-01/Accounts/…
    Twilio {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8086")]
        listen: SocketAddr,
        /// The account SID (TWILIO_ACCOUNT_SID; default the sandbox's,
        /// AC and 32 zeros).
        #[arg(long)]
        account_sid: Option<String>,
        /// The auth token it accepts (TWILIO_AUTH_TOKEN).
        #[arg(long)]
        auth_token: Option<String>,
        /// An API key it accepts, as SID:SECRET (TWILIO_API_KEY and
        /// TWILIO_API_SECRET).
        #[arg(long)]
        api_key: Vec<String>,
        /// A number that replied STOP (texts to it are refused, 21610).
        #[arg(long)]
        stop: Vec<String>,
        /// Answer the first N texts with 429 (to see the client wait).
        #[arg(long, default_value_t = 0)]
        busy_first: u32,
        /// Refuse in the RFC 9457 shape.
        #[arg(long)]
        rfc9457: bool,
    },
}
