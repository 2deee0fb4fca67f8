//! Container log lines and how to ask for them.

/// One log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEntry {
    /// "stdout" or "stderr".
    pub stream: String,
    pub line: Vec<u8>,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    pub follow: bool,
    /// Negative: all.
    pub tail: i64,
    /// Unix nanoseconds (0: unset).
    pub since: i64,
    pub until: i64,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for LogsOptions {
    fn default() -> Self {
        LogsOptions {
            follow: false,
            tail: -1,
            since: 0,
            until: 0,
            stdout: true,
            stderr: true,
        }
    }
}
