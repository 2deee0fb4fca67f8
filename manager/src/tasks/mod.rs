//! tasks: the only code in berthd that talks to shims.
//!
//! A *task* is a container's running side: one `berth-shim` process per
//! container, which calls the OCI runtime, holds the container's stdio (log
//! file, attach streams, pty), reaps it and records its exit status. The shim
//! is not berthd's child (it double-forks), so a task outlives berthd: after a
//! restart, [`TaskManager::connect`] finds it again from the address the shim
//! wrote into its state dir (`<state>/shims/<id>/address`).
//!
//! Lifecycle of a task:
//! 1. [`TaskManager::create`] spawns the shim and has it run `<runtime> create`:
//!    the container exists, its init is blocked before the user's process, and
//!    its stdio is already captured (attach now to see everything).
//! 2. [`Task::start`] runs the user's process.
//! 3. [`Task::wait`] returns the [`ExitStatus`] once it exits (at once if it
//!    already has; the shim also writes it to `<state>/shims/<id>/exit.json`).
//! 4. [`Task::delete`] removes the container (`<runtime> delete`: cgroup and
//!    runtime state) and stops the shim, which removes its state dir. Nothing is
//!    left after it.
//!
//! Exec processes ([`Task::exec`] → [`Process`]) follow the same
//! create/start/wait/delete steps inside a running task.
//!
//! No proto type leaves this module: the API is in domain terms, and shim
//! errors are mapped once, to [`TaskError`].

mod attach;
mod convert;
mod error;
mod manager;
mod task;
mod types;

pub use attach::{Attached, OutputStream, StdinWriter};
pub use error::TaskError;
pub use manager::TaskManager;
pub use task::{Process, Task};
pub use types::{
    AttachOptions, CreateTask, ExecSpec, ExitStatus, OutputChunk, ProcessInfo, ProcessState, Stats,
    StdStream, TaskEvent, TaskStatus,
};
