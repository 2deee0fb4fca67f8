//! Ptys: the runtime creates the pty inside the container and sends its
//! master over `--console-socket` (`SCM_RIGHTS`, runc's protocol); the shim
//! keeps the master, and resizes it on request.

use std::io;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_proto::shim_state::{with_short_path, ShortPath};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use tokio::io::Interest;
use tokio::net::UnixListener;

/// A listening console socket; removed from disk when dropped.
pub struct ConsoleSocket {
    path: PathBuf,
    /// What the runtime is given: `path`, or a short alias of it when too long.
    address: ShortPath,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn bind(path: &Path) -> io::Result<ConsoleSocket> {
        let _ = std::fs::remove_file(path);
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            address: ShortPath::for_other_processes(path)?,
            listener: with_short_path(path, |p| UnixListener::bind(p))?,
        })
    }

    /// The address to pass as `--console-socket`.
    pub fn path(&self) -> &Path {
        self.address.path()
    }

    /// Accepts the runtime's connection and takes the pty master it sends.
    pub async fn receive_master(&self) -> io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept().await?;
        loop {
            stream.readable().await?;
            let res = stream.try_io(Interest::READABLE, || recv_fd(stream.as_raw_fd()));
            match res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    let mut name = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(io::Error::from)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(r) = c {
            fds.extend(r);
        }
    }
    let mut fds = fds.into_iter();
    let first = fds.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "console socket: no fd received")
    })?;
    // SAFETY: SCM_RIGHTS gave us fresh descriptors we now own.
    let master = unsafe { OwnedFd::from_raw_fd(first) };
    for extra in fds {
        // SAFETY: as above; extra fds are not wanted.
        drop(unsafe { OwnedFd::from_raw_fd(extra) });
    }
    Ok(master)
}

/// `TIOCSWINSZ` on the master.
pub fn resize(master: &OwnedFd, width: u16, height: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
