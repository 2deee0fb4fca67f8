//! Detaching from berthd: double fork + setsid, so the shim is reparented away
//! from its spawner and no signal to berthd's session or process group reaches
//! it; then `PR_SET_CHILD_SUBREAPER`, so the container's processes (whose
//! parent, the runtime, exits right after create) are reparented to the shim
//! and reaped by it.
//!
//! The first process stays until the detached shim reports on a pipe that it
//! is ready (or why it is not), prints that, and exits: the spawner only has
//! to wait for its child.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context;
use berth_proto::shim_state;
use nix::fcntl::OFlag;
use nix::unistd::{fork, pipe2, setsid, ForkResult};

/// The state dir exists and no other shim answers on its socket.
pub struct Prepared {
    state_dir: PathBuf,
}

/// Created (0700) if missing. Refuses when a live shim already listens there.
pub fn prepare(state_dir: &Path) -> anyhow::Result<Prepared> {
    if let Some(parent) = state_dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::create_dir(state_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let sock = state_dir.join(shim_state::SOCKET_FILE);
            if shim_state::with_short_path(&sock, |p| std::os::unix::net::UnixStream::connect(p))
                .is_ok()
            {
                anyhow::bail!("a shim is already listening on {}", sock.display());
            }
            // One still starting up has written its pid but may not listen yet.
            let pid_file = state_dir.join(shim_state::PID_FILE);
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "berth-shim" && pid != std::process::id() {
                    anyhow::bail!("shim {pid} already owns {}", state_dir.display());
                }
            }
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", state_dir.display())),
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("chmod {}", state_dir.display()))?;
    Ok(Prepared {
        state_dir: state_dir.to_path_buf(),
    })
}

/// The detached shim's end of the readiness pipe.
pub struct Detached {
    ready: Option<OwnedFd>,
}

impl Detached {
    /// Tells the first process the shim is serving at `address`; it prints it
    /// and exits 0. `false` when the first process is gone (killed while the
    /// shim started): nobody learns of this shim then, and it must not stay.
    #[must_use]
    pub fn ready(&mut self, address: &str) -> bool {
        self.send(&format!("ok {address}\n"))
    }

    /// Tells the first process why the shim could not start; it prints it and
    /// exits 1.
    pub fn fail(&mut self, message: &str) {
        // The first process may already be gone; nobody to tell then.
        let _ = self.send(&format!("err {message}\n"));
    }

    /// Whether the message reached the first process's end of the pipe
    /// (EPIPE once it is gone: Rust ignores SIGPIPE).
    fn send(&mut self, msg: &str) -> bool {
        match self.ready.take() {
            Some(fd) => std::fs::File::from(fd).write_all(msg.as_bytes()).is_ok(),
            None => false,
        }
    }
}

/// Forks twice. Returns only in the detached grandchild; the first process
/// exits with the grandchild's report, the middle one at once.
///
/// Must run before any thread exists (no tokio runtime yet).
pub fn detach(prepared: Prepared) -> anyhow::Result<Detached> {
    let (rd, wr) = pipe2(OFlag::O_CLOEXEC).context("pipe")?;
    // SAFETY: single-threaded here (called before the runtime is built), so
    // the child may run arbitrary code.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Parent { child } => {
            drop(wr);
            let mut report = String::new();
            let _ = std::fs::File::from(rd).read_to_string(&mut report);
            // The middle process exits at once; reap it.
            let _ = nix::sys::wait::waitpid(child, None);
            match report.strip_prefix("ok ") {
                Some(addr) => {
                    println!("{}", addr.trim_end());
                    std::process::exit(0);
                }
                None => {
                    let msg = report.strip_prefix("err ").unwrap_or(&report).trim_end();
                    if msg.is_empty() {
                        eprintln!(
                            "berth-shim: the shim exited before it was ready; see {}",
                            prepared.state_dir.join(shim_state::LOG_FILE).display()
                        );
                    } else {
                        eprintln!("berth-shim: {msg}");
                    }
                    std::process::exit(1);
                }
            }
        }
        ForkResult::Child => {}
    }
    drop(rd);
    setsid().context("setsid")?;
    // SAFETY: still single-threaded.
    match unsafe { fork() }.context("second fork")? {
        // SAFETY: _exit skips atexit handlers and stdio flushing that belong
        // to the first process.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => {}
    }
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    std::env::set_current_dir("/").context("chdir /")?;
    redirect_stdio(&prepared.state_dir.join(shim_state::LOG_FILE))?;
    Ok(Detached { ready: Some(wr) })
}

/// stdin from /dev/null, stdout/stderr to the shim's own log: the spawner's
/// pipes must close so it sees the first process's output end.
fn redirect_stdio(log: &Path) -> anyhow::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .open("/dev/null")
        .context("/dev/null")?;
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    nix::unistd::dup2_stdin(&null).context("dup2 stdin")?;
    nix::unistd::dup2_stdout(&out).context("dup2 stdout")?;
    nix::unistd::dup2_stderr(&out).context("dup2 stderr")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_report_nobody_reads_says_so() {
        let (rd, wr) = pipe2(OFlag::O_CLOEXEC).unwrap();
        let mut d = Detached { ready: Some(wr) };
        assert!(d.ready("unix:///x"), "the reader is there");
        let mut got = String::new();
        std::fs::File::from(rd).read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok unix:///x\n");

        // The first process was killed: its end of the pipe is closed.
        let (rd, wr) = pipe2(OFlag::O_CLOEXEC).unwrap();
        drop(rd);
        let mut d = Detached { ready: Some(wr) };
        assert!(!d.ready("unix:///x"), "nobody got the address");
        assert!(!d.ready("unix:///x"), "and reports only once");
    }
}
