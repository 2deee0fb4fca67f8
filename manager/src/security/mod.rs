//! security: how a container is confined — its capabilities, devices,
//! seccomp filter, masked paths and no_new_privs — from docker's options
//! (`--privileged`, `--cap-add/--cap-drop`, `--device`,
//! `--device-cgroup-rule`, `--security-opt`, `--userns`) and the daemon's
//! default profile. [`confine`] resolves the options of one container into
//! a [`Confinement`], which the bundle builder writes into config.json.

pub mod capabilities;
pub mod devices;
pub mod seccomp;
pub mod userns;

use std::collections::BTreeSet;
use std::sync::Arc;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxSeccomp};
use serde::{Deserialize, Serialize};

pub use devices::DeviceMapping;
pub use seccomp::Profile;
pub use userns::Remap;

/// Errors of security options; each names the flag and the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid capability: unknown capability: \"{name}\"")]
    UnknownCapability { name: String },
    #[error("invalid {flag} {value:?}: {reason}")]
    Invalid {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("invalid seccomp profile: {message}")]
    Seccomp { message: String },
    #[error("building the container's config: {message}")]
    Spec { message: String },
}

/// The options as the user gave them (docker's HostConfig fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub devices: Vec<DeviceMapping>,
    pub device_cgroup_rules: Vec<String>,
    /// `seccomp=unconfined`, `seccomp=<profile JSON>`, `no-new-privileges`,
    /// `systempaths=unconfined`, `apparmor=…`, `label=…`.
    pub security_opt: Vec<String>,
    /// `--userns`: "" or "host".
    pub userns_mode: String,
}

/// The daemon's default filter (daemon.json `seccomp-profile`).
#[derive(Debug, Clone, Default)]
pub enum DefaultSeccomp {
    /// berthd's built-in profile.
    #[default]
    Builtin,
    Unconfined,
    Profile(Arc<Profile>),
}

impl DefaultSeccomp {
    /// daemon.json's value: "builtin", "unconfined", or a profile's path.
    pub fn load(value: &str) -> Result<DefaultSeccomp, String> {
        match value {
            "" | "builtin" | "default" => Ok(DefaultSeccomp::Builtin),
            "unconfined" => Ok(DefaultSeccomp::Unconfined),
            path => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
                let p = Profile::parse(&text).map_err(|e| format!("{path}: {e}"))?;
                Ok(DefaultSeccomp::Profile(Arc::new(p)))
            }
        }
    }
}

/// The daemon's side of every container's confinement (daemon.json).
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub seccomp: DefaultSeccomp,
    /// `userns-remap`: containers' root is this range's first host uid.
    pub remap: Option<Remap>,
}

/// What one container gets.
#[derive(Debug, Clone)]
pub struct Confinement {
    pub capabilities: BTreeSet<&'static str>,
    /// Device nodes to create besides the runtime's standard ones.
    pub devices: Vec<LinuxDevice>,
    /// Device cgroup rules to add after docker's standard allow-list.
    pub device_rules: Vec<LinuxDeviceCgroup>,
    pub seccomp: Option<LinuxSeccomp>,
    pub no_new_privileges: bool,
    /// docker's masked and read-only /proc and /sys paths apply.
    pub masked_paths: bool,
    /// `--privileged`: /sys and cgroupfs writable, every device allowed.
    pub privileged: bool,
    /// A user namespace mapping the container's ids to these host ids.
    pub userns: Option<Remap>,
}

enum SeccompChoice {
    Default,
    Unconfined,
    Profile(Profile),
}

