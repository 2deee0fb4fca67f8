//! Exit statuses: what the shim records when a process ends, the atomic
//! `exit.json` that outlives the shim's memory, and the OOM check read from
//! the container's memory cgroup before the runtime deletes it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use berth_proto::shim::v1 as pb;

use crate::reaper::Exit;

/// `exit.json` in the state dir.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExitRecord {
    pub pid: u32,
    pub code: i32,
    pub signal: i32,
    pub exited_at_unix_nanos: i64,
    /// The same instant, for humans.
    pub exited_at: String,
    pub oom_killed: bool,
}

impl ExitRecord {
    pub fn now(pid: u32, exit: Exit, oom_killed: bool) -> ExitRecord {
        let t = crate::clock::Instant::now();
        ExitRecord {
            pid,
            code: exit.code(),
            signal: exit.signal(),
            exited_at_unix_nanos: t.unix_nanos,
            exited_at: t.rfc3339_nano(),
            oom_killed,
        }
    }

    pub fn to_pb(&self, exec_id: &str) -> pb::ExitStatus {
        pb::ExitStatus {
            exec_id: exec_id.to_string(),
            pid: self.pid,
            code: self.code,
            exited_at_unix_nanos: self.exited_at_unix_nanos,
            oom_killed: self.oom_killed,
            signal: self.signal,
        }
    }
}

/// temp file in the same dir, fsync, rename, fsync the dir: after a crash the
/// file is either the old one or the whole new one.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The OOM-kill counters of a process's memory cgroup (v1
/// `memory.oom_control`, v2 `memory.events`), found from
/// `/proc/<pid>/cgroup` while the process lives.
#[derive(Debug, Default)]
pub struct OomWatch {
    files: Vec<PathBuf>,
    baseline: u64,
}

impl OomWatch {
    pub fn for_pid(pid: u32) -> OomWatch {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let mut files = Vec::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            if ctrls.split(',').any(|c| c == "memory") {
                files.push(
                    Path::new("/sys/fs/cgroup/memory")
                        .join(rel)
                        .join("memory.oom_control"),
                );
            } else if ctrls.is_empty() {
                for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    files.push(Path::new(root).join(rel).join("memory.events"));
                }
            }
        }
        let mut w = OomWatch { files, baseline: 0 };
        w.baseline = w.count();
        w
    }

    fn count(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .map(|t| oom_kills(&t))
            .max()
            .unwrap_or(0)
    }

    /// The OOM killer ran in the cgroup since the watch began.
    pub fn killed(&self) -> bool {
        self.count() > self.baseline
    }
}

/// The `oom_kill N` line of memory.oom_control / memory.events.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_counter_is_parsed() {
        assert_eq!(
            oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(oom_kills("low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n"), 1);
        assert_eq!(oom_kills(""), 0);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "exit.json", b"{\"a\":1}").unwrap();
        write_atomic(dir.path(), "exit.json", b"{\"a\":2}").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("exit.json")).unwrap(),
            "{\"a\":2}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
