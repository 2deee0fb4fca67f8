//! Host devices in a container: `--device HOST[:CONTAINER[:PERMS]]`,
//! `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'`, and `--privileged`
//! (every device node under the host's /dev, and the cgroup allowing all).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};
use serde::{Deserialize, Serialize};

use super::Error;

/// One `--device` (docker's DeviceMapping).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub path_on_host: String,
    /// Empty: the host path.
    pub path_in_container: String,
    /// Subset of `rwm`; empty: `rwm`.
    pub permissions: String,
}

/// A device node to create in the container and the cgroup rule allowing it.
pub struct Granted {
    pub device: LinuxDevice,
    pub rule: LinuxDeviceCgroup,
}

fn access(perms: &str, flag: &'static str) -> Result<String, Error> {
    let perms = if perms.is_empty() { "rwm" } else { perms };
    if perms.chars().any(|c| !"rwm".contains(c)) {
        return Err(Error::Invalid {
            flag,
            value: perms.to_string(),
            reason: "permissions are a subset of \"rwm\"".into(),
        });
    }
    Ok(perms.to_string())
}

fn spec_err(e: oci_spec::OciSpecError) -> Error {
    Error::Spec {
        message: e.to_string(),
    }
}

/// The node at `host` (a character or block device), as `container`.
fn node(host: &Path, container: &str, perms: &str) -> Result<Granted, Error> {
    let shown = host.display().to_string();
    let meta = std::fs::metadata(host).map_err(|e| Error::Invalid {
        flag: "--device",
        value: shown.clone(),
        reason: format!("error gathering device information: {e}"),
    })?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(Error::Invalid {
            flag: "--device",
            value: shown,
            reason: "not a device node".into(),
        });
    };
    let rdev = meta.rdev();
    let (major, minor) = (
        nix::sys::stat::major(rdev) as i64,
        nix::sys::stat::minor(rdev) as i64,
    );
    let device = LinuxDeviceBuilder::default()
        .path(container)
        .typ(typ)
        .major(major)
        .minor(minor)
        .file_mode(meta.mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .map_err(spec_err)?;
    let rule = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .major(major)
        .minor(minor)
        .access(perms)
        .build()
        .map_err(spec_err)?;
    Ok(Granted { device, rule })
}

/// A `--device`: the host node, where it appears, with what access.
pub fn grant(m: &DeviceMapping) -> Result<Granted, Error> {
    let perms = access(&m.permissions, "--device")?;
    let target = if m.path_in_container.is_empty() {
        m.path_on_host.as_str()
    } else {
        m.path_in_container.as_str()
    };
    if !target.starts_with('/') {
        return Err(Error::Invalid {
            flag: "--device",
            value: target.to_string(),
            reason: "the path in the container must be absolute".into(),
        });
    }
    node(Path::new(&m.path_on_host), target, &perms)
}

/// Parses `--device-cgroup-rule` (`c 1:3 mr`, `a *:* rwm`, `b 8:* rw`).
pub fn cgroup_rule(text: &str) -> Result<LinuxDeviceCgroup, Error> {
    let bad = |reason: &str| Error::Invalid {
        flag: "--device-cgroup-rule",
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [typ, numbers, perms] = parts.as_slice() else {
        return Err(bad("expected 'TYPE MAJOR:MINOR ACCESS', e.g. 'c 1:3 rwm'"));
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad("the type is a, b or c")),
    };
    let (major, minor) = numbers
        .split_once(':')
        .ok_or_else(|| bad("expected MAJOR:MINOR"))?;
    let number = |s: &str| -> Result<Option<i64>, Error> {
        match s {
            "*" => Ok(None),
            n => n
                .parse::<i64>()
                .map(Some)
                .map_err(|_| bad("a device number is a number or *")),
        }
    };
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access(perms, "--device-cgroup-rule")?);
    if let Some(m) = number(major)? {
        b = b.major(m);
    }
    if let Some(m) = number(minor)? {
        b = b.minor(m);
    }
    b.build().map_err(spec_err)
}

/// Every device node under the host's /dev (not its pts, shm or mqueue,
/// which the container has its own of), for `--privileged`.
pub fn host_devices() -> Vec<LinuxDevice> {
    fn walk(dir: &Path, out: &mut Vec<LinuxDevice>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "mqueue" | ".lxc" | ".udev")
                ) {
                    walk(&path, out);
                }
            } else if ft.is_char_device() || ft.is_block_device() {
                if path == Path::new("/dev/console") {
                    continue;
                }
                let target = path.to_string_lossy().to_string();
                if let Ok(g) = node(&path, &target, "rwm") {
                    out.push(g.device);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/dev"), &mut out);
    out
}

/// The cgroup rule that allows every device.
pub fn allow_all() -> Result<LinuxDeviceCgroup, Error> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::A)
        .access("rwm")
        .build()
        .map_err(spec_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_rules_parse() {
        let g = grant(&DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            permissions: "rw".into(),
        })
        .unwrap();
        assert_eq!(g.device.path(), Path::new("/dev/mynull"));
        assert_eq!((g.device.major(), g.device.minor()), (1, 3));
        assert_eq!(g.rule.access().as_deref(), Some("rw"));
        let not_a_device = grant(&DeviceMapping {
            path_on_host: "/etc/passwd".into(),
            ..Default::default()
        });
        assert!(
            matches!(not_a_device, Err(Error::Invalid { reason, .. }) if reason == "not a device node")
        );
        let r = cgroup_rule("c 1:* mr").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(1), None));
        for bad in ["c 1:3", "x 1:3 rwm", "c 1-3 rwm", "c 1:3 rwx"] {
            assert!(cgroup_rule(bad).is_err(), "{bad}");
        }
    }
}
