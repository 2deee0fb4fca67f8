//! The health monitor of one run of a container: a tokio task that sleeps
//! an interval, runs the probe as an exec through the shim (the same path as
//! `berth exec`: the container's user, environment and working dir), folds
//! the result in and publishes `health_status: …` when the status changes.
//!
//! # Where the state lives, and when it is written
//! While the container runs, the monitor's copy in memory is the truth:
//! `inspect` and `ps` read it over the record ([`Containers::with_live_health`]).
//! It goes to the record (one store transaction) at once when the status
//! changes, at most every [`PERSIST_EVERY`] otherwise, and when the monitor
//! stops. Why not on every probe: each store write is a durable, fsync'd
//! commit, serialised with every other metadata write, and wakes every
//! `wait`/`stop` watching the records; with short intervals probes would be
//! most of the daemon's writes. What must survive a berthd restart, the
//! status, is never late; a crash loses at most the last few seconds of the
//! log and the streak.
//!
//! # Lifecycle
//! `start` (and a restart) and `restore` (a live container adopted again)
//! start one monitor per run, identified by the run's epoch; the exit path,
//! `rm` and a newer run stop it. A stopped monitor's probe is dropped: the
//! container's processes, the probe's among them, are gone with it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Health, HealthResult, HealthStatus, Output, Probe, Timing};
use crate::containers::record::{Container, Status};
use crate::containers::{Containers, ExecOptions, StartedExec};

/// How long the exec of a probe may take to get going (dockerd's 30 s): that
/// is berthd's and the shim's time, not the probe's, so not its timeout.
const START_LIMIT: Duration = Duration::from_secs(30);
/// A probe's last output may arrive just after its exit.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for a probe killed at its timeout to be gone.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The longest the record's copy lags the monitor's when the status holds.
const PERSIST_EVERY: Duration = Duration::from_secs(10);

/// A running monitor, in `Inner::health`.
pub(in crate::containers) struct Monitor {
    epoch: u64,
    stop: CancellationToken,
    health: Health,
    persisted: Instant,
}

/// What one probe ended as.
struct Outcome {
    exit_code: i32,
    output: String,
}

/// Forgets the probe's exec record however the probe ends (a stopped
/// monitor drops it halfway).
struct ForgetExec<'a> {
    containers: &'a Containers,
    exec_id: String,
}

impl Drop for ForgetExec<'_> {
    fn drop(&mut self) {
        self.containers.exec_forget(&self.exec_id);
    }
}

