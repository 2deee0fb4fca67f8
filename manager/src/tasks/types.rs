//! Domain types of the tasks API: what berthd's `containers` passes in and
//! gets back. Plain data, no proto.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Everything the shim needs to create a container from a prepared bundle.
#[derive(Debug, Clone)]
pub struct CreateTask {
    /// Container id; also the runtime's id and the shim's state dir name.
    pub id: String,
    /// OCI bundle dir (`config.json` + rootfs), ready to run.
    pub bundle: PathBuf,
    /// Keep the container's stdin open (docker `-i`).
    pub stdin: bool,
    /// Give the container a pty (docker `-t`); `config.json` must then have
    /// `process.terminal = true`.
    pub tty: bool,
    /// The json-file log (`<id>-json.log`); `None` keeps no log.
    pub log_path: Option<PathBuf>,
    /// Rotate the log when it reaches this many bytes (docker `max-size`);
    /// `None` never rotates. Default 10 MiB.
    pub log_max_size: Option<u64>,
    /// Number of log files kept, the live one included (docker `max-file`).
    /// Default 3.
    pub log_max_file: u32,
}

impl CreateTask {
    /// A task with docker's defaults: no stdin, no tty, no log, 10m × 3.
    pub fn new(id: impl Into<String>, bundle: impl Into<PathBuf>) -> Self {
        CreateTask {
            id: id.into(),
            bundle: bundle.into(),
            stdin: false,
            tty: false,
            log_path: None,
            log_max_size: Some(10 * 1024 * 1024),
            log_max_file: 3,
        }
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitStatus {
    /// Its pid while it ran.
    pub pid: u32,
    /// Exit code; 128 + signal when a signal killed it (docker's convention).
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    pub exited_at: DateTime<Utc>,
    /// The kernel's OOM killer killed a process of the container (read from
    /// the memory cgroup before it was removed). Always false for execs.
    pub oom_killed: bool,
}

/// Lifecycle state of a process, as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStatus {
    Created,
    Running,
    Paused,
    Stopped,
    Unknown,
}

/// `Task::state` / `Process::state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessState {
    pub id: String,
    /// `None` for the init process.
    pub exec_id: Option<String>,
    pub bundle: PathBuf,
    /// 0 before it was created/started.
    pub pid: u32,
    pub status: TaskStatus,
    pub stdin: bool,
    pub tty: bool,
    /// Set when `status` is `Stopped`.
    pub exit: Option<ExitStatus>,
}

/// An exec process to add to a running task.
#[derive(Debug, Clone)]
pub struct ExecSpec {
    /// Unique within the task.
    pub exec_id: String,
    /// The OCI `process` (args, env, cwd, user, terminal, capabilities…).
    pub process: oci_spec::runtime::Process,
    pub stdin: bool,
    pub tty: bool,
}

/// Which streams an attach wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            stdin: false,
            stdout: true,
            stderr: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// Output of an attached process. With a tty everything is `Stdout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: StdStream,
    pub data: Vec<u8>,
}

/// One process of the container (`Task::pids`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// Set when the pid is an exec process's main pid.
    pub exec_id: Option<String>,
}

/// Resource usage of the container's cgroup, from `<runtime> events --stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Total CPU time, nanoseconds.
    pub cpu_total_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_kernel_ns: u64,
    pub memory_usage: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub memory_cache: u64,
    pub pids_current: u64,
    /// `None` when unlimited.
    pub pids_limit: Option<u64>,
    /// The runtime's full stats object (runc's `types.Stats` JSON), for
    /// fields not lifted above (blkio, hugetlb, per-cpu…).
    pub raw: serde_json::Value,
}

/// What a shim reports as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// A process exited; `exec_id` is `None` for init.
    Exit {
        exec_id: Option<String>,
        status: ExitStatus,
    },
    /// The container hit its memory limit and the OOM killer ran.
    Oom,
}