/// Resolves a container's options against the daemon's defaults.
pub fn confine(o: &Options, defaults: &Defaults) -> Result<Confinement, Error> {
    let default = &defaults.seccomp;
    let mut choice = SeccompChoice::Default;
    let mut no_new_privileges = false;
    let mut masked_paths = !o.privileged;
    for opt in &o.security_opt {
        // docker accepts `key=value` and the older `key:value`.
        let (key, value) = match opt.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        let bad = |reason: &str| Error::Invalid {
            flag: "--security-opt",
            value: if opt.len() > 80 {
                format!("{}…", &opt[..opt.floor_char_boundary(80)])
            } else {
                opt.clone()
            },
            reason: reason.to_string(),
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => choice = SeccompChoice::Unconfined,
            ("seccomp", Some("builtin")) => choice = SeccompChoice::Default,
            ("seccomp", Some(json)) if json.trim_start().starts_with('{') => {
                choice = SeccompChoice::Profile(Profile::parse(json)?)
            }
            ("seccomp", _) => {
                return Err(bad(
                    "seccomp takes unconfined or a profile (the CLI reads seccomp=FILE and sends its JSON)",
                ))
            }
            ("no-new-privileges", None | Some("true")) => no_new_privileges = true,
            ("no-new-privileges", Some("false")) => no_new_privileges = false,
            ("no-new-privileges", Some(_)) => return Err(bad("no-new-privileges is true or false")),
            ("systempaths", Some("unconfined")) => masked_paths = false,
            // No AppArmor or SELinux here: accepted and ignored, as docker does
            // on a host without them.
            ("apparmor" | "label", Some(_)) => {}
            _ => return Err(bad("unknown option")),
        }
    }
    let userns = match o.userns_mode.as_str() {
        "host" => None,
        "" => defaults.remap,
        other => {
            return Err(Error::Invalid {
                flag: "--userns",
                value: other.to_string(),
                reason: "the only mode is host".into(),
            })
        }
    };
    if o.privileged && userns.is_some() {
        return Err(Error::Invalid {
            flag: "--privileged",
            value: "true".into(),
            reason: "privileged mode is incompatible with user namespaces. You must run the container in the host namespace when running privileged mode (--userns=host)".into(),
        });
    }
    let capabilities = capabilities::resolve(o.privileged, &o.cap_add, &o.cap_drop)?;
    let mut devices_out = Vec::new();
    let mut device_rules = Vec::new();
    if o.privileged {
        devices_out = devices::host_devices();
        device_rules.push(devices::allow_all()?);
    }
    for m in &o.devices {
        let g = devices::grant(m)?;
        devices_out.retain(|d: &LinuxDevice| d.path() != g.device.path());
        devices_out.push(g.device);
        device_rules.push(g.rule);
    }
    for r in &o.device_cgroup_rules {
        device_rules.push(devices::cgroup_rule(r)?);
    }
    let seccomp = if o.privileged {
        None
    } else {
        match (choice, default) {
            (SeccompChoice::Unconfined, _) => None,
            (SeccompChoice::Profile(p), _) => Some(p.for_container(&capabilities)?),
            (SeccompChoice::Default, DefaultSeccomp::Unconfined) => None,
            (SeccompChoice::Default, DefaultSeccomp::Profile(p)) => {
                Some(p.for_container(&capabilities)?)
            }
            (SeccompChoice::Default, DefaultSeccomp::Builtin) => {
                Some(seccomp::builtin().for_container(&capabilities)?)
            }
        }
    };
    Ok(Confinement {
        capabilities,
        devices: devices_out,
        device_rules,
        seccomp,
        no_new_privileges,
        masked_paths,
        privileged: o.privileged,
        userns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(security_opt: &[&str]) -> Options {
        Options {
            security_opt: security_opt.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn security_opts_parse() {
        let d = Defaults::default();
        let c = confine(&opts(&[]), &d).unwrap();
        assert!(c.seccomp.is_some() && c.masked_paths && !c.no_new_privileges);
        let c = confine(&opts(&["seccomp=unconfined", "no-new-privileges"]), &d).unwrap();
        assert!(c.seccomp.is_none() && c.no_new_privileges);
        let c = confine(&opts(&["seccomp:unconfined", "systempaths=unconfined"]), &d).unwrap();
        assert!(c.seccomp.is_none() && !c.masked_paths);
        let c = confine(
            &opts(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#]),
            &d,
        )
        .unwrap();
        assert_eq!(
            c.seccomp.unwrap().syscalls().as_ref().map(Vec::len),
            Some(0)
        );
        let unconfined = Defaults {
            seccomp: DefaultSeccomp::Unconfined,
            remap: None,
        };
        assert!(confine(&opts(&[]), &unconfined).unwrap().seccomp.is_none());
        let remapped = Defaults {
            remap: Some(Remap {
                uid: 100000,
                gid: 100000,
                size: 65536,
            }),
            ..Default::default()
        };
        assert!(confine(&opts(&[]), &remapped).unwrap().userns.is_some());
        let host = Options {
            userns_mode: "host".into(),
            privileged: true,
            ..Default::default()
        };
        assert!(confine(&host, &remapped).unwrap().userns.is_none());
        let privileged = Options {
            privileged: true,
            ..Default::default()
        };
        assert!(confine(&privileged, &remapped).is_err());
        for bad in [
            "seccomp=/no/such/file",
            "frobnicate",
            "no-new-privileges=maybe",
        ] {
            let e = confine(&opts(&[bad]), &d).unwrap_err().to_string();
            assert!(e.contains("--security-opt"), "{bad}: {e}");
        }
        let privileged = Options {
            privileged: true,
            ..Default::default()
        };
        let c = confine(&privileged, &d).unwrap();
        assert!(c.seccomp.is_none() && !c.masked_paths && c.capabilities.len() >= 38);
        assert!(!c.devices.is_empty());
    }
}
