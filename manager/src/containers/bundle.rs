//! OCI bundle generation: `<root>/containers/<id>/config.json` from the resolved
//! container record, plus the `hostname`, `hosts` and `resolv.conf` files that are
//! bind-mounted into it.
//!
//! Defaults follow docker's: the default capability set, masked and read-only
//! `/proc` paths, a device cgroup that allows only the standard devices, private
//! pid/ipc/uts/mount namespaces and a private network namespace unless the
//! network mode is `host`. The user is resolved against the image's own
//! `/etc/passwd` and `/etc/group` (read without following a symlink out of the
//! rootfs).

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::runtime as oci;

use super::record::{Container, MountKind, Resources};
use crate::security::{capabilities, Confinement};

/// Where `--init` puts the init binary inside the container.
pub const INIT_PATH: &str = "/sbin/berth-init";

/// Whether the kernel accounts swap in memory cgroups (v1 `memsw`, or v2
/// `memory.swap.max` in some cgroup), as docker checks before capping swap:
/// the runtime refuses a swap limit it cannot write.
fn swap_accounted() -> bool {
    let root = Path::new("/sys/fs/cgroup");
    if root.join("memory/memory.memsw.limit_in_bytes").exists() {
        return true;
    }
    if root.join("memory").is_dir() || !root.join("cgroup.controllers").exists() {
        return false;
    }
    std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.path().join("memory.swap.max").exists())
        })
        .unwrap_or(false)
}

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup { group: String },
    #[error("the runtime config cannot be built: {message}")]
    Spec { message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// uid, gid and supplementary groups of the container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// Reads a file of the rootfs, refusing a symlink as the final component so
/// an image cannot point us at a host file. Missing file: empty.
fn read_rootfs_file(rootfs: &Path, rel: &str) -> String {
    use std::os::unix::fs::OpenOptionsExt;
    let path = rootfs.join(rel);
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    else {
        return String::new();
    };
    let mut s = String::new();
    // A passwd file bigger than this is not one we want to parse.
    let _ = (&mut f).take(4 << 20).read_to_string(&mut s);
    s
}

/// Resolves docker's `--user` forms (`name`, `uid`, `name:group`, `uid:gid`)
/// against the image's passwd/group files.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<ResolvedUser, BundleError> {
    let passwd = read_rootfs_file(rootfs, "etc/passwd");
    let group = read_rootfs_file(rootfs, "etc/group");
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let (uid, mut gid, name) = match (entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse().unwrap_or(0),
            f[3].parse().unwrap_or(0),
            f[0].to_string(),
        ),
        (None, Ok(n)) => (n, 0, String::new()),
        (None, Err(_)) => {
            return Err(BundleError::UnknownUser {
                user: u.to_string(),
            })
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    if let Some(g) = g {
        gid = match groups.iter().find(|f| f[0] == g || f[2] == g) {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| BundleError::UnknownGroup {
                group: g.to_string(),
            })?,
        };
    }
    let mut additional_gids: Vec<u32> = if name.is_empty() {
        Vec::new()
    } else {
        groups
            .iter()
            .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .filter(|g| *g != gid)
            .collect()
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
    })
}

/// Writes `hostname`, `hosts` and `resolv.conf` into the container's dir.
pub fn write_etc_files(c: &Container) -> Result<(), BundleError> {
    let io = |path: PathBuf| move |source| BundleError::Io { path, source };
    let hostname = c.dir.join("hostname");
    std::fs::write(&hostname, format!("{}\n", c.hostname)).map_err(io(hostname.clone()))?;
    let hosts = c.dir.join("hosts");
    let hosts_text = if c.spec.network_mode.is_host() {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
            c.hostname
        )
    };
    std::fs::write(&hosts, hosts_text).map_err(io(hosts.clone()))?;
    let resolv = c.dir.join("resolv.conf");
    let resolv_text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(&resolv, resolv_text).map_err(io(resolv.clone()))?;
    Ok(())
}

/// A mount entry of the runtime config.
fn mount(
    destination: impl Into<PathBuf>,
    typ: &str,
    source: impl Into<PathBuf>,
    options: &[&str],
) -> Result<oci::Mount, oci_spec::OciSpecError> {
    oci::MountBuilder::default()
        .destination(destination.into())
        .typ(typ)
        .source(source.into())
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
}

