//! Containers: the state on disk (`<root>/<id>/state.json`, see `state.rs`) and the
//! lifecycle verbs, one file per verb.
//!
//! Every verb that can fail checks first and changes nothing when it refuses (an
//! unknown or duplicate id, `start` of a container that is not created, `delete` of a
//! running one without force). Error texts keep runc's wording where callers such as
//! containerd match on it ("container does not exist", "container not running").
mod config;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;

pub use create::{create, CreateOptions};
pub use delete::delete;
pub use events::{events, stats_event};
pub use exec::{exec, ExecOptions};
pub use features::features_json;
pub use kill::{kill, parse_signal};
pub use list::list;
pub use pause::{pause, resume};
pub use ps::ps;
pub use run::run;
pub use spec::{default_spec_json, write_default_spec, RootlessIds};
pub use start::start;
pub use state::{pid_alive, write_atomic, State, StateOutput, Status};
pub use update::{parse_bytes, update, UpdateFlags};

use crate::cgroups::{self, CgroupError};
use crate::console::ConsoleError;
use crate::hooks::{HookError, HookKind};
use crate::namespaces::NamespaceError;
use crate::process::{CgroupJoin, ProcessError};
use crate::seccomp::SeccompError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid container id {0:?}: use letters, digits and _ + - . only")]
    InvalidId(String),
    #[error("container does not exist")]
    NotExist(String),
    #[error("container with given ID already exists: {0}")]
    Exists(String),
    #[error("cannot start a container that has stopped")]
    StartStopped(String),
    #[error("cannot start an already running container")]
    StartRunning(String),
    #[error("cannot delete container {id} that is not stopped: {status} (use --force)")]
    NotStopped { id: String, status: Status },
    #[error("container not running")]
    NotRunning(String),
    #[error("container not paused")]
    NotPaused(String),
    #[error("cannot exec in a stopped container")]
    ExecStopped(String),
    #[error("cannot exec in a paused container (resume it or use --ignore-paused)")]
    ExecPaused(String),
    #[error("{path}: {reason}")]
    Config { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is unreadable: {reason}")]
    StateCorrupt { path: PathBuf, reason: String },
    #[error("unknown signal {0:?}")]
    Signal(String),
    #[error("container {id} failed to start: {reason}")]
    StartFailed { id: String, reason: String },
    #[error("the container's init (pid {pid}) is gone: {reason}")]
    InitGone { pid: i32, reason: String },
    #[error("sending signal {signal} to pid {pid} of the container: {source}")]
    Kill {
        pid: i32,
        signal: i32,
        source: nix::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("{error} (and cleaning up failed: {cleanup})")]
    Cleanup { error: Box<Error>, cleanup: String },
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// runc's id rule: `^[\w+\-.]+$`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// A container that exists under `--root`.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub state: State,
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container, Error> {
        validate_id(id)?;
        let dir = root.join(id);
        if !dir.join(state::STATE_FILE).exists() {
            return Err(Error::NotExist(id.to_string()));
        }
        let state = State::load(&dir)?;
        Ok(Container { dir, state })
    }

    pub fn status(&self) -> Status {
        self.state.status(&self.dir)
    }

    /// The container's cgroup manager, as `create` resolved it.
    pub fn cgroup(&self) -> Result<cgroups::Manager, Error> {
        match &self.state.cgroup {
            Some(s) => Ok(cgroups::Manager::from_state(s.clone())),
            None => Ok(cgroups::Manager::new(
                self.state.cgroups_path.as_deref(),
                &self.state.id,
            )?),
        }
    }

    /// runc's `state` output (indented JSON).
    pub fn state_json(&self) -> String {
        let out = self.state.output(self.status());
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    /// The state a `kind` hook reads on stdin (its status: [`HookKind::state_status`]).
    fn hook_state(&self, kind: HookKind) -> Vec<u8> {
        let pid = if kind == HookKind::Poststop {
            0
        } else {
            self.state.init_pid
        };
        crate::hooks::state_json(
            &self.state.id,
            kind.state_status(),
            pid,
            &self.state.bundle,
            &self.state.annotations,
        )
    }
}

/// What a new process needs to join `cg` by itself (see [`CgroupJoin`]).
pub(crate) fn cgroup_join(cg: &cgroups::Manager) -> Result<CgroupJoin, Error> {
    let state = cg.state();
    let mut v1: Vec<PathBuf> = Vec::new();
    for (_, dir) in state.v1.values() {
        if !v1.contains(dir) {
            v1.push(dir.clone());
        }
    }
    Ok(CgroupJoin::open(
        v1,
        state.v2.as_ref().map(|v| v.dir.as_path()),
    )?)
}

/// poststop: a failing hook is a warning and the next ones still run (runtime
/// spec, "Lifecycle").
pub(crate) fn run_hooks_warning(
    kind: crate::hooks::HookKind,
    hooks: Option<&oci_spec::runtime::Hooks>,
    state: &[u8],
) {
    for e in crate::hooks::run_kind_all(kind, hooks, state) {
        crate::logging::warn(&e.to_string());
    }
}

/// Compile `linux.seccomp`. Names of other architectures are skipped quietly (a debug
/// line), as libseccomp does: podman's and docker's profiles list dozens, and a
/// warning per name would reach conmon's container output. Names no architecture
/// knows are skipped with a warning.
pub(crate) fn compile_seccomp(
    s: &oci_spec::runtime::LinuxSeccomp,
) -> Result<crate::seccomp::Filter, Error> {
    let filter = crate::seccomp::compile(s)?;
    for name in filter.foreign() {
        crate::logging::debug(&format!(
            "linux.seccomp.syscalls: {name:?} exists only on architectures the filter does not cover; skipped"
        ));
    }
    for name in filter.unknown() {
        crate::logging::warn(&format!(
            "linux.seccomp.syscalls: {name:?} is not a syscall of any architecture; skipped"
        ));
    }
    Ok(filter)
}

/// The runtime spec's State of a container, for the seccomp agent (the child adds
/// `pid`).
pub(crate) fn listener_state(
    id: &str,
    status: &str,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": id,
        "status": status,
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// `state` verb.
pub fn state(root: &Path, id: &str) -> Result<String, Error> {
    Ok(Container::load(root, id)?.state_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules_match_runc() {
        for good in ["a", "abc-1_2.3+x", "A9", "..a"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "../x"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_id_is_runc_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Container::load(dir.path(), "nope").expect_err("missing");
        assert_eq!(err.to_string(), "container does not exist");
        let err = Container::load(dir.path(), "a/b").expect_err("bad id");
        assert!(matches!(err, Error::InvalidId(_)));
    }
}
