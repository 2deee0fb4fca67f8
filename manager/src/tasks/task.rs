//! [`Task`] (a container's init, through its shim) and [`Process`] (an exec
//! process in it). Both are handles: cheap to clone, any number may exist,
//! and dropping one affects nothing.

use std::path::{Path, PathBuf};

use berth_proto::shim::v1 as pb;
use berth_proto::shim::v1::task_client::TaskClient;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use super::attach::{self, Attached};
use super::convert::{
    create_to_pb, exec_id_from_pb, exit_from_pb, process_from_pb, state_from_pb, stats_from_json,
};
use super::error::TaskError;
use super::manager::map_status;
use super::types::{
    AttachOptions, CreateTask, ExecSpec, ExitStatus, ProcessInfo, ProcessState, Stats, TaskEvent,
};

/// A container's init process, reached through its shim.
#[derive(Debug, Clone)]
pub struct Task {
    id: String,
    dir: PathBuf,
    client: TaskClient<Channel>,
}

/// An exec process of a [`Task`].
#[derive(Debug, Clone)]
pub struct Process {
    task: Task,
    exec_id: String,
}

impl Task {
    pub(super) fn new(id: String, dir: PathBuf, client: TaskClient<Channel>) -> Self {
        Task { id, dir, client }
    }

    /// The container (and task) id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The shim's state dir.
    pub fn shim_dir(&self) -> &Path {
        &self.dir
    }

    fn client(&self) -> TaskClient<Channel> {
        self.client.clone()
    }

    fn err(&self, s: tonic::Status) -> TaskError {
        map_status(&self.id, s)
    }

    pub(super) async fn create(&self, spec: &CreateTask) -> Result<u32, TaskError> {
        let r = self
            .client()
            .create(create_to_pb(spec))
            .await
            .map_err(|s| self.err(s))?;
        Ok(r.into_inner().pid)
    }

    /// Pid of the shim process itself, and of the init (0 before create).
    pub async fn info(&self) -> Result<(u32, u32), TaskError> {
        let r = self
            .client()
            .info(pb::Empty {})
            .await
            .map_err(|s| self.err(s))?
            .into_inner();
        Ok((r.shim_pid, r.task_pid))
    }

    /// Runs the container's process (`<runtime> start`); returns its pid.
    pub async fn start(&self) -> Result<u32, TaskError> {
        start(self, "").await
    }

    /// State of the init process.
    pub async fn state(&self) -> Result<ProcessState, TaskError> {
        state(self, "").await
    }

    /// Sends `signal` to the init, or with `all` to every process of the
    /// container (`<runtime> kill --all`).
    pub async fn kill(&self, signal: i32, all: bool) -> Result<(), TaskError> {
        kill(self, "", signal, all).await
    }

    /// Waits until the init has exited; at once if it already has (also after
    /// a berthd restart: the shim kept the status).
    pub async fn wait(&self) -> Result<ExitStatus, TaskError> {
        wait(self, "").await
    }

    /// Registers an exec process; [`Process::start`] runs it. Attach first to
    /// get all of its output. `AlreadyExists` if the exec id is taken.
    pub async fn exec(&self, spec: ExecSpec) -> Result<Process, TaskError> {
        let process_json =
            serde_json::to_vec(&spec.process).map_err(|e| TaskError::InvalidArgument {
                id: self.id.clone(),
                message: format!("exec {}: process spec: {e}", spec.exec_id),
            })?;
        self.client()
            .exec(pb::ExecRequest {
                exec_id: spec.exec_id.clone(),
                process_json,
                stdin: spec.stdin,
                tty: spec.tty,
            })
            .await
            .map_err(|s| self.err(s))?;
        Ok(Process {
            task: self.clone(),
            exec_id: spec.exec_id,
        })
    }

    /// A handle on an existing exec process (e.g. after a berthd restart).
    pub fn process(&self, exec_id: impl Into<String>) -> Process {
        Process {
            task: self.clone(),
            exec_id: exec_id.into(),
        }
    }

    /// Attaches to the init's stdio. Output starts at the moment of the call
    /// (earlier output is in the log file). The stream ends when the process's
    /// output is closed.
    pub async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError> {
        attach::attach(&self.id, self.client(), "", opts).await
    }