fn char_device(major: Option<i64>, minor: Option<i64>, access: &str) -> oci::LinuxDeviceCgroup {
    let mut rule = oci::LinuxDeviceCgroup::default();
    rule.set_allow(true);
    rule.set_typ(Some(oci::LinuxDeviceType::C));
    rule.set_major(major);
    rule.set_minor(minor);
    rule.set_access(Some(access.to_string()));
    rule
}

/// docker's device cgroup: deny all, then the standard devices (null, zero,
/// full, random, urandom, tty, console, ptmx, the ptys), and mknod of any.
fn device_rules() -> Vec<oci::LinuxDeviceCgroup> {
    let mut deny = oci::LinuxDeviceCgroup::default();
    deny.set_allow(false);
    deny.set_access(Some("rwm".to_string()));
    let mut rules = vec![deny];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
    ] {
        rules.push(char_device(Some(major), Some(minor), "rwm"));
    }
    rules.push(char_device(Some(136), None, "rwm"));
    rules.push(char_device(None, None, "m"));
    let mut block = char_device(None, None, "m");
    block.set_typ(Some(oci::LinuxDeviceType::B));
    rules.push(block);
    rules
}

fn resources(
    r: &Resources,
    extra_devices: &[oci::LinuxDeviceCgroup],
) -> Result<oci::LinuxResources, oci_spec::OciSpecError> {
    let mut rules = device_rules();
    rules.extend(extra_devices.iter().cloned());
    let mut out = oci::LinuxResourcesBuilder::default().devices(rules);
    if let Some(limit) = r.memory_bytes {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut memory = oci::LinuxMemoryBuilder::default().limit(limit);
        // docker without --memory-swap: as much swap as memory (OCI's `swap` is
        // memory+swap). Without a cap a hog pages out instead of being OOM-killed.
        if swap_accounted() {
            memory = memory.swap(limit.saturating_mul(2));
        }
        out = out.memory(memory.build()?);
    }
    if r.cpu_shares.is_some() || r.nano_cpus.is_some() {
        let mut cpu = oci::LinuxCpuBuilder::default();
        if let Some(shares) = r.cpu_shares {
            cpu = cpu.shares(shares);
        }
        if let Some(nano) = r.nano_cpus {
            const PERIOD: u64 = 100_000;
            let quota = nano.saturating_mul(PERIOD) / 1_000_000_000;
            cpu = cpu
                .period(PERIOD)
                .quota(i64::try_from(quota).unwrap_or(i64::MAX));
        }
        out = out.cpu(cpu.build()?);
    }
    if let Some(limit) = r.pids_limit {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        out = out.pids(oci::LinuxPidsBuilder::default().limit(limit).build()?);
    }
    out.build()
}

/// docker's masked paths (none with `--privileged` or
/// `--security-opt systempaths=unconfined`).
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The OCI runtime config of a container whose rootfs is at `<dir>/rootfs`.
/// `init` is the host path of the init binary when `--init` was asked for.
/// `confined` is what `security::confine` made of the container's options.
pub fn config(
    c: &Container,
    user: &ResolvedUser,
    init: Option<&Path>,
    confined: &Confinement,
) -> Result<oci::Spec, BundleError> {
    build_config(c, user, init, confined).map_err(|e| BundleError::Spec {
        message: e.to_string(),
    })
}

