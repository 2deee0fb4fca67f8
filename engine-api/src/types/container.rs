//! A container as berthd reports it, and the results of its verbs. `Serialize`
//! shapes follow `docker inspect` (PascalCase fields), so
//! `--format '{{.State.Running}}'` works on them.

use serde::Serialize;
use serde_json::{json, Value};

use super::spec::{ContainerSpec, MountKind};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerState {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i64,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// Only for a container with a health check (docker leaves it out otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<super::Health>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
}

/// A container as berthd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerState,
    /// The reference the user gave.
    pub image: String,
    pub image_id: String,
    pub spec: ContainerSpec,
    pub restart_count: i32,
    pub log_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    pub mounts: Vec<MountPoint>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    /// The check it runs: the image's with the create options over it
    /// (`None`: neither has one; a `NONE` test: disabled).
    pub healthcheck: Option<super::HealthConfig>,
}

impl Container {
    /// The command line as `ps` shows it.
    pub fn command(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `docker inspect`'s JSON shape.
    pub fn docker_json(&self) -> Value {
        let s = &self.spec;
        let r = &s.resources;
        let binds: Vec<String> = s
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Bind)
            .map(|m| {
                format!(
                    "{}:{}{}",
                    m.source,
                    m.target,
                    if m.read_only { ":ro" } else { "" }
                )
            })
            .collect();
        let (entry, cmd): (Value, Value) = match &s.entrypoint {
            Some(ep) => (json!(ep), json!(s.cmd)),
            None => (Value::Null, json!(self.args_with_path())),
        };
        let mut v = json!({
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": self.args,
            "State": self.state,
            "Image": self.image_id,
            "ResolvConfPath": self.resolv_conf_path,
            "HostnamePath": self.hostname_path,
            "HostsPath": self.hosts_path,
            "LogPath": self.log_path,
            "Name": format!("/{}", self.name),
            "RestartCount": self.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "Mounts": self.mounts,
            "Config": {
                "Hostname": self.hostname,
                "User": self.user,
                "Tty": s.tty,
                "OpenStdin": s.open_stdin,
                "Env": self.env,
                "Cmd": cmd,
                "Image": self.image,
                "WorkingDir": self.working_dir,
                "Entrypoint": entry,
                "Labels": s.labels,
                "StopSignal": s.stop_signal.clone().unwrap_or_default(),
                "StopTimeout": s.stop_timeout,
            },
            "HostConfig": {
                "Binds": binds,
                "NetworkMode": s.network_mode.to_string(),
                "RestartPolicy": {
                    "Name": s.restart_policy.name(),
                    "MaximumRetryCount": s.restart_policy.max_retries(),
                },
                "AutoRemove": s.auto_remove,
                "ReadonlyRootfs": s.read_only,
                "Init": s.init,
                "Memory": r.memory.map_or(0, |b| b.0),
                "NanoCpus": r.cpus.map_or(0, |c| c.0),
                "CpuShares": r.cpu_shares.unwrap_or(0),
                "PidsLimit": r.pids_limit.unwrap_or(0),
            },
        });
        // docker leaves it out when the container has none.
        if let Some(h) = &self.healthcheck {
            v["Config"]["Healthcheck"] = h.docker_json();
        }
        v
    }

    fn args_with_path(&self) -> Vec<String> {
        std::iter::once(self.path.clone())
            .chain(self.args.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopResult {
    /// SIGKILL was needed.
    pub killed: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResult {
    #[serde(rename = "StatusCode")]
    pub exit_code: i32,
    pub error: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// One resource sample.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stats {
    pub id: String,
    pub name: String,
    pub read: String,
    pub cpu_total_ns: u64,
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_limit: u64,
    pub pids_current: u64,
    pub pids_limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}
