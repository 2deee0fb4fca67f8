//! The one error type of `tasks`; gRPC statuses from a shim are mapped to it in
//! `convert.rs`, nowhere else.

use std::path::PathBuf;

/// What went wrong talking to a shim. Every variant names the task.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No such task (no shim state dir) or no such exec process in it.
    #[error("task {id}: not found: {message}")]
    NotFound { id: String, message: String },
    /// A task (or exec id) with this id exists already.
    #[error("task {id}: already exists: {message}")]
    AlreadyExists { id: String, message: String },
    /// The request does not fit the task's state (e.g. delete while running,
    /// start twice, resize without a tty).
    #[error("task {id}: {message}")]
    FailedPrecondition { id: String, message: String },
    /// The request itself was malformed (e.g. an exec spec that is not JSON).
    #[error("task {id}: invalid argument: {message}")]
    InvalidArgument { id: String, message: String },
    /// The shim or the runtime under it failed; `message` carries the
    /// runtime's own error text when there was one.
    #[error("task {id}: shim: {message}")]
    Shim { id: String, message: String },
    /// The shim is gone (socket refused or closed); its recorded exit status,
    /// if any, is still readable with [`super::TaskManager::recorded_exit`].
    #[error("task {id}: shim is not reachable at {}: {message}", address.display())]
    Unreachable {
        id: String,
        address: PathBuf,
        message: String,
    },
    /// Spawning the shim binary failed before it could report anything.
    #[error("task {id}: spawning shim {}: {source}", shim.display())]
    Spawn {
        id: String,
        shim: PathBuf,
        source: std::io::Error,
    },
    /// A file of the shim's state dir could not be read or removed.
    #[error("task {id}: {}: {source}", path.display())]
    Io {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl TaskError {
    /// What went wrong, for a user: no task id (the caller names the
    /// container), no internal layer names, and what to do where it is known.
    pub fn detail(&self) -> String {
        match self {
            TaskError::NotFound { message, .. }
            | TaskError::AlreadyExists { message, .. }
            | TaskError::FailedPrecondition { message, .. }
            | TaskError::InvalidArgument { message, .. } => message.clone(),
            TaskError::Shim { message, .. } => format!("the runtime failed: {message}"),
            TaskError::Unreachable { .. } => "its shim is gone (killed from outside?); \
                `berth rm -f` removes the container"
                .to_string(),
            TaskError::Spawn { shim, source, .. } => format!(
                "cannot run the shim {}: {source} (is berth-shim installed next to berthd?)",
                shim.display()
            ),
            TaskError::Io { path, source, .. } => format!("{}: {source}", path.display()),
        }
    }

    /// True for [`TaskError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, TaskError::NotFound { .. })
    }
}

/// The runtime's own words for an exec failure, as runc prints them (the OCI
/// runtime CLI contract: berth-runtime, runc and crun agree on them). This is
/// the one place berthd reads meaning out of text, because it is where the
/// runtime's text enters it.
fn exec_failure(message: &str) -> Option<crate::errors::Reason> {
    use crate::errors::Reason;
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        Some(Reason::CommandNotFound)
    } else if m.contains("permission denied") {
        Some(Reason::CommandNotExecutable)
    } else {
        None
    }
}

impl crate::errors::Classify for TaskError {
    fn reason(&self) -> crate::errors::Reason {
        use crate::errors::Reason;
        match self {
            TaskError::NotFound { .. } => Reason::NotFound,
            TaskError::AlreadyExists { .. } => Reason::AlreadyExists,
            TaskError::FailedPrecondition { message, .. } => {
                exec_failure(message).unwrap_or(Reason::Conflict)
            }
            TaskError::InvalidArgument { .. } => Reason::InvalidArgument,
            TaskError::Shim { message, .. } => exec_failure(message).unwrap_or(Reason::Internal),
            TaskError::Unreachable { .. } | TaskError::Spawn { .. } | TaskError::Io { .. } => {
                Reason::Internal
            }
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            TaskError::NotFound { id, .. }
            | TaskError::AlreadyExists { id, .. }
            | TaskError::FailedPrecondition { id, .. }
            | TaskError::InvalidArgument { id, .. }
            | TaskError::Shim { id, .. }
            | TaskError::Unreachable { id, .. }
            | TaskError::Spawn { id, .. }
            | TaskError::Io { id, .. } => Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::{Classify, Reason};

    #[test]
    fn runtime_exec_failures_are_classified() {
        let shim = |m: &str| TaskError::Shim {
            id: "c".into(),
            message: m.into(),
        };
        assert_eq!(
            shim("exec: \"nope\": executable file not found in $PATH").reason(),
            Reason::CommandNotFound
        );
        assert_eq!(
            shim("exec: \"/etc/passwd\": permission denied").reason(),
            Reason::CommandNotExecutable
        );
        assert_eq!(shim("cgroup: EBUSY").reason(), Reason::Internal);
    }
}
