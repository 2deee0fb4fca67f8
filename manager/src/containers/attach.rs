//! `attach`: connect a client to a container's stdio. For a running container
//! the shim's attach stream is opened at once; for one that is not running yet
//! the request waits for the next `start`, which attaches it after the shim
//! exists and before the process runs, so no output is lost (`run` without `-d`,
//! `start -a`).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;

use super::{Containers, Error, Result};
use crate::tasks::{AttachOptions, Attached, OutputStream, StdinWriter, TaskError};

/// Which streams the client wants.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub(super) struct Pending {
    pub opts: AttachOptions,
    pub tx: oneshot::Sender<Result<Attached, TaskError>>,
}

/// A connected attach. Dropping it detaches.
pub struct AttachHandle {
    pub stdin: Option<StdinWriter>,
    pub output: OutputStream,
    pub tty: bool,
    /// The container (for resize).
    pub id: String,
    _guard: AttachGuard,
}

impl AttachHandle {
    pub(super) fn new(c: &Containers, id: &str, a: Attached, tty: bool) -> AttachHandle {
        AttachHandle {
            stdin: a.stdin,
            output: a.output,
            tty,
            id: id.to_string(),
            _guard: c.guard(id),
        }
    }
}

/// Counts attach streams being served, so the exit monitor lets them drain.
struct AttachGuard {
    containers: Containers,
    id: String,
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        let mut m = self
            .containers
            .inner
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.id);
            }
        }
    }
}

/// The attach is registered; awaiting this yields the connected streams.
pub type AttachFuture = Pin<Box<dyn Future<Output = Result<AttachHandle>> + Send>>;

impl Containers {
    fn guard(&self, id: &str) -> AttachGuard {
        *self
            .inner
            .attached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_string())
            .or_default() += 1;
        AttachGuard {
            containers: self.clone(),
            id: id.to_string(),
        }
    }

    /// Registers an attach. When this returns, a `start` will not lose output
    /// for this client; the returned future completes once streams are connected.
    pub async fn attach(&self, reference: &str, req: AttachRequest) -> Result<AttachFuture> {
        let c = self.lookup(reference)?;
        let opts = AttachOptions {
            stdin: req.stdin && c.spec.open_stdin,
            stdout: req.stdout,
            stderr: req.stderr,
        };
        let tty = c.spec.tty;
        let id = c.id.clone();
        let name = c.name.clone();
        if let Some(live) = self.live_task(&id) {
            let guard = self.guard(&id);
            let a = live
                .task
                .attach(opts)
                .await
                .map_err(super::task_err(&name))?;
            return Ok(Box::pin(async move {
                Ok(AttachHandle {
                    stdin: a.stdin,
                    output: a.output,
                    tty,
                    id,
                    _guard: guard,
                })
            }));
        }
        let (tx, rx) = oneshot::channel();
        self.inner
            .pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.clone())
            .or_default()
            .push(Pending { opts, tx });
        let guard = self.guard(&id);
        Ok(Box::pin(async move {
            let a = rx
                .await
                .map_err(|_| Error::NotRunning { name: name.clone() })?
                .map_err(super::task_err(&name))?;
            Ok(AttachHandle {
                stdin: a.stdin,
                output: a.output,
                tty,
                id,
                _guard: guard,
            })
        }))
    }

    /// Connects the clients waiting for this start to the new task.
    pub(super) async fn hand_over_attaches(&self, id: &str, task: &dyn super::TaskHandle) {
        let pending = self
            .inner
            .pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
            .unwrap_or_default();
        for p in pending {
            if p.tx.is_closed() {
                continue;
            }
            let r = task.attach(p.opts).await;
            let _ = p.tx.send(r);
        }
    }

    /// Sets the pty size of a running container.
    pub async fn resize(&self, reference: &str, width: u32, height: u32) -> Result<()> {
        let c = self.lookup(reference)?;
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        live.task
            .resize(width, height)
            .await
            .map_err(super::task_err(&c.name))?;
        Ok(())
    }

    /// Waits (up to `max`) for attach streams of `id` to finish.
    pub(super) async fn drain_attached(&self, id: &str, max: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + max;
        while tokio::time::Instant::now() < deadline {
            let n = self
                .inner
                .attached
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(id)
                .copied()
                .unwrap_or(0);
            if n == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
