//! One process the shim owns: the container's init or an exec process. It
//! holds the process's stdio (pipes or pty master), its lifecycle status, and
//! its exit status once reaped.
//!
//! Lifecycle: `Created` (init: after `<runtime> create`; exec: registered) →
//! `Running` (after start) ⇄ `Paused` → `Stopped` (reaped, output drained).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_proto::shim::v1 as pb;
use berth_proto::shim_state::ExitRecord;
use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use tokio::sync::{mpsc, watch};

use crate::io::fanout::{Chunk, Fanout};
use crate::io::fd::Fd;
use crate::io::log::Stream;
use crate::io::pty::{self, ConsoleSocket};
use crate::io::pump::{self, SharedLog, StdinMsg};
use crate::runtime::ProcessStdio;

/// How long an exit waits for the process's output to drain, so logs and
/// attached clients have all of it before waiters learn of the exit. Bounded:
/// an orphan outside the container's pid namespace may hold the pipes open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Init before `<runtime> create`.
    New,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn to_pb(self) -> pb::Status {
        match self {
            Status::New => pb::Status::Unknown,
            Status::Created => pb::Status::Created,
            Status::Running => pb::Status::Running,
            Status::Paused => pb::Status::Paused,
            Status::Stopped => pb::Status::Stopped,
        }
    }
}

/// How a process's stdio is wired. An exec's comes with its Exec call; the
/// init's with Create, so it is set once the init exists (`set_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StdioMode {
    /// A pty instead of pipes.
    pub tty: bool,
    /// Keep stdin open.
    pub stdin: bool,
}

pub struct Proc {
    pub exec_id: String,
    mode: Mutex<StdioMode>,
    /// The OCI `process` JSON of an exec.
    pub spec_json: Vec<u8>,
    state: Mutex<(Status, u32)>,
    exit: watch::Sender<Option<ExitRecord>>,
    fanout: Arc<Fanout>,
    output_done: watch::Sender<bool>,
    stdin_tx: Mutex<Option<mpsc::UnboundedSender<StdinMsg>>>,
    master: Mutex<Option<OwnedFd>>,
}

/// The process's stdio before the runtime call: the ends the runtime passes
/// to the process, and ours.
pub struct PreparedStdio {
    pub for_runtime: ProcessStdio,
    pub console: Option<ConsoleSocket>,
    stdin_w: Option<OwnedFd>,
    stdout_r: Option<OwnedFd>,
    stderr_r: Option<OwnedFd>,
}

impl Proc {
    pub fn new(exec_id: String, mode: StdioMode, spec_json: Vec<u8>, status: Status) -> Self {
        Proc {
            exec_id,
            mode: Mutex::new(mode),
            spec_json,
            state: Mutex::new((status, 0)),
            exit: watch::channel(None).0,
            fanout: Arc::default(),
            output_done: watch::channel(false).0,
            stdin_tx: Mutex::new(None),
            master: Mutex::new(None),
        }
    }

    pub fn status(&self) -> Status {
        lock(&self.state).0
    }

    pub fn mode(&self) -> StdioMode {
        *lock(&self.mode)
    }

    /// Only before the process's stdio is prepared: the pipes or the console
    /// socket follow the mode.
    pub fn set_mode(&self, mode: StdioMode) {
        *lock(&self.mode) = mode;
    }

    pub fn pid(&self) -> u32 {
        lock(&self.state).1
    }

    pub fn set_status(&self, s: Status) {
        let mut st = lock(&self.state);
        // Stopped is final: a late "running" must not hide an exit.
        if st.0 != Status::Stopped {
            st.0 = s;
        }
    }

    pub fn set_pid(&self, pid: u32) {
        lock(&self.state).1 = pid;
    }

    pub fn exit(&self) -> Option<ExitRecord> {
        self.exit.borrow().clone()
    }

    /// Resolves once the process has exited (and its output drained).
    pub async fn wait(&self) -> ExitRecord {
        let mut rx = self.exit.subscribe();
        loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                return e;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as self; unreachable in practice.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Records the exit, after giving the output a moment to drain.
    pub async fn record_exit(&self, record: ExitRecord) {
        let mut done = self.output_done.subscribe();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, done.wait_for(|d| *d)).await;
        lock(&self.state).0 = Status::Stopped;
        self.exit.send_replace(Some(record));
    }

