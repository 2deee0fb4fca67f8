//! Exit statuses: the record the shim makes when a process ends (kept as
//! `exit.json` for the init, see `berth_proto::shim_state`), and the OOM
//! check read from the container's memory cgroup before the runtime deletes
//! it.

use std::path::{Path, PathBuf};

use berth_proto::shim_state::ExitRecord;

use crate::reaper::Exit;

/// The record of `pid`'s exit, stamped now. Its file format and atomic write
/// are the state-dir contract (`berth_proto::shim_state`), shared with berthd.
pub fn record_now(pid: u32, exit: Exit, oom_killed: bool) -> ExitRecord {
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
    fn records_carry_the_exit_and_a_readable_time() {
        let r = record_now(9, Exit::Signal(9), true);
        assert_eq!((r.pid, r.code, r.signal, r.oom_killed), (9, 137, 9, true));
        assert!(r.exited_at_unix_nanos > 0);
        assert!(r.exited_at.ends_with('Z'), "{}", r.exited_at);
    }
}
