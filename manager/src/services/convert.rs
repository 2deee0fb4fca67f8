//! Every proto ↔ domain conversion of the manager API, and the one mapping of
//! domain errors to gRPC statuses (STYLE.md guideline 5). The status message
//! is the domain error's text, which the CLI prints after "Error response from
//! daemon: ".

use std::collections::BTreeMap;
use std::time::Duration;

use berth_proto::services::containers::v1 as cpb;
use berth_proto::services::images::v1 as ipb;
use berth_proto::services::system::v1 as spb;
use berth_proto::services::volumes::v1 as vpb;
use tonic::{Code, Status};

use berth_proto::errors::v1 as epb;

use crate::containers;
use crate::errors::{Classify, ErrorKind, Reason};
use crate::images;
use crate::security;
use crate::system;
use crate::volumes;

fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::Internal => Code::Internal,
    }
}

fn reason_to_pb(r: Reason) -> epb::Reason {
    match r {
        Reason::NotFound => epb::Reason::NotFound,
        Reason::NoSuchImage => epb::Reason::NoSuchImage,
        Reason::AlreadyExists => epb::Reason::AlreadyExists,
        Reason::Conflict => epb::Reason::Conflict,
        Reason::InvalidArgument => epb::Reason::InvalidArgument,
        Reason::CommandNotFound => epb::Reason::CommandNotFound,
        Reason::CommandNotExecutable => epb::Reason::CommandNotExecutable,
        Reason::NotRunning => epb::Reason::NotRunning,
        Reason::Internal => epb::Reason::Internal,
    }
}

/// Longest status message sent (bytes).
const MAX_MESSAGE: usize = 2048;

