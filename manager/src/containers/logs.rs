//! `logs`: read the json-file log the shim writes (`<id>-json.log`, rotated to
//! `.1` … `.N`, newest first), optionally following it across rotations until
//! the container stops. Reading never needs the shim, so logs of a container
//! work while berthd was down and after the container exited.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Containers, Result};

/// `logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Last N entries; negative: all.
    pub tail: i64,
    /// Unix nanos; 0: unset.
    pub since: i64,
    pub until: i64,
    pub stdout: bool,
    pub stderr: bool,
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: String,
    pub line: Vec<u8>,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

#[derive(serde::Deserialize)]
struct Raw {
    log: String,
    stream: String,
    time: String,
}

fn parse(line: &str) -> Option<(LogEntry, i64)> {
    let r: Raw = serde_json::from_str(line).ok()?;
    let t = chrono::DateTime::parse_from_rfc3339(&r.time)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0);
    Some((
        LogEntry {
            stream: r.stream,
            line: r.log.into_bytes(),
            time: r.time,
        },
        t,
    ))
}

impl LogOptions {
    fn keep(&self, e: &LogEntry, t: i64) -> bool {
        let stream_ok =
            (self.stdout && e.stream == "stdout") || (self.stderr && e.stream == "stderr");
        stream_ok && (self.since == 0 || t >= self.since) && (self.until == 0 || t <= self.until)
    }
}

/// Rotated files oldest first, then the live one.
fn files(live: &Path) -> Vec<PathBuf> {
    let mut rotated = Vec::new();
    for i in 1..100 {
        let p = PathBuf::from(format!("{}.{i}", live.display()));
        if !p.exists() {
            break;
        }
        rotated.push(p);
    }
    rotated.reverse();
    rotated.push(live.to_path_buf());
    rotated
}

/// Reads complete lines from `r`, leaving a partial last line in `partial`.
fn read_lines(r: &mut impl BufRead, partial: &mut String, out: &mut Vec<String>) {
    loop {
        let mut buf = String::new();
        match r.read_line(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                partial.push_str(&buf);
                if partial.ends_with('\n') {
                    out.push(std::mem::take(partial));
                }
            }
        }
    }
}

impl Containers {
    /// Streams the log entries. The receiver ends when everything asked for
    /// was sent (with `follow`: when the container is no longer running).
    pub fn logs(&self, reference: &str, opts: LogOptions) -> Result<mpsc::Receiver<LogEntry>> {
        let c = self.lookup(reference)?;
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let live_path = c.log_path.clone();
            let mut lines = Vec::new();
            let mut partial = String::new();
            let mut pos = 0u64;
            let mut inode = 0u64;
            for f in files(&live_path) {
                let Ok(file) = File::open(&f) else { continue };
                if f == live_path {
                    inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
                }
                let mut r = BufReader::new(file);
                partial.clear();
                read_lines(&mut r, &mut partial, &mut lines);
                if f == live_path {
                    pos = r.stream_position().unwrap_or(0) - partial.len() as u64;
                    partial.clear();
                }
            }
            let mut entries: Vec<LogEntry> = lines
                .iter()
                .filter_map(|l| parse(l))
                .filter(|(e, t)| opts.keep(e, *t))
                .map(|(e, _)| e)
                .collect();
            if opts.tail >= 0 && entries.len() > opts.tail as usize {
                entries.drain(..entries.len() - opts.tail as usize);
            }
            for e in entries {
                if tx.blocking_send(e).is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            this.follow(&c.id, &live_path, pos, inode, &opts, &tx);
        });
        Ok(rx)
    }

    fn follow(
        &self,
        id: &str,
        live_path: &Path,
        mut pos: u64,
        mut inode: u64,
        opts: &LogOptions,
        tx: &mpsc::Sender<LogEntry>,
    ) {
        let mut partial = String::new();
        let mut idle_after_stop = 0;
        loop {
            if tx.is_closed() {
                return;
            }
            let mut lines = Vec::new();
            let cur_inode = std::fs::metadata(live_path).map(|m| m.ino()).unwrap_or(0);
            if cur_inode != inode && inode != 0 {
                // Rotated: finish the old file (now `.1`), then start the new one.
                let old = PathBuf::from(format!("{}.1", live_path.display()));
                if let Ok(mut f) = File::open(&old) {
                    if f.seek(SeekFrom::Start(pos)).is_ok() {
                        read_lines(&mut BufReader::new(f), &mut partial, &mut lines);
                    }
                }
                partial.clear();
                pos = 0;
                inode = cur_inode;
            } else if inode == 0 {
                inode = cur_inode;
            }
            if let Ok(mut f) = File::open(live_path) {
                if f.seek(SeekFrom::Start(pos)).is_ok() {
                    let mut r = BufReader::new(f);
                    read_lines(&mut r, &mut partial, &mut lines);
                    pos = r.stream_position().unwrap_or(pos) - partial.len() as u64;
                    partial.clear();
                }
            }
            let got = !lines.is_empty();
            for l in lines {
                if let Some((e, t)) = parse(&l) {
                    if opts.until != 0 && t > opts.until {
                        return;
                    }
                    if opts.keep(&e, t) && tx.blocking_send(e).is_err() {
                        return;
                    }
                }
            }
            let running = match self.lookup(id) {
                Ok(c) => c.state.status.is_live() || c.state.status == super::Status::Restarting,
                Err(_) => false,
            };
            if !running && !got {
                // One more pass after the stop, for output written at exit.
                idle_after_stop += 1;
                if idle_after_stop > 2 {
                    return;
                }
            } else {
                idle_after_stop = 0;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_lines() {
        let (e, t) =
            parse(r#"{"log":"hi\n","stream":"stdout","time":"2024-01-02T03:04:05.000000001Z"}"#)
                .unwrap();
        assert_eq!(e.line, b"hi\n");
        assert_eq!(e.stream, "stdout");
        assert_eq!(t % 1_000_000_000, 1);
        assert!(parse("garbage").is_none());
    }

    #[test]
    fn rotated_files_come_oldest_first() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("c-json.log");
        for p in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
            std::fs::write(d.path().join(p), "").unwrap();
        }
        let f = files(&live);
        let names: Vec<_> = f
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, vec!["c-json.log.2", "c-json.log.1", "c-json.log"]);
    }
}
