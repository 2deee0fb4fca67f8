//! Every proto ↔ client-type conversion of the engine API, in one place (the
//! one converter of this boundary). Requests are built with `From`; answers
//! from berthd are taken leniently (an enum value this client does not know
//! reads as the default), since an older client must keep reading a newer
//! daemon.

use berth_proto::services::containers::v1 as cpb;
use berth_proto::services::events::v1 as epb;
use berth_proto::services::images::v1 as ipb;
use berth_proto::services::volumes::v1 as vpb;

use std::time::Duration;

use crate::types::{
    ByteSize, Container, ContainerSpec, ContainerState, DeviceMapping, Event, Health, HealthConfig,
    HealthResult, Image, ImageConfig, Mount, MountKind, MountPoint, NanoCpus, Resources,
    RestartPolicy, Security, Stats, TmpfsOptions, Volume,
};

impl From<MountKind> for cpb::MountType {
    fn from(k: MountKind) -> Self {
        match k {
            MountKind::Volume => cpb::MountType::Volume,
            MountKind::Bind => cpb::MountType::Bind,
            MountKind::Tmpfs => cpb::MountType::Tmpfs,
        }
    }
}

impl From<cpb::MountType> for MountKind {
    fn from(k: cpb::MountType) -> Self {
        match k {
            cpb::MountType::Volume => MountKind::Volume,
            cpb::MountType::Bind => MountKind::Bind,
            cpb::MountType::Tmpfs => MountKind::Tmpfs,
        }
    }
}

impl From<RestartPolicy> for cpb::RestartPolicy {
    fn from(p: RestartPolicy) -> Self {
        let name = match p {
            RestartPolicy::No => cpb::RestartPolicyName::RestartPolicyNo,
            RestartPolicy::OnFailure { .. } => cpb::RestartPolicyName::RestartPolicyOnFailure,
            RestartPolicy::Always => cpb::RestartPolicyName::RestartPolicyAlways,
            RestartPolicy::UnlessStopped => cpb::RestartPolicyName::RestartPolicyUnlessStopped,
        };
        cpb::RestartPolicy {
            name: name.into(),
            maximum_retry_count: p.max_retries(),
        }
    }
}

impl From<cpb::RestartPolicy> for RestartPolicy {
    fn from(p: cpb::RestartPolicy) -> Self {
        match p.name() {
            cpb::RestartPolicyName::RestartPolicyNo => RestartPolicy::No,
            cpb::RestartPolicyName::RestartPolicyOnFailure => RestartPolicy::OnFailure {
                max_retries: p.maximum_retry_count,
            },
            cpb::RestartPolicyName::RestartPolicyAlways => RestartPolicy::Always,
            cpb::RestartPolicyName::RestartPolicyUnlessStopped => RestartPolicy::UnlessStopped,
        }
    }
}

/// 0 on the wire means unset.
fn to_wire(v: Option<u64>) -> i64 {
    v.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

fn from_wire(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|v| *v > 0)
}

impl From<&Resources> for cpb::Resources {
    fn from(r: &Resources) -> Self {
        cpb::Resources {
            memory_bytes: to_wire(r.memory.map(|b| b.0)),
            nano_cpus: to_wire(r.cpus.map(|c| c.0)),
            cpu_shares: to_wire(r.cpu_shares),
            pids_limit: to_wire(r.pids_limit),
        }
    }
}

impl From<cpb::Resources> for Resources {
    fn from(r: cpb::Resources) -> Self {
        Resources {
            memory: from_wire(r.memory_bytes).map(ByteSize),
            cpus: from_wire(r.nano_cpus).map(NanoCpus),
            cpu_shares: from_wire(r.cpu_shares),
            pids_limit: from_wire(r.pids_limit),
        }
    }
}

impl From<&TmpfsOptions> for cpb::TmpfsOptions {
    fn from(o: &TmpfsOptions) -> Self {
        cpb::TmpfsOptions {
            size_bytes: o.size.map_or(0, |b| b.0),
            mode: o.mode,
            uid: o.uid,
            gid: o.gid,
            exec: o.exec,
            suid: o.suid,
            dev: o.dev,
        }
    }
}

impl From<cpb::TmpfsOptions> for TmpfsOptions {
    fn from(o: cpb::TmpfsOptions) -> Self {
        TmpfsOptions {
            size: (o.size_bytes > 0).then_some(ByteSize(o.size_bytes)),
            mode: o.mode,
            uid: o.uid,
            gid: o.gid,
            exec: o.exec,
            suid: o.suid,
            dev: o.dev,
        }
    }
}

