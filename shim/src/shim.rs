//! The shim's domain: one container (its init) and its exec processes, and
//! the runtime calls that drive them. `service.rs` adapts the gRPC API to the
//! methods here; `server.rs` listens and serves.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_proto::shim::v1 as pb;
use berth_proto::shim_state::ExitRecord;
use tokio::sync::{broadcast, watch};

use crate::args::Config;
use crate::error::{io_err, precondition, ShimError};
use crate::exit::{record_now, OomWatch};
use crate::io::log::JsonLog;
use crate::process::{lock, PreparedStdio, Proc, Status, StdioMode};
use crate::reaper::{Exit, Reaper};
use crate::runtime::{ProcessStdio, Runtime, RuntimeError};

const RUNTIME_LOG: &str = "runtime.log";
const INIT_PID_FILE: &str = "init.pid";

/// How long delete waits for a killed process's exit to be recorded.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How the init's stdio is wired: what the Create request asks for.
#[derive(Debug, Clone, Default)]
pub struct InitStdio {
    pub mode: StdioMode,
    /// The json-file log; `None` keeps none.
    pub log: Option<LogConfig>,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub path: PathBuf,
    /// `None` never rotates.
    pub max_size: Option<u64>,
    /// Files kept, the live one included (at least 1).
    pub max_file: u32,
}

pub struct Shim {
    cfg: Config,
    runtime: Runtime,
    reaper: Reaper,
    init: Arc<Proc>,
    execs: Mutex<HashMap<String, Arc<Proc>>>,
    /// `<runtime> delete` has run for the container.
    deleted: Mutex<bool>,
    /// Serialises create/start/delete of the init.
    init_op: tokio::sync::Mutex<()>,
    events: broadcast::Sender<pb::Event>,
    shutdown: watch::Sender<bool>,
    /// Names exec files (console socket, process.json) in the state dir;
    /// exec ids may be too long for a socket path.
    seq: AtomicU32,
}

impl Shim {
    pub fn new(cfg: Config, reaper: Reaper) -> Shim {
        let runtime = Runtime::new(
            cfg.runtime.clone(),
            cfg.runtime_root.clone(),
            cfg.state_dir.join(RUNTIME_LOG),
            reaper.clone(),
        );
        let init = Arc::new(Proc::new(
            String::new(),
            StdioMode::default(),
            Vec::new(),
            Status::New,
        ));
        Shim {
            cfg,
            runtime,
            reaper,
            init,
            execs: Mutex::default(),
            deleted: Mutex::new(false),
            init_op: tokio::sync::Mutex::new(()),
            events: broadcast::channel(64).0,
            shutdown: watch::channel(false).0,
            seq: AtomicU32::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    pub fn bundle(&self) -> &Path {
        &self.cfg.bundle
    }

    /// The init (`exec_id` empty) or an exec process.
    pub fn process(&self, exec_id: &str) -> Result<Arc<Proc>, ShimError> {
        if exec_id.is_empty() {
            return Ok(Arc::clone(&self.init));
        }
        lock(&self.execs)
            .get(exec_id)
            .cloned()
            .ok_or_else(|| ShimError::NotFound(format!("exec {exec_id} not found")))
    }

    pub fn init_pid(&self) -> u32 {
        self.init.pid()
    }

    pub async fn create(self: &Arc<Self>, stdio: InitStdio) -> Result<u32, ShimError> {
        let _op = self.init_op.lock().await;
        if self.init.status() != Status::New {
            return Err(ShimError::AlreadyExists(format!(
                "container {} already created",
                self.cfg.id
            )));
        }
        let log = match &stdio.log {
            Some(l) => Some(Arc::new(Mutex::new(
                JsonLog::open(&l.path, l.max_size, l.max_file.max(1))
                    .map_err(io_err(format!("opening log {}", l.path.display())))?,
            ))),
            None => None,
        };
        self.init.set_mode(stdio.mode);
        let dir = &self.cfg.state_dir;
        let pid_file = dir.join(INIT_PID_FILE);
        let pid_ref = &pid_file;
        let stdio = self
            .init
            .prepare_stdio(&dir.join("console.sock"))
            .map_err(io_err("preparing stdio"))?;
        let (stdio, master) = self
            .run_with_stdio(stdio, |s, console| async move {
                self.runtime
                    .create(
                        &self.cfg.id,
                        &self.cfg.bundle,
                        console.as_deref(),
                        pid_ref,
                        s,
                    )
                    .await
            })
            .await?;
        let pid = read_pid(&pid_file)?;
        self.init.set_pid(pid);
        self.init.set_status(Status::Created);
        let oom = OomWatch::for_pid(pid);
        self.watch_exit(Arc::clone(&self.init), pid, Some(oom));
        self.init
            .start_io(stdio, master, log)
            .map_err(io_err("container stdio"))?;
        Ok(pid)
    }

    /// Runs a runtime call that takes the process's stdio; for a tty, takes
    /// the pty master from the console socket meanwhile.
    async fn run_with_stdio<F, Fut>(
        &self,
        mut prepared: PreparedStdio,
        call: F,
    ) -> Result<(PreparedStdio, Option<OwnedFd>), ShimError>
    where
        F: FnOnce(ProcessStdio, Option<PathBuf>) -> Fut,
        Fut: std::future::Future<Output = Result<(), RuntimeError>>,
    {
        let for_runtime = std::mem::replace(
            &mut prepared.for_runtime,
            ProcessStdio {
                stdin: None,
                stdout: None,
                stderr: None,
            },
        );
        let Some(console) = prepared.console.take() else {
            call(for_runtime, None).await?;
            return Ok((prepared, None));
        };
        let recv = console.receive_master();
        tokio::pin!(recv);
        let run = call(for_runtime, Some(console.path().to_path_buf()));
        tokio::pin!(run);
        let mut master = None;
        let res = loop {
            tokio::select! {
                r = &mut run => break r,
                m = &mut recv, if master.is_none() => master = Some(m),
            }
        };
        res?;
        let master = match master {
            Some(m) => m,
            None => tokio::time::timeout(Duration::from_secs(5), recv)
                .await
                .unwrap_or_else(|_| {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "runtime sent no pty master",
                    ))
                }),
        };
        let master = master.map_err(io_err("console socket"))?;
        Ok((prepared, Some(master)))
    }

