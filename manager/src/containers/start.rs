//! `start`: spawn the shim, connect waiting attach clients, run the process,
//! and hand the task to the exit monitor.

use chrono::Utc;

use super::health::Health;
use super::record::{Container, Intent, Status};
use super::{Containers, Error, Live, Result};
use crate::errors::Classify;
use crate::tasks::{CreateTask, TaskError};

impl Containers {
    /// Starts a created or exited container; a running one is left alone.
    pub async fn start(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let lock = self.lock_for(&c.id);
        let _g = lock.lock().await;
        let c = self.lookup(&c.id)?;
        match c.state.status {
            Status::Running => return Ok(()),
            Status::Paused => return Err(Error::Paused { name: c.name }),
            Status::Removing => {
                return Err(Error::NotFound {
                    reference: reference.to_string(),
                })
            }
            _ => {}
        }
        self.start_locked(c).await
    }

    /// Start with the container's lock held (also used by restart policies).
    /// Records the `Start` intent first (and clears a manual stop: the
    /// container is wanted running again); the result clears it.
    pub(super) async fn start_locked(&self, c: Container) -> Result<()> {
        let id = c.id.clone();
        let c = self
            .modify(&id, |c| {
                c.manually_stopped = false;
                c.intent = Some(Intent::Start);
            })?
            .ok_or_else(|| Error::NotFound {
                reference: c.name.clone(),
            })?;
        let images = self.inner.images.clone();
        let mid = id.clone();
        tokio::task::spawn_blocking(move || images.mount_rootfs(&mid))
            .await
            .map_err(super::interrupted("mounting the filesystem of", &c.name))?
            .map_err(|e| Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            })?;
        // A task left from an earlier run (exited, or a crash) goes first.
        if self.live_task(&id).is_some() || self.inner.tasks.has_state(&id) {
            self.kill_task(&id).await;
        }
        let mut spec = CreateTask::new(id.clone(), c.bundle());
        spec.stdin = c.spec.open_stdin;
        spec.tty = c.spec.tty;
        spec.log_path = Some(c.log_path.clone());
        spec.log_max_size = Some(self.inner.settings.log_max_size);
        spec.log_max_file = self.inner.settings.log_max_file;
        let task = match self.inner.tasks.create(spec).await {
            Ok(t) => t,
            Err(e) => {
                // A shim that died mid-create can leave the runtime's
                // container (and its waiting init) behind: nothing may
                // outlive a start that failed.
                if self.inner.tasks.has_state(&id) {
                    if let Err(c) = self.inner.tasks.cleanup_dead(&id).await {
                        tracing::warn!(%id, error = %c, "cleaning up a failed create");
                    }
                }
                self.record_start_error(&id, &e)?;
                return Err(Error::StartFailed {
                    name: c.name.clone(),
                    source: e,
                });
            }
        };
        self.hand_over_attaches(&id, task.as_ref()).await;
        let pid = match task.start().await {
            Ok(pid) => pid,
            Err(e) => {
                if let Err(d) = task.delete(true).await {
                    tracing::warn!(%id, error = %d, "deleting a task that failed to start");
                    let _ = self.inner.tasks.cleanup_dead(&id).await;
                }
                self.record_start_error(&id, &e)?;
                return Err(Error::StartFailed {
                    name: c.name.clone(),
                    source: e,
                });
            }
        };
        let epoch = self.next_epoch();
        self.set_live(
            &id,
            Some(Live {
                task: task.clone(),
                epoch,
            }),
        );
        let c = self
            .modify(&id, |c| {
                c.state.status = Status::Running;
                c.state.pid = pid;
                c.state.exit_code = 0;
                c.state.oom_killed = false;
                c.state.error.clear();
                c.state.started_at = Some(Utc::now());
                // Each run starts `starting` (docker's initHealthMonitor).
                c.state.health = c
                    .healthcheck
                    .as_ref()
                    .filter(|h| h.enabled())
                    .map(|_| Health::restart(c.state.health.as_ref()));
                c.intent = None;
            })?
            .unwrap_or(c);
        self.publish(&c, "start", &[]);
        self.start_health(&c, epoch);
        self.spawn_monitor(id, task, epoch);
        Ok(())
    }

    fn record_start_error(&self, id: &str, error: &TaskError) -> Result<()> {
        let message = error.to_string();
        // docker's State.ExitCode of a start that failed: 127/126 by reason, else 128.
        let exit_code = error.reason().exit_code().unwrap_or(128);
        self.modify(id, |c| {
            c.state.status = if c.state.started_at.is_some() {
                Status::Exited
            } else {
                Status::Created
            };
            c.state.error = message;
            c.state.exit_code = exit_code;
            c.state.pid = 0;
            c.intent = None;
        })?;
        // Clients waiting to attach get "not running".
        self.inner
            .pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        Ok(())
    }
}
