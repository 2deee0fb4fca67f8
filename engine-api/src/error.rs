//! The client's one error type: a daemon status mapped back to a kind, or a
//! failure to reach the daemon at all.

use std::path::PathBuf;

/// What kind of failure, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    FailedPrecondition,
    Unavailable,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// berthd is not listening on the socket.
    #[error("Cannot connect to the berth daemon at unix://{}. Is berthd running? ({reason})", socket.display())]
    Connect { socket: PathBuf, reason: String },
    /// berthd answered with an error; `message` is its text.
    #[error("{message}")]
    Daemon { kind: ErrorKind, message: String },
    /// A local file (import/load/save) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { .. } => ErrorKind::Unavailable,
            Error::Daemon { kind, .. } => *kind,
            Error::Io { .. } => ErrorKind::Other,
        }
    }

    /// True when the daemon answered (so the CLI prefixes "Error response from daemon").
    pub fn from_daemon(&self) -> bool {
        matches!(self, Error::Daemon { .. })
    }

    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Error {
        use tonic::Code;
        let kind = match s.code() {
            Code::NotFound => ErrorKind::NotFound,
            Code::AlreadyExists => ErrorKind::Conflict,
            Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
            Code::FailedPrecondition => ErrorKind::FailedPrecondition,
            Code::Unavailable => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        Error::Daemon {
            kind,
            message: s.message().to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