/// The one mapping of a domain error to a gRPC status: the code from its
/// kind, the text a user reads, and an `ErrorDetail` clients branch on.
pub fn status<E: Classify>(e: E) -> Status {
    let reason = e.reason();
    let detail = epb::ErrorDetail {
        reason: reason_to_pb(reason).into(),
        subject: crate::restricted_name::shown(e.subject().unwrap_or_default()),
        exit_code: reason.exit_code().unwrap_or(0),
    };
    // The message travels in an HTTP/2 header: keep it well under the limit
    // whatever a user-given value inside it weighs.
    let mut message = e.to_string();
    if message.len() > MAX_MESSAGE {
        let cut = (0..=MAX_MESSAGE)
            .rev()
            .find(|i| message.is_char_boundary(*i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push('…');
    }
    Status::with_details(
        code(reason.kind()),
        message,
        prost::Message::encode_to_vec(&detail).into(),
    )
}

pub fn container_status(e: containers::Error) -> Status {
    status(e)
}

pub fn image_status(e: images::Error) -> Status {
    status(e)
}

pub fn volume_status(e: volumes::Error) -> Status {
    status(e)
}

pub fn time(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

/// A wire limit: 0 is unset, a negative value is refused with the option's name.
fn limit(value: i64, option: &str) -> Result<Option<u64>, Status> {
    match u64::try_from(value) {
        Ok(0) => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(_) => Err(Status::invalid_argument(format!(
            "invalid {option}: {value} (a limit cannot be negative)"
        ))),
    }
}

fn mount_kind(t: cpb::MountType) -> containers::MountKind {
    match t {
        cpb::MountType::Volume => containers::MountKind::Volume,
        cpb::MountType::Bind => containers::MountKind::Bind,
        cpb::MountType::Tmpfs => containers::MountKind::Tmpfs,
    }
}

fn mount_type(k: containers::MountKind) -> cpb::MountType {
    match k {
        containers::MountKind::Volume => cpb::MountType::Volume,
        containers::MountKind::Bind => cpb::MountType::Bind,
        containers::MountKind::Tmpfs => cpb::MountType::Tmpfs,
    }
}

impl TryFrom<cpb::ContainerSpec> for containers::Spec {
    type Error = Status;

    fn try_from(s: cpb::ContainerSpec) -> Result<Self, Status> {
        let mut mounts = Vec::new();
        for m in s.mounts {
            let kind = cpb::MountType::try_from(m.r#type).map_err(|_| {
                Status::invalid_argument(format!(
                    "invalid mount type {} (use volume, bind or tmpfs)",
                    m.r#type
                ))
            })?;
            let t = m.tmpfs.unwrap_or_default();
            mounts.push(containers::MountSpec {
                kind: mount_kind(kind),
                source: m.source,
                target: m.target,
                read_only: m.read_only,
                tmpfs: containers::TmpfsOptions {
                    size_bytes: (t.size_bytes > 0).then_some(t.size_bytes),
                    mode: t.mode,
                    uid: t.uid,
                    gid: t.gid,
                    exec: t.exec,
                    suid: t.suid,
                    dev: t.dev,
                },
            });
        }
        let rp = s.restart_policy.unwrap_or_default();
        let restart_policy = match cpb::RestartPolicyName::try_from(rp.name) {
            Ok(cpb::RestartPolicyName::RestartPolicyNo) => containers::RestartPolicy::No,
            Ok(cpb::RestartPolicyName::RestartPolicyOnFailure) => {
                containers::RestartPolicy::OnFailure {
                    max_retries: rp.maximum_retry_count,
                }
            }
            Ok(cpb::RestartPolicyName::RestartPolicyAlways) => containers::RestartPolicy::Always,
            Ok(cpb::RestartPolicyName::RestartPolicyUnlessStopped) => {
                containers::RestartPolicy::UnlessStopped
            }
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "invalid restart policy {}: use no, always, unless-stopped or on-failure[:N]",
                    rp.name
                )))
            }
        };
        let r = s.resources.unwrap_or_default();
        Ok(containers::Spec {
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
            mounts,
            resources: containers::Resources {
                memory_bytes: limit(r.memory_bytes, "--memory")?,
                nano_cpus: limit(r.nano_cpus, "--cpus")?,
                cpu_shares: limit(r.cpu_shares, "--cpu-shares")?,
                pids_limit: limit(r.pids_limit, "--pids-limit")?,
            },
            restart_policy,
            read_only: s.read_only,
            init: s.init,
            stop_signal: s.stop_signal,
            stop_timeout: s.stop_timeout,
            labels: s.labels.into_iter().collect::<BTreeMap<_, _>>(),
            network_mode: containers::NetworkMode::parse(&s.network_mode),
            auto_remove: s.auto_remove,
            shm_size: limit(s.shm_size_bytes, "--shm-size")?,
            security: s.security.map(Into::into).unwrap_or_default(),
            healthcheck: s.healthcheck.map(TryInto::try_into).transpose()?,
        })
    }
}

impl TryFrom<cpb::HealthConfig> for containers::HealthConfig {
    type Error = Status;

    /// docker's texts for a negative value (its floor check says the same).
    fn try_from(h: cpb::HealthConfig) -> Result<Self, Status> {
        let d = |ns: i64, what: &str| {
            u64::try_from(ns).map(Duration::from_nanos).map_err(|_| {
                Status::invalid_argument(format!("{what} in Healthcheck cannot be less than 1ms"))
            })
        };
        Ok(containers::HealthConfig {
            test: h.test,
            interval: d(h.interval_ns, "Interval")?,
            timeout: d(h.timeout_ns, "Timeout")?,
            start_period: d(h.start_period_ns, "StartPeriod")?,
            start_interval: d(h.start_interval_ns, "StartInterval")?,
            retries: u32::try_from(h.retries).map_err(|_| {
                Status::invalid_argument("Retries in Healthcheck cannot be negative")
            })?,
        })
    }
}

fn health_config_to_pb(h: &containers::HealthConfig) -> cpb::HealthConfig {
    let ns = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    cpb::HealthConfig {
        test: h.test.clone(),
        interval_ns: ns(h.interval),
        timeout_ns: ns(h.timeout),
        start_period_ns: ns(h.start_period),
        start_interval_ns: ns(h.start_interval),
        retries: i32::try_from(h.retries).unwrap_or(i32::MAX),
    }
}

