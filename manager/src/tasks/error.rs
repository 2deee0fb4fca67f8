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
    /// True for [`TaskError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, TaskError::NotFound { .. })
    }
}