    /// Pipes (or a console socket at `console_path` for a tty).
    pub fn prepare_stdio(&self, console_path: &Path) -> std::io::Result<PreparedStdio> {
        let mode = self.mode();
        if mode.tty {
            return Ok(PreparedStdio {
                for_runtime: ProcessStdio {
                    stdin: None,
                    stdout: None,
                    stderr: None,
                },
                console: Some(ConsoleSocket::bind(console_path)?),
                stdin_w: None,
                stdout_r: None,
                stderr_r: None,
            });
        }
        let (stdin_r, stdin_w) = if mode.stdin {
            let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let (stdout_r, stdout_w) = pipe2(OFlag::O_CLOEXEC)?;
        let (stderr_r, stderr_w) = pipe2(OFlag::O_CLOEXEC)?;
        Ok(PreparedStdio {
            for_runtime: ProcessStdio {
                stdin: stdin_r,
                stdout: Some(stdout_w),
                stderr: Some(stderr_w),
            },
            console: None,
            stdin_w,
            stdout_r: Some(stdout_r),
            stderr_r: Some(stderr_r),
        })
    }

    /// Starts copying the process's output (to `log` when given, and to
    /// attached clients) and its stdin. `master` is the pty master of a tty
    /// process.
    pub fn start_io(
        self: &Arc<Self>,
        prepared: PreparedStdio,
        master: Option<OwnedFd>,
        log: Option<SharedLog>,
    ) -> std::io::Result<()> {
        let mode = self.mode();
        let mut outputs: Vec<(Fd, Stream)> = Vec::new();
        let mut stdin_fd = None;
        if let Some(m) = master {
            // Separate registrations for reading and writing the master.
            let reader = m.try_clone()?;
            if mode.stdin {
                stdin_fd = Some(Fd::new(m.try_clone()?)?);
            }
            outputs.push((Fd::new(reader)?, Stream::Stdout));
            *lock(&self.master) = Some(m);
        } else {
            if let Some(w) = prepared.stdin_w {
                stdin_fd = Some(Fd::new(w)?);
            }
            if let Some(r) = prepared.stdout_r {
                outputs.push((Fd::new(r)?, Stream::Stdout));
            }
            if let Some(r) = prepared.stderr_r {
                outputs.push((Fd::new(r)?, Stream::Stderr));
            }
        }
        if let Some(fd) = stdin_fd {
            *lock(&self.stdin_tx) = Some(pump::spawn_stdin(fd, mode.tty));
        }
        let remaining = Arc::new(AtomicUsize::new(outputs.len()));
        if outputs.is_empty() {
            self.output_closed();
        }
        for (fd, stream) in outputs {
            let this = Arc::clone(self);
            let log = log.clone();
            let remaining = Arc::clone(&remaining);
            tokio::spawn(async move {
                pump::copy_out(fd, stream, log, Arc::clone(&this.fanout)).await;
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    this.output_closed();
                }
            });
        }
        Ok(())
    }

    fn output_closed(&self) {
        self.fanout.close();
        self.output_done.send_replace(true);
    }

    /// An attach client: output chunks go to `tx` until the output closes.
    pub fn subscribe(&self, tx: mpsc::Sender<Chunk>, stdout: bool, stderr: bool) {
        self.fanout.subscribe(tx, stdout, stderr);
    }

    /// False when stdin is closed (or was never open).
    pub fn send_stdin(&self, msg: StdinMsg) -> bool {
        let mut guard = lock(&self.stdin_tx);
        let Some(tx) = guard.as_ref() else {
            return false;
        };
        let close = matches!(msg, StdinMsg::Close);
        let ok = tx.send(msg).is_ok();
        if close {
            *guard = None;
        }
        ok
    }

    /// `false` without a pty.
    pub fn resize(&self, width: u16, height: u16) -> std::io::Result<bool> {
        match lock(&self.master).as_ref() {
            Some(m) => pty::resize(m, width, height).map(|()| true),
            None => Ok(false),
        }
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