fn health_to_pb(h: &containers::Health) -> cpb::Health {
    cpb::Health {
        status: h.status.as_str().to_string(),
        failing_streak: h.failing_streak,
        log: h
            .log
            .iter()
            .map(|r| cpb::HealthResult {
                start: time(&Some(r.start)),
                end: time(&Some(r.end)),
                exit_code: r.exit_code,
                output: r.output.clone(),
            })
            .collect(),
    }
}

impl From<cpb::Security> for security::Options {
    fn from(s: cpb::Security) -> Self {
        security::Options {
            privileged: s.privileged,
            cap_add: s.cap_add,
            cap_drop: s.cap_drop,
            devices: s
                .devices
                .into_iter()
                .map(|d| security::DeviceMapping {
                    path_on_host: d.path_on_host,
                    path_in_container: d.path_in_container,
                    permissions: d.cgroup_permissions,
                })
                .collect(),
            device_cgroup_rules: s.device_cgroup_rules,
            security_opt: s.security_opt,
            userns_mode: s.userns_mode,
        }
    }
}

impl From<&security::Options> for cpb::Security {
    fn from(s: &security::Options) -> Self {
        cpb::Security {
            privileged: s.privileged,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            devices: s
                .devices
                .iter()
                .map(|d| cpb::DeviceMapping {
                    path_on_host: d.path_on_host.clone(),
                    path_in_container: d.path_in_container.clone(),
                    cgroup_permissions: d.permissions.clone(),
                })
                .collect(),
            device_cgroup_rules: s.device_cgroup_rules.clone(),
            security_opt: s.security_opt.clone(),
            userns_mode: s.userns_mode.clone(),
        }
    }
}