impl From<&ContainerSpec> for cpb::ContainerSpec {
    fn from(s: &ContainerSpec) -> Self {
        cpb::ContainerSpec {
            name: s.name.clone().unwrap_or_default(),
            image: s.image.clone(),
            entrypoint: s.entrypoint.clone().unwrap_or_default(),
            entrypoint_set: s.entrypoint.is_some(),
            cmd: s.cmd.clone(),
            env: s.env.clone(),
            working_dir: s.working_dir.clone().unwrap_or_default(),
            user: s.user.clone().unwrap_or_default(),
            hostname: s.hostname.clone().unwrap_or_default(),
            tty: s.tty,
            open_stdin: s.open_stdin,
            mounts: s
                .mounts
                .iter()
                .map(|m| cpb::Mount {
                    r#type: cpb::MountType::from(m.kind).into(),
                    source: m.source.clone(),
                    target: m.target.clone(),
                    read_only: m.read_only,
                    tmpfs: (m.kind == MountKind::Tmpfs).then(|| (&m.tmpfs).into()),
                })
                .collect(),
            resources: Some((&s.resources).into()),
            restart_policy: Some(s.restart_policy.into()),
            read_only: s.read_only,
            init: s.init,
            stop_signal: s.stop_signal.clone().unwrap_or_default(),
            stop_timeout: s.stop_timeout,
            labels: s.labels.clone().into_iter().collect(),
            network_mode: s.network_mode.as_string(),
            auto_remove: s.auto_remove,
            shm_size_bytes: to_wire(s.shm_size.map(|b| b.0)),
            security: Some((&s.security).into()),
            healthcheck: s.healthcheck.as_ref().map(Into::into),
        }
    }
}

impl From<&Security> for cpb::Security {
    fn from(s: &Security) -> Self {
        cpb::Security {
            privileged: s.privileged,
            cap_add: s.cap_add.clone(),
            cap_drop: s.cap_drop.clone(),
            devices: s
                .devices
                .iter()
                .map(|d| cpb::DeviceMapping {
                    path_on_host: d.path_on_host.clone(),
                    path_in_container: d.path_in_container.clone().unwrap_or_default(),
                    cgroup_permissions: d.permissions.clone().unwrap_or_default(),
                })
                .collect(),
            device_cgroup_rules: s.device_cgroup_rules.clone(),
            security_opt: s.security_opt.clone(),
            userns_mode: s.userns_mode.clone().unwrap_or_default(),
        }
    }
}