fn build_config(
    c: &Container,
    user: &ResolvedUser,
    init: Option<&Path>,
    confined: &Confinement,
) -> Result<oci::Spec, oci_spec::OciSpecError> {
    let mut args: Vec<String> = Vec::new();
    if init.is_some() {
        args.push(INIT_PATH.to_string());
        args.push("--".to_string());
    }
    args.push(c.path.clone());
    args.extend(c.args.iter().cloned());
    let shm_size = match c.spec.shm_size {
        Some(bytes) => format!("size={bytes}"),
        None => "size=65536k".to_string(),
    };
    let cwd = if c.working_dir.is_empty() {
        "/"
    } else {
        c.working_dir.as_str()
    };

    let sys_access = if confined.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        // --privileged: /sys and the cgroupfs writable, as docker does.
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_access],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_access],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        )?,
    ];
    for (file, dest) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        mounts.push(mount(
            dest,
            "bind",
            c.dir.join(file),
            &["rbind", "rprivate"],
        )?);
    }
    if let Some(init) = init {
        mounts.push(mount(INIT_PATH, "bind", init, &["bind", "ro", "rprivate"])?);
    }
    for m in &c.mounts {
        let mut opts = match m.kind {
            MountKind::Tmpfs => m.tmpfs.mount_options(),
            _ => vec!["rbind".to_string(), "rprivate".to_string()],
        };
        if !m.rw {
            opts.push("ro".to_string());
        }
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        mounts.push(match m.kind {
            MountKind::Tmpfs => mount(m.destination.as_str(), "tmpfs", "tmpfs", &opts)?,
            _ => mount(m.destination.as_str(), "bind", m.source.clone(), &opts)?,
        });
    }

    let mut kinds = vec![
        oci::LinuxNamespaceType::Pid,
        oci::LinuxNamespaceType::Ipc,
        oci::LinuxNamespaceType::Uts,
        oci::LinuxNamespaceType::Mount,
    ];
    if !c.spec.network_mode.is_host() {
        kinds.push(oci::LinuxNamespaceType::Network);
    }
    if confined.userns.is_some() {
        kinds.push(oci::LinuxNamespaceType::User);
    }
    let namespaces = kinds
        .into_iter()
        .map(|typ| oci::LinuxNamespaceBuilder::default().typ(typ).build())
        .collect::<Result<Vec<_>, _>>()?;

    let caps: oci::Capabilities = capabilities::to_oci(&confined.capabilities)
        .map_err(|e| oci_spec::OciSpecError::Other(e.to_string()))?;
    let mut capabilities = oci::LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()?;
    // The builder starts from oci-spec's own defaults; docker sets only these three.
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let mut process = oci::ProcessBuilder::default()
        .terminal(c.spec.tty)
        .user(
            oci::UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids.clone())
                .build()?,
        )
        .args(args)
        .env(c.env.clone())
        .cwd(cwd)
        .capabilities(capabilities)
        .no_new_privileges(confined.no_new_privileges)
        .build()?;
    process.set_rlimits(None);

    let (masked, readonly): (&[&str], &[&str]) = if confined.masked_paths {
        (MASKED_PATHS, READONLY_PATHS)
    } else {
        (&[], &[])
    };
    let mut linux = oci::LinuxBuilder::default()
        .cgroups_path(PathBuf::from(format!("/berth/{}", c.id)))
        .resources(resources(&c.spec.resources, &confined.device_rules)?)
        .namespaces(namespaces)
        .masked_paths(strings(masked))
        .readonly_paths(strings(readonly))
        .build()?;
    match &confined.userns {
        Some(r) => {
            let map = |host: u32| {
                oci::LinuxIdMappingBuilder::default()
                    .container_id(0u32)
                    .host_id(host)
                    .size(r.size)
                    .build()
            };
            linux.set_uid_mappings(Some(vec![map(r.uid)?]));
            linux.set_gid_mappings(Some(vec![map(r.gid)?]));
        }
        None => {
            linux.set_uid_mappings(None);
            linux.set_gid_mappings(None);
        }
    }
    linux.set_sysctl(None);
    linux.set_devices(if confined.devices.is_empty() {
        None
    } else {
        Some(confined.devices.clone())
    });
    linux.set_seccomp(confined.seccomp.clone());

    let mut spec = oci::SpecBuilder::default()
        .version("1.0.2")
        .process(process)
        .root(
            oci::RootBuilder::default()
                .path("rootfs")
                .readonly(c.spec.read_only)
                .build()?,
        )
        .hostname(c.hostname.clone())
        .mounts(mounts)
        .annotations(
            [("org.berth.container.name".to_string(), c.name.clone())]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .linux(linux)
        .build()?;
    spec.set_domainname(None);
    Ok(spec)
}

