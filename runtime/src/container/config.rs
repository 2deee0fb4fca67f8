//! Reading a bundle: `config.json` parsed with errors that name the JSON field, and
//! the rootfs path resolved against the bundle.
use super::Error;
use oci_spec::runtime::Spec;
use std::path::{Path, PathBuf};

/// Parse `path` as a runtime spec; a malformed file names the offending field.
pub fn load_spec(path: &Path) -> Result<Spec, Error> {
    let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_with_process(path, &data, "/process")
}

/// [`parse_json`] of a config whose process object is at the JSON pointer
/// `process` (`/process` in config.json, the root of `exec --process`), mending
/// what the spec allows but the oci-spec types refuse:
/// - capability names they do not know are dropped with a warning on the runtime's
///   log: the runtime spec says an unknown capability "MUST be logged as a warning"
///   and "SHOULD NOT fail", and runc goes on the same way;
/// - the spec's names of `scheduler.flags` that oci-spec spells differently are
///   rewritten (see `crate::scheduler`).
///
/// The common case (nothing to mend) parses once; only a failed parse pays for the
/// second look.
pub fn parse_with_process<T: serde::de::DeserializeOwned>(
    path: &Path,
    data: &[u8],
    process: &str,
) -> Result<T, Error> {
    let first = match parse_json(path, data) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return Err(first);
    };
    let skipped = match value.pointer_mut(&format!("{process}/capabilities")) {
        Some(sets) => drop_unknown_caps(sets, "process.capabilities"),
        None => Vec::new(),
    };
    let renamed = value
        .pointer_mut(&format!("{process}/scheduler/flags"))
        .is_some_and(crate::scheduler::normalise_flag_names);
    if skipped.is_empty() && !renamed {
        return Err(first);
    }
    let data = serde_json::to_vec(&value).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let parsed = parse_json(path, &data)?;
    for warning in &skipped {
        crate::logging::warn(warning);
    }
    Ok(parsed)
}

/// Removes, from each set of `sets` (`{"bounding": [..], ..}`), the names that do not
/// parse as a capability; returns one warning per name removed.
fn drop_unknown_caps(sets: &mut serde_json::Value, field: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(sets) = sets.as_object_mut() else {
        return warnings;
    };
    for (set, names) in sets.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|name| {
            // A non-string stays, so the parse still fails naming it.
            let known = !name.is_string()
                || serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                warnings.push(format!("{field}.{set}: unknown capability {name}, ignored"));
            }
            known
        });
    }
    warnings
}

/// Parse JSON of any spec type, naming the field on error (`process.user.uid: ...`).
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, data: &[u8]) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let reason = if field == "." || field.is_empty() {
            e.inner().to_string()
        } else {
            format!("field {field}: {}", e.inner())
        };
        Error::Config {
            path: path.to_path_buf(),
            reason,
        }
    })
}

/// Checks that need no kernel: the fields create cannot do without.
pub fn validate(spec: &Spec, config: &Path) -> Result<(), Error> {
    let bad = |reason: &str| Error::Config {
        path: config.to_path_buf(),
        reason: reason.to_string(),
    };
    // `process` may be absent until `start` (the runtime spec only requires it
    // there); such a container simply ends when started.
    if let Some(process) = spec.process() {
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(bad("process.args must not be empty"));
        }
        if !process.cwd().is_absolute() {
            return Err(bad("process.cwd must be an absolute path"));
        }
    }
    if spec.root().is_none() {
        return Err(bad("root is required"));
    }
    check_sysctls(spec).map_err(|r| bad(&r))?;
    if let Some(s) = spec.process().as_ref().and_then(|p| p.scheduler().as_ref()) {
        crate::scheduler::validate(s).map_err(|e| bad(&e.to_string()))?;
    }
    Ok(())
}

/// IPC sysctls: namespaced only by a new IPC namespace.
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// `linux.sysctl` may only write what the container's own namespaces hold: a
/// key outside them would change the host (runc refuses the same keys, with the
/// same rules). Checked before anything is created.
fn check_sysctls(spec: &Spec) -> Result<(), String> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let Some(map) = linux.sysctl() else {
        return Ok(());
    };
    let ns = linux.namespaces().clone().unwrap_or_default();
    let find = |t: T| ns.iter().find(|n| n.typ() == t);
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if find(T::Ipc).is_none() {
                return Err(format!(
                    "linux.sysctl {key:?} is not allowed in the host's IPC namespace (add an ipc namespace)"
                ));
            }
            continue;
        }
        if key.starts_with("net.") {
            match find(T::Network) {
                None => {
                    return Err(format!(
                        "linux.sysctl {key:?} is not allowed in the host's network namespace (add a network namespace)"
                    ))
                }
                Some(n) => {
                    if let Some(path) = n.path() {
                        if is_host_netns(path) {
                            return Err(format!(
                                "linux.sysctl {key:?} is not allowed: the network namespace {} is the host's",
                                path.display()
                            ));
                        }
                    }
                }
            }
            continue;
        }
        if find(T::Uts).is_some() {
            match key.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(format!(
                        "linux.sysctl {key:?} is not allowed: it conflicts with the hostname field"
                    ))
                }
                _ => {}
            }
        }
        return Err(format!(
            "linux.sysctl {key:?} is not in a namespace of the container's own: it would change the host"
        ));
    }
    Ok(())
}

