//! A seccomp agent for the `SCMP_ACT_NOTIFY` tests: listens on a UNIX socket (the
//! profile's `listenerPath`), takes the listener fd and the `ContainerProcessState`
//! the runtime sends, and answers every notification with a fixed return value, so
//! the container sees a syscall result only the agent could have produced.
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::SupportError;

/// What the agent saw: the runtime's message, and how many calls it answered.
#[derive(Debug, Default)]
pub struct Seen {
    pub state: Option<serde_json::Value>,
    pub fd_received: bool,
    pub answered: usize,
    pub error: Option<String>,
}

pub struct Agent {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Seen>>,
}

impl Agent {
    /// Listen at `path`; each notified call returns `value` in the container.
    pub fn start(path: &Path, value: i64) -> Result<Agent, SupportError> {
        let listener = UnixListener::bind(path).map_err(|e| SupportError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| SupportError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(listener, value, &flag));
        Ok(Agent {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    /// Stop serving and report.
    pub fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(listener: UnixListener, value: i64, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                seen.error = Some(format!("accept: {e}"));
                return seen;
            }
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let (len, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(e) => {
                seen.error = Some(format!("recvmsg: {e}"));
                return seen;
            }
        };
        let mut fd = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: SCM_RIGHTS fds are new descriptors of this process.
                    fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                }
            }
        }
        (msg.bytes, fd)
    };
    seen.state = serde_json::from_slice(&buf[..len]).ok();
    let Some(fd) = fd else {
        seen.error = Some("no fd in the runtime's message".into());
        return seen;
    };
    seen.fd_received = true;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, 50) };
        if n <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLIN == 0 {
            // POLLHUP: every task of the filter has exited.
            break;
        }
        // SAFETY: plain-data kernel structs, zeroed as the kernel requires.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: `req` is the struct this ioctl fills.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            continue;
        }
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.val = value;
        // SAFETY: `resp` is the struct this ioctl reads.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) } == 0 {
            seen.answered += 1;
        }
    }
    seen
}
