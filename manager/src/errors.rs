//! The error vocabulary of berthd, shared by every domain module: a coarse
//! [`ErrorKind`] (what the API edge turns into a status code) and a finer
//! [`Reason`] that travels to clients as data (a gRPC status detail), so no
//! client reads meaning out of message text. The exit-status rule of a
//! failed start (docker's 127/126) lives here, in [`Reason::exit_code`], and
//! nowhere else: the daemon records it and sends it; clients take it as given.

/// The coarse class of a failure; one [`Reason`] maps to exactly one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    FailedPrecondition,
    Internal,
}

/// Why an operation failed, in terms a client can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The named object (container, volume, exec, file) does not exist.
    NotFound,
    /// The image reference names no image in the store.
    NoSuchImage,
    /// A name or tag is taken.
    AlreadyExists,
    /// The object's state forbids it (running, paused, in use, ...).
    Conflict,
    InvalidArgument,
    /// The container's command is not in its image.
    CommandNotFound,
    /// The container's command cannot be executed.
    CommandNotExecutable,
    NotRunning,
    /// berthd or a part under it failed.
    Internal,
}

impl Reason {
    pub fn kind(self) -> ErrorKind {
        match self {
            Reason::NotFound | Reason::NoSuchImage => ErrorKind::NotFound,
            Reason::AlreadyExists => ErrorKind::AlreadyExists,
            Reason::InvalidArgument => ErrorKind::InvalidArgument,
            Reason::Conflict
            | Reason::NotRunning
            | Reason::CommandNotFound
            | Reason::CommandNotExecutable => ErrorKind::FailedPrecondition,
            Reason::Internal => ErrorKind::Internal,
        }
    }

    /// The exit status a start that failed for this reason reports (docker:
    /// 127 command not found, 126 not executable); `None` when the reason
    /// implies none, and the caller's default applies (berthd records 128,
    /// `berth run` exits 125).
    pub fn exit_code(self) -> Option<i32> {
        match self {
            Reason::CommandNotFound => Some(127),
            Reason::CommandNotExecutable => Some(126),
            _ => None,
        }
    }
}

/// A domain error that knows its [`Reason`] (and so its [`ErrorKind`]).
pub trait Classify: std::error::Error {
    fn reason(&self) -> Reason;

    /// The name, id or reference the error is about, when there is one.
    fn subject(&self) -> Option<&str> {
        None
    }

    fn kind(&self) -> ErrorKind {
        self.reason().kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exec_failures_carry_an_exit_code() {
        assert_eq!(Reason::CommandNotFound.exit_code(), Some(127));
        assert_eq!(Reason::CommandNotExecutable.exit_code(), Some(126));
        assert_eq!(Reason::Internal.exit_code(), None);
        assert_eq!(Reason::NoSuchImage.kind(), ErrorKind::NotFound);
    }
}
