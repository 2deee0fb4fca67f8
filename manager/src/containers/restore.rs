//! Start-up reconciliation (live-restore, always on): take back the shims of
//! running containers, record exits that happened while berthd was down, and
//! remove what a crash left half-done — shims with no container, rootfs and
//! directories of containers never fully created, removals cut short.

use std::collections::HashSet;

use super::record::{RestartPolicy, Status};
use super::{Containers, Live, Result};
use crate::tasks::TaskStatus;

/// What `restore` did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub reconnected: Vec<String>,
    pub exited_while_down: Vec<String>,
    pub restarted: Vec<String>,
    pub removed_half_done: Vec<String>,
}

impl Containers {
    /// Runs once at daemon start, before the API is served.
    pub async fn restore(&self) -> Result<RestoreReport> {
        let mut report = RestoreReport::default();
        let records = self.all()?;
        let known: HashSet<String> = records.iter().map(|c| c.id.clone()).collect();

        // Shims of containers with no record: a create cut short.
        for id in self.inner.tasks.list().map_err(super::Error::Shims)? {
            if !known.contains(&id) {
                self.kill_task(&id).await;
                report.removed_half_done.push(id);
            }
        }
        // Rootfs and directories with no record.
        let images = self.inner.images.clone();
        let rootfs_ids = tokio::task::spawn_blocking(move || images.rootfs_ids())
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        for id in rootfs_ids {
            if !known.contains(&id) {
                let images = self.inner.images.clone();
                let rid = id.clone();
                let _ = tokio::task::spawn_blocking(move || images.remove_rootfs(&rid)).await;
                report.removed_half_done.push(id);
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !known.contains(&name) && e.path().is_dir() {
                    // Only ever unmounted dirs here: the rootfs was removed above.
                    if std::fs::remove_dir_all(e.path()).is_ok() {
                        report.removed_half_done.push(name);
                    }
                }
            }
        }

        for c in records {
            let id = c.id.clone();
            if c.state.status == Status::Removing || !c.dir.join("config.json").exists() {
                let lock = self.lock_for(&id);
                let _g = lock.lock().await;
                let was_created = c.dir.join("config.json").exists();
                if let Err(e) = self.remove_locked(c, false).await {
                    tracing::warn!(%id, error = %e, "finishing an interrupted create/remove");
                } else if !was_created {
                    report.removed_half_done.push(id);
                }
                continue;
            }
            match c.state.status {
                Status::Running | Status::Paused => {
                    match self.inner.tasks.connect(&id).await {
                        Ok(task) => {
                            let state = task.state().await;
                            let epoch = self.next_epoch();
                            self.set_live(
                                &id,
                                Some(Live {
                                    task: task.clone(),
                                    epoch,
                                }),
                            );
                            match state {
                                Ok(st) if st.status == TaskStatus::Stopped => {
                                    report.exited_while_down.push(id.clone());
                                    self.handle_exit(&id, Some(task), epoch, st.exit).await;
                                }
                                _ => {
                                    // Paused state may have changed while we were away.
                                    if let Ok(st) = &state {
                                        let paused = st.status == TaskStatus::Paused;
                                        let _ = self.modify(&id, |c| {
                                            c.state.status = if paused {
                                                Status::Paused
                                            } else {
                                                Status::Running
                                            };
                                        });
                                    }
                                    report.reconnected.push(id.clone());
                                    self.spawn_monitor(id.clone(), task, epoch);
                                }
                            }
                        }
                        Err(e) => {
                            tracing::info!(%id, error = %e, "shim gone; recording the exit");
                            let status = self.inner.tasks.recorded_exit(&id).ok().flatten();
                            let lock = self.lock_for(&id);
                            let _g = lock.lock().await;
                            let _ = self.inner.tasks.cleanup_dead(&id).await;
                            report.exited_while_down.push(id.clone());
                            self.after_exit(&id, status).await;
                        }
                    }
                }
                Status::Restarting => {
                    report.restarted.push(id.clone());
                    self.policy_restart(&id).await;
                }
                Status::Exited | Status::Created | Status::Dead => {
                    // docker: a daemon start brings back `always` containers even
                    // when they were stopped by hand; `unless-stopped` stays stopped.
                    let wants = match c.spec.restart_policy {
                        RestartPolicy::Always => c.state.started_at.is_some(),
                        RestartPolicy::UnlessStopped => {
                            !c.manually_stopped && c.state.started_at.is_some()
                        }
                        _ => false,
                    };
                    if wants {
                        let lock = self.lock_for(&id);
                        let _g = lock.lock().await;
                        match self.start_locked(c).await {
                            Ok(()) => report.restarted.push(id),
                            Err(e) => tracing::warn!(%id, error = %e, "restart at daemon start"),
                        }
                    }
                }
                Status::Removing => {}
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::task_fake::{running, Harness};
    use crate::containers::Tasks;

    #[tokio::test]
    async fn a_live_shim_is_taken_back_and_its_monitor_resumed() {
        let h = Harness::new();
        h.add("c1", running);
        h.tasks.left_running("c1", 4242);
        let report = h.containers.restore().await.unwrap();
        assert_eq!(report.reconnected, ["c1"]);
        assert!(report.exited_while_down.is_empty());
        assert_eq!(h.get("c1").state.status, Status::Running);
        assert!(h.containers.live_task("c1").is_some());
        // The resumed monitor sees the exit.
        h.tasks.exit("c1", 5);
        let c = h.until("c1", |c| c.state.status == Status::Exited).await;
        assert_eq!(c.state.exit_code, 5);
        assert_eq!(h.tasks.calls(), ["connect c1", "delete c1 force"]);
    }

    #[tokio::test]
    async fn a_paused_container_found_running_is_recorded_running() {
        let h = Harness::new();
        h.add("c1", |c| {
            running(c);
            c.state.status = Status::Paused;
        });
        h.tasks.left_running("c1", 4242);
        h.containers.restore().await.unwrap();
        assert_eq!(h.get("c1").state.status, Status::Running);
    }

    #[tokio::test]
    async fn exits_while_berthd_was_down_are_recorded() {
        let h = Harness::new();
        // Its shim lives on; the init exited meanwhile.
        h.add("stopped", running);
        h.tasks.left_stopped("stopped", 4242, 7);
        // Its shim is gone, its exit.json is left.
        h.add("gone", running);
        h.tasks.left_dead("gone", Some(9));
        // Nothing is left at all (a reboot).
        h.add("none", running);
        let mut report = h.containers.restore().await.unwrap();
        report.exited_while_down.sort();
        assert_eq!(report.exited_while_down, ["gone", "none", "stopped"]);
        assert!(report.reconnected.is_empty());

        let c = h.get("stopped");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 7));
        let c = h.get("gone");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 9));
        let c = h.get("none");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 255));
        assert_eq!(
            c.state.error,
            "the container's shim exited without recording an exit status"
        );
        let calls = h.tasks.calls();
        assert!(
            calls.contains(&"delete stopped force".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"cleanup_dead gone".to_string()),
            "{calls:?}"
        );
        assert!(h.tasks.list().unwrap().is_empty(), "nothing is left behind");
    }

    #[tokio::test]
    async fn shims_without_a_container_are_removed() {
        let h = Harness::new();
        h.tasks.left_running("orphan", 4242);
        h.tasks.left_dead("dead-orphan", None);
        let report = h.containers.restore().await.unwrap();
        assert_eq!(report.removed_half_done, ["dead-orphan", "orphan"]);
        let calls = h.tasks.calls();
        assert!(
            calls.contains(&"kill orphan 9 all".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"delete orphan force".to_string()),
            "{calls:?}"
        );
        assert!(
            calls.contains(&"cleanup_dead dead-orphan".to_string()),
            "{calls:?}"
        );
        assert!(h.tasks.list().unwrap().is_empty());
    }

    #[tokio::test]
    async fn restart_policies_apply_at_daemon_start() {
        let h = Harness::new();
        let exited = |policy: RestartPolicy, by_hand: bool| {
            move |c: &mut crate::containers::Container| {
                c.spec.restart_policy = policy;
                c.state.status = Status::Exited;
                c.state.started_at = Some(chrono::Utc::now());
                c.manually_stopped = by_hand;
            }
        };
        h.add("always", exited(RestartPolicy::Always, true));
        h.add("unless", exited(RestartPolicy::UnlessStopped, true));
        h.add(
            "unless-crashed",
            exited(RestartPolicy::UnlessStopped, false),
        );
        h.add("no", exited(RestartPolicy::No, false));
        h.add("restarting", |c| {
            c.spec.restart_policy = RestartPolicy::OnFailure { max_retries: 0 };
            c.state.status = Status::Restarting;
        });
        let mut report = h.containers.restore().await.unwrap();
        report.restarted.sort();
        assert_eq!(report.restarted, ["always", "restarting", "unless-crashed"]);
        for id in ["always", "restarting", "unless-crashed"] {
            assert_eq!(h.get(id).state.status, Status::Running, "{id}");
        }
        for id in ["unless", "no"] {
            assert_eq!(h.get(id).state.status, Status::Exited, "{id}");
        }
        assert_eq!(h.get("restarting").restart_count, 1);
    }
}