/// Limits back on the wire (0: unset).
fn wire(v: Option<u64>) -> i64 {
    v.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl From<&containers::Spec> for cpb::ContainerSpec {
    fn from(s: &containers::Spec) -> Self {
        let name = match s.restart_policy {
            containers::RestartPolicy::No => cpb::RestartPolicyName::RestartPolicyNo,
            containers::RestartPolicy::OnFailure { .. } => {
                cpb::RestartPolicyName::RestartPolicyOnFailure
            }
            containers::RestartPolicy::Always => cpb::RestartPolicyName::RestartPolicyAlways,
            containers::RestartPolicy::UnlessStopped => {
                cpb::RestartPolicyName::RestartPolicyUnlessStopped
            }
        };
        cpb::ContainerSpec {
            name: s.name.clone(),
            image: s.image.clone(),
            entrypoint: s.entrypoint.clone().unwrap_or_default(),
            entrypoint_set: s.entrypoint.is_some(),
            cmd: s.cmd.clone(),
            env: s.env.clone(),
            working_dir: s.working_dir.clone(),
            user: s.user.clone(),
            hostname: s.hostname.clone(),
            tty: s.tty,
            open_stdin: s.open_stdin,
            mounts: s
                .mounts
                .iter()
                .map(|m| cpb::Mount {
                    r#type: mount_type(m.kind).into(),
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                    tmpfs: (m.kind == containers::MountKind::Tmpfs).then(|| cpb::TmpfsOptions {
                        size_bytes: m.tmpfs.size_bytes.unwrap_or(0),
                        mode: m.tmpfs.mode,
                        uid: m.tmpfs.uid,
                        gid: m.tmpfs.gid,
                        exec: m.tmpfs.exec,
                        suid: m.tmpfs.suid,
                        dev: m.tmpfs.dev,
                    }),
                })
                .collect(),
            resources: Some(cpb::Resources {
                memory_bytes: wire(s.resources.memory_bytes),
                nano_cpus: wire(s.resources.nano_cpus),
                cpu_shares: wire(s.resources.cpu_shares),
                pids_limit: wire(s.resources.pids_limit),
            }),
            restart_policy: Some(cpb::RestartPolicy {
                name: name.into(),
                maximum_retry_count: s.restart_policy.max_retries(),
            }),
            read_only: s.read_only,
            init: s.init,
            stop_signal: s.stop_signal.clone(),
            stop_timeout: s.stop_timeout,
            labels: s.labels.clone().into_iter().collect(),
            network_mode: s.network_mode.as_string(),
            auto_remove: s.auto_remove,
            shm_size_bytes: wire(s.shm_size),
            security: Some((&s.security).into()),
            healthcheck: s.healthcheck.as_ref().map(health_config_to_pb),
        }
    }
}

pub fn container_to_pb(c: &containers::Container) -> cpb::Container {
    let st = &c.state;
    cpb::Container {
        id: c.id.clone(),
        name: c.name.clone(),
        created: time(&Some(c.created)),
        path: c.path.clone(),
        args: c.args.clone(),
        state: Some(cpb::ContainerState {
            status: st.status.as_str().to_string(),
            running: st.status.is_live(),
            paused: st.status == containers::Status::Paused,
            restarting: st.status == containers::Status::Restarting,
            oom_killed: st.oom_killed,
            dead: st.status == containers::Status::Dead,
            pid: i64::from(st.pid),
            exit_code: st.exit_code,
            error: st.error.clone(),
            started_at: time(&st.started_at),
            finished_at: time(&st.finished_at),
            health: st.health.as_ref().map(health_to_pb),
        }),
        image: c.spec.image.clone(),
        image_id: c.image_id.clone(),
        spec: Some((&c.spec).into()),
        restart_count: c.restart_count as i32,
        log_path: c.log_path.display().to_string(),
        hostname_path: c.dir.join("hostname").display().to_string(),
        hosts_path: c.dir.join("hosts").display().to_string(),
        resolv_conf_path: c.dir.join("resolv.conf").display().to_string(),
        mounts: c
            .mounts
            .iter()
            .map(|m| cpb::MountPoint {
                r#type: m.kind.as_str().to_string(),
                name: m.name.clone(),
                source: m.source.display().to_string(),
                destination: m.destination.clone(),
                rw: m.rw,
            })
            .collect(),
        env: c.env.clone(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        hostname: c.hostname.clone(),
        bundle: c.bundle().display().to_string(),
        rootfs: c.rootfs().display().to_string(),
        size_rw: 0,
        healthcheck: c.healthcheck.as_ref().map(health_config_to_pb),
    }
}

pub fn volume_to_pb(v: &volumes::Volume) -> vpb::Volume {
    vpb::Volume {
        name: v.name.clone(),
        driver: v.driver.clone(),
        mountpoint: v.mountpoint.display().to_string(),
        created_at: v.created_at.clone(),
        labels: v.labels.clone(),
        options: v.options.clone(),
        scope: "local".to_string(),
        ref_count: v.users.len() as i64,
        size: 0,
    }
}

pub fn image_to_pb(i: &images::Image) -> ipb::Image {
    ipb::Image {
        id: i.id.as_str().to_string(),
        repo_tags: i.repo_tags.clone(),
        repo_digests: i.repo_digests.clone(),
        created: i.created.clone(),
        size: i.size as i64,
        config: Some(ipb::ImageConfig {
            labels: i.labels.clone().into_iter().collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn image_config_to_pb(c: &images::ImageConfig) -> ipb::ImageConfig {
    ipb::ImageConfig {
        env: c.env.clone(),
        cmd: c.cmd.clone().unwrap_or_default(),
        entrypoint: c.entrypoint.clone().unwrap_or_default(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        labels: c.labels.clone().into_iter().collect(),
        exposed_ports: c.exposed_ports.keys().cloned().collect(),
        volumes: c.volumes.keys().cloned().collect(),
        stop_signal: c.stop_signal.clone().unwrap_or_default(),
    }
}

pub fn image_detail_to_pb(d: &images::ImageDetail) -> ipb::Image {
    ipb::Image {
        id: d.id.as_str().to_string(),
        repo_tags: d.repo_tags.clone(),
        repo_digests: d.repo_digests.clone(),
        created: d.created.clone(),
        size: d.size as i64,
        config: Some(image_config_to_pb(&d.config)),
        architecture: d.architecture.clone(),
        os: d.os.clone(),
        layers: d
            .rootfs
            .layers
            .iter()
            .map(|l| l.as_str().to_string())
            .collect(),
        author: d.author.clone(),
        comment: d.comment.clone(),
        parent: d.parent.clone(),
    }
}

pub fn history_to_pb(h: Vec<images::HistoryEntry>) -> ipb::HistoryResponse {
    ipb::HistoryResponse {
        entries: h
            .into_iter()
            .map(|e| ipb::HistoryEntry {
                empty_layer: e.size == 0,
                id: e.id,
                created: e.created,
                created_by: e.created_by,
                size: e.size as i64,
                comment: e.comment,
                tags: e.tags,
            })
            .collect(),
    }
}

/// docker's `Loaded image:` lines (`Loaded image ID:` for an untagged one).
pub fn load_to_pb(images: &[images::Image]) -> ipb::LoadResponse {
    let mut loaded = Vec::new();
    for img in images {
        if img.repo_tags.is_empty() {
            loaded.push(format!("Loaded image ID: {}", img.id.as_str()));
        }
        for t in &img.repo_tags {
            loaded.push(format!("Loaded image: {t}"));
        }
    }
    ipb::LoadResponse { loaded }
}

pub fn remove_to_pb(actions: Vec<images::RemoveAction>) -> ipb::RemoveResponse {
    let mut out = ipb::RemoveResponse::default();
    for a in actions {
        match a {
            images::RemoveAction::Untagged(t) => out.untagged.push(t),
            images::RemoveAction::Deleted(d) => out.deleted.push(d.as_str().to_string()),
        }
    }
    out
}

fn usage_to_pb(kind: &str, u: volumes::Usage) -> spb::UsageEntry {
    spb::UsageEntry {
        kind: kind.to_string(),
        total: u.total as i64,
        active: u.active as i64,
        size: u.size,
        reclaimable: u.reclaimable,
    }
}

pub fn disk_usage_to_pb(d: system::DiskUsage, build: volumes::Usage) -> spb::DiskUsageResponse {
    spb::DiskUsageResponse {
        entries: vec![
            usage_to_pb("Images", d.images),
            usage_to_pb("Containers", d.containers),
            usage_to_pb("Local Volumes", d.volumes),
            usage_to_pb("Build Cache", build),
        ],
        images: d
            .image_details
            .into_iter()
            .map(|u| spb::ImageUsage {
                id: u.image.id.to_string(),
                repo_tags: u.image.repo_tags,
                created: u.image.created,
                size: u.image.size,
                shared_size: u.shared_size,
                unique_size: u.unique_size,
                containers: u.containers as i64,
            })
            .collect(),
    }
}

pub fn system_status(e: system::Error) -> Status {
    match e {
        system::Error::Containers(e) => container_status(e),
        system::Error::Images(e) => image_status(e),
        system::Error::Volumes(e) => volume_status(e),
        system::Error::Task(e) => Status::internal(e.to_string()),
    }
}

pub fn version_to_pb(v: system::Version) -> spb::VersionResponse {
    spb::VersionResponse {
        version: v.version,
        api_version: v.api_version,
        git_commit: String::new(),
        os: v.os,
        arch: v.arch,
        kernel_version: v.kernel_version,
        runtime: v.runtime,
        runtime_version: v.runtime_version,
    }
}

pub fn info_to_pb(i: system::Info) -> spb::InfoResponse {
    spb::InfoResponse {
        containers: i.containers,
        containers_running: i.containers_running,
        containers_paused: i.containers_paused,
        containers_stopped: i.containers_stopped,
        images: i.images,
        volumes: i.volumes,
        storage_driver: i.storage_driver,
        root_dir: i.root_dir,
        state_dir: i.state_dir,
        kernel_version: i.kernel_version,
        operating_system: i.operating_system,
        os_type: i.os_type,
        architecture: i.architecture,
        ncpu: i.ncpu,
        mem_total: i.mem_total,
        cgroup_version: i.cgroup_version,
        runtime: i.runtime,
        server_version: i.server_version,
        name: i.name,
        debug: i.debug,
        live_restore: i.live_restore,
    }
}

pub fn system_prune_to_pb(p: system::PruneReport) -> spb::PruneResponse {
    spb::PruneResponse {
        containers_deleted: p.containers_deleted,
        volumes_deleted: p.volumes_deleted,
        images_deleted: p.images_deleted,
        space_reclaimed: p.space_reclaimed,
    }
}
