//! [`ShimError`], the one error type of the shim's domain; `service.rs` maps
//! it to gRPC statuses once.

use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Wraps an I/O error with what the shim was doing.
pub fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShimError {
    let what = what.into();
    move |source| ShimError::Io { what, source }
}

pub fn precondition(msg: &str) -> ShimError {
    ShimError::FailedPrecondition(msg.to_string())
}
