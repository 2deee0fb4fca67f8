//! The on-disk record of one container (`<root>/<id>/state.json`) and its live status.
//!
//! The record is written once by `create` (atomically: temp file, rename) and changed
//! only by `pause`/`resume`/`update`. It is not fsync'ed: it describes live processes,
//! which a power loss ends anyway, so durability buys nothing, while two fsyncs per
//! create cost milliseconds when `--root` is on a disk (runc does not sync either).
//! Readers never see a partial file (rename), and `delete --force` removes a state
//! directory whose record cannot be read. The status is never
//! stored: it is computed from the init pid, the pid's start time (so a recycled pid
//! reads as stopped), the exec fifo (present until `start`) and the paused flag.
use super::Error;
use crate::OCI_VERSION;
use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init process.
    pub init_pid: i32,
    /// Field 22 of `/proc/<pid>/stat` when the init was created.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroups_path: Option<String>,
    /// The cgroup directories `create` resolved (later verbs must not re-resolve a
    /// relative path from their own cgroup).
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::ManagerState>,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub no_pivot: bool,
    /// The bundle's config.json as it was at create (hooks, process defaults for exec).
    pub config: Spec,
}

/// runc's `state` output.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateOutput {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl State {
    pub fn load(dir: &Path) -> Result<State, Error> {
        let path = dir.join(STATE_FILE);
        let data = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_slice(&data).map_err(|e| Error::StateCorrupt {
            path,
            reason: e.to_string(),
        })
    }

    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let data = serde_json::to_vec(self).map_err(|e| Error::StateCorrupt {
            path: dir.join(STATE_FILE),
            reason: e.to_string(),
        })?;
        write_atomic(&dir.join(STATE_FILE), &data)
    }

    /// The live status (see the module doc).
    pub fn status(&self, dir: &Path) -> Status {
        if !pid_alive(self.init_pid, self.init_start_time) {
            return Status::Stopped;
        }
        if self.paused {
            return Status::Paused;
        }
        if dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        Status::Running
    }

    pub fn output(&self, status: Status) -> StateOutput {
        StateOutput {
            oci_version: OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                self.init_pid
            },
            status: status.as_str().to_string(),
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// Start time (clock ticks since boot) of `pid`, and whether it is a zombie.
pub fn pid_start_time(pid: i32) -> Option<(u64, bool)> {
    if pid <= 0 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &str) -> Option<(u64, bool)> {
    // comm (field 2) may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // state is field 3; starttime is field 22, i.e. 19 further on.
    let start = fields.nth(18)?.parse().ok()?;
    Some((start, state == "Z" || state == "X"))
}

/// `pid` still runs the process that had `start_time` (not exited, not recycled).
pub fn pid_alive(pid: i32, start_time: u64) -> bool {
    matches!(pid_start_time(pid), Some((t, false)) if t == start_time)
}

/// Write `data` to `path` so a reader sees the old or the new content, never a part
/// (no fsync: see the module doc).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(data)?;
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_handles_odd_comm() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(stat), Some((987654, false)));
        let z = "42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1000 10";
        assert_eq!(parse_stat(z), Some((5, true)));
    }

    #[test]
    fn own_pid_is_alive_and_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let (start, zombie) = pid_start_time(me).expect("own stat");
        assert!(!zombie);
        assert!(pid_alive(me, start));
        assert!(!pid_alive(me, start + 1));
        assert!(!pid_alive(0, 0));
    }

    #[test]
    fn output_matches_runc_shape() {
        let state = State {
            id: "c1".into(),
            init_pid: 1234,
            init_start_time: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: DateTime::parse_from_rfc3339("2024-01-02T03:04:05.000000006Z")
                .expect("time")
                .with_timezone(&Utc),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroups_path: None,
            cgroup: None,
            paused: false,
            no_pivot: false,
            config: Spec::default(),
        };
        let out = serde_json::to_value(state.output(Status::Stopped)).expect("json");
        assert_eq!(
            out,
            serde_json::json!({
                "ociVersion": OCI_VERSION, "id": "c1", "pid": 0, "status": "stopped",
                "bundle": "/b", "rootfs": "/b/rootfs",
                "created": "2024-01-02T03:04:05.000000006Z", "owner": ""
            })
        );
    }

    /// A state.json from before the `cgroup` field (only `cgroups_path`) still loads;
    /// `Container::cgroup` then re-resolves the path as those versions did.
    #[test]
    fn state_without_the_recorded_cgroup_still_loads() {
        let state = State {
            id: "old".into(),
            init_pid: 1,
            init_start_time: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: Utc::now(),
            owner: String::new(),
            annotations: HashMap::new(),
            cgroups_path: Some("/berth/old".into()),
            cgroup: None,
            paused: false,
            no_pivot: false,
            config: Spec::default(),
        };
        let mut json = serde_json::to_value(&state).expect("json");
        json.as_object_mut().expect("object").remove("cgroup");
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(STATE_FILE), json.to_string()).expect("write");
        let loaded = State::load(dir.path()).expect("an old state file loads");
        assert_eq!(loaded.cgroup, None);
        assert_eq!(loaded.cgroups_path.as_deref(), Some("/berth/old"));
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.json");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"two");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1);
    }
}
