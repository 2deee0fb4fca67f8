//! How a container is confined: docker's `--privileged`, `--cap-add`,
//! `--cap-drop`, `--device`, `--device-cgroup-rule`, `--security-opt` and
//! `--userns` (berthd checks the names and values).

use std::str::FromStr;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    pub privileged: bool,
    /// Capability names, with or without `CAP_`, any case, or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub devices: Vec<DeviceMapping>,
    /// `TYPE MAJOR:MINOR ACCESS`, e.g. `c 1:3 rwm`.
    pub device_cgroup_rules: Vec<String>,
    /// `seccomp=unconfined`, `seccomp=<profile JSON>` (the CLI reads
    /// `seccomp=FILE` and sends its content, as docker's does),
    /// `no-new-privileges`, `systempaths=unconfined`.
    pub security_opt: Vec<String>,
    /// `--userns`: `None` or `host`.
    pub userns_mode: Option<String>,
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    /// `None`: the host path.
    pub path_in_container: Option<String>,
    /// A subset of `rwm`; `None`: `rwm`.
    pub permissions: Option<String>,
}

/// A `--device` value that is not `HOST[:CONTAINER][:PERMISSIONS]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device mapping {value:?}: use HOST[:CONTAINER][:PERMISSIONS], e.g. /dev/fuse or /dev/sda:/dev/xvda:rw")]
pub struct InvalidDevice {
    pub value: String,
}

fn is_permissions(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "rwm".contains(c))
}

impl FromStr for DeviceMapping {
    type Err = InvalidDevice;

    fn from_str(s: &str) -> Result<Self, InvalidDevice> {
        let bad = || InvalidDevice {
            value: s.to_string(),
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (host, container, perms) = match parts.as_slice() {
            [h] => (*h, None, None),
            [h, p] if is_permissions(p) => (*h, None, Some(*p)),
            [h, c] => (*h, Some(*c), None),
            [h, c, p] if is_permissions(p) => (*h, Some(*c), Some(*p)),
            _ => return Err(bad()),
        };
        if !host.starts_with('/') || container.is_some_and(|c| !c.starts_with('/')) {
            return Err(bad());
        }
        Ok(DeviceMapping {
            path_on_host: host.to_string(),
            path_in_container: container.map(str::to_string),
            permissions: perms.map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_mappings_parse_like_docker() {
        let d: DeviceMapping = "/dev/sda:/dev/xvda:rw".parse().unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/xvda"));
        assert_eq!(d.permissions.as_deref(), Some("rw"));
        let d: DeviceMapping = "/dev/fuse:m".parse().unwrap();
        assert_eq!(
            (d.path_in_container, d.permissions.as_deref()),
            (None, Some("m"))
        );
        for bad in ["fuse", "/dev/a:b", "/dev/a:/b:rwx", "/a:/b:rw:x"] {
            assert!(bad.parse::<DeviceMapping>().is_err(), "{bad}");
        }
    }
}
