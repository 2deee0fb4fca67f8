//! `SCMP_ACT_NOTIFY`: the filter's listener fd goes to the seccomp agent at
//! `linux.seccomp.listenerPath`, as the runtime spec says: over that UNIX socket, in
//! one `SCM_RIGHTS` message whose payload is the `ContainerProcessState` JSON (the
//! container's state, the process's pid, `listenerMetadata`, and `fds` naming the
//! descriptor `seccompFd`).
//!
//! The runtime connects before clone, so a missing agent fails `create` (or `exec`)
//! with nothing left behind, and the connected socket travels into the child. The
//! child renders the message ([`Listener::handoff`]) before any filter is loaded, and
//! after loading sends it with the fd ([`Handoff::send`]): one `sendmsg`, no
//! allocation in between.
use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{self, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use super::SeccompError;

/// A connection to the seccomp agent, and the container state it will be told.
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
    path: PathBuf,
    metadata: String,
    state: serde_json::Value,
}

/// The message for one process, ready before its filter is loaded.
#[derive(Debug)]
pub struct Handoff<'a> {
    listener: &'a Listener,
    message: Vec<u8>,
}

/// Whether any action of the profile is `SCMP_ACT_NOTIFY`.
pub fn notifies(spec: &LinuxSeccomp) -> bool {
    spec.default_action() == LinuxSeccompAction::ScmpActNotify
        || spec
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

impl Listener {
    /// Connect to `listenerPath` when the profile notifies; `state` is the runtime
    /// spec's State of the container (without `pid`, which the child adds).
    pub fn connect(
        spec: &LinuxSeccomp,
        state: serde_json::Value,
    ) -> Result<Option<Listener>, SeccompError> {
        if !notifies(spec) {
            return Ok(None);
        }
        let path = spec
            .listener_path()
            .clone()
            .ok_or(SeccompError::NoListenerPath)?;
        let failed = |source: nix::Error| SeccompError::Listener {
            path: path.clone(),
            source: source.into(),
        };
        let socket = socket::socket(
            socket::AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(failed)?;
        let addr = UnixAddr::new(path.as_path()).map_err(failed)?;
        socket::connect(socket.as_raw_fd(), &addr).map_err(failed)?;
        Ok(Some(Listener {
            socket,
            path: path.clone(),
            metadata: spec.listener_metadata().clone().unwrap_or_default(),
            state,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `ContainerProcessState` for the process with host pid `pid`.
    pub fn handoff(&self, pid: i32) -> Handoff<'_> {
        let mut state = self.state.clone();
        state["pid"] = serde_json::json!(pid);
        let message = serde_json::json!({
            "ociVersion": crate::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": self.metadata,
            "state": state,
        });
        Handoff {
            listener: self,
            message: serde_json::to_vec(&message).unwrap_or_default(),
        }
    }
}

impl Handoff<'_> {
    /// Pass `notify_fd` (the filter's listener) to the agent; ours closes on return.
    pub fn send(&self, notify_fd: OwnedFd) -> Result<(), SeccompError> {
        let fds = [notify_fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(&self.message)];
        socket::sendmsg::<()>(
            self.listener.socket.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| SeccompError::Listener {
            path: self.listener.path.clone(),
            source: source.into(),
        })?;
        Ok(())
    }
}
