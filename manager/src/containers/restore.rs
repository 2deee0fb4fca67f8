//! Start-up reconciliation (live-restore, always on): every record is made to
//! say what exists. For each container the shim and the runtime are asked
//! (shim alive? its init created, running, frozen, exited? an exit recorded?)
//! and the record follows: a process that runs is `running` (or `paused` if
//! the user paused it) and monitored, whatever the record said; an exit that
//! happened while berthd was down is recorded and the restart policy applied;
//! a freeze nobody asked for (an interrupted `commit` or `unpause`) is thawed;
//! a start cut short before its process ran is undone; half-made and
//! half-removed containers are removed. Then names and volume claims are made
//! to match the records that own them, and shims, runtime state, rootfs and
//! directories with no container are removed. Every repair is logged.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;

use super::record::{Container, Intent, MountKind, RestartPolicy, Status};
use super::{Containers, Live, Result, TaskHandle};
use crate::metadata::{self, Table};
use crate::tasks::{ExitStatus, ProcessState, TaskStatus};

/// What `restore` did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    pub reconnected: Vec<String>,
    pub exited_while_down: Vec<String>,
    pub restarted: Vec<String>,
    pub removed_half_done: Vec<String>,
    /// Each record (or claim) that disagreed with what exists, and what was
    /// done about it, in words.
    pub repaired: Vec<String>,
}

impl RestoreReport {
    fn repair(&mut self, what: String) {
        tracing::warn!(repair = %what, "start-up reconciliation");
        self.repaired.push(what);
    }
}

/// What exists of a container's task.
enum Truth {
    /// A shim answers; its init is as `state` says.
    Shim(Arc<dyn TaskHandle>, ProcessState),
    /// No shim answers; `exit` is what it recorded before it went, if anything.
    Gone { exit: Option<ExitStatus> },
}

