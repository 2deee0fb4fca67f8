//! The exit monitor: one tokio task per running container waits for its exit,
//! records it, deletes the task (shim and cgroup go away), and applies `--rm`
//! and the restart policy with exponential back-off (100 ms doubling to 1 min,
//! reset after 10 s of good running, as docker does).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::record::{Container, RestartPolicy, Status};
use super::Containers;
use super::TaskHandle;
use crate::tasks::{ExitStatus, TaskError};

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const GOOD_RUN: Duration = Duration::from_secs(10);

/// Whether the policy restarts a container that just exited.
pub(super) fn should_restart(c: &Container) -> bool {
    if c.manually_stopped || c.spec.auto_remove {
        return false;
    }
    match &c.spec.restart_policy {
        RestartPolicy::No => false,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::OnFailure { max_retries } => {
            c.state.exit_code != 0 && (*max_retries == 0 || c.restart_count < *max_retries)
        }
    }
}

impl Containers {
    pub(super) fn spawn_monitor(&self, id: String, task: Arc<dyn TaskHandle>, epoch: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            let status = this.wait_task(&id, task.as_ref()).await;
            this.handle_exit(&id, Some(task), epoch, status).await;
        });
    }

    /// The exit status, or `None` when the shim vanished without recording one.
    async fn wait_task(&self, id: &str, task: &dyn TaskHandle) -> Option<ExitStatus> {
        let mut failures = 0;
        loop {
            match task.wait().await {
                Ok(s) => return Some(s),
                Err(TaskError::Unreachable { .. }) => {
                    return self.inner.tasks.recorded_exit(id).ok().flatten();
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(id, error = %e, "waiting for task");
                    if failures > 5 {
                        return self.inner.tasks.recorded_exit(id).ok().flatten();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Records an exit of run `epoch`. Ignored when the container was removed
    /// or restarted meanwhile.
    pub(super) async fn handle_exit(
        &self,
        id: &str,
        task: Option<Arc<dyn TaskHandle>>,
        epoch: u64,
        status: Option<ExitStatus>,
    ) {
        if self.live_task(id).map(|l| l.epoch) != Some(epoch) {
            return;
        }
        let lock = self.lock_for(id);
        let _g = lock.lock().await;
        if self.live_task(id).map(|l| l.epoch) != Some(epoch) {
            return;
        }
        let t0 = std::time::Instant::now();
        // Let attached clients read the last output before the shim goes.
        self.drain_attached(id, Duration::from_secs(2)).await;
        let t_drain = t0.elapsed();
        self.set_live(id, None);
        match task {
            Some(t) => {
                if let Err(e) = t.delete(true).await {
                    tracing::warn!(id, error = %e, "deleting exited task");
                    let _ = self.inner.tasks.cleanup_dead(id).await;
                }
            }
            None => {
                let _ = self.inner.tasks.cleanup_dead(id).await;
            }
        }
        tracing::debug!(id, drain = ?t_drain, delete = ?t0.elapsed(), "task of exited container deleted");
        self.after_exit(id, status).await;
    }

    /// Records an exit (the task is already gone) and applies `--rm` and the
    /// restart policy. Called with the container's lock held.
    pub(super) async fn after_exit(&self, id: &str, status: Option<ExitStatus>) {
        let (code, oom, error) = match &status {
            Some(s) => (s.code, s.oom_killed, String::new()),
            None => (
                255,
                false,
                "the container's shim exited without recording an exit status".to_string(),
            ),
        };
        let finished = status
            .as_ref()
            .map(|s| s.exited_at)
            .unwrap_or_else(Utc::now);
        let Ok(Some(c)) = self.modify(id, |c| {
            c.state.status = Status::Exited;
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.pid = 0;
            c.state.error = error.clone();
            c.state.finished_at = Some(finished);
        }) else {
            return;
        };
        self.remember_exit(&c);
        if oom {
            self.publish(&c, "oom", &[]);
        }
        self.publish(&c, "die", &[("exitCode", code.to_string())]);
        if c.spec.auto_remove {
            if let Err(e) = self.remove_locked(c, true).await {
                tracing::warn!(id, error = %e, "--rm: removing exited container");
            }
            return;
        }
        if should_restart(&c) {
            let ran = c
                .state
                .started_at
                .map(|s| (finished - s).to_std().unwrap_or_default())
                .unwrap_or_default();
            let delay = self.next_backoff(id, ran);
            let _ = self.modify(id, |c| c.state.status = Status::Restarting);
            self.schedule_restart(id, delay);
        }
    }

    /// A plain fn (not async) so the restart loop's futures are not recursive.
    fn schedule_restart(&self, id: &str, delay: Duration) {
        let this = self.clone();
        let id = id.to_string();
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                this.policy_restart(&id).await;
            });
        tokio::spawn(fut);
    }

    fn next_backoff(&self, id: &str, ran: Duration) -> Duration {
        let mut m = self.inner.backoff.lock().unwrap_or_else(|e| e.into_inner());
        let next = match m.get(id) {
            Some(prev) if ran < GOOD_RUN => (*prev * 2).min(BACKOFF_MAX),
            _ => BACKOFF_START,
        };
        m.insert(id.to_string(), next);
        next
    }

    /// A restart-policy restart, unless the user stopped or removed it meanwhile.
    pub(super) async fn policy_restart(&self, id: &str) {
        let lock = self.lock_for(id);
        let _g = lock.lock().await;
        let Ok(c) = self.lookup(id) else { return };
        if c.state.status != Status::Restarting || c.manually_stopped {
            return;
        }
        let c = match self.modify(id, |c| c.restart_count += 1) {
            Ok(Some(c)) => c,
            _ => return,
        };
        self.publish(&c, "restart", &[]);
        if let Err(e) = self.start_locked(c.clone()).await {
            tracing::warn!(id, error = %e, "restart policy: start failed");
            // Try again later with a longer back-off, like docker.
            let _ = self.modify(id, |c| {
                c.state.status = Status::Restarting;
                c.state.finished_at = Some(Utc::now());
            });
            if should_restart(&c) {
                let delay = self.next_backoff(id, Duration::ZERO);
                self.schedule_restart(id, delay);
            }
        }
    }

    fn remember_exit(&self, c: &Container) {
        let mut m = self.inner.exits.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(
            c.id.clone(),
            (c.state.exit_code, c.state.oom_killed, c.state.error.clone()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::record::{Spec, State};

    fn container(policy: RestartPolicy, code: i32, count: u32) -> Container {
        Container {
            id: "x".into(),
            name: "x".into(),
            created: Utc::now(),
            spec: Spec {
                restart_policy: policy,
                ..Default::default()
            },
            image_id: String::new(),
            path: "true".into(),
            args: vec![],
            env: vec![],
            working_dir: String::new(),
            user: String::new(),
            hostname: String::new(),
            stop_signal: String::new(),
            stop_timeout: 10,
            state: State {
                exit_code: code,
                ..Default::default()
            },
            restart_count: count,
            manually_stopped: false,
            mounts: vec![],
            dir: "/x".into(),
            log_path: "/x/log".into(),
        }
    }

    #[test]
    fn policies() {
        assert!(!should_restart(&container(RestartPolicy::No, 1, 0)));
        assert!(should_restart(&container(RestartPolicy::Always, 0, 5)));
        let of = RestartPolicy::OnFailure { max_retries: 2 };
        assert!(!should_restart(&container(of.clone(), 0, 0)));
        assert!(should_restart(&container(of.clone(), 1, 1)));
        assert!(!should_restart(&container(of, 1, 2)));
        let mut c = container(RestartPolicy::UnlessStopped, 0, 0);
        c.manually_stopped = true;
        assert!(!should_restart(&c));
    }
}
