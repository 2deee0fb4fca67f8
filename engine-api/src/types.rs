//! Plain data exchanged with berthd. `Serialize` shapes follow `docker inspect`
//! (PascalCase fields), so `--format '{{.State.Running}}'` works on them.

use std::collections::BTreeMap;

use berth_proto::services::containers::v1 as cpb;
use berth_proto::services::events::v1 as epb;
use berth_proto::services::images::v1 as ipb;
use berth_proto::services::volumes::v1 as vpb;
use serde::Serialize;
use serde_json::{json, Value};

/// A mount to set up: `kind` is "volume" (source: name, empty: anonymous),
/// "bind" (source: host path) or "tmpfs".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    pub kind: String,
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

/// What to create (docker's Config + HostConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// `Some` replaces the image's entrypoint (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub mounts: Vec<Mount>,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub pids_limit: i64,
    /// "no", "always", "unless-stopped", "on-failure".
    pub restart_policy: String,
    pub restart_max_retries: i32,
    pub read_only: bool,
    pub init: bool,
    pub stop_signal: String,
    pub stop_timeout: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// "none" or "host".
    pub network_mode: String,
    pub auto_remove: bool,
}

impl ContainerSpec {
    pub(crate) fn to_pb(&self) -> cpb::ContainerSpec {
        cpb::ContainerSpec {
            name: self.name.clone(),
            image: self.image.clone(),
            entrypoint: self.entrypoint.clone().unwrap_or_default(),
            entrypoint_set: self.entrypoint.is_some(),
            cmd: self.cmd.clone(),
            env: self.env.clone(),
            working_dir: self.working_dir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            tty: self.tty,
            open_stdin: self.open_stdin,
            mounts: self
                .mounts
                .iter()
                .map(|m| cpb::Mount {
                    r#type: m.kind.clone(),
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                })
                .collect(),
            resources: Some(cpb::Resources {
                memory_bytes: self.memory_bytes,
                nano_cpus: self.nano_cpus,
                cpu_shares: self.cpu_shares,
                pids_limit: self.pids_limit,
            }),
            restart_policy: Some(cpb::RestartPolicy {
                name: self.restart_policy.clone(),
                maximum_retry_count: self.restart_max_retries,
            }),
            read_only: self.read_only,
            init: self.init,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            labels: self.labels.clone().into_iter().collect(),
            network_mode: self.network_mode.clone(),
            auto_remove: self.auto_remove,
        }
    }

    pub(crate) fn from_pb(s: cpb::ContainerSpec) -> ContainerSpec {
        let r = s.resources.unwrap_or_default();
        let rp = s.restart_policy.unwrap_or_default();
        ContainerSpec {
            name: s.name,
            image: s.image,
            entrypoint: s.entrypoint_set.then_some(s.entrypoint),
            cmd: s.cmd,
            env: s.env,
            working_dir: s.working_dir,
            user: s.user,
            hostname: s.hostname,
            tty: s.tty,
            open_stdin: s.open_stdin,
            mounts: s
                .mounts
                .into_iter()
                .map(|m| Mount {
                    kind: m.r#type,
                    source: m.source,
                    target: m.target,
                    read_only: m.read_only,
                })
                .collect(),
            memory_bytes: r.memory_bytes,
            nano_cpus: r.nano_cpus,
            cpu_shares: r.cpu_shares,
            pids_limit: r.pids_limit,
            restart_policy: rp.name,
            restart_max_retries: rp.maximum_retry_count,
            read_only: s.read_only,
            init: s.init,
            stop_signal: s.stop_signal,
            stop_timeout: s.stop_timeout,
            labels: s.labels.into_iter().collect(),
            network_mode: s.network_mode,
            auto_remove: s.auto_remove,
        }
    }
}

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
}