impl From<cpb::Security> for Security {
    fn from(s: cpb::Security) -> Self {
        Security {
            privileged: s.privileged,
            cap_add: s.cap_add,
            cap_drop: s.cap_drop,
            devices: s
                .devices
                .into_iter()
                .map(|d| DeviceMapping {
                    path_on_host: d.path_on_host,
                    path_in_container: non_empty(d.path_in_container),
                    permissions: non_empty(d.cgroup_permissions),
                })
                .collect(),
            device_cgroup_rules: s.device_cgroup_rules,
            security_opt: s.security_opt,
            userns_mode: non_empty(s.userns_mode),
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl From<cpb::ContainerSpec> for ContainerSpec {
    fn from(s: cpb::ContainerSpec) -> Self {
        ContainerSpec {
            name: non_empty(s.name),
            image: s.image,
            entrypoint: s.entrypoint_set.then_some(s.entrypoint),
            cmd: s.cmd,
            env: s.env,
            working_dir: non_empty(s.working_dir),
            user: non_empty(s.user),
            hostname: non_empty(s.hostname),
            tty: s.tty,
            open_stdin: s.open_stdin,
            mounts: s
                .mounts
                .into_iter()
                .map(|m| Mount {
                    kind: m.r#type().into(),
                    tmpfs: m.tmpfs.map(TmpfsOptions::from).unwrap_or_default(),
                    source: m.source,
                    target: m.target,
                    read_only: m.read_only,
                })
                .collect(),
            resources: s.resources.unwrap_or_default().into(),
            restart_policy: s.restart_policy.unwrap_or_default().into(),
            read_only: s.read_only,
            init: s.init,
            stop_signal: non_empty(s.stop_signal),
            stop_timeout: s.stop_timeout,
            labels: s.labels.into_iter().collect(),
            network_mode: s.network_mode.parse().unwrap_or_default(),
            auto_remove: s.auto_remove,
            shm_size: from_wire(s.shm_size_bytes).map(ByteSize),
            security: s.security.map(Security::from).unwrap_or_default(),
            healthcheck: s.healthcheck.map(Into::into),
        }
    }
}

impl From<cpb::ContainerState> for ContainerState {
    fn from(s: cpb::ContainerState) -> Self {
        ContainerState {
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
            health: s.health.map(Into::into),
        }
    }
}

impl From<cpb::Container> for Container {
    fn from(c: cpb::Container) -> Self {
        Container {
            id: c.id,
            name: c.name,
            created: c.created,
            path: c.path,
            args: c.args,
            state: c.state.unwrap_or_default().into(),
            image: c.image,
            image_id: c.image_id,
            spec: c.spec.unwrap_or_default().into(),
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
            healthcheck: c.healthcheck.map(Into::into),
        }
    }
}

/// Nanoseconds on the wire; a duration beyond i64 is sent as the largest.
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl From<&HealthConfig> for cpb::HealthConfig {
    fn from(h: &HealthConfig) -> Self {
        cpb::HealthConfig {
            test: h.test.clone(),
            interval_ns: nanos(h.interval),
            timeout_ns: nanos(h.timeout),
            start_period_ns: nanos(h.start_period),
            start_interval_ns: nanos(h.start_interval),
            retries: i32::try_from(h.retries).unwrap_or(i32::MAX),
        }
    }
}

impl From<cpb::HealthConfig> for HealthConfig {
    /// Leniently: a negative value from the daemon reads as zero.
    fn from(h: cpb::HealthConfig) -> Self {
        let d = |ns: i64| Duration::from_nanos(u64::try_from(ns).unwrap_or(0));
        HealthConfig {
            test: h.test,
            interval: d(h.interval_ns),
            timeout: d(h.timeout_ns),
            start_period: d(h.start_period_ns),
            start_interval: d(h.start_interval_ns),
            retries: u32::try_from(h.retries).unwrap_or(0),
        }
    }
}

impl From<cpb::Health> for Health {
    fn from(h: cpb::Health) -> Self {
        Health {
            status: h.status,
            failing_streak: h.failing_streak,
            log: h
                .log
                .into_iter()
                .map(|r| HealthResult {
                    start: r.start,
                    end: r.end,
                    exit_code: r.exit_code,
                    output: r.output,
                })
                .collect(),
        }
    }
}

impl From<cpb::StatsSample> for Stats {
    fn from(s: cpb::StatsSample) -> Self {
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

impl From<ipb::Image> for Image {
    fn from(i: ipb::Image) -> Self {
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
}

impl From<vpb::Volume> for Volume {
    fn from(v: vpb::Volume) -> Self {
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

impl From<epb::Event> for Event {
    fn from(e: epb::Event) -> Self {
        Event {
            kind: e.r#type,
            action: e.action,
            id: e.id,
            attributes: e.attributes.into_iter().collect(),
            time_nano: e.time_nano,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NetworkMode;

    #[test]
    fn spec_round_trips_through_the_wire() {
        let spec = ContainerSpec {
            name: Some("web".into()),
            image: "busybox".into(),
            entrypoint: Some(vec![]),
            mounts: vec![Mount {
                kind: MountKind::Tmpfs,
                target: "/t".into(),
                tmpfs: TmpfsOptions {
                    size: Some(ByteSize(1 << 20)),
                    mode: Some(0o1700),
                    exec: true,
                    ..Default::default()
                },
                ..Default::default()
            }],
            shm_size: Some(ByteSize(128 << 20)),
            resources: Resources {
                memory: Some(ByteSize(64 << 20)),
                cpus: Some(NanoCpus(500_000_000)),
                cpu_shares: None,
                pids_limit: Some(10),
            },
            restart_policy: RestartPolicy::OnFailure { max_retries: 3 },
            network_mode: NetworkMode::Container("db".into()),
            stop_timeout: Some(3),
            healthcheck: Some(HealthConfig {
                test: HealthConfig::shell("test -f /ok"),
                interval: Duration::from_millis(200),
                start_interval: Duration::from_millis(50),
                retries: 2,
                ..Default::default()
            }),
            ..Default::default()
        };
        let back = ContainerSpec::from(cpb::ContainerSpec::from(&spec));
        assert_eq!(back, spec);
    }
}