/// Whether `path` is the network namespace this runtime runs in.
fn is_host_netns(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// `root.path`, relative to the bundle or absolute, canonicalized.
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, Error> {
    let root = spec.root().as_ref().ok_or_else(|| Error::Config {
        path: bundle.join("config.json"),
        reason: "root is required".into(),
    })?;
    let p = bundle.join(root.path());
    std::fs::canonicalize(&p).map_err(|e| Error::Config {
        path: bundle.join("config.json"),
        reason: format!("root.path {}: {e}", p.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(ns: &str, sysctl: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs"}},
               "linux": {{"namespaces": [{ns}], "sysctl": {sysctl}}}}}"#
        );
        serde_json::from_str(&json).expect("test spec parses")
    }

    #[test]
    fn sysctls_outside_the_containers_namespaces_are_refused() {
        let ok = [
            (r#"{"type": "network"}"#, r#"{"net.core.somaxconn": "1"}"#),
            (r#"{"type": "ipc"}"#, r#"{"kernel.shmmax": "1"}"#),
            (r#"{"type": "ipc"}"#, r#"{"fs.mqueue.msg_max": "1"}"#),
            (r#"{"type": "uts"}"#, r#"{"kernel.domainname": "x"}"#),
        ];
        for (ns, sysctl) in ok {
            assert!(
                check_sysctls(&spec_with(ns, sysctl)).is_ok(),
                "{ns} {sysctl}"
            );
        }
        let refused = [
            (r#"{"type": "ipc"}"#, r#"{"net.core.somaxconn": "1"}"#),
            (r#"{"type": "network"}"#, r#"{"kernel.shmmax": "1"}"#),
            (r#"{"type": "network"}"#, r#"{"kernel.domainname": "x"}"#),
            (r#"{"type": "uts"}"#, r#"{"kernel.hostname": "x"}"#),
            (r#"{"type": "uts"}"#, r#"{"vm.swappiness": "1"}"#),
            (
                r#"{"type": "network", "path": "/proc/self/ns/net"}"#,
                r#"{"net.core.somaxconn": "1"}"#,
            ),
        ];
        for (ns, sysctl) in refused {
            assert!(
                check_sysctls(&spec_with(ns, sysctl)).is_err(),
                "{ns} {sysctl}"
            );
        }
    }

    #[test]
    fn unknown_capability_names_are_dropped_not_fatal() {
        let json = br#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
              "capabilities": {"bounding": ["CAP_KILL", "CAP_BERTH_BOGUS"],
                               "effective": ["CAP_BERTH_BOGUS"]}}}"#;
        let spec: Spec = parse_with_process(Path::new("c"), json, "/process")
            .expect("an unknown capability is a warning");
        let caps = spec
            .process()
            .as_ref()
            .and_then(|p| p.capabilities().clone())
            .expect("caps");
        assert_eq!(caps.bounding().as_ref().map(|b| b.len()), Some(1));
        assert_eq!(caps.effective().as_ref().map(|b| b.len()), Some(0));

        let bad = br#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
              "capabilities": {"bounding": [7]}}}"#;
        let err = parse_with_process::<Spec>(Path::new("c"), bad, "/process")
            .expect_err("a number is not a capability name");
        assert!(err.to_string().contains("bounding"), "{err}");
    }

    #[test]
    fn scheduler_flags_in_the_specs_spelling_parse() {
        let config = br#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
              "scheduler": {"policy": "SCHED_BATCH",
                "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]}}}"#;
        let spec: Spec = parse_with_process(Path::new("c"), config, "/process").expect("parse");
        let flags = spec
            .process()
            .as_ref()
            .and_then(|p| p.scheduler().as_ref())
            .and_then(|s| s.flags().clone());
        assert_eq!(flags.map(|f| f.len()), Some(2));
        // exec --process: the process object is the root.
        let process = br#"{"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
            "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}}"#;
        parse_with_process::<oci_spec::runtime::Process>(Path::new("p"), process, "")
            .expect("parse process.json");
        // An unknown flag is still an error naming the field.
        let bad = br#"{"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
            "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_BOGUS"]}}"#;
        let err = parse_with_process::<oci_spec::runtime::Process>(Path::new("p"), bad, "")
            .expect_err("unknown flag");
        assert!(err.to_string().contains("scheduler.flags"), "{err}");
    }

    #[test]
    fn malformed_field_is_named() {
        let json = br#"{"ociVersion":"1.0.0","process":{"user":{"uid":"zero","gid":0},"cwd":"/"}}"#;
        let err = parse_json::<Spec>(Path::new("/b/config.json"), json).expect_err("bad");
        let text = err.to_string();
        assert!(
            text.starts_with("/b/config.json: field process.user.uid"),
            "{text}"
        );
    }

    #[test]
    fn missing_args_is_an_error() {
        let json = br#"{"ociVersion":"1.0.0","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"cwd":"/"}}"#;
        let spec: Spec = parse_json(Path::new("c"), json).expect("parse");
        let err = validate(&spec, Path::new("c")).expect_err("no args");
        assert!(err.to_string().contains("process.args"), "{err}");
    }
}
