//! Every proto ↔ domain conversion of the manager API, and the one mapping of
//! domain errors to gRPC statuses (STYLE.md guideline 5). The status message
//! is the domain error's text, which the CLI prints after "Error response from
//! daemon: ".

use std::collections::BTreeMap;

use berth_proto::services::containers::v1 as cpb;
use berth_proto::services::images::v1 as ipb;
use berth_proto::services::system::v1 as spb;
use berth_proto::services::volumes::v1 as vpb;
use tonic::{Code, Status};

use crate::containers::{self, ErrorKind};
use crate::images;
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

pub fn container_status(e: containers::Error) -> Status {
    Status::new(code(e.kind()), e.to_string())
}

pub fn image_status(e: images::Error) -> Status {
    let c = match e.kind() {
        images::ErrorKind::NotFound => Code::NotFound,
        images::ErrorKind::AlreadyExists => Code::AlreadyExists,
        images::ErrorKind::InvalidArgument => Code::InvalidArgument,
        images::ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        images::ErrorKind::Internal => Code::Internal,
    };
    Status::new(c, e.to_string())
}

pub fn volume_status(e: volumes::Error) -> Status {
    let c = match &e {
        volumes::Error::NotFound { .. } => Code::NotFound,
        volumes::Error::InvalidName { .. } | volumes::Error::Driver { .. } => Code::InvalidArgument,
        volumes::Error::InUse { .. } => Code::FailedPrecondition,
        _ => Code::Internal,
    };
    Status::new(c, e.to_string())
}

pub fn time(t: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

pub fn spec_from_pb(s: cpb::ContainerSpec) -> Result<containers::Spec, Status> {
    let mut mounts = Vec::new();
    for m in s.mounts {
        let kind = match m.r#type.as_str() {
            "" | "volume" => containers::MountKind::Volume,
            "bind" => containers::MountKind::Bind,
            "tmpfs" => containers::MountKind::Tmpfs,
            other => {
                return Err(Status::invalid_argument(format!(
                    "invalid mount type {other:?} (use volume, bind or tmpfs)"
                )))
            }
        };
        mounts.push(containers::MountSpec {
            kind,
            source: m.source,
            target: m.target,
            read_only: m.read_only,
        });
    }
    let rp = s.restart_policy.unwrap_or_default();
    let restart_policy = containers::RestartPolicy::parse(&rp.name, rp.maximum_retry_count)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "invalid restart policy {:?}: use no, always, unless-stopped or on-failure[:N]",
                rp.name
            ))
        })?;
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
            memory_bytes: r.memory_bytes,
            nano_cpus: r.nano_cpus,
            cpu_shares: r.cpu_shares,
            pids_limit: r.pids_limit,
        },
        restart_policy,
        read_only: s.read_only,
        init: s.init,
        stop_signal: s.stop_signal,
        stop_timeout: s.stop_timeout,
        labels: s.labels.into_iter().collect::<BTreeMap<_, _>>(),
        network_mode: s.network_mode,
        auto_remove: s.auto_remove,
    })
}

pub fn spec_to_pb(s: &containers::Spec) -> cpb::ContainerSpec {
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
                r#type: m.kind.as_str().to_string(),
                source: m.source.clone(),
                target: m.target.clone(),
                read_only: m.read_only,
            })
            .collect(),
        resources: Some(cpb::Resources {
            memory_bytes: s.resources.memory_bytes,
            nano_cpus: s.resources.nano_cpus,
            cpu_shares: s.resources.cpu_shares,
            pids_limit: s.resources.pids_limit,
        }),
        restart_policy: Some(cpb::RestartPolicy {
            name: s.restart_policy.name().to_string(),
            maximum_retry_count: s.restart_policy.max_retries() as i32,
        }),
        read_only: s.read_only,
        init: s.init,
        stop_signal: s.stop_signal.clone(),
        stop_timeout: s.stop_timeout,
        labels: s.labels.clone().into_iter().collect(),
        network_mode: s.network_mode.clone(),
        auto_remove: s.auto_remove,
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
        }),
        image: c.spec.image.clone(),
        image_id: c.image_id.clone(),
        spec: Some(spec_to_pb(&c.spec)),
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

pub fn disk_usage_to_pb(d: system::DiskUsage) -> spb::DiskUsageResponse {
    spb::DiskUsageResponse {
        entries: vec![
            usage_to_pb("Images", d.images),
            usage_to_pb("Containers", d.containers),
            usage_to_pb("Local Volumes", d.volumes),
        ],
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
