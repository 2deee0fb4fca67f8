//! OCI bundles for the tests: a temp dir with a busybox rootfs (plus the
//! static checker at `/checker`) and a `config.json` the test edits as plain
//! JSON, so any field of the spec can be set, including ones a typed model
//! would not know.
//!
//! Each bundle gets a unique container id and a unique absolute cgroup path;
//! dropping the bundle removes the temp dir and any cgroup a failed test left.

use crate::checker::checker_binary;
use crate::error::{io, SupportError};
use crate::runtime::Runtime;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static SEQ: AtomicU32 = AtomicU32::new(0);

const BUSYBOX: &str = "/usr/bin/busybox";
const APPLETS: &[&str] = &[
    "sh", "true", "false", "ls", "cat", "echo", "sleep", "id", "tty", "stat", "mount", "hostname",
    "touch", "mkdir", "env", "ps", "top", "head", "grep", "wc", "readlink", "stty",
];

pub struct Bundle {
    dir: tempfile::TempDir,
    id: String,
    cgroups_path: String,
    /// The config.json to write; edit it freely before [`Bundle::write`].
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args` (use `/checker` for the checker) for `rt`;
    /// `name` goes into the container id so leftovers say which test made them.
    pub fn new(rt: Runtime, name: &str, args: &[&str]) -> Result<Self, SupportError> {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("bc-{}-{}-{}-{}", rt.short(), name, std::process::id(), n);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{id}-"))
            .tempdir()
            .map_err(io("/tmp"))?;
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "hooks"] {
            let p = rootfs.join(d);
            std::fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let bb = rootfs.join("bin/busybox");
        std::fs::copy(BUSYBOX, &bb).map_err(io(&bb))?;
        for a in APPLETS {
            let link = rootfs.join("bin").join(a);
            std::os::unix::fs::symlink("busybox", &link).map_err(io(&link))?;
        }
        let checker = rootfs.join("checker");
        std::fs::copy(checker_binary()?, &checker).map_err(io(&checker))?;
        let passwd = rootfs.join("etc/passwd");
        std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/sh\n").map_err(io(&passwd))?;
        let cgroups_path = format!("/berth-conformance/{id}");
        let config = default_config(args, &cgroups_path);
        Ok(Self {
            dir,
            id,
            cgroups_path,
            config,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// The absolute `linux.cgroupsPath` this bundle uses.
    pub fn cgroups_path(&self) -> &str {
        &self.cgroups_path
    }

    /// Sets the value at a JSON pointer (`/linux/sysctl`), creating objects on
    /// the way.
    pub fn set(&mut self, pointer: &str, value: Value) {
        set_pointer(&mut self.config, pointer, value);
    }

    /// Appends to the array at `pointer` (creating it).
    pub fn push(&mut self, pointer: &str, value: Value) {
        match self
            .config
            .pointer_mut(pointer)
            .and_then(Value::as_array_mut)
        {
            Some(arr) => arr.push(value),
            None => self.set(pointer, json!([value])),
        }
    }

    /// Adds capabilities to every set of process.capabilities (for example
    /// CAP_DAC_OVERRIDE, so a probe sees EROFS rather than EACCES).
    pub fn add_caps(&mut self, caps: &[&str]) {
        for set in ["bounding", "effective", "permitted", "ambient"] {
            for cap in caps {
                self.push(&format!("/process/capabilities/{set}"), json!(cap));
            }
        }
    }

    /// Adds a user namespace whose root is host uid and gid `host_id` (65536 ids
    /// mapped), the setup of the suite's user-namespace cases.
    pub fn map_root_to(&mut self, host_id: u32) {
        self.push("/linux/namespaces", json!({"type": "user"}));
        let map = json!([{"containerID": 0, "hostID": host_id, "size": 65536}]);
        self.set("/linux/uidMappings", map.clone());
        self.set("/linux/gidMappings", map);
    }

    /// Removes the namespace of `kind` from `linux.namespaces`.
    pub fn drop_namespace(&mut self, kind: &str) {
        if let Some(arr) = self
            .config
            .pointer_mut("/linux/namespaces")
            .and_then(Value::as_array_mut)
        {
            arr.retain(|n| n["type"] != kind);
        }
    }

    /// Writes config.json; call after the last edit.
    pub fn write(&self) -> Result<(), SupportError> {
        let p = self.dir.path().join("config.json");
        let text =
            serde_json::to_vec_pretty(&self.config).map_err(|source| SupportError::Json {
                from: "config".into(),
                text: String::new(),
                source,
            })?;
        std::fs::write(&p, text).map_err(io(&p))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        crate::cgroup::remove_all(&self.cgroups_path);
    }
}

/// Sets `value` at a JSON pointer, creating objects on the way; on an array
/// a numeric last segment replaces that element, anything else appends.
fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            if let Some(arr) = cur.as_array_mut() {
                match part.parse::<usize>() {
                    Ok(idx) if idx < arr.len() => arr[idx] = value,
                    _ => arr.push(value),
                }
            } else {
                if !cur.is_object() {
                    *cur = json!({});
                }
                cur[*part] = value;
            }
            return;
        }
        if cur.get(*part).is_none() {
            cur[*part] = json!({});
        }
        cur = &mut cur[*part];
    }
}

/// A config close to `runc spec`, but with no terminal, a writable root, all
/// namespaces but user and time, and a unique cgroup path.
fn default_config(args: &[&str], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_pointer_creates_nested_objects() {
        let mut v = json!({"linux": {}});
        set_pointer(&mut v, "/linux/resources/pids", json!({"limit": 3}));
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 3);
    }

    #[test]
    fn set_pointer_on_arrays_replaces_or_appends() {
        let mut v = json!({"a": [1, 2]});
        set_pointer(&mut v, "/a/0", json!(9));
        set_pointer(&mut v, "/a/-", json!(3));
        assert_eq!(v["a"], json!([9, 2, 3]));
    }

    #[test]
    fn default_config_has_unique_cgroup_and_args() {
        let c = default_config(&["/checker", "x"], "/berth-conformance/id1");
        assert_eq!(c["linux"]["cgroupsPath"], "/berth-conformance/id1");
        assert_eq!(c["process"]["args"], json!(["/checker", "x"]));
        assert_eq!(c["root"]["readonly"], false);
    }
}
