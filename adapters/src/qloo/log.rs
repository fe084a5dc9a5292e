//! `api_calls.log`: one JSON line per Qloo call (endpoint, parameters,
//! status, latency, cache hit or miss). No key and no phone number, but the
//! parameters are the query string as sent, so they hold what callers asked
//! for: the titles and names they said, the places they named and any
//! coordinates. Treat the file as caller data (SECURITY.md), or turn it
//! off with `qloo.api_log = ""`.
//!
//! The file is bounded: past `qloo.api_log_max_bytes` it moves aside to
//! `api_calls.log.1` (the older ones to `.2`, …, and past
//! `qloo.api_log_keep` they are deleted), with `file-rotate` doing the
//! moving. Lines go through a bounded queue to one writer thread, so a call
//! never waits on the disk and a disk that cannot keep up costs log lines,
//! counted, never memory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::time::rfc3339;

/// Lines waiting for the writer at most.
const QUEUE: usize = 4096;

/// One logged call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogEntry {
    /// When.
    pub timestamp: String,
    /// `/search` or `/v2/insights`.
    pub endpoint: &'static str,
    /// The query string sent.
    pub params: String,
    /// The HTTP status, or `timeout` / `error`.
    pub status: String,
    /// Milliseconds taken.
    pub latency_ms: u64,
    /// `hit` or `miss`.
    pub cache: &'static str,
}

impl LogEntry {
    /// An entry stamped now.
    pub fn now(
        endpoint: &'static str,
        params: String,
        status: String,
        latency_ms: u64,
        cache: &'static str,
    ) -> Self {
        Self {
            timestamp: rfc3339(SystemTime::now()),
            endpoint,
            params,
            status,
            latency_ms,
            cache,
        }
    }
}

/// When the log file moves aside, and how many old ones stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Past this size the file is rotated; 0: never.
    pub max_bytes: u64,
    /// Rotated files kept (`.1` the newest); at least one.
    pub keep: usize,
}

/// The log's sending end. Cloning shares the writer.
#[derive(Debug, Clone)]
pub struct ApiLog {
    lines: mpsc::Sender<String>,
    dropped: Arc<AtomicU64>,
}

impl ApiLog {
    /// Appends to `path`, rotated as `rotation` says, from a writer thread.
    pub fn to_file(path: PathBuf, rotation: Rotation) -> Self {
        let (lines, rx) = mpsc::channel::<String>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("api-call-log".to_owned())
            .spawn(move || write_lines(&path, rotation, rx));
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "cannot start the API call log's writer; not logging calls");
        }
        Self {
            lines,
            dropped: Arc::default(),
        }
    }

    /// Records one call (or counts it dropped when the writer is behind).
    pub fn record(&self, entry: &LogEntry) {
        let Ok(mut line) = serde_json::to_string(entry) else {
            return;
        };
        line.push('\n');
        if let Err(mpsc::error::TrySendError::Full(_)) = self.lines.try_send(line)
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("the API call log cannot keep up; dropping lines");
        }
    }

    /// Lines dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The writer thread: until every sender is gone.
fn write_lines(path: &Path, rotation: Rotation, mut rx: mpsc::Receiver<String>) {
    // file-rotate panics where it cannot make the directory or open the
    // file; try both first, so a bad path is one warning.
    if let Err(err) = writable(path) {
        tracing::warn!(path = %path.display(), error = %err, "cannot open the API call log; not logging calls");
        return;
    }
    let limit = usize::try_from(rotation.max_bytes)
        .ok()
        .filter(|max| *max > 0)
        .map_or(ContentLimit::None, ContentLimit::BytesSurpassed);
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut file = FileRotate::new(
            path,
            AppendCount::new(rotation.keep.max(1)),
            limit,
            Compression::None,
            None,
        );
        while let Some(line) = rx.blocking_recv() {
            // One write call a line: a rotation never splits one.
            if let Err(err) = file.write_all(line.as_bytes()) {
                tracing::warn!(error = %err, "cannot write the API call log; not logging calls");
                return;
            }
            if rx.is_empty() {
                let _ = file.flush();
            }
        }
        let _ = file.flush();
    }));
    if written.is_err() {
        tracing::warn!(path = %path.display(), "the API call log stopped: its directory can no longer be written");
    }
}