impl Container {
    pub(crate) fn from_pb(c: cpb::Container) -> Container {
        let s = c.state.unwrap_or_default();
        Container {
            id: c.id,
            name: c.name,
            created: c.created,
            path: c.path,
            args: c.args,
            state: ContainerState {
                status: s.status,
                running: s.running,
                paused: s.paused,
                restarting: s.restarting,
                oom_killed: s.oom_killed,
                dead: s.dead,
                pid: s.pid,
                exit_code: s.exit_code,
                error: s.error,
                started_at: s.started_at,
                finished_at: s.finished_at,
            },
            image: c.image,
            image_id: c.image_id,
            spec: ContainerSpec::from_pb(c.spec.unwrap_or_default()),
            restart_count: c.restart_count,
            log_path: c.log_path,
            hostname_path: c.hostname_path,
            hosts_path: c.hosts_path,
            resolv_conf_path: c.resolv_conf_path,
            mounts: c
                .mounts
                .into_iter()
                .map(|m| MountPoint {
                    kind: m.r#type,
                    name: m.name,
                    source: m.source,
                    destination: m.destination,
                    rw: m.rw,
                })
                .collect(),
            env: c.env,
            working_dir: c.working_dir,
            user: c.user,
            hostname: c.hostname,
        }
    }

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
        let binds: Vec<String> = s
            .mounts
            .iter()
            .filter(|m| m.kind == "bind")
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
        json!({
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
                "StopSignal": s.stop_signal,
                "StopTimeout": s.stop_timeout,
            },
            "HostConfig": {
                "Binds": binds,
                "NetworkMode": s.network_mode,
                "RestartPolicy": {"Name": s.restart_policy, "MaximumRetryCount": s.restart_max_retries},
                "AutoRemove": s.auto_remove,
                "ReadonlyRootfs": s.read_only,
                "Init": s.init,
                "Memory": s.memory_bytes,
                "NanoCpus": s.nano_cpus,
                "CpuShares": s.cpu_shares,
                "PidsLimit": s.pids_limit,
            },
        })
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

impl Stats {
    pub(crate) fn from_pb(s: cpb::StatsSample) -> Stats {
        Stats {
            id: s.id,
            name: s.name,
            read: s.read,
            cpu_total_ns: s.cpu_total_ns,
            system_cpu_ns: s.system_cpu_ns,
            online_cpus: s.online_cpus,
            memory_usage: s.memory_usage,
            memory_limit: s.memory_limit,
            pids_current: s.pids_current,
            pids_limit: s.pids_limit,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: String,
}

/// An image as berthd reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub created: String,
    pub size: i64,
    pub config: ImageConfig,
    pub architecture: String,
    pub os: String,
    pub layers: Vec<String>,
    pub author: String,
    pub comment: String,
    pub parent: String,
}

impl Image {
    pub(crate) fn from_pb(i: ipb::Image) -> Image {
        let c = i.config.unwrap_or_default();
        Image {
            id: i.id,
            repo_tags: i.repo_tags,
            repo_digests: i.repo_digests,
            created: i.created,
            size: i.size,
            config: ImageConfig {
                env: c.env,
                cmd: c.cmd,
                entrypoint: c.entrypoint,
                working_dir: c.working_dir,
                user: c.user,
                labels: c.labels.into_iter().collect(),
                exposed_ports: c.exposed_ports,
                volumes: c.volumes,
                stop_signal: c.stop_signal,
            },
            architecture: i.architecture,
            os: i.os,
            layers: i.layers,
            author: i.author,
            comment: i.comment,
            parent: i.parent,
        }
    }

    /// `docker image inspect`'s JSON shape.
    pub fn docker_json(&self) -> Value {
        let c = &self.config;
        let set = |v: &Vec<String>| -> Value {
            if v.is_empty() {
                Value::Null
            } else {
                Value::Object(v.iter().map(|k| (k.clone(), json!({}))).collect())
            }
        };
        let list = |v: &Vec<String>| -> Value {
            if v.is_empty() {
                Value::Null
            } else {
                json!(v)
            }
        };
        json!({
            "Id": self.id,
            "RepoTags": self.repo_tags,
            "RepoDigests": self.repo_digests,
            "Parent": self.parent,
            "Comment": self.comment,
            "Created": self.created,
            "Author": self.author,
            "Config": {
                "User": c.user,
                "ExposedPorts": set(&c.exposed_ports),
                "Env": list(&c.env),
                "Cmd": list(&c.cmd),
                "Entrypoint": list(&c.entrypoint),
                "Volumes": set(&c.volumes),
                "WorkingDir": c.working_dir,
                "Labels": c.labels,
                "StopSignal": c.stop_signal,
            },
            "Architecture": self.architecture,
            "Os": self.os,
            "Size": self.size,
            "RootFS": {"Type": "layers", "Layers": self.layers},
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub size: i64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// What `rmi` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub untagged: Vec<String>,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub scope: String,
    #[serde(skip)]
    pub ref_count: i64,
    #[serde(skip)]
    pub size: i64,
}

impl Volume {
    pub(crate) fn from_pb(v: vpb::Volume) -> Volume {
        Volume {
            name: v.name,
            driver: v.driver,
            mountpoint: v.mountpoint,
            created_at: v.created_at,
            labels: v.labels.into_iter().collect(),
            options: v.options.into_iter().collect(),
            scope: v.scope,
            ref_count: v.ref_count,
            size: v.size,
        }
    }
}

/// A daemon event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    pub(crate) fn from_pb(e: epb::Event) -> Event {
        Event {
            kind: e.r#type,
            action: e.action,
            id: e.id,
            attributes: e.attributes.into_iter().collect(),
            time_nano: e.time_nano,
        }
    }
}

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
