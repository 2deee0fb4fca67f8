//! The container's terminal (`process.terminal`).
//!
//! Like runc, the pty is opened *inside* the container (its own devpts, after the
//! rootfs is set up), the slave becomes the process's stdio and controlling terminal,
//! and the master is sent over `--console-socket` with `SCM_RIGHTS`; whoever listens
//! there (containerd's shim, berth-shim, a test) owns the terminal from then on. For a
//! foreground `run`/`exec` with a terminal and no socket, the runtime makes its own
//! socketpair, receives the master and copies bytes between it and its own stdio
//! (`process::supervise`).
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use oci_spec::runtime::Box as ConsoleSize;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("--console-socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("process.terminal: {step}: {source}")]
    Pty {
        step: &'static str,
        source: nix::Error,
    },
    #[error("--console-socket: sending the pty master: {0}")]
    Send(nix::Error),
    #[error("console: receiving the pty master: {0}")]
    Recv(String),
}

/// Connect to the `--console-socket` listener (done by the runtime before clone).
pub fn connect(path: &Path) -> Result<OwnedFd, ConsoleError> {
    UnixStream::connect(path)
        .map(OwnedFd::from)
        .map_err(|source| ConsoleError::Connect {
            path: path.to_path_buf(),
            source,
        })
}

fn pty_err(step: &'static str) -> impl FnOnce(nix::Error) -> ConsoleError {
    move |source| ConsoleError::Pty { step, source }
}

/// In the container's process, after the rootfs is ready: open a pty, send its master
/// to `socket`, make the slave our controlling terminal and stdin/stdout/stderr.
/// The caller must already be a session leader (setsid). Returns the slave's path
/// (`/dev/pts/N` in the container's devpts) for [`crate::rootfs::mount_console`].
pub fn setup_in_child(
    socket: &OwnedFd,
    size: Option<ConsoleSize>,
) -> Result<std::path::PathBuf, ConsoleError> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(pty_err("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(pty_err("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(pty_err("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(pty_err("ptsname"))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(pty_err("open the pty slave"))?;
    if let Some(size) = size {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize struct we own.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    send_fd(socket.as_raw_fd(), master.as_raw_fd(), name.as_bytes()).map_err(ConsoleError::Send)?;
    drop(master);
    // SAFETY: TIOCSCTTY takes an int argument; we are a session leader.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(ConsoleError::Pty {
            step: "TIOCSCTTY",
            source: nix::Error::last(),
        });
    }
    nix::unistd::dup2_stdin(&slave).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stdout(&slave).map_err(pty_err("dup2"))?;
    nix::unistd::dup2_stderr(&slave).map_err(pty_err("dup2"))?;
    Ok(std::path::PathBuf::from(name))
}

fn send_fd(socket: RawFd, fd: RawFd, name: &[u8]) -> nix::Result<()> {
    let fds = [fd];
    let iov = [IoSlice::new(if name.is_empty() { b"pty" } else { name })];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<UnixAddr>(socket, &iov, &cmsg, MsgFlags::empty(), None).map(|_| ())
}

/// Receive one fd sent with SCM_RIGHTS (the runtime's side for a foreground tty).
pub fn recv_fd(socket: RawFd) -> Result<OwnedFd, ConsoleError> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| ConsoleError::Recv(e.to_string()))?;
    let cmsgs = msg.cmsgs().map_err(|e| ConsoleError::Recv(e.to_string()))?;
    for c in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(ConsoleError::Recv(
        "no file descriptor in the message".into(),
    ))
}

/// Our stdin in raw mode while a container's terminal is attached; restored on drop.
pub struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    pub fn enter() -> RawMode {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
    }
}

/// Give `master` the window size of our stdin (if it is a terminal).
pub fn copy_winsize(master: RawFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize struct we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Write everything, retrying on EINTR; gives up silently on errors (a closed tty).
pub fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(0) => return,
            Ok(w) => data = &data[w..],
            Err(nix::Error::EINTR) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_passing_round_trip() {
        let (a, b) = UnixStream::pair().expect("pair");
        let f = std::fs::File::open("/proc/self/stat").expect("open");
        send_fd(a.as_raw_fd(), f.as_raw_fd(), b"x").expect("send");
        let got = recv_fd(b.as_raw_fd()).expect("recv");
        assert_ne!(got.as_raw_fd(), f.as_raw_fd());
        let target =
            std::fs::read_link(format!("/proc/self/fd/{}", got.as_raw_fd())).expect("link");
        assert!(target.ends_with("stat"), "{target:?}");
    }
}
