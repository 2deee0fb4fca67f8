//! The one error type of the test support code; each variant names the file,
//! command or container it is about, so a failing test says where to look.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{binary} not found: {hint}")]
    MissingBinary { binary: PathBuf, hint: String },
    #[error("building the static checker failed: {0}")]
    CheckerBuild(String),
    #[error("`{command}` timed out after {secs}s")]
    Timeout { command: String, secs: u64 },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("container {id}: {what}")]
    Container { id: String, what: String },
    #[error("bad JSON from {from}: {source}; text was: {text}")]
    Json {
        from: String,
        text: String,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SupportError {
    let path = path.into();
    move |source| SupportError::Io { path, source }
}
