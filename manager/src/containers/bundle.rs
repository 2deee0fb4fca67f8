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

use serde_json::{json, Value};

use super::record::{Container, MountKind};

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

/// docker's default capability set.
const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Errors writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UnknownUser { user: String },
    #[error("unable to find group {group}: no matching entries in group file")]
    UnknownGroup { group: String },
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
    let hosts_text = if c.spec.network_mode == "host" {
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

/// The OCI runtime config of a container whose rootfs is at `<dir>/rootfs`.
/// `init` is the host path of the init binary when `--init` was asked for.
pub fn config(c: &Container, user: &ResolvedUser, init: Option<&Path>) -> Value {
    let mut args: Vec<String> = Vec::new();
    if init.is_some() {
        args.push(INIT_PATH.to_string());
        args.push("--".to_string());
    }
    args.push(c.path.clone());
    args.extend(c.args.iter().cloned());
    let cwd = if c.working_dir.is_empty() {
        "/".to_string()
    } else {
        c.working_dir.clone()
    };

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    for (file, dest) in [
        ("resolv.conf", "/etc/resolv.conf"),
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
    ] {
        mounts.push(json!({"destination": dest, "type": "bind",
            "source": c.dir.join(file), "options": ["rbind", "rprivate"]}));
    }
    if let Some(init) = init {
        mounts.push(json!({"destination": INIT_PATH, "type": "bind",
            "source": init, "options": ["bind", "ro", "rprivate"]}));
    }
    for m in &c.mounts {
        let mut opts = vec!["rbind", "rprivate"];
        if m.kind == MountKind::Tmpfs {
            opts = vec!["nosuid", "nodev", "noexec"];
        }
        if !m.rw {
            opts.push("ro");
        }
        let (kind, source) = match m.kind {
            MountKind::Tmpfs => ("tmpfs", json!("tmpfs")),
            _ => ("bind", json!(m.source)),
        };
        mounts.push(json!({"destination": m.destination, "type": kind,
            "source": source, "options": opts}));
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if c.spec.network_mode != "host" {
        namespaces.push(json!({"type": "network"}));
    }

    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"}
        ]
    });
    let r = &c.spec.resources;
    if r.memory_bytes > 0 {
        resources["memory"] = json!({"limit": r.memory_bytes});
        // docker without --memory-swap: as much swap as memory (OCI's `swap` is
        // memory+swap). Without a cap a hog pages out instead of being OOM-killed.
        if swap_accounted() {
            resources["memory"]["swap"] = json!(r.memory_bytes.saturating_mul(2));
        }
    }
    let mut cpu = serde_json::Map::new();
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(r.cpu_shares));
    }
    if r.nano_cpus > 0 {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(r.nano_cpus * period / 1_000_000_000));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if r.pids_limit > 0 {
        resources["pids"] = json!({"limit": r.pids_limit});
    }

    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": c.spec.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args,
            "env": c.env,
            "cwd": cwd,
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "noNewPrivileges": false,
        },
        "root": {"path": "rootfs", "readonly": c.spec.read_only},
        "hostname": c.hostname,
        "mounts": mounts,
        "annotations": {"org.berth.container.name": c.name},
        "linux": {
            "cgroupsPath": format!("/berth/{}", c.id),
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
        },
    })
}

/// Writes `config.json` atomically (temp file, fsync, rename).
pub fn write_config(dir: &Path, config: &Value) -> Result<(), BundleError> {
    use std::io::Write;
    let tmp = dir.join(".config.json.tmp");
    let path = dir.join("config.json");
    let io = |path: PathBuf| move |source| BundleError::Io { path, source };
    let bytes = serde_json::to_vec_pretty(config).unwrap_or_default();
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

    #[test]
    fn passwd_symlink_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // root exists in the host's passwd; the symlink must not be read.
        assert!(resolve_user(d.path(), "root").is_err());
    }
}
