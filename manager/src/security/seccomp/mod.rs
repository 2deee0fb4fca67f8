//! Seccomp profiles in docker's format (`--security-opt seccomp=FILE`,
//! daemon.json `seccomp-profile`, and berthd's built-in default, which is
//! written in the same format): the OCI `linux.seccomp` plus `archMap` and
//! rules conditioned on the container's capabilities, the architecture and
//! the kernel (`includes`/`excludes`). [`Profile::for_container`] resolves
//! those conditions into the OCI config for one container.

mod default;

use std::collections::BTreeSet;

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use default::builtin;

use super::Error;

/// docker's profile format.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The older, single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub includes: Filter,
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub excludes: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// Conditions of a rule: all `caps` held, one of `arches` is the host's,
/// the kernel at least `min_kernel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// The host's architecture as seccomp names it.
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// `(major, minor)` of the running kernel.
fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().to_string())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

impl Profile {
    /// Parses a profile; errors name what is wrong.
    pub fn parse(text: &str) -> Result<Profile, Error> {
        let p: Profile = serde_json::from_str(text).map_err(|e| Error::Seccomp {
            message: format!("decoding the profile: {e}"),
        })?;
        // Resolving once for a container with every capability checks the
        // actions, architectures and operators against the OCI names.
        p.for_container(&BTreeSet::new())?;
        Ok(p)
    }

    /// The OCI seccomp config for a container holding `caps` on this host.
    pub fn for_container(&self, caps: &BTreeSet<&'static str>) -> Result<LinuxSeccomp, Error> {
        let arch = native_arch();
        let kernel = kernel_version();
        let applies = |r: &Rule| {
            let inc = &r.includes;
            let exc = &r.excludes;
            inc.caps.iter().all(|c| caps.contains(c.as_str()))
                && (inc.arches.is_empty() || inc.arches.iter().any(|a| a == arch))
                && inc
                    .min_kernel
                    .as_deref()
                    .and_then(parse_version)
                    .is_none_or(|min| kernel >= min)
                && !exc.caps.iter().any(|c| caps.contains(c.as_str()))
                && !exc.arches.iter().any(|a| a == arch)
                && exc
                    .min_kernel
                    .as_deref()
                    .and_then(parse_version)
                    .is_none_or(|min| kernel < min)
        };
        let architectures: Vec<String> = if self.arch_map.is_empty() {
            self.architectures.clone()
        } else {
            self.arch_map
                .iter()
                .filter(|m| m.architecture == arch)
                .flat_map(|m| {
                    std::iter::once(m.architecture.clone()).chain(m.sub_architectures.clone())
                })
                .collect()
        };
        let mut syscalls = Vec::new();
        for (i, r) in self.syscalls.iter().enumerate() {
            if !applies(r) {
                continue;
            }
            let names: Vec<String> = r.names.iter().chain(r.name.as_ref()).cloned().collect();
            if names.is_empty() {
                return Err(Error::Seccomp {
                    message: format!("syscalls[{i}]: a rule names no syscall"),
                });
            }
            let mut s = json!({ "names": names, "action": r.action });
            if let Some(e) = r.errno_ret {
                s["errnoRet"] = json!(e);
            }
            if !r.args.is_empty() {
                s["args"] = json!(r
                    .args
                    .iter()
                    .map(|a| json!({"index": a.index, "value": a.value, "valueTwo": a.value_two, "op": a.op}))
                    .collect::<Vec<_>>());
            }
            serde_json::from_value::<oci_spec::runtime::LinuxSyscall>(s.clone()).map_err(|e| {
                Error::Seccomp {
                    message: format!("syscalls[{i}] ({}): {e}", names.join(", ")),
                }
            })?;
            syscalls.push(s);
        }
        let mut out = json!({ "defaultAction": self.default_action, "syscalls": syscalls });
        if let Some(e) = self.default_errno_ret {
            out["defaultErrnoRet"] = json!(e);
        }
        if !architectures.is_empty() {
            out["architectures"] = json!(architectures);
        }
        if !self.flags.is_empty() {
            out["flags"] = json!(self.flags);
        }
        if let Some(p) = &self.listener_path {
            out["listenerPath"] = Value::String(p.clone());
        }
        if let Some(m) = &self.listener_metadata {
            out["listenerMetadata"] = Value::String(m.clone());
        }
        serde_json::from_value(out).map_err(|e| Error::Seccomp {
            message: format!("the profile's top level: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_resolve_per_container() {
        let p = Profile::parse(
            r#"{"defaultAction": "SCMP_ACT_ERRNO",
                "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
                "syscalls": [
                  {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                  {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                  {"name": "personality", "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
                ]}"#,
        )
        .unwrap();
        let names = |s: &LinuxSeccomp| -> Vec<String> {
            s.syscalls()
                .iter()
                .flatten()
                .flat_map(|r| r.names().clone())
                .collect()
        };
        let plain = p.for_container(&BTreeSet::new()).unwrap();
        assert_eq!(names(&plain), ["read", "clone3", "personality"]);
        let admin = p.for_container(&BTreeSet::from(["CAP_SYS_ADMIN"])).unwrap();
        assert_eq!(names(&admin), ["read", "mount", "personality"]);
        if native_arch() == "SCMP_ARCH_X86_64" {
            assert_eq!(plain.architectures().as_ref().map(Vec::len), Some(2));
        }
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        for (text, says) in [
            ("{", "decoding"),
            (r#"{"defaultAction": "SCMP_ACT_FOO"}"#, "top level"),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}"#,
                "syscalls[0] (read)",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
                "names no syscall",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SOMETIMES"}]}]}"#,
                "syscalls[0]",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#,
                "top level",
            ),
        ] {
            let e = Profile::parse(text).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
