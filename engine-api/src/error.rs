//! The client's one error type: a daemon status mapped back to a kind, or a
//! failure to reach the daemon at all.

use std::path::PathBuf;

use berth_proto::errors::v1 as epb;
use prost::Message;

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

/// Why berthd refused or failed a call, finer than [`ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    NoSuchImage,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    CommandNotFound,
    CommandNotExecutable,
    NotRunning,
    Internal,
    /// A daemon that sent no reason (or one this client does not know).
    Unspecified,
}

impl From<epb::Reason> for Reason {
    fn from(r: epb::Reason) -> Self {
        match r {
            epb::Reason::Unspecified => Reason::Unspecified,
            epb::Reason::NotFound => Reason::NotFound,
            epb::Reason::NoSuchImage => Reason::NoSuchImage,
            epb::Reason::AlreadyExists => Reason::AlreadyExists,
            epb::Reason::Conflict => Reason::Conflict,
            epb::Reason::InvalidArgument => Reason::InvalidArgument,
            epb::Reason::CommandNotFound => Reason::CommandNotFound,
            epb::Reason::CommandNotExecutable => Reason::CommandNotExecutable,
            epb::Reason::NotRunning => Reason::NotRunning,
            epb::Reason::Internal => Reason::Internal,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// berthd is not listening on the socket.
    #[error("Cannot connect to the berth daemon at unix://{}. Is berthd running? ({reason})", socket.display())]
    Connect { socket: PathBuf, reason: String },
    /// berthd answered with an error; `message` is its text, the rest is
    /// what it said as data.
    #[error("{message}")]
    Daemon {
        kind: ErrorKind,
        reason: Reason,
        /// The name, id or reference the error is about ("" when none).
        subject: String,
        /// The exit status this failure gives a `run` (127, 126), when it implies one.
        exit_code: Option<i32>,
        message: String,
    },
    /// A local file (import/load/save) could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// An error as the daemon would have sent it, for answers a client
    /// composes from several calls (e.g. `inspect` of any kind of object).
    pub fn daemon(kind: ErrorKind, reason: Reason, message: impl Into<String>) -> Error {
        Error::Daemon {
            kind,
            reason,
            subject: String::new(),
            exit_code: None,
            message: message.into(),
        }
    }

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

    pub fn reason(&self) -> Reason {
        match self {
            Error::Daemon { reason, .. } => *reason,
            _ => Reason::Unspecified,
        }
    }

    /// The exit status berthd assigned to this failure (127 command not
    /// found, 126 not executable), if it implies one.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::Daemon { exit_code, .. } => *exit_code,
            _ => None,
        }
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
        let detail = epb::ErrorDetail::decode(s.details()).unwrap_or_default();
        Error::Daemon {
            kind,
            reason: detail.reason().into(),
            subject: detail.subject,
            exit_code: (detail.exit_code != 0).then_some(detail.exit_code),
            message: s.message().to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