impl Containers {
    fn monitors(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Monitor>> {
        self.inner.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts monitoring run `epoch` of `c`, from the health its record holds
    /// (`start` has just reset it; `restore` resumes it). No-op without an
    /// enabled check.
    pub(in crate::containers) fn start_health(&self, c: &Container, epoch: u64) {
        let Some(cfg) = &c.healthcheck else { return };
        let Probe::Command(argv) = cfg.probe() else {
            return;
        };
        let stop = CancellationToken::new();
        let monitor = Monitor {
            epoch,
            stop: stop.clone(),
            health: c
                .state
                .health
                .clone()
                .unwrap_or_else(|| Health::restart(None)),
            persisted: Instant::now(),
        };
        if let Some(old) = self.monitors().insert(c.id.clone(), monitor) {
            old.stop.cancel();
        }
        let this = self.clone();
        let id = c.id.clone();
        let timing = cfg.effective();
        let started_at = c.state.started_at.unwrap_or_else(Utc::now);
        tokio::spawn(async move {
            this.watch_health(&id, epoch, &argv, timing, started_at, stop)
                .await;
        });
    }

    /// Stops the monitor of `id`, if one runs; returns its state, `unhealthy`
    /// (docker: a stopped monitor means unhealthy).
    pub(in crate::containers) fn stop_health(&self, id: &str) -> Option<Health> {
        let m = self.monitors().remove(id)?;
        m.stop.cancel();
        let mut h = m.health;
        h.status = HealthStatus::Unhealthy;
        Some(h)
    }

    /// `pause`: docker stops the monitor of a paused container, which makes
    /// it `unhealthy`; this one stays and skips its probes until `unpause`.
    pub(in crate::containers) fn pause_health(&self, id: &str) {
        let epoch = {
            let mut m = self.monitors();
            let Some(mon) = m.get_mut(id) else { return };
            mon.health.status = HealthStatus::Unhealthy;
            mon.epoch
        };
        self.persist_health(id, epoch);
    }

    /// The record with the health the monitor holds (newer than the
    /// record's between writes).
    pub(in crate::containers) fn with_live_health(&self, mut c: Container) -> Container {
        if c.state.status.is_live() {
            if let Some(m) = self.monitors().get(&c.id) {
                c.state.health = Some(m.health.clone());
            }
        }
        c
    }

    /// `inspect`: the record, with the live health.
    pub fn inspect(&self, reference: &str) -> crate::containers::Result<Container> {
        Ok(self.with_live_health(self.lookup(reference)?))
    }

    /// The monitor of run `epoch` is still the current one: its status.
    fn monitor_status(&self, id: &str, epoch: u64) -> Option<HealthStatus> {
        self.monitors()
            .get(id)
            .filter(|m| m.epoch == epoch)
            .map(|m| m.health.status)
    }

    async fn watch_health(
        &self,
        id: &str,
        epoch: u64,
        argv: &[String],
        timing: Timing,
        started_at: DateTime<Utc>,
        stop: CancellationToken,
    ) {
        loop {
            let Some(status) = self.monitor_status(id, epoch) else {
                return;
            };
            let since_start = (Utc::now() - started_at).to_std().unwrap_or_default();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(timing.next_wait(since_start, status)) => {}
            }
            // Any path that ends the run without stopping us (a forced
            // removal, a new run) leaves its epoch behind.
            if self.live_task(id).map(|l| l.epoch) != Some(epoch) {
                self.drop_monitor(id, epoch);
                return;
            }
            match self.lookup(id) {
                Ok(c) if c.state.status == Status::Paused => continue,
                Ok(_) => {}
                Err(_) => {
                    self.drop_monitor(id, epoch);
                    return;
                }
            }
            let start = Utc::now();
            let outcome = tokio::select! {
                _ = stop.cancelled() => return,
                o = self.probe(id, argv, timing.timeout) => o,
            };
            let result = HealthResult {
                start,
                end: Utc::now(),
                exit_code: outcome.exit_code,
                output: outcome.output,
            };
            tracing::debug!(id, exit_code = result.exit_code, "health probe");
            let (changed, due) = {
                let mut m = self.monitors();
                let Some(mon) = m.get_mut(id).filter(|m| m.epoch == epoch) else {
                    return;
                };
                let changed = mon.health.record(result, &timing, started_at);
                let due = changed.is_some() || mon.persisted.elapsed() >= PERSIST_EVERY;
                (changed, due)
            };
            if due {
                self.persist_health(id, epoch);
            }
            if let Some(s) = changed {
                if let Ok(c) = self.lookup(id) {
                    self.publish(&c, &format!("health_status: {}", s.as_str()), &[]);
                }
            }
        }
    }

    fn drop_monitor(&self, id: &str, epoch: u64) {
        let mut m = self.monitors();
        if m.get(id).is_some_and(|m| m.epoch == epoch) {
            m.remove(id);
        }
    }

    /// Writes the monitor's state into the record, if run `epoch` is still
    /// the container's (a late write never lands on a stopped or newer run).
    fn persist_health(&self, id: &str, epoch: u64) {
        let health = {
            let mut m = self.monitors();
            let Some(mon) = m.get_mut(id).filter(|m| m.epoch == epoch) else {
                return;
            };
            mon.persisted = Instant::now();
            mon.health.clone()
        };
        let current = self.live_task(id).map(|l| l.epoch) == Some(epoch);
        let saved = self.modify(id, |c| {
            if current && c.state.status.is_live() {
                c.state.health = Some(health);
            }
        });
        if let Err(e) = saved {
            tracing::warn!(id, error = %e, "recording the health state");
        }
    }

    /// One probe through the exec path; -1 and the reason when it could not
    /// run or ran past `timeout` (then it is killed, with its children).
    async fn probe(&self, id: &str, argv: &[String], timeout: Duration) -> Outcome {
        match self.probe_exec(id, argv, timeout).await {
            Ok(o) => o,
            Err(message) => Outcome {
                exit_code: -1,
                output: message,
            },
        }
    }

    async fn probe_exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<Outcome, String> {
        let opts = ExecOptions {
            args: argv.to_vec(),
            ..Default::default()
        };
        let exec_id = self.exec_create(id, opts).map_err(|e| e.to_string())?;
        let _forget = ForgetExec {
            containers: self,
            exec_id: exec_id.clone(),
        };
        let StartedExec { attach, mut exit } =
            match tokio::time::timeout(START_LIMIT, self.exec_start(&exec_id, false)).await {
                Err(_) => {
                    return Err(format!(
                        "timed out starting health check for container {id}"
                    ))
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(s)) => s,
            };
        // Only the output: a probe is no attached client the exit path
        // should wait for.
        let mut stream = attach.map(|a| a.output);
        let mut output = Output::default();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut code: Option<i32> = None;
        let mut output_done = stream.is_none();
        let mut grace_until: Option<tokio::time::Instant> = None;
        while code.is_none() || !output_done {
            let limit = grace_until.unwrap_or(deadline);
            tokio::select! {
                chunk = async { stream.as_mut()?.next().await }, if !output_done => match chunk {
                    Some(Ok(c)) => output.push(&c.data),
                    _ => output_done = true,
                },
                c = &mut exit, if code.is_none() => {
                    code = Some(c.unwrap_or(-1));
                    grace_until = Some(tokio::time::Instant::now() + OUTPUT_GRACE);
                },
                _ = tokio::time::sleep_until(limit) => {
                    if code.is_some() {
                        // Exited; a child kept the output open. Keep what came.
                        break;
                    }
                    return Ok(self.timed_out(&exec_id, &mut exit, timeout, &output).await);
                }
            }
        }
        Ok(Outcome {
            exit_code: code.unwrap_or(-1),
            output: output.text(),
        })
    }

    /// A probe past its timeout: killed with its process group (so a shell's
    /// children go too), waited for so dying probes cannot pile up, and
    /// recorded as docker records it.
    async fn timed_out(
        &self,
        exec_id: &str,
        exit: &mut tokio::sync::oneshot::Receiver<i32>,
        timeout: Duration,
        output: &Output,
    ) -> Outcome {
        if let Err(e) = self.exec_kill(exec_id).await {
            tracing::warn!(exec_id, error = %e, "killing a health probe past its timeout");
        }
        let _ = tokio::time::timeout(KILL_WAIT, exit).await;
        let limit = berth_engine_api::GoDuration::from_std(timeout);
        let out = output.text();
        Outcome {
            exit_code: -1,
            output: if out.is_empty() {
                format!("Health check exceeded timeout ({limit})")
            } else {
                format!("Health check exceeded timeout ({limit}): {out}")
            },
        }
    }
}
