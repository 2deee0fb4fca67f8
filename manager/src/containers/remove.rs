//! `rm`: mark the record `removing` (the intent), stop (when forced), delete
//! the task, the rootfs and the directory, then the record with its name and
//! its volumes' claims in one transaction; so a crash midway leaves a
//! `removing` record that start-up finishes removing.

use super::record::{Container, MountKind, Status};
use super::{Containers, Error, Result};
use crate::metadata::Table;

impl Containers {
    /// Removes a container. A running one only with `force` (SIGKILL first).
    /// `volumes`: also remove its anonymous volumes.
    pub async fn remove(&self, reference: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.lookup(reference)?;
        let lock = self.lock_for(&c.id);
        let _g = lock.lock().await;
        let c = self.lookup(&c.id)?;
        if c.state.status.is_live() && !force {
            return Err(Error::Running {
                name: c.name.clone(),
            });
        }
        self.remove_locked(c, volumes).await
    }

    /// Removal with the container's lock held (also used by `--rm` and prune).
    pub(super) async fn remove_locked(&self, c: Container, volumes: bool) -> Result<()> {
        let t0 = std::time::Instant::now();
        let c = self
            .modify(&c.id, |c| {
                c.state.status = Status::Removing;
                c.manually_stopped = true;
            })?
            .unwrap_or(c);
        self.kill_task(&c.id).await;
        let t_task = t0.elapsed();
        let this = self.clone();
        let c2 = c.clone();
        tokio::task::spawn_blocking(move || {
            this.destroy_blocking(&c2)?;
            if volumes {
                this.remove_anonymous_volumes(&c2);
            }
            Ok::<_, Error>(())
        })
        .await
        .map_err(super::interrupted("removing", &c.name))??;
        self.forget(&c.id);
        tracing::debug!(id = %c.id, task = ?t_task, total = ?t0.elapsed(), "removed");
        self.publish(&c, "destroy", &[]);
        Ok(())
    }

    /// Kills and deletes the task (live or dead), leaving no shim, runtime
    /// state or cgroup.
    pub(super) async fn kill_task(&self, id: &str) {
        let live = self.live_task(id);
        self.set_live(id, None);
        let task = match live {
            Some(l) => Some(l.task),
            None => self.inner.tasks.connect(id).await.ok(),
        };
        match task {
            Some(task) => {
                let _ = task.kill(libc::SIGKILL, true).await;
                if let Err(e) = task.delete(true).await {
                    tracing::warn!(id, error = %e, "deleting task; cleaning up by hand");
                    if let Err(e) = self.inner.tasks.cleanup_dead(id).await {
                        tracing::warn!(id, error = %e, "cleaning up a dead task");
                    }
                }
            }
            None => {
                if self.inner.tasks.has_state(id) {
                    let _ = self.inner.tasks.cleanup_dead(id).await;
                }
            }
        }
    }

    /// Removes the anonymous volumes of a container whose record (and so its
    /// claims) is gone.
    pub(super) fn remove_anonymous_volumes(&self, c: &Container) {
        for m in &c.mounts {
            if m.kind == MountKind::Volume && m.anonymous {
                match self.inner.volumes.remove(&m.name, false) {
                    Ok(()) | Err(crate::volumes::Error::NotFound { .. }) => {}
                    Err(e) => {
                        tracing::warn!(volume = %m.name, error = %e, "removing anonymous volume")
                    }
                }
            }
        }
    }

    /// Rootfs, directory, then the record, its name and its volumes' claims
    /// in one transaction. Idempotent; a failure keeps the record (and the
    /// claims) so a later rm or start-up can finish.
    pub(super) fn destroy_blocking(&self, c: &Container) -> Result<()> {
        if let Err(e) = self.inner.images.remove_rootfs(&c.id) {
            // The rootfs may still be mounted: keep the directory and record.
            return Err(Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            });
        }
        match std::fs::remove_dir_all(&c.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    id: c.id.clone(),
                    path: c.dir.clone(),
                    source,
                })
            }
        }
        let volumes = &self.inner.volumes;
        self.inner.store.update(|tx| {
            tx.delete(Table::Containers, &c.id)?;
            if tx.get::<String>(Table::ContainerNames, &c.name)?.as_deref() == Some(c.id.as_str()) {
                tx.delete(Table::ContainerNames, &c.name)?;
            }
            for m in c.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                volumes.unclaim(tx, &m.name, &c.id)?;
            }
            Ok::<_, Error>(())
        })?;
        self.inner.changed.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Drops in-memory state of a removed container.
    fn forget(&self, id: &str) {
        self.stop_health(id);
        self.inner
            .locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.inner
            .pending_attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.container_id != id);
    }

    /// Removes every container that is not running; returns IDs and bytes freed.
    pub async fn prune(&self) -> Result<(Vec<String>, u64)> {
        let mut deleted = Vec::new();
        let mut bytes = 0;
        for c in self.all()? {
            if matches!(
                c.state.status,
                Status::Created | Status::Exited | Status::Dead
            ) {
                let size = crate::volumes::dir_size(&c.rw_layer());
                match self.remove(&c.id, false, false).await {
                    Ok(()) => {
                        bytes += size;
                        deleted.push(c.id);
                    }
                    Err(Error::NotFound { .. }) | Err(Error::Running { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((deleted, bytes))
    }
}
