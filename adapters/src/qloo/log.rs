//! `api_calls.log`: one JSON line per Qloo call (endpoint, parameters,
//! status, latency, cache hit or miss). No key and no phone number, but the
//! parameters are the query string as sent, so they hold what callers asked
//! for: the titles and names they said, the places they named and any
//! coordinates. Treat the file as caller data (SECURITY.md), or turn it
//! off with `qloo.api_log = ""`.
//!
//! Lines go through a channel to one writer task, so a call never waits on
//! the disk.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::time::rfc3339;

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

/// The log's sending end. Cloning shares the writer.
#[derive(Debug, Clone)]
pub struct ApiLog {
    lines: mpsc::UnboundedSender<String>,
}

impl ApiLog {
    /// Appends to `path` from a background task.
    pub fn to_file(path: PathBuf) -> Self {
        let (lines, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .await;
            let mut file = match file {
                Ok(file) => file,
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot open the API call log; not logging calls");
                    return;
                }
            };
            while let Some(line) = rx.recv().await {
                if let Err(err) = file.write_all(line.as_bytes()).await {
                    tracing::warn!(error = %err, "cannot write the API call log");
                    return;
                }
            }
            let _ = file.flush().await;
        });
        Self { lines }
    }

    /// Records one call.
    pub fn record(&self, entry: &LogEntry) {
        if let Ok(mut line) = serde_json::to_string(entry) {
            line.push('\n');
            let _ = self.lines.send(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_log_that_cannot_be_opened_is_skipped_without_failing_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("api_calls.log");
        let log = ApiLog::to_file(path.clone());
        for _ in 0..3 {
            log.record(&LogEntry::now(
                "/search",
                "query=x".into(),
                "200".into(),
                1,
                "miss",
            ));
            tokio::task::yield_now().await;
        }
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn lines_are_appended_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_calls.log");
        let log = ApiLog::to_file(path.clone());
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