/// Writes `config.json` atomically (temp file, fsync, rename).
pub fn write_config(dir: &Path, config: &oci::Spec) -> Result<(), BundleError> {
    use std::io::Write;
    let tmp = dir.join(".config.json.tmp");
    let path = dir.join("config.json");
    let io = |path: PathBuf| move |source| BundleError::Io { path, source };
    let bytes = serde_json::to_vec_pretty(config).map_err(|e| BundleError::Spec {
        message: e.to_string(),
    })?;
    let mut f = std::fs::File::create(&tmp).map_err(io(tmp.clone()))?;
    f.write_all(&bytes).map_err(io(tmp.clone()))?;
    f.sync_all().map_err(io(tmp.clone()))?;
    std::fs::rename(&tmp, &path).map_err(io(path.clone()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\naudio:x:29:www\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn users_resolve_like_docker() {
        let d = rootfs();
        let r = resolve_user(d.path(), "www").unwrap();
        assert_eq!(
            (r.uid, r.gid, r.additional_gids.clone()),
            (33, 33, vec![29])
        );
        let r = resolve_user(d.path(), "1000:1000").unwrap();
        assert_eq!((r.uid, r.gid), (1000, 1000));
        let r = resolve_user(d.path(), "www:root").unwrap();
        assert_eq!((r.uid, r.gid), (33, 0));
        let r = resolve_user(d.path(), "").unwrap();
        assert_eq!((r.uid, r.gid), (0, 0));
        assert!(matches!(
            resolve_user(d.path(), "nobody"),
            Err(BundleError::UnknownUser { .. })
        ));
    }

    fn container() -> Container {
        use super::super::record::{MountPoint, NetworkMode, Spec, State};
        let mut spec = Spec {
            image: "busybox".into(),
            network_mode: NetworkMode::None,
            ..Default::default()
        };
        spec.resources.memory_bytes = Some(64 << 20);
        spec.resources.nano_cpus = Some(1_500_000_000);
        spec.resources.pids_limit = Some(20);
        Container {
            id: "c0ffee".into(),
            name: "web".into(),
            created: chrono::Utc::now(),
            spec,
            image_id: "sha256:1".into(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            working_dir: String::new(),
            user: String::new(),
            hostname: "c0ffee".into(),
            stop_signal: "SIGTERM".into(),
            stop_timeout: 10,
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            intent: None,
            mounts: vec![MountPoint {
                kind: MountKind::Tmpfs,
                destination: "/t".into(),
                rw: false,
                ..Default::default()
            }],
            dir: PathBuf::from("/var/lib/berth/containers/c0ffee"),
            log_path: PathBuf::from("/x.log"),
            healthcheck: None,
        }
    }

    #[test]
    fn privileged_drops_the_fences() {
        let user = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        };
        let o = crate::security::Options {
            privileged: true,
            ..Default::default()
        };
        let confined = crate::security::confine(&o, &Default::default()).unwrap();
        let v =
            serde_json::to_value(config(&container(), &user, None, &confined).unwrap()).unwrap();
        let l = &v["linux"];
        assert!(l.get("seccomp").is_none());
        assert!(l["maskedPaths"].as_array().is_none_or(|a| a.is_empty()));
        let devices = l["resources"]["devices"].as_array().unwrap();
        assert_eq!(devices.last().unwrap()["type"], "a");
        assert_eq!(devices.last().unwrap()["allow"], true);
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys")
            .unwrap();
        assert!(sys["options"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("rw")));
        assert!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len()
                > 14
        );
    }

    #[test]
    fn config_is_dockers_shape() {
        let user = ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
        };
        let defaults = crate::security::confine(&Default::default(), &Default::default()).unwrap();
        let spec = config(&container(), &user, None, &defaults).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        let p = &v["process"];
        assert_eq!(p["args"], serde_json::json!(["sh", "-c", "true"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(p["noNewPrivileges"], false);
        // Only what docker sets: no rlimits, no inheritable or ambient caps.
        assert!(p.get("rlimits").is_none(), "{p}");
        assert!(p["capabilities"].get("inheritable").is_none());
        assert!(p["capabilities"].get("ambient").is_none());
        assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
        let l = &v["linux"];
        assert_eq!(l["cgroupsPath"], "/berth/c0ffee");
        assert_eq!(l["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(l["resources"]["cpu"]["quota"], 150_000);
        assert_eq!(l["resources"]["cpu"]["period"], 100_000);
        assert_eq!(l["resources"]["pids"]["limit"], 20);
        assert_eq!(l["resources"]["devices"].as_array().unwrap().len(), 12);
        assert_eq!(l["resources"]["devices"][0]["allow"], false);
        assert!(l.get("devices").is_none() && l.get("sysctl").is_none());
        assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(l["maskedPaths"].as_array().unwrap().len(), 11);
        assert_eq!(l["readonlyPaths"].as_array().unwrap().len(), 5);
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
        let tmpfs = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/t")
            .unwrap();
        assert_eq!(
            tmpfs["options"],
            serde_json::json!(["nosuid", "nodev", "noexec", "ro"])
        );
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["annotations"]["org.berth.container.name"], "web");
        assert!(v.get("domainname").is_none() && v.get("hooks").is_none());
    }

    #[test]
    fn passwd_symlink_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // root exists in the host's passwd; the symlink must not be read.
        assert!(resolve_user(d.path(), "root").is_err());
    }
}
