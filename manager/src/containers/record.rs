//! The container record kept in `Table::Containers` (JSON), and the run options
//! it was made from. Plain data: every verb in this module reads and rewrites it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::health::{Health, HealthConfig};

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
    /// Only for tmpfs mounts.
    #[serde(default)]
    pub tmpfs: TmpfsOptions,
}

/// A tmpfs mount's options (docker's `--tmpfs PATH:OPTS`): noexec, nosuid
/// and nodev unless `exec`, `suid` or `dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TmpfsOptions {
    pub size_bytes: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub exec: bool,
    pub suid: bool,
    pub dev: bool,
}

impl TmpfsOptions {
    /// The mount(8) options, in a fixed order.
    pub fn mount_options(&self) -> Vec<String> {
        let mut o = vec![
            if self.suid { "suid" } else { "nosuid" }.to_string(),
            if self.dev { "dev" } else { "nodev" }.to_string(),
            if self.exec { "exec" } else { "noexec" }.to_string(),
        ];
        if let Some(size) = self.size_bytes {
            o.push(format!("size={size}"));
        }
        if let Some(mode) = self.mode {
            o.push(format!("mode={mode:o}"));
        }
        if let Some(uid) = self.uid {
            o.push(format!("uid={uid}"));
        }
        if let Some(gid) = self.gid {
            o.push(format!("gid={gid}"));
        }
        o
    }
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

/// cgroup limits; `None` means no limit (the kernel's default). Values are
/// checked against the kernel's range at create (`create.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub memory_bytes: Option<u64>,
    /// CPUs times 1e9 (docker's NanoCPUs).
    pub nano_cpus: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<u64>,
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

/// docker's `--network`. `Default` only arrives from a client; `create`
/// replaces it by the daemon's default before the record is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
    Bridge,
    /// Join another container's network namespace.
    Container(String),
    /// A user-defined network.
    Network(String),
}

impl NetworkMode {
    /// docker's text: "none", "host", "bridge", "container:ID", a name.
    pub fn parse(s: &str) -> NetworkMode {
        match s {
            "" | "default" => NetworkMode::Default,
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "bridge" => NetworkMode::Bridge,
            s => match s.strip_prefix("container:") {
                Some(c) => NetworkMode::Container(c.to_string()),
                None => NetworkMode::Network(s.to_string()),
            },
        }
    }

    pub fn as_string(&self) -> String {
        match self {
            NetworkMode::Default => "default".into(),
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::Container(c) => format!("container:{c}"),
            NetworkMode::Network(n) => n.clone(),
        }
    }

    /// The container shares the host's network namespace.
    pub fn is_host(&self) -> bool {
        *self == NetworkMode::Host
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
    pub network_mode: NetworkMode,
    pub auto_remove: bool,
    /// Size of /dev/shm; `None`: docker's 64 MiB.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Capabilities, devices, seccomp and the rest of the confinement.
    #[serde(default)]
    pub security: crate::security::Options,
    /// `--health-*` / `--no-healthcheck`: over the image's check, field by field.
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
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

/// A multi-step operation in flight on a container. Each verb that takes more
/// than one step records its intent before the first act and clears it with
/// the result (both in the metadata store), so when berthd dies in between,
/// start-up (`restore.rs`) knows what was under way and finishes or undoes it
/// against what the shim and the runtime say exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    /// `create`: the record and name are reserved; rootfs, volumes and bundle
    /// are being made. Undone at start-up.
    Create,
    /// `start` or a restart: a shim may exist. Finished when its process runs,
    /// undone when it never ran.
    Start,
    /// The user's `pause`: kept frozen if the freeze happened.
    Pause,
    /// `unpause`: thawed at start-up if still frozen.
    Unpause,
    /// `commit` froze the container to read its changes: thawed at start-up
    /// (nobody asked for it to stay paused).
    Commit,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Create => "create",
            Intent::Start => "start",
            Intent::Pause => "pause",
            Intent::Unpause => "unpause",
            Intent::Commit => "commit",
        }
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
    /// Only for a container with an enabled health check; see `health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
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
    /// Only for tmpfs mounts.
    #[serde(default)]
    pub tmpfs: TmpfsOptions,
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
    /// The operation under way, if any (see [`Intent`]).
    #[serde(default)]
    pub intent: Option<Intent>,
    pub mounts: Vec<MountPoint>,
    /// `<root>/containers/<id>`: config.json, rootfs/, hosts, log.
    pub dir: PathBuf,
    pub log_path: PathBuf,
    /// The check it runs: the image's with `spec.healthcheck` over it,
    /// resolved at create (`None`: neither has one).
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
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
    fn network_modes_parse() {
        assert_eq!(NetworkMode::parse(""), NetworkMode::Default);
        assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:db"),
            NetworkMode::Container("db".into())
        );
        assert_eq!(NetworkMode::parse("net1").as_string(), "net1");
    }
}
