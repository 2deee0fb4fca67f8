//! Async reads and writes on a raw fd (pipe end or pty master). tokio's pipe
//! types refuse character devices, so one small type serves both.

use std::io;
use std::os::fd::OwnedFd;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use tokio::io::unix::AsyncFd;

pub struct Fd {
    inner: AsyncFd<OwnedFd>,
}

impl Fd {
    /// Sets `O_NONBLOCK` on the fd (its open file description) and registers it.
    pub fn new(fd: OwnedFd) -> io::Result<Fd> {
        set_nonblocking(&fd)?;
        // SAFETY: the OwnedFd is moved in, so the descriptor stays open and
        // the same for the AsyncFd's whole life.
        let inner = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Fd { inner })
    }

    /// Reads some bytes; `Ok(0)` at end of file. A pty master reports the
    /// slave side's last close as EIO, which is end of file too.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.inner.readable().await?;
            let res =
                guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(io::Error::from));
            match res {
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Waits until a read would not block (data, end of file or an error).
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await.map(|_| ())
    }

    /// Writes all of `data`.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.inner.writable().await?;
            let res =
                guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from));
            match res {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