    /// Sets the pty's window size (`FailedPrecondition` without a tty).
    pub async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError> {
        resize(self, "", width, height).await
    }

    /// Closes the init's stdin (EOF for the container).
    pub async fn close_stdin(&self) -> Result<(), TaskError> {
        close_stdin(self, "").await
    }

    /// All processes of the container (`<runtime> ps`).
    pub async fn pids(&self) -> Result<Vec<ProcessInfo>, TaskError> {
        let r = self
            .client()
            .pids(pb::PidsRequest {})
            .await
            .map_err(|s| self.err(s))?
            .into_inner();
        Ok(r.processes.iter().map(process_from_pb).collect())
    }

    /// Freezes the container (`<runtime> pause`).
    pub async fn pause(&self) -> Result<(), TaskError> {
        self.client()
            .pause(pb::Empty {})
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// Thaws a paused container (`<runtime> resume`).
    pub async fn resume(&self) -> Result<(), TaskError> {
        self.client()
            .resume(pb::Empty {})
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// Resource usage (`<runtime> events --stats`).
    pub async fn stats(&self) -> Result<Stats, TaskError> {
        let r = self
            .client()
            .stats(pb::Empty {})
            .await
            .map_err(|s| self.err(s))?
            .into_inner();
        let raw = serde_json::from_slice(&r.stats_json).map_err(|e| TaskError::Shim {
            id: self.id.clone(),
            message: format!("stats are not JSON: {e}"),
        })?;
        Ok(stats_from_json(raw))
    }

    /// Changes the container's resource limits (`<runtime> update`).
    pub async fn update(
        &self,
        resources: &oci_spec::runtime::LinuxResources,
    ) -> Result<(), TaskError> {
        let resources_json =
            serde_json::to_vec(resources).map_err(|e| TaskError::InvalidArgument {
                id: self.id.clone(),
                message: format!("resources: {e}"),
            })?;
        self.client()
            .update(pb::UpdateRequest { resources_json })
            .await
            .map_err(|s| self.err(s))?;
        Ok(())
    }

    /// Removes the container (`<runtime> delete`: processes, cgroup, runtime
    /// state), then stops the shim, which removes its state dir: nothing is
    /// left. `FailedPrecondition` while it runs, unless `force` (SIGKILL to
    /// all its processes first). Returns the init's exit status.
    pub async fn delete(self, force: bool) -> Result<ExitStatus, TaskError> {
        let r = self
            .client()
            .delete(pb::DeleteRequest {
                exec_id: String::new(),
                force,
            })
            .await
            .map_err(|s| self.err(s))?
            .into_inner();
        let status = exit_from_pb(&r);
        self.shutdown(false).await?;
        Ok(status)
    }

    /// Stops the shim; it removes its state dir. Refused while the container
    /// exists unless `now` (then the container is left to
    /// [`super::TaskManager::cleanup_dead`]). Mostly for a shim whose create
    /// failed; [`Task::delete`] already calls it.
    pub async fn shutdown(self, now: bool) -> Result<(), TaskError> {
        let res = self.client().shutdown(pb::ShutdownRequest { now }).await;
        match res {
            Ok(_) => {}
            // The shim may exit before its answer gets out.
            Err(s) if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown) => {}
            Err(s) => return Err(self.err(s)),
        }
        // Wait (briefly) for the shim to finish removing its state dir, so
        // callers can rely on "nothing left".
        for _ in 0..200 {
            if !self.dir.exists() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(TaskError::Shim {
            id: self.id.clone(),
            message: format!("shim did not remove {} on shutdown", self.dir.display()),
        })
    }

    /// Exits (and OOM notices) of this task's processes as they happen. The
    /// stream ends when the shim goes away.
    pub async fn events(
        &self,
    ) -> Result<impl tokio_stream::Stream<Item = Result<TaskEvent, TaskError>>, TaskError> {
        let stream = self
            .client()
            .events(pb::Empty {})
            .await
            .map_err(|s| self.err(s))?
            .into_inner();
        let id = self.id.clone();
        Ok(stream.filter_map(move |r| match r {
            Ok(pb::Event {
                event: Some(pb::event::Event::Exit(e)),
            }) => Some(Ok(TaskEvent::Exit {
                exec_id: exec_id_from_pb(&e.exec_id),
                status: exit_from_pb(&e),
            })),
            Ok(pb::Event {
                event: Some(pb::event::Event::Oom(_)),
            }) => Some(Ok(TaskEvent::Oom)),
            Ok(pb::Event { event: None }) => None,
            Err(s) => Some(Err(map_status(&id, s))),
        }))
    }
}

impl Process {
    /// The exec id.
    pub fn exec_id(&self) -> &str {
        &self.exec_id
    }

    /// The task this process belongs to.
    pub fn task(&self) -> &Task {
        &self.task
    }

    /// Runs it (`<runtime> exec --detach`); returns its pid.
    pub async fn start(&self) -> Result<u32, TaskError> {
        start(&self.task, &self.exec_id).await
    }

    pub async fn state(&self) -> Result<ProcessState, TaskError> {
        state(&self.task, &self.exec_id).await
    }

    /// Signals this process only (`all` is meaningless for an exec).
    pub async fn kill(&self, signal: i32) -> Result<(), TaskError> {
        kill(&self.task, &self.exec_id, signal, false).await
    }

    pub async fn wait(&self) -> Result<ExitStatus, TaskError> {
        wait(&self.task, &self.exec_id).await
    }

    pub async fn attach(&self, opts: AttachOptions) -> Result<Attached, TaskError> {
        attach::attach(&self.task.id, self.task.client(), &self.exec_id, opts).await
    }

    pub async fn resize(&self, width: u32, height: u32) -> Result<(), TaskError> {
        resize(&self.task, &self.exec_id, width, height).await
    }

    pub async fn close_stdin(&self) -> Result<(), TaskError> {
        close_stdin(&self.task, &self.exec_id).await
    }

    /// Forgets a stopped exec process (`force` kills it first); returns its
    /// exit status.
    pub async fn delete(self, force: bool) -> Result<ExitStatus, TaskError> {
        let r = self
            .task
            .client()
            .delete(pb::DeleteRequest {
                exec_id: self.exec_id.clone(),
                force,
            })
            .await
            .map_err(|s| self.task.err(s))?;
        Ok(exit_from_pb(&r.into_inner()))
    }
}

async fn start(t: &Task, exec_id: &str) -> Result<u32, TaskError> {
    let r = t
        .client()
        .start(pb::StartRequest {
            exec_id: exec_id.to_string(),
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(r.into_inner().pid)
}

async fn state(t: &Task, exec_id: &str) -> Result<ProcessState, TaskError> {
    let r = t
        .client()
        .state(pb::StateRequest {
            exec_id: exec_id.to_string(),
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(state_from_pb(r.into_inner()))
}

async fn kill(t: &Task, exec_id: &str, signal: i32, all: bool) -> Result<(), TaskError> {
    let signal = u32::try_from(signal).map_err(|_| TaskError::InvalidArgument {
        id: t.id.clone(),
        message: format!("signal {signal}"),
    })?;
    t.client()
        .kill(pb::KillRequest {
            exec_id: exec_id.to_string(),
            signal,
            all,
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(())
}

async fn wait(t: &Task, exec_id: &str) -> Result<ExitStatus, TaskError> {
    let r = t
        .client()
        .wait(pb::WaitRequest {
            exec_id: exec_id.to_string(),
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(exit_from_pb(&r.into_inner()))
}

async fn resize(t: &Task, exec_id: &str, width: u32, height: u32) -> Result<(), TaskError> {
    t.client()
        .resize_pty(pb::ResizePtyRequest {
            exec_id: exec_id.to_string(),
            width,
            height,
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(())
}

async fn close_stdin(t: &Task, exec_id: &str) -> Result<(), TaskError> {
    t.client()
        .close_stdin(pb::CloseStdinRequest {
            exec_id: exec_id.to_string(),
        })
        .await
        .map_err(|s| t.err(s))?;
    Ok(())
}