impl Containers {
    /// Runs once at daemon start, before the API is served.
    pub async fn restore(&self) -> Result<RestoreReport> {
        let mut report = RestoreReport::default();
        let records = self.all()?;
        let known: HashSet<String> = records.iter().map(|c| c.id.clone()).collect();
        self.remove_orphans(&known, &mut report).await?;

        for c in records {
            let half_made = c.intent == Some(Intent::Create) || !c.dir.join("config.json").exists();
            if half_made || c.state.status == Status::Removing {
                let id = c.id.clone();
                let lock = self.lock_for(&id);
                let _g = lock.lock().await;
                match self.remove_locked(c, half_made).await {
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "finishing an interrupted create/remove")
                    }
                    Ok(()) if half_made => {
                        report.removed_half_done.push(id.clone());
                        report.repair(format!("container {id}: removed, its create was cut short"));
                    }
                    Ok(()) => {}
                }
                continue;
            }
            self.reconcile(c, &mut report).await;
        }

        self.reconcile_names(&mut report)?;
        let mut owners: HashMap<String, BTreeSet<String>> = HashMap::new();
        for c in self.all()? {
            for m in c.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                owners
                    .entry(m.name.clone())
                    .or_default()
                    .insert(c.id.clone());
            }
        }
        for what in self.inner.volumes.reconcile_claims(&owners)? {
            report.repair(what);
        }
        Ok(report)
    }

    /// Shims and runtime state of containers with no record (a create cut
    /// short), then rootfs and directories with no record.
    async fn remove_orphans(
        &self,
        known: &HashSet<String>,
        report: &mut RestoreReport,
    ) -> Result<()> {
        for id in self.inner.tasks.list().map_err(super::Error::Shims)? {
            if !known.contains(&id) {
                self.kill_task(&id).await;
                report.removed_half_done.push(id);
            }
        }
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
        Ok(())
    }

    /// Asks what exists of `c`'s task and makes the record say it.
    async fn reconcile(&self, c: Container, report: &mut RestoreReport) {
        let id = c.id.clone();
        let truth = match self.inner.tasks.connect(&id).await {
            Ok(task) => match task.state().await {
                Ok(st) => Truth::Shim(task, st),
                Err(e) => {
                    tracing::warn!(%id, error = %e, "shim does not tell its state; treating it as gone");
                    Truth::Gone {
                        exit: self.inner.tasks.recorded_exit(&id).ok().flatten(),
                    }
                }
            },
            Err(_) => Truth::Gone {
                exit: self.inner.tasks.recorded_exit(&id).ok().flatten(),
            },
        };
        match truth {
            Truth::Shim(task, st) => match st.status {
                TaskStatus::Running | TaskStatus::Paused => self.adopt(&c, task, &st, report).await,
                TaskStatus::Stopped => {
                    if !c.state.status.is_live() {
                        report.repair(format!(
                            "container {id}: recorded {}, its process ran and exited while berthd was down",
                            c.state.status.as_str()
                        ));
                    }
                    let epoch = self.next_epoch();
                    self.set_live(
                        &id,
                        Some(Live {
                            task: task.clone(),
                            epoch,
                        }),
                    );
                    report.exited_while_down.push(id.clone());
                    self.handle_exit(&id, Some(task), epoch, st.exit).await;
                }
                TaskStatus::Created | TaskStatus::Unknown => {
                    // A start cut short before its process ran: undo it.
                    let lock = self.lock_for(&id);
                    let _g = lock.lock().await;
                    self.kill_task(&id).await;
                    let c = self.settle_stopped(
                        &c,
                        report,
                        "its start was cut short before the process ran",
                    );
                    drop(_g);
                    self.apply_policy(c, report).await;
                }
            },
            Truth::Gone { exit } => {
                let lock = self.lock_for(&id);
                let _g = lock.lock().await;
                if self.inner.tasks.has_state(&id) {
                    // Also kills a process a killed shim left behind.
                    if let Err(e) = self.inner.tasks.cleanup_dead(&id).await {
                        tracing::warn!(%id, error = %e, "cleaning up a dead shim");
                    }
                }
                let started = c.intent == Some(Intent::Start) && exit.is_some();
                if c.state.status.is_live() || started {
                    tracing::info!(%id, "shim gone; recording the exit");
                    report.exited_while_down.push(id.clone());
                    self.after_exit(&id, exit).await;
                } else {
                    let c = self.settle_stopped(&c, report, "its start was cut short (no shim)");
                    drop(_g);
                    self.apply_policy(c, report).await;
                }
            }
        }
    }

    /// A live process: the record says it runs (or is paused, when the
    /// user's pause is what froze it), and a monitor waits for its exit.
    async fn adopt(
        &self,
        c: &Container,
        task: Arc<dyn TaskHandle>,
        st: &ProcessState,
        report: &mut RestoreReport,
    ) {
        let id = &c.id;
        let user_paused = match c.intent {
            Some(Intent::Pause) => true,
            Some(Intent::Unpause) | Some(Intent::Commit) => false,
            _ => c.state.status == Status::Paused,
        };
        let mut frozen = st.status == TaskStatus::Paused;
        if frozen && !user_paused {
            let by = c.intent.map_or("nobody", Intent::as_str);
            match task.resume().await {
                Ok(()) => {
                    frozen = false;
                    report.repair(format!(
                        "container {id}: thawed, it was frozen by an interrupted {by} and nobody paused it"
                    ));
                }
                Err(e) => tracing::warn!(%id, error = %e, "thawing a container nobody paused"),
            }
        }
        let status = if frozen {
            Status::Paused
        } else {
            Status::Running
        };
        if c.state.status != status {
            report.repair(format!(
                "container {id}: recorded {}, its process is {}",
                c.state.status.as_str(),
                status.as_str()
            ));
        }
        let pid = st.pid;
        let saved = self.modify(id, |c| {
            c.state.status = status;
            if pid != 0 {
                c.state.pid = pid;
            }
            if c.state.started_at.is_none() {
                c.state.started_at = Some(Utc::now());
            }
            c.intent = None;
        });
        let c = match saved {
            Ok(Some(saved)) => saved,
            Ok(None) => c.clone(),
            Err(e) => {
                tracing::warn!(%id, error = %e, "recording a restored container");
                c.clone()
            }
        };
        let epoch = self.next_epoch();
        self.set_live(
            id,
            Some(Live {
                task: task.clone(),
                epoch,
            }),
        );
        report.reconnected.push(id.clone());
        // The health the record kept goes on from where it was.
        self.start_health(&c, epoch);
        self.spawn_monitor(id.clone(), task, epoch);
    }

    /// A container with no process: a live status or a start intent left by
    /// a cut-short start becomes `created` (never ran) or `exited`.
    fn settle_stopped(&self, c: &Container, report: &mut RestoreReport, why: &str) -> Container {
        if c.intent.is_none() && !c.state.status.is_live() {
            return c.clone();
        }
        report.repair(format!(
            "container {}: recorded {}{}; {why}",
            c.id,
            c.state.status.as_str(),
            c.intent
                .map_or(String::new(), |i| format!(" ({} under way)", i.as_str()))
        ));
        let out = self.modify(&c.id, |c| {
            if c.state.status.is_live() || c.state.status == Status::Created {
                c.state.status = if c.state.started_at.is_some() {
                    Status::Exited
                } else {
                    Status::Created
                };
            }
            c.state.pid = 0;
            c.intent = None;
        });
        match out {
            Ok(Some(c)) => c,
            _ => c.clone(),
        }
    }

    /// Restart policies of a container that is not running at start-up.
    async fn apply_policy(&self, c: Container, report: &mut RestoreReport) {
        let id = c.id.clone();
        match c.state.status {
            Status::Restarting => {
                report.restarted.push(id.clone());
                self.policy_restart(&id).await;
            }
            Status::Exited | Status::Dead if c.spec.auto_remove => {
                // A `--rm` container whose exit was recorded but whose
                // removal a crash cut short (the monitor records the exit,
                // then removes): finish the removal, as docker's restore
                // does. One that never ran (`created`) stays startable.
                let lock = self.lock_for(&id);
                let _g = lock.lock().await;
                match self.remove_locked(c, true).await {
                    Ok(()) => report.repair(format!(
                        "container {id}: removed, it was run with --rm and had exited"
                    )),
                    Err(e) => tracing::warn!(%id, error = %e, "--rm: removing at daemon start"),
                }
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
            Status::Running | Status::Paused | Status::Removing => {}
        }
    }

    /// Names map to the record that holds them, and every record's name is
    /// reserved (one transaction).
    fn reconcile_names(&self, report: &mut RestoreReport) -> Result<()> {
        let repaired = self.inner.store.update(|tx| {
            let mut repaired = Vec::new();
            let records: HashMap<String, Container> =
                tx.list::<Container>(Table::Containers)?.into_iter().collect();
            let names: Vec<(String, String)> = tx.list(Table::ContainerNames)?;
            let mut held = HashSet::new();
            for (name, id) in names {
                if records.get(&id).is_some_and(|c| c.name == name) {
                    held.insert(name);
                } else {
                    tx.delete(Table::ContainerNames, &name)?;
                    repaired.push(format!(
                        "name {name}: released, container {id} does not exist or is called otherwise"
                    ));
                }
            }
            for (id, c) in &records {
                if !c.name.is_empty() && !held.contains(&c.name) {
                    tx.put(Table::ContainerNames, &c.name, id)?;
                    held.insert(c.name.clone());
                    repaired.push(format!("name {}: reserved again for container {id}", c.name));
                }
            }
            Ok::<_, metadata::Error>(repaired)
        })?;
        for what in repaired {
            report.repair(what);
        }
        Ok(())
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

    /// berthd killed during `run -d`, after the process started but before
    /// the record said so.
    #[tokio::test]
    async fn a_created_record_with_a_running_process_becomes_running() {
        let h = Harness::new();
        h.add("c1", |c| c.intent = Some(Intent::Start));
        h.tasks.left_running("c1", 4242);
        let report = h.containers.restore().await.unwrap();
        assert_eq!(report.reconnected, ["c1"]);
        assert_eq!(report.repaired.len(), 1, "{:?}", report.repaired);
        let c = h.get("c1");
        assert_eq!(
            (c.state.status, c.state.pid, c.intent),
            (Status::Running, 4242, None)
        );
        assert!(c.state.started_at.is_some());
        h.tasks.exit("c1", 3);
        let c = h.until("c1", |c| c.state.status == Status::Exited).await;
        assert_eq!(c.state.exit_code, 3);
    }

    #[tokio::test]
    async fn a_start_cut_short_before_the_process_ran_is_undone() {
        let h = Harness::new();
        h.add("c1", |c| c.intent = Some(Intent::Start));
        h.tasks.left_created("c1", 4242);
        h.add("c2", |c| c.intent = Some(Intent::Start));
        h.tasks.left_dead("c2", None);
        let report = h.containers.restore().await.unwrap();
        assert!(report.reconnected.is_empty());
        for id in ["c1", "c2"] {
            let c = h.get(id);
            assert_eq!((c.state.status, c.intent), (Status::Created, None), "{id}");
        }
        assert!(h.tasks.list().unwrap().is_empty(), "no task is left");
        assert!(h.tasks.calls().contains(&"kill c1 9 all".to_string()));
    }

    /// berthd killed during `commit` (or `unpause`): nobody wants it frozen.
    #[tokio::test]
    async fn a_freeze_nobody_asked_for_is_thawed() {
        let h = Harness::new();
        h.add("commit", |c| {
            running(c);
            c.state.status = Status::Paused;
            c.intent = Some(Intent::Commit);
        });
        h.tasks.left_frozen("commit", 1);
        h.add("unpause", |c| {
            running(c);
            c.state.status = Status::Paused;
            c.intent = Some(Intent::Unpause);
        });
        h.tasks.left_frozen("unpause", 2);
        h.add("stray", running);
        h.tasks.left_frozen("stray", 3);
        let report = h.containers.restore().await.unwrap();
        for id in ["commit", "unpause", "stray"] {
            assert_eq!(h.get(id).state.status, Status::Running, "{id}");
            assert_eq!(h.get(id).intent, None, "{id}");
            assert!(h.tasks.calls().contains(&format!("resume {id}")), "{id}");
        }
        assert_eq!(report.repaired.len(), 5, "{:?}", report.repaired);
    }

    #[tokio::test]
    async fn the_user_s_pause_stays() {
        let h = Harness::new();
        h.add("paused", |c| {
            running(c);
            c.state.status = Status::Paused;
        });
        h.tasks.left_frozen("paused", 1);
        // Killed between the pause intent and the record of the freeze.
        h.add("pausing", |c| {
            running(c);
            c.intent = Some(Intent::Pause);
        });
        h.tasks.left_frozen("pausing", 2);
        // Killed before the freeze happened: it runs, so it is running.
        h.add("not-yet", |c| {
            running(c);
            c.intent = Some(Intent::Pause);
        });
        h.tasks.left_running("not-yet", 3);
        h.containers.restore().await.unwrap();
        assert_eq!(h.get("paused").state.status, Status::Paused);
        assert_eq!(h.get("pausing").state.status, Status::Paused);
        assert_eq!(h.get("not-yet").state.status, Status::Running);
        assert!(
            h.tasks.calls_of("resume").is_empty(),
            "{:?}",
            h.tasks.calls()
        );
    }

    #[tokio::test]
    async fn a_create_cut_short_is_removed_with_its_name() {
        let h = Harness::new();
        h.add("half", |c| c.intent = Some(Intent::Create));
        let report = h.containers.restore().await.unwrap();
        assert_eq!(report.removed_half_done, ["half"]);
        assert!(h.containers.lookup("half").is_err());
        assert!(
            h.containers.lookup("name-half").is_err(),
            "the name is free"
        );
    }

    #[tokio::test]
    async fn claims_and_names_follow_the_records() {
        let h = Harness::new();
        let volumes = &h.containers.inner.volumes;
        volumes.prepare("v", false).unwrap();
        let store = &h.containers.inner.store;
        store
            .update(|tx| volumes.claim(tx, "v", "no-such-container"))
            .unwrap();
        store
            .put(
                Table::ContainerNames,
                "stale",
                &"no-such-container".to_string(),
            )
            .unwrap();
        h.add("user", |c| {
            c.mounts.push(crate::containers::MountPoint {
                kind: MountKind::Volume,
                name: "v".into(),
                ..Default::default()
            })
        });
        let report = h.containers.restore().await.unwrap();
        assert_eq!(report.repaired.len(), 3, "{:?}", report.repaired);
        let users = volumes.inspect("v").unwrap().users;
        assert_eq!(users.into_iter().collect::<Vec<_>>(), ["user"]);
        assert!(store
            .get::<String>(Table::ContainerNames, "stale")
            .unwrap()
            .is_none());
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

    /// berthd killed after the monitor recorded a `--rm` container's exit,
    /// before it removed the container.
    #[tokio::test]
    async fn an_exited_rm_container_is_removed_at_start() {
        let h = Harness::new();
        let volumes = &h.containers.inner.volumes;
        volumes.prepare("v", false).unwrap();
        let exited_rm = |c: &mut crate::containers::Container| {
            c.spec.auto_remove = true;
            c.state.status = Status::Exited;
            c.state.started_at = Some(chrono::Utc::now());
            c.mounts.push(crate::containers::MountPoint {
                kind: MountKind::Volume,
                name: "v".into(),
                ..Default::default()
            });
        };
        h.add("exited-rm", exited_rm);
        h.containers
            .inner
            .store
            .update(|tx| volumes.claim(tx, "v", "exited-rm"))
            .unwrap();
        // Its exit not recorded yet either: recorded, then removed.
        h.add("running-rm", |c| {
            running(c);
            c.spec.auto_remove = true;
        });
        h.tasks.left_dead("running-rm", Some(0));
        // Never started: it stays, startable.
        h.add("created-rm", |c| c.spec.auto_remove = true);
        let report = h.containers.restore().await.unwrap();
        assert!(h.containers.lookup("exited-rm").is_err(), "{report:?}");
        assert!(h.containers.lookup("running-rm").is_err(), "{report:?}");
        assert!(
            h.containers.lookup("name-exited-rm").is_err(),
            "the name is free"
        );
        assert!(
            volumes.inspect("v").unwrap().users.is_empty(),
            "the claim is gone"
        );
        assert_eq!(h.get("created-rm").state.status, Status::Created);
        assert!(
            report
                .repaired
                .iter()
                .any(|r| r.contains("exited-rm") && r.contains("--rm")),
            "{:?}",
            report.repaired
        );
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