    /// Reaps `pid` for `proc` and records its exit: `exit.json` for the init,
    /// an exit event for everyone.
    fn watch_exit(self: &Arc<Self>, proc: Arc<Proc>, pid: u32, oom: Option<OomWatch>) {
        let rx = self.reaper.wait(pid as i32);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let exit = rx.await.unwrap_or(Exit::Code(255));
            let oom_killed = oom.as_ref().is_some_and(OomWatch::killed);
            let record = record_now(pid, exit, oom_killed);
            if proc.exec_id.is_empty() {
                if let Err(e) = record.write(&this.cfg.state_dir) {
                    crate::log!("recording the exit: {e}");
                }
            }
            proc.record_exit(record.clone()).await;
            if oom_killed {
                let _ = this.events.send(pb::Event {
                    event: Some(pb::event::Event::Oom(pb::OomEvent {
                        id: this.cfg.id.clone(),
                    })),
                });
            }
            let _ = this.events.send(pb::Event {
                event: Some(pb::event::Event::Exit(record.to_pb(&proc.exec_id))),
            });
        });
    }

    pub async fn start(self: &Arc<Self>, exec_id: &str) -> Result<u32, ShimError> {
        if exec_id.is_empty() {
            let _op = self.init_op.lock().await;
            match self.init.status() {
                Status::Created => {}
                Status::New => return Err(precondition("container is not created")),
                _ => return Err(precondition("container already started")),
            }
            self.runtime.start(&self.cfg.id).await?;
            self.init.set_status(Status::Running);
            return Ok(self.init.pid());
        }
        let proc = self.process(exec_id)?;
        if proc.status() != Status::Created {
            return Err(precondition(&format!("exec {exec_id} already started")));
        }
        if self.init.status() != Status::Running {
            return Err(precondition("container is not running"));
        }
        // Mark it at once so a second Start is refused while this one runs.
        proc.set_status(Status::Running);
        let res = self.start_exec(&proc).await;
        if res.is_err() {
            proc.set_status(Status::Created);
        }
        res
    }

    async fn start_exec(self: &Arc<Self>, proc: &Arc<Proc>) -> Result<u32, ShimError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let dir = &self.cfg.state_dir;
        let spec_file = dir.join(format!("exec-{n}.json"));
        let pid_file = dir.join(format!("exec-{n}.pid"));
        let (spec_ref, pid_ref) = (&spec_file, &pid_file);
        std::fs::write(&spec_file, &proc.spec_json)
            .map_err(io_err(format!("writing {}", spec_file.display())))?;
        let stdio = proc
            .prepare_stdio(&dir.join(format!("c{n}.sock")))
            .map_err(io_err("preparing exec stdio"))?;
        let res = self
            .run_with_stdio(stdio, |s, console| async move {
                self.runtime
                    .exec(&self.cfg.id, spec_ref, console.as_deref(), pid_ref, s)
                    .await
            })
            .await;
        let _ = std::fs::remove_file(&spec_file);
        let (stdio, master) = res?;
        let pid = read_pid(&pid_file);
        let _ = std::fs::remove_file(&pid_file);
        let pid = pid?;
        proc.set_pid(pid);
        self.watch_exit(Arc::clone(proc), pid, None);
        proc.start_io(stdio, master, None)
            .map_err(io_err("exec stdio"))?;
        Ok(pid)
    }

    pub async fn kill(&self, exec_id: &str, signal: u32, all: bool) -> Result<(), ShimError> {
        let proc = self.process(exec_id)?;
        match proc.status() {
            Status::New => return Err(precondition("container is not created")),
            Status::Stopped => return Err(precondition("process already finished")),
            Status::Created if !exec_id.is_empty() => {
                return Err(precondition(&format!("exec {exec_id} is not started")))
            }
            _ => {}
        }
        if exec_id.is_empty() {
            self.runtime.kill(&self.cfg.id, signal, all).await?;
            return Ok(());
        }
        let sig = nix::sys::signal::Signal::try_from(signal as i32)
            .map_err(|_| ShimError::InvalidArgument(format!("signal {signal}")))?;
        signal_exec(&proc, sig)
    }

    pub async fn exec(
        &self,
        exec_id: &str,
        spec_json: Vec<u8>,
        stdin: bool,
        tty: bool,
    ) -> Result<(), ShimError> {
        if exec_id.is_empty() {
            return Err(ShimError::InvalidArgument("exec id is empty".into()));
        }
        let process: serde_json::Value = serde_json::from_slice(&spec_json)
            .map_err(|e| ShimError::InvalidArgument(format!("exec {exec_id}: process: {e}")))?;
        if !process.is_object() {
            return Err(ShimError::InvalidArgument(format!(
                "exec {exec_id}: process is not a JSON object"
            )));
        }
        if !matches!(self.init.status(), Status::Running | Status::Paused) {
            return Err(precondition("container is not running"));
        }
        let mut execs = lock(&self.execs);
        if execs.contains_key(exec_id) {
            return Err(ShimError::AlreadyExists(format!("exec {exec_id} exists")));
        }
        let mode = StdioMode { tty, stdin };
        let proc = Proc::new(exec_id.to_string(), mode, spec_json, Status::Created);
        execs.insert(exec_id.to_string(), Arc::new(proc));
        Ok(())
    }

    pub fn resize(&self, exec_id: &str, width: u32, height: u32) -> Result<(), ShimError> {
        let proc = self.process(exec_id)?;
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        match proc.resize(clamp(width), clamp(height)) {
            Ok(true) => Ok(()),
            Ok(false) => Err(precondition("process has no tty")),
            Err(e) => Err(io_err("resize")(e)),
        }
    }

    pub async fn pids(&self) -> Result<Vec<pb::ProcessInfo>, ShimError> {
        let pids = self.runtime.ps(&self.cfg.id).await?;
        let by_pid: HashMap<u32, String> = lock(&self.execs)
            .values()
            .map(|p| (p.pid(), p.exec_id.clone()))
            .collect();
        Ok(pids
            .into_iter()
            .map(|pid| pb::ProcessInfo {
                pid,
                exec_id: by_pid.get(&pid).cloned().unwrap_or_default(),
            })
            .collect())
    }

    pub async fn pause(&self) -> Result<(), ShimError> {
        if self.init.status() != Status::Running {
            return Err(precondition("container is not running"));
        }
        self.runtime.pause(&self.cfg.id).await?;
        self.init.set_status(Status::Paused);
        Ok(())
    }

    pub async fn resume(&self) -> Result<(), ShimError> {
        if self.init.status() != Status::Paused {
            return Err(precondition("container is not paused"));
        }
        self.runtime.resume(&self.cfg.id).await?;
        self.init.set_status(Status::Running);
        Ok(())
    }

    pub async fn stats(&self) -> Result<Vec<u8>, ShimError> {
        if matches!(self.init.status(), Status::New | Status::Stopped) {
            return Err(precondition("container is not running"));
        }
        Ok(self.runtime.stats(&self.cfg.id).await?)
    }

    pub async fn update(&self, resources_json: &[u8]) -> Result<(), ShimError> {
        serde_json::from_slice::<serde_json::Value>(resources_json)
            .map_err(|e| ShimError::InvalidArgument(format!("resources: {e}")))?;
        if matches!(self.init.status(), Status::New | Status::Stopped) {
            return Err(precondition("container is not running"));
        }
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let file = self.cfg.state_dir.join(format!("update-{n}.json"));
        std::fs::write(&file, resources_json)
            .map_err(io_err(format!("writing {}", file.display())))?;
        let res = self.runtime.update(&self.cfg.id, &file).await;
        let _ = std::fs::remove_file(&file);
        Ok(res?)
    }

    pub async fn delete(&self, exec_id: &str, force: bool) -> Result<ExitRecord, ShimError> {
        if !exec_id.is_empty() {
            let proc = self.process(exec_id)?;
            match proc.status() {
                Status::Stopped => {}
                Status::Created | Status::New => {
                    lock(&self.execs).remove(exec_id);
                    return Ok(record_now(0, Exit::Code(0), false));
                }
                _ if !force => return Err(precondition(&format!("exec {exec_id} is running"))),
                _ => kill_exec_group(&proc)?,
            }
            let exit = wait_bounded(&proc).await?;
            lock(&self.execs).remove(exec_id);
            return Ok(exit);
        }
        let _op = self.init_op.lock().await;
        if *lock(&self.deleted) {
            return Err(ShimError::NotFound(format!(
                "container {} already deleted",
                self.cfg.id
            )));
        }
        match self.init.status() {
            Status::New => {
                return Err(ShimError::NotFound(format!(
                    "container {} is not created",
                    self.cfg.id
                )))
            }
            Status::Stopped => self.runtime.delete(&self.cfg.id, false).await?,
            Status::Running | Status::Paused if !force => {
                return Err(precondition(
                    "container is running: stop it first, or delete with force",
                ))
            }
            // Created (never started), or forced: the runtime kills it.
            _ => self.runtime.delete(&self.cfg.id, true).await?,
        }
        *lock(&self.deleted) = true;
        wait_bounded(&self.init).await
    }

    pub fn shutdown(&self, now: bool) -> Result<(), ShimError> {
        let exists = self.init.status() != Status::New && !*lock(&self.deleted);
        if exists && !now {
            return Err(precondition(
                "container still exists: delete it first, or shut down now",
            ));
        }
        self.shutdown.send_replace(true);
        Ok(())
    }

    pub fn events(&self) -> broadcast::Receiver<pb::Event> {
        self.events.subscribe()
    }

    /// Turns true once Shutdown was accepted.
    pub fn shutdown_requested(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// Signals an exec process by pid. Refused until its pid is known: pid 0
/// would signal the shim's own process group.
fn signal_exec(proc: &Proc, sig: nix::sys::signal::Signal) -> Result<(), ShimError> {
    let pid = i32::try_from(proc.pid()).unwrap_or(0);
    if pid <= 0 {
        return Err(precondition(&format!(
            "exec {} is still starting",
            proc.exec_id
        )));
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
        // Exited but not yet reaped by us: as good as delivered.
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(ShimError::Io {
            what: format!("kill exec {}", proc.exec_id),
            source: e.into(),
        }),
    }
}

/// A forced delete of an exec kills its process group too: the runtime makes
/// each exec the leader of a new session and group, so what it forked (a
/// health probe's `sh -c` children) is in that group and would otherwise
/// outlive it in the container.
fn kill_exec_group(proc: &Proc) -> Result<(), ShimError> {
    let sig = nix::sys::signal::Signal::SIGKILL;
    if let Ok(pid) = i32::try_from(proc.pid()) {
        if pid > 0 {
            // ESRCH: the group is gone already (or the exec left it).
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), sig);
        }
    }
    signal_exec(proc, sig)
}

async fn wait_bounded(proc: &Proc) -> Result<ExitRecord, ShimError> {
    tokio::time::timeout(KILL_WAIT, proc.wait())
        .await
        .map_err(|_| ShimError::FailedPrecondition("process did not exit after kill".into()))
}

fn read_pid(path: &Path) -> Result<u32, ShimError> {
    let text =
        std::fs::read_to_string(path).map_err(io_err(format!("reading {}", path.display())))?;
    text.trim().parse().map_err(|_| ShimError::Io {
        what: format!("{}: not a pid: {text:?}", path.display()),
        source: std::io::ErrorKind::InvalidData.into(),
    })
}
