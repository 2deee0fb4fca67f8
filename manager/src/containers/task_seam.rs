//! The task seam: what the container lifecycle (start, the exit monitor,
//! restore, stop, rm, exec, attach) needs from a container's running side,
//! as traits owned here, by the consumer. `tasks::TaskManager`, `Task` and
//! `Process` (shims over gRPC) are the real implementation, below; the unit
//! tests of this module's callers use the recording fake in `task_fake.rs`,
//! so restart policies, restore and stop are tested without root or a shim.
//!
//! Handles are `Arc<dyn …>`: cheap to clone, any number may exist, and
//! dropping one affects nothing (as with `tasks::Task`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::tasks::{
    AttachOptions, Attached, CreateTask, ExecSpec, ExitStatus, Process, ProcessInfo, ProcessState,
    Stats, Task, TaskError, TaskManager,
};

/// Spawns tasks and finds them again after a berthd restart.
#[async_trait]
pub trait Tasks: Send + Sync {
    /// Spawns the task and creates the container; its stdio is captured
    /// before this returns. `AlreadyExists` when one for this id is there.
    async fn create(&self, spec: CreateTask) -> Result<Arc<dyn TaskHandle>, TaskError>;
    /// The live task `id`. `NotFound` without one; `Unreachable` when it is
    /// gone but left its state behind.
    async fn connect(&self, id: &str) -> Result<Arc<dyn TaskHandle>, TaskError>;
    /// Ids of every task with state left (live or not).
    fn list(&self) -> Result<Vec<String>, TaskError>;
    /// The init's exit as recorded by the task, readable when it is gone.
    fn recorded_exit(&self, id: &str) -> Result<Option<ExitStatus>, TaskError>;
    /// Removes whatever a dead or unresponsive task left (processes, runtime
    /// state, its state dir).
    async fn cleanup_dead(&self, id: &str) -> Result<(), TaskError>;
    /// Task `id` left state behind (a shim state dir or runtime state), live or not.
    fn has_state(&self, id: &str) -> bool;
}

/// A container's init, through its task.
#[async_trait]
pub trait TaskHandle: Send + Sync {
    /// Runs the container's process; returns its pid.
    async fn start(&self) -> Result<u32, TaskError>;
    async fn state(&self) -> Result<ProcessState, TaskError>;
    /// `all`: every process of the container, not only its init.
    async fn kill(&self, signal: i32, all: bool) -> Result<(), TaskError>;
    /// Resolves once the init has exited (at once if it has).
    async fn wait(&self) -> Result<ExitStatus, TaskError>;
    /// Registers an exec process; its `start` runs it.
    async fn exec(&self, spec: ExecSpec) -> Result<Arc<dyn ExecHandle>, TaskError>;
    async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError>;
    async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError>;
    async fn pids(&self) -> Result<Vec<ProcessInfo>, TaskError>;
    async fn pause(&self) -> Result<(), TaskError>;
    async fn resume(&self) -> Result<(), TaskError>;
    async fn stats(&self) -> Result<Stats, TaskError>;
    /// Removes the container and the task; nothing is left. `force` kills
    /// it first if it runs.
    async fn delete(&self, force: bool) -> Result<ExitStatus, TaskError>;
}

/// An exec process of a task.
#[async_trait]
pub trait ExecHandle: Send + Sync {
    async fn start(&self) -> Result<u32, TaskError>;
    async fn wait(&self) -> Result<ExitStatus, TaskError>;
    async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError>;
    async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError>;
    /// Forgets a stopped exec (`force` kills it first).
    async fn delete(&self, force: bool) -> Result<ExitStatus, TaskError>;
}

#[async_trait]
impl Tasks for TaskManager {
    async fn create(&self, spec: CreateTask) -> Result<Arc<dyn TaskHandle>, TaskError> {
        Ok(Arc::new(TaskManager::create(self, spec).await?))
    }

    async fn connect(&self, id: &str) -> Result<Arc<dyn TaskHandle>, TaskError> {
        Ok(Arc::new(TaskManager::connect(self, id).await?))
    }

    fn list(&self) -> Result<Vec<String>, TaskError> {
        TaskManager::list(self)
    }

    fn recorded_exit(&self, id: &str) -> Result<Option<ExitStatus>, TaskError> {
        TaskManager::recorded_exit(self, id)
    }

    async fn cleanup_dead(&self, id: &str) -> Result<(), TaskError> {
        TaskManager::cleanup_dead(self, id).await
    }

    fn has_state(&self, id: &str) -> bool {
        self.shim_dir(id).exists() || self.runtime_root().join(id).exists()
    }
}

#[async_trait]
impl TaskHandle for Task {
    async fn start(&self) -> Result<u32, TaskError> {
        Task::start(self).await
    }

    async fn state(&self) -> Result<ProcessState, TaskError> {
        Task::state(self).await
    }

    async fn kill(&self, signal: i32, all: bool) -> Result<(), TaskError> {
        Task::kill(self, signal, all).await
    }

    async fn wait(&self) -> Result<ExitStatus, TaskError> {
        Task::wait(self).await
    }

    async fn exec(&self, spec: ExecSpec) -> Result<Arc<dyn ExecHandle>, TaskError> {
        Ok(Arc::new(Task::exec(self, spec).await?))
    }

    async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError> {
        Task::attach(self, opts).await
    }

    async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError> {
        Task::resize(self, width, height).await
    }

    async fn pids(&self) -> Result<Vec<ProcessInfo>, TaskError> {
        Task::pids(self).await
    }

    async fn pause(&self) -> Result<(), TaskError> {
        Task::pause(self).await
    }

    async fn resume(&self) -> Result<(), TaskError> {
        Task::resume(self).await
    }

    async fn stats(&self) -> Result<Stats, TaskError> {
        Task::stats(self).await
    }

    async fn delete(&self, force: bool) -> Result<ExitStatus, TaskError> {
        // `Task::delete` consumes its handle; other clones stay valid.
        Task::delete(self.clone(), force).await
    }
}

#[async_trait]
impl ExecHandle for Process {
    async fn start(&self) -> Result<u32, TaskError> {
        Process::start(self).await
    }

    async fn wait(&self) -> Result<ExitStatus, TaskError> {
        Process::wait(self).await
    }

    async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError> {
        Process::attach(self, opts).await
    }

    async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError> {
        Process::resize(self, width, height).await
    }

    async fn delete(&self, force: bool) -> Result<ExitStatus, TaskError> {
        Process::delete(self.clone(), force).await
    }
}
