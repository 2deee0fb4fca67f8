//! `start`: release a created container's init from the exec fifo, wait until it has
//! exec'd the user process, run the poststart hooks (a failing one kills and deletes
//! the container, see [`abandon`]).
//!
//! The init holds the fifo open read-write (so opening never blocks either side). We
//! open it write-only non-blocking (ENXIO = no reader = the init is gone), write one
//! byte and remove the fifo (its absence is what makes the status "running"). The
//! init keeps its end until execve closes it (close-on-exec); the kernel then flags
//! our write end with POLLERR, which is how we know the exec happened. When the init
//! fails instead (a startContainer hook, execve) it leaves its error text in the fifo
//! before exiting; we read it back and `start` fails (runtime spec, "Lifecycle" 7).
use super::state::EXEC_FIFO;
use super::{Container, Error, Status};
use crate::hooks::HookKind;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn start(root: &Path, id: &str) -> Result<(), Error> {
    let c = Container::load(root, id)?;
    start_container(&c)
}

pub(super) fn start_container(c: &Container) -> Result<(), Error> {
    match c.status() {
        Status::Created => {}
        Status::Stopped => return Err(Error::StartStopped(c.state.id.clone())),
        Status::Running | Status::Paused => return Err(Error::StartRunning(c.state.id.clone())),
    }
    let fifo_path = c.dir.join(EXEC_FIFO);
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| Error::InitGone {
            pid: c.state.init_pid,
            reason: format!("opening {}: {e}", fifo_path.display()),
        })?;
    match nix::unistd::write(&fifo, b"0") {
        Ok(1) => {}
        Ok(_) => return Err(Error::io(&fifo_path, std::io::ErrorKind::WriteZero.into())),
        Err(e) => return Err(Error::io(&fifo_path, e.into())),
    }
    std::fs::remove_file(&fifo_path).map_err(|e| Error::io(&fifo_path, e))?;
    wait_for_exec(fifo.as_fd());
    if let Some(text) = init_failure(&fifo) {
        return Err(Error::StartFailed {
            id: c.state.id.clone(),
            reason: text,
        });
    }
    let hooks = c.state.config.hooks().as_ref();
    if let Err(e) = crate::hooks::run_kind(
        HookKind::Poststart,
        hooks,
        &c.hook_state(HookKind::Poststart),
    ) {
        return Err(abandon(c, e.into()));
    }
    Ok(())
}

/// A failing poststart hook fails `start` and the container is killed and deleted
/// (its poststop hooks run), as runc and crun do. The spec only says the failure
/// is logged and the lifecycle goes on; the drop-in contract wins over that looser
/// wording (issue 12 point 6).
fn abandon(c: &Container, error: Error) -> Error {
    let cleanup = super::delete::kill_and_wait(c, false).and_then(|()| super::delete::destroy(c));
    match cleanup {
        Ok(()) => error,
        Err(e) => Error::Cleanup {
            error: Box::new(error),
            cleanup: e.to_string(),
        },
    }
}

/// What the init left in the fifo when it failed after our byte (startContainer
/// hook, execve); `None` when it exec'd. Our write end keeps the pipe and its data
/// alive after the init's end is closed, and reopening it through `/proc/self/fd`
/// gives a reader on that same pipe.
fn init_failure(fifo: &std::fs::File) -> Option<String> {
    let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let mut reader = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(r) => r,
        Err(e) => return Some(format!("reading its exec fifo: {e}")),
    };
    let mut buf = Vec::new();
    // EAGAIN ends a non-blocking read of an empty pipe; what was read so far counts.
    let _ = std::io::Read::read_to_end(&mut reader, &mut buf);
    let text = String::from_utf8_lossy(&buf);
    if let Some(msg) = text.strip_prefix(crate::process::START_ERROR_PREFIX) {
        Some(msg.to_string())
    } else if text == "0" {
        Some("it exited before reading the start signal".to_string())
    } else {
        None
    }
}

/// Block until no process holds the fifo's read side (the init exec'd or died).
fn wait_for_exec(fd: BorrowedFd<'_>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut p = [PollFd::new(fd, PollFlags::empty())];
        match poll(&mut p, timeout) {
            Ok(n) if n > 0 => {
                let hup = PollFlags::POLLERR | PollFlags::POLLHUP;
                if p[0].revents().is_some_and(|r| r.intersects(hup)) {
                    return;
                }
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}
