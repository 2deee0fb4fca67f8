//! The exit monitor: one tokio task per running container waits for its exit,
//! records it, deletes the task (shim and cgroup go away), and applies `--rm`
//! and the restart policy with exponential back-off (100 ms doubling to 1 min,
//! reset after 10 s of good running, as docker does).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::health::HealthStatus;
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
        let health = self.stop_health(id);
        let Ok(Some(c)) = self.modify(id, |c| {
            // docker: a container whose monitor stopped is unhealthy.
            if let Some(mut h) = health.or_else(|| c.state.health.take()) {
                h.status = HealthStatus::Unhealthy;
                c.state.health = Some(h);
            }
            c.state.status = Status::Exited;
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.pid = 0;
            c.state.error = error.clone();
            c.state.finished_at = Some(finished);
            c.intent = None;
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
            intent: None,
            mounts: vec![],
            dir: "/x".into(),
            log_path: "/x/log".into(),
            healthcheck: None,
        }
    }

    use crate::containers::task_fake::Harness;
    use crate::containers::Tasks;

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

    #[tokio::test]
    async fn backoff_doubles_to_a_minute_and_resets_after_a_good_run() {
        let h = Harness::new();
        let next = |ran_ms: u64| {
            h.containers
                .next_backoff("c1", Duration::from_millis(ran_ms))
        };
        let short: Vec<u64> = (0..12).map(|_| next(50).as_millis() as u64).collect();
        assert_eq!(
            short,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        // Ten seconds of running count as a good run: start over.
        assert_eq!(next(10_000), BACKOFF_START);
        assert_eq!(next(0), BACKOFF_START * 2);
        // Each container has its own.
        assert_eq!(
            h.containers.next_backoff("c2", Duration::ZERO),
            BACKOFF_START
        );
    }

    #[tokio::test]
    async fn the_monitor_records_an_exit_and_deletes_the_task() {
        let h = Harness::new();
        h.add("c1", |_| {});
        h.containers.start("c1").await.unwrap();
        let c = h.get("c1");
        assert_eq!(c.state.status, Status::Running);
        assert!(c.state.pid > 0);
        h.tasks.exit("c1", 3);
        let c = h.until("c1", |c| c.state.status == Status::Exited).await;
        assert_eq!((c.state.exit_code, c.state.pid), (3, 0));
        assert!(c.state.finished_at.is_some());
        assert_eq!(
            h.tasks.calls(),
            ["create c1", "start c1", "delete c1 force"]
        );
        assert!(h.containers.live_task("c1").is_none());
        assert!(!h.tasks.has_state("c1"), "the task's state is gone");
    }

    #[tokio::test]
    async fn on_failure_restarts_up_to_its_limit_and_no_restarts_never() {
        let h = Harness::new();
        h.add("c1", |c| {
            c.spec.restart_policy = RestartPolicy::OnFailure { max_retries: 2 }
        });
        h.containers.start("c1").await.unwrap();
        for n in 1..=2 {
            h.tasks.exit("c1", 1);
            let c = h
                .until("c1", |c| {
                    c.restart_count == n && c.state.status == Status::Running
                })
                .await;
            assert_eq!(c.state.exit_code, 0, "a new run starts clean");
        }
        h.tasks.exit("c1", 1);
        let c = h.until("c1", |c| c.state.status == Status::Exited).await;
        assert_eq!((c.state.exit_code, c.restart_count), (1, 2));
        tokio::time::sleep(BACKOFF_START * 8).await;
        assert_eq!(h.tasks.calls_of("create").len(), 3, "{:?}", h.tasks.calls());
        assert_eq!(h.get("c1").state.status, Status::Exited);

        h.add("c2", |c| c.spec.restart_policy = RestartPolicy::No);
        h.containers.start("c2").await.unwrap();
        h.tasks.exit("c2", 1);
        h.until("c2", |c| c.state.status == Status::Exited).await;
        tokio::time::sleep(BACKOFF_START * 2).await;
        assert_eq!(h.tasks.calls_of("create c2").len(), 1);
    }

    #[tokio::test]
    async fn a_restart_that_fails_to_start_is_tried_again_later() {
        let h = Harness::new();
        h.add("c1", |c| c.spec.restart_policy = RestartPolicy::Always);
        h.containers.start("c1").await.unwrap();
        h.tasks.fail_create("c1");
        h.tasks.exit("c1", 0);
        // First restart fails (back-off 100 ms), the next one (200 ms) runs.
        let c = h
            .until("c1", |c| {
                c.restart_count == 2 && c.state.status == Status::Running
            })
            .await;
        assert!(c.state.error.is_empty(), "{}", c.state.error);
        assert_eq!(h.tasks.calls_of("create").len(), 3);
    }

    #[tokio::test]
    async fn a_stopped_always_container_stays_stopped() {
        let h = Harness::new();
        h.add("c1", |c| c.spec.restart_policy = RestartPolicy::Always);
        h.containers.start("c1").await.unwrap();
        let out = h.containers.stop("c1", Some(10)).await.unwrap();
        assert!(!out.killed);
        let c = h.get("c1");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 143));
        tokio::time::sleep(BACKOFF_START * 4).await;
        assert_eq!(h.tasks.calls_of("create").len(), 1);
    }
}