fn writable(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROTATION: Rotation = Rotation {
        max_bytes: 10 << 20,
        keep: 3,
    };

    fn entry(params: &str) -> LogEntry {
        LogEntry::now("/search", params.into(), "200".into(), 1, "miss")
    }

    /// Waits until `done` holds of the file's text (the writer is a thread).
    async fn read_when(path: &Path, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..400 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if done(&text) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("{} never reached what was expected", path.display());
    }

    #[tokio::test]
    async fn a_log_that_cannot_be_opened_is_skipped_without_failing_calls() {
        let dir = tempfile::tempdir().unwrap();
        // A directory that cannot be made: a file is in the way.
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let path = dir.path().join("file").join("api_calls.log");
        let log = ApiLog::to_file(path.clone(), ROTATION);
        for _ in 0..3 {
            log.record(&entry("query=x"));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(!path.exists());
        assert_eq!(
            log.dropped(),
            0,
            "a dead writer drops nothing it was never given"
        );
    }

    #[tokio::test]
    async fn a_missing_directory_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs").join("qloo").join("api_calls.log");
        let log = ApiLog::to_file(path.clone(), ROTATION);
        log.record(&entry("query=x"));
        read_when(&path, |text| text.contains("query=x")).await;
    }

    #[tokio::test]
    async fn the_file_rotates_by_size_keeping_whole_lines_and_a_bounded_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_calls.log");
        let rotation = Rotation {
            max_bytes: 400,
            keep: 2,
        };
        let log = ApiLog::to_file(path.clone(), rotation);
        for i in 0..40 {
            log.record(&entry(&format!("query=line{i}")));
        }
        read_when(&path, |text| text.contains("query=line39\"")).await;
        let rotated = |n: usize| dir.path().join(format!("api_calls.log.{n}"));
        assert!(rotated(1).exists() && rotated(2).exists());
        assert!(!rotated(3).exists(), "only two rotated files are kept");
        let mut total = 0;
        for file in [path.clone(), rotated(1), rotated(2)] {
            let text = std::fs::read_to_string(&file).unwrap();
            total += text.len();
            // Each file ends after a whole line and holds only whole lines.
            assert!(text.ends_with('\n'), "{text}");
            for line in text.lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                assert_eq!(value["endpoint"], "/search");
            }
            // A file is rotated once past the limit: at most one line over.
            assert!(text.len() < 400 + 200, "{} bytes", text.len());
        }
        assert!(
            total < 40 * 100,
            "old lines were deleted, {total} bytes left"
        );
    }

    #[tokio::test]
    async fn a_writer_that_cannot_keep_up_drops_lines_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_calls.log");
        // A FIFO nobody reads: opening it for writing blocks, so the
        // writer never takes a line.
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        let log = ApiLog::to_file(path, ROTATION);
        for _ in 0..QUEUE + 10 {
            log.record(&entry("query=x"));
        }
        assert_eq!(log.dropped(), 10);
    }

    #[tokio::test]
    async fn lines_are_appended_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_calls.log");
        let log = ApiLog::to_file(path.clone(), ROTATION);
        log.record(&LogEntry::now(
            "/search",
            "query=x".into(),
            "200".into(),
            12,
            "miss",
        ));
        log.record(&LogEntry::now(
            "/search",
            "query=x".into(),
            "cached".into(),
            0,
            "hit",
        ));
        drop(log);
        let mut text = String::new();
        for _ in 0..200 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["endpoint"], "/search");
        assert_eq!(lines[0]["params"], "query=x");
        assert_eq!(lines[0]["latency_ms"], 12);
        assert_eq!(lines[1]["cache"], "hit");
    }
}
