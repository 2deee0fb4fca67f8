//! The container record kept in `Table::Containers` (JSON), and the run options
//! it was made from. Plain data: every verb in this module reads and rewrites it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Grace period of `stop` when neither the request nor the container sets one.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// One mount the user asked for (`-v`, `--mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    pub kind: MountKind,
    /// Volume name ("" for an anonymous volume) or host path of a bind.
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// cgroup limits; 0 means unlimited / default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub pids_limit: i64,
}

/// docker's restart policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    No,
    OnFailure {
        /// 0: no limit.
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses `no`, `always`, `unless-stopped`, `on-failure[:N]`.
    pub fn parse(name: &str, max: i32) -> Option<RestartPolicy> {
        Some(match name {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure {
                max_retries: u32::try_from(max).ok()?,
            },
            _ => return None,
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }
}

/// What the user asked for at create time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub mounts: Vec<MountSpec>,
    pub resources: Resources,
    pub restart_policy: RestartPolicy,
    pub read_only: bool,
    pub init: bool,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub network_mode: String,
    pub auto_remove: bool,
}

/// Lifecycle status, docker's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Has a live task (its processes exist).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A mount as set up in the bundle (docker inspect's `Mounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Volume name ("" for binds).
    pub name: String,
    pub source: PathBuf,
    pub destination: String,
    pub rw: bool,
    /// An anonymous volume (removed by `rm -v`).
    #[serde(default)]
    pub anonymous: bool,
}

/// The stored container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub spec: Spec,
    pub image_id: String,
    /// Resolved process: executable, arguments, environment, cwd, user.
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub stop_signal: String,
    pub stop_timeout: i64,
    pub state: State,
    pub restart_count: u32,
    /// Set by an explicit stop/kill, cleared by start: `unless-stopped` and
    /// `always` do not restart what the user stopped.
    pub manually_stopped: bool,
    pub mounts: Vec<MountPoint>,
    /// `<root>/containers/<id>`: config.json, rootfs/, hosts, log.
    pub dir: PathBuf,
    pub log_path: PathBuf,
}

impl Container {
    pub fn bundle(&self) -> PathBuf {
        self.dir.clone()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The container's writable layer (where the snapshotter puts it:
    /// `containers/<id>/overlay/upper`), for size reports.
    pub fn rw_layer(&self) -> PathBuf {
        self.dir.join("overlay").join("upper")
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }

    /// The command line as `ps` shows it.
    pub fn command(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policy_parse() {
        assert_eq!(RestartPolicy::parse("no", 0), Some(RestartPolicy::No));
        assert_eq!(
            RestartPolicy::parse("on-failure", 3),
            Some(RestartPolicy::OnFailure { max_retries: 3 })
        );
        assert_eq!(RestartPolicy::parse("sometimes", 0), None);
        assert_eq!(RestartPolicy::parse("on-failure", -1), None);
    }
}
