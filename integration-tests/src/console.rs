//! The receiving end of `--console-socket`: a unix socket the runtime connects
//! to during `create`, sending the pty master as `SCM_RIGHTS` ancillary data.
//! The test then reads the container's terminal output from that master.

use crate::error::{io, SupportError};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct ConsoleSocket {
    _dir: tempfile::TempDir,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<Self, SupportError> {
        let dir = tempfile::Builder::new()
            .prefix("berth-console-")
            .tempdir()
            .map_err(io("/tmp"))?;
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).map_err(io(&path))?;
        listener.set_nonblocking(true).map_err(io(&path))?;
        Ok(Self {
            _dir: dir,
            path,
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and returns the pty master it sent.
    pub fn receive_master(&self, limit: Duration) -> Result<OwnedFd, SupportError> {
        let start = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if start.elapsed() > limit {
                        return Err(SupportError::Container {
                            id: self.path.display().to_string(),
                            what: "nobody connected to the console socket".into(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(io(&self.path)(e)),
            }
        };
        stream.set_nonblocking(false).map_err(io(&self.path))?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(|e| io(&self.path)(e.into()))?;
        let cmsgs = msg.cmsgs().map_err(|e| io(&self.path)(e.into()))?;
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this fd in our table
                    // and nothing else owns it.
                    return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        Err(SupportError::Container {
            id: self.path.display().to_string(),
            what: "console socket message carried no file descriptor".into(),
        })
    }
}

/// Reads a pty master until the slave side closes (EIO) or `limit` passes.
pub fn read_pty(master: OwnedFd, limit: Duration) -> String {
    let mut f = std::fs::File::from(master);
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        let mut pfd = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&f),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
