//! The checker's report as the tests read it: JSON pointers into what
//! `berth-checker` printed, plus the few decodings every section needs
//! (capability masks, mounts by mount point, probes, /dev entries).

use serde_json::Value;

/// What `berth-checker` saw inside the container.
#[derive(Debug, Clone)]
pub struct Report(pub Value);

impl Report {
    /// The value at a JSON pointer (`/caps/CapEff`), `Null` when absent.
    pub fn at(&self, pointer: &str) -> &Value {
        self.0.pointer(pointer).unwrap_or(&Value::Null)
    }

    pub fn str(&self, pointer: &str) -> &str {
        self.at(pointer).as_str().unwrap_or("")
    }

    /// One capability set from /proc/self/status as a bit mask.
    pub fn caps(&self, set: &str) -> u64 {
        u64::from_str_radix(self.str(&format!("/caps/{set}")), 16).unwrap_or(u64::MAX)
    }

    /// The last (topmost) mount at `mount_point`.
    pub fn mount(&self, mount_point: &str) -> Option<&Value> {
        self.0["mounts"]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["mount_point"] == mount_point)
    }

    /// Whether the mount at `mount_point` has the per-mount option `opt`.
    pub fn mount_has(&self, mount_point: &str, opt: &str) -> bool {
        self.mount(mount_point)
            .and_then(|m| m["options"].as_array())
            .is_some_and(|o| o.iter().any(|x| x == opt))
    }

    /// The probe result for a path given as `--probe PATH`.
    pub fn probe(&self, path: &str) -> &Value {
        self.0["probes"].get(path).unwrap_or(&Value::Null)
    }

    /// /dev entry as the checker listed it.
    pub fn device(&self, path: &str) -> &Value {
        self.0["devices"].get(path).unwrap_or(&Value::Null)
    }
}

/// Bit mask of capability names (`CAP_KILL`...).
pub fn cap_mask(names: &[&str]) -> u64 {
    names
        .iter()
        .map(|n| 1u64 << cap_number(n))
        .fold(0, |a, b| a | b)
}

fn cap_number(name: &str) -> u32 {
    const NAMES: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES.iter().position(|n| *n == name).unwrap_or(63) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cap_mask_matches_the_kernel_numbers() {
        // CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10):
        // runc's default set, 0x20000420 in /proc/self/status.
        assert_eq!(
            cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            0x2000_0420
        );
        assert_eq!(cap_mask(&["CAP_CHECKPOINT_RESTORE"]), 1 << 40);
    }

    #[test]
    fn report_reads_caps_and_topmost_mount() {
        let r = Report(json!({
            "caps": {"CapEff": "0000000000000020"},
            "mounts": [
                {"mount_point": "/x", "options": ["rw"]},
                {"mount_point": "/x", "options": ["ro"]}
            ]
        }));
        assert_eq!(r.caps("CapEff"), 0x20);
        assert_eq!(r.caps("CapPrm"), u64::MAX);
        assert!(r.mount_has("/x", "ro"));
        assert!(!r.mount_has("/x", "rw"));
    }
}
