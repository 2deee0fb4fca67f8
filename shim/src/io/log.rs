//! docker's json-file log: one JSON object per line,
//! `{"log":"…\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`,
//! one entry per line of output (a line longer than 16 KiB is cut into
//! entries without the trailing newline, as docker does), rotated like
//! docker's `max-size`/`max-file`: `<log>` is live, `<log>.1` the newest
//! rotated, `<log>.<max-file - 1>` the oldest.
//!
//! Writes are synchronous: a small append to a local file, done on the shim's
//! one thread so entries of both streams keep their order.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::clock::Instant;

/// docker's copier buffer: a longer line becomes several partial entries.
const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    /// Unterminated tail of each stream.
    partial: [Vec<u8>; 2],
    /// Entries not yet written: one write per chunk of output, not per line.
    pending: Vec<u8>,
}

impl JsonLog {
    /// Opens (appending to) `path`, creating it.
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> io::Result<JsonLog> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
            pending: Vec::new(),
        })
    }

    /// Logs `data` read from `stream`: every complete line becomes an entry;
    /// the rest waits for more (or for [`JsonLog::finish`]).
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.partial[stream.index()]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            let mut line = start;
            // A line beyond MAX_LINE is cut, like docker's copier does.
            while end - line > MAX_LINE {
                self.entry(stream, &buf[line..line + MAX_LINE])?;
                line += MAX_LINE;
            }
            self.entry(stream, &buf[line..end])?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            self.entry(stream, &buf[start..start + MAX_LINE])?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.partial[stream.index()] = buf;
        self.flush()
    }

    /// The stream ended: its unterminated tail becomes an entry.
    pub fn finish(&mut self, stream: Stream) -> io::Result<()> {
        let rest = std::mem::take(&mut self.partial[stream.index()]);
        if !rest.is_empty() {
            self.entry(stream, &rest)?;
        }
        self.flush()
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let res = self.file.write_all(&self.pending);
            self.pending.clear();
            res?;
        }
        Ok(())
    }

    fn entry(&mut self, stream: Stream, msg: &[u8]) -> io::Result<()> {
        let line = format_entry(stream, msg, Instant::now());
        if let Some(max) = self.max_size {
            if self.size > 0 && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.pending.extend_from_slice(&line);
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        for n in (1..self.max_file - 1).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

/// One json-file line, newline-terminated.
pub fn format_entry(stream: Stream, msg: &[u8], time: Instant) -> Vec<u8> {
    let entry = Entry {
        log: &String::from_utf8_lossy(msg),
        stream: stream.name(),
        time: &time.rfc3339_nano(),
    };
    let mut out = serde_json::to_vec(&entry).unwrap_or_default();
    out.push(b'\n');
    out
}

#[derive(serde::Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }

    #[test]
    fn lines_become_entries_and_tails_wait() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, None, 3).unwrap();
        log.write(Stream::Stdout, b"hello\nwor").unwrap();
        log.write(Stream::Stderr, b"oops\n").unwrap();
        log.write(Stream::Stdout, b"ld\n\"quoted\" \x01\n").unwrap();
        log.write(Stream::Stdout, b"tail").unwrap();
        log.finish(Stream::Stdout).unwrap();
        let e = entries(&p);
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|v| (v["stream"].as_str().unwrap(), v["log"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("stdout", "hello\n"),
                ("stderr", "oops\n"),
                ("stdout", "world\n"),
                ("stdout", "\"quoted\" \u{1}\n"),
                ("stdout", "tail"),
            ]
        );
        assert!(e[0]["time"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn long_lines_are_cut_at_16k() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, None, 3).unwrap();
        let mut big = vec![b'x'; MAX_LINE + 10];
        big.push(b'\n');
        log.write(Stream::Stdout, &big).unwrap();
        let e = entries(&p);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["log"].as_str().unwrap().len(), MAX_LINE);
        assert_eq!(e[1]["log"].as_str().unwrap(), "xxxxxxxxxx\n");
    }

    #[test]
    fn rotation_keeps_max_file_files_of_at_most_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, Some(300), 3).unwrap();
        for i in 0..100 {
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        let names: Vec<String> = {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, vec!["c-json.log", "c-json.log.1", "c-json.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 300, "{n} is {len} bytes");
        }
        // The newest line is in the live file, older ones in .1.
        let live = entries(&p);
        assert_eq!(live.last().unwrap()["log"], "line 99\n");
        let older = entries(&dir.path().join("c-json.log.1"));
        let first_live = live[0]["log"].as_str().unwrap();
        let last_older = older.last().unwrap()["log"].as_str().unwrap();
        let num = |s: &str| s.trim().trim_start_matches("line ").parse::<u32>().unwrap();
        assert_eq!(num(last_older) + 1, num(first_live));
    }

    #[test]
    fn max_file_one_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let mut log = JsonLog::open(&p, Some(200), 1).unwrap();
        for i in 0..50 {
            log.write(Stream::Stderr, format!("l{i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
