//! `spec`: the default config.json, the same one `runc spec` writes (busybox-friendly:
//! `sh` with a terminal, pid/net/ipc/uts/mount namespaces, read-only root), and with
//! `--rootless` the changes `runc spec --rootless` makes for an unprivileged user
//! ([`make_rootless`]).
use super::Error;
use crate::OCI_VERSION;
use serde_json::{json, Value};
use std::path::Path;

const TEMPLATE: &str = r#"{
	"ociVersion": "@VERSION@",
	"process": {
		"terminal": true,
		"user": {"uid": 0, "gid": 0},
		"args": ["sh"],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
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
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "runc",
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
		"resources": {"devices": [{"allow": false, "access": "rwm"}]},
		"namespaces": [
			{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
		],
		"readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
	}
}"#;

/// Who a rootless spec maps to root in its user namespace: the calling user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootlessIds {
    pub uid: u32,
    pub gid: u32,
}

impl RootlessIds {
    /// The effective ids of this process, as `runc spec --rootless` takes them.
    pub fn current() -> RootlessIds {
        RootlessIds {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }
}

/// What `runc spec --rootless` changes in the default spec: no network namespace
/// (an unprivileged user could not configure one) and a user namespace that maps
/// the caller to root (size 1: one id is all a user may map without newuidmap);
/// `/sys` bound from the host with rbind (sysfs cannot be mounted without a
/// network namespace of one's own); no `uid=`/`gid=` mount options (the ids do not
/// exist in a one-id namespace); no `linux.resources` (cgroups are not the user's).
pub fn make_rootless(spec: &mut Value, ids: RootlessIds) {
    let linux = &mut spec["linux"];
    if let Some(ns) = linux.get_mut("namespaces").and_then(Value::as_array_mut) {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": ids.uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": ids.gid, "size": 1}]);
    if let Some(obj) = linux.as_object_mut() {
        obj.remove("resources");
    }
    let mounts = spec.get_mut("mounts").and_then(Value::as_array_mut);
    for m in mounts.into_iter().flatten() {
        let dest = m["destination"].as_str().unwrap_or("");
        if Path::new(dest)
            .components()
            .eq(Path::new("/sys").components())
        {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            continue;
        }
        // `get_mut`, not indexing: indexing would add `"options": null` to a mount
        // that has none.
        if let Some(opts) = m.get_mut("options").and_then(Value::as_array_mut) {
            opts.retain(|o| {
                !o.as_str()
                    .is_some_and(|o| o.starts_with("uid=") || o.starts_with("gid="))
            });
        }
    }
}

/// The default spec (rootless for `ids` when given), tab-indented like runc's output.
pub fn default_spec_json(rootless: Option<RootlessIds>) -> String {
    let mut v: Value =
        serde_json::from_str(&TEMPLATE.replace("@VERSION@", OCI_VERSION)).unwrap_or_default();
    if let Some(ids) = rootless {
        make_rootless(&mut v, ids);
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = serde::Serialize::serialize(&v, &mut ser);
    String::from_utf8(out).unwrap_or_default()
}

pub fn write_default_spec(bundle: &Path, rootless: Option<RootlessIds>) -> Result<(), Error> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(Error::Usage(
            "File config.json exists. Remove it first".into(),
        ));
    }
    std::fs::write(&path, default_spec_json(rootless)).map_err(|e| Error::io(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_a_spec() {
        let spec: oci_spec::runtime::Spec =
            serde_json::from_str(&default_spec_json(None)).expect("spec");
        assert_eq!(spec.version(), OCI_VERSION);
        assert_eq!(spec.mounts().as_ref().map(|m| m.len()), Some(7));
    }

    #[test]
    fn rootless_spec_is_runcs() {
        let ids = RootlessIds {
            uid: 1000,
            gid: 1001,
        };
        let v: Value = serde_json::from_str(&default_spec_json(Some(ids))).expect("json");
        let types: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .filter_map(|n| n["type"].as_str())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(
            v["linux"]["uidMappings"],
            json!([{"containerID": 0, "hostID": 1000, "size": 1}])
        );
        assert_eq!(
            v["linux"]["gidMappings"],
            json!([{"containerID": 0, "hostID": 1001, "size": 1}])
        );
        assert!(v["linux"].get("resources").is_none());
        let mounts = v["mounts"].as_array().expect("mounts");
        let sys = mounts
            .iter()
            .find(|m| m["destination"] == "/sys")
            .expect("/sys");
        assert_eq!(
            sys,
            &json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        );
        let pts = mounts
            .iter()
            .find(|m| m["destination"] == "/dev/pts")
            .expect("pts");
        assert_eq!(
            pts["options"],
            json!([
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620"
            ])
        );
        // Everything else as in the default spec, and it parses.
        let plain: Value = serde_json::from_str(&default_spec_json(None)).expect("json");
        assert_eq!(v["process"], plain["process"]);
        assert_eq!(mounts[0], plain["mounts"][0], "/proc changed");
        assert_eq!(mounts.len(), 7);
        serde_json::from_value::<oci_spec::runtime::Spec>(v).expect("spec");
    }
}
