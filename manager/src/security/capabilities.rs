//! The capability set of a container: docker's default set, `--cap-add` and
//! `--cap-drop` (names with or without `CAP_`, any case, and `ALL`), and
//! `--privileged` (every capability the host's bounding set holds).

use std::collections::BTreeSet;

use oci_spec::runtime::Capability;

use super::Error;

/// docker's default set.
pub const DEFAULT: &[&str] = &[
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

/// Every capability Linux defines, by number (<linux/capability.h>).
const BY_NUMBER: &[&str] = &[
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

/// `CAP_NAME` for a user's spelling (`net_admin`, `CAP_NET_ADMIN`, `Net_Admin`).
fn canonical(name: &str) -> Result<&'static str, Error> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    BY_NUMBER
        .iter()
        .copied()
        .find(|c| &c[4..] == bare)
        .ok_or_else(|| Error::UnknownCapability {
            name: name.to_string(),
        })
}

/// The capabilities of the host's bounding set (berthd's own), by name:
/// what `--privileged` and `--cap-add ALL` grant.
pub fn host_bounding() -> BTreeSet<&'static str> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    BY_NUMBER
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The set a container gets, as docker computes it: `ALL` in `add` starts
/// from every capability, `ALL` in `drop` from none, else from the default
/// set; then the named adds and drops apply.
pub fn resolve(
    privileged: bool,
    add: &[String],
    drop: &[String],
) -> Result<BTreeSet<&'static str>, Error> {
    let is_all = |s: &String| s.trim().eq_ignore_ascii_case("ALL");
    let named = |list: &[String]| -> Result<Vec<&'static str>, Error> {
        list.iter()
            .filter(|s| !is_all(s))
            .map(|s| canonical(s))
            .collect()
    };
    let (adds, drops) = (named(add)?, named(drop)?);
    if privileged || add.iter().any(is_all) {
        let mut set = host_bounding();
        if !privileged {
            for d in &drops {
                set.remove(d);
            }
        }
        return Ok(set);
    }
    let mut set: BTreeSet<&'static str> = if drop.iter().any(is_all) {
        BTreeSet::new()
    } else {
        DEFAULT.iter().copied().collect()
    };
    for d in &drops {
        set.remove(d);
    }
    set.extend(adds);
    Ok(set)
}

/// As oci-spec's type (every name in [`BY_NUMBER`] is one it knows).
pub fn to_oci(set: &BTreeSet<&'static str>) -> Result<oci_spec::runtime::Capabilities, Error> {
    set.iter()
        .map(|name| {
            serde_json::from_value::<Capability>(serde_json::Value::String(name.to_string()))
                .map_err(|_| Error::UnknownCapability {
                    name: name.to_string(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn adds_and_drops_like_docker() {
        let set = resolve(false, &s(&["net_admin"]), &s(&["CAP_CHOWN", "Kill"])).unwrap();
        assert!(set.contains("CAP_NET_ADMIN"));
        assert!(!set.contains("CAP_CHOWN") && !set.contains("CAP_KILL"));
        assert_eq!(set.len(), DEFAULT.len() - 1);
        assert!(resolve(false, &[], &s(&["ALL"])).unwrap().is_empty());
        assert_eq!(
            resolve(false, &s(&["SYS_ADMIN"]), &s(&["all"])).unwrap(),
            BTreeSet::from(["CAP_SYS_ADMIN"])
        );
        let all = resolve(false, &s(&["ALL"]), &s(&["SYS_ADMIN"])).unwrap();
        assert!(!all.contains("CAP_SYS_ADMIN") && all.contains("CAP_NET_ADMIN"));
        assert!(matches!(
            resolve(false, &s(&["CAP_FOO"]), &[]),
            Err(Error::UnknownCapability { .. })
        ));
        assert_eq!(to_oci(&all).unwrap().len(), all.len());
    }
}
