//! `wait`: block until a container stops (or is removed) and return its exit.

use super::record::Status;
use super::{Containers, Error, Result};

/// The end of a wait.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitResult {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: String,
}

impl Containers {
    /// `condition`: "not-running" (default), "next-exit", "removed".
    pub async fn wait(&self, reference: &str, condition: &str) -> Result<WaitResult> {
        let mut rx = self.watch();
        let c = self.lookup(reference)?;
        let id = c.id.clone();
        let first_finish = c.state.finished_at;
        let mut last = WaitResult {
            exit_code: c.state.exit_code,
            oom_killed: c.state.oom_killed,
            error: c.state.error.clone(),
        };
        let condition = if condition.is_empty() {
            "not-running"
        } else {
            condition
        };
        if !matches!(condition, "not-running" | "next-exit" | "removed") {
            return Err(Error::InvalidArgument {
                message: format!("invalid condition: {condition:?}"),
            });
        }
        loop {
            match self.lookup(&id) {
                Ok(c) => {
                    // Restarting counts as stopped: the run ended, and the
                    // restart is a new one (`run --restart always` returns the
                    // first exit, as docker's does).
                    let stopped = !matches!(
                        c.state.status,
                        Status::Running | Status::Paused | Status::Removing
                    );
                    last = WaitResult {
                        exit_code: c.state.exit_code,
                        oom_killed: c.state.oom_killed,
                        error: c.state.error.clone(),
                    };
                    let done = match condition {
                        "not-running" => {
                            stopped && c.state.status != Status::Created
                                || c.state.status == Status::Created && !c.state.error.is_empty()
                        }
                        "next-exit" => {
                            (c.state.finished_at != first_finish && stopped)
                                || (c.state.status == Status::Created && !c.state.error.is_empty())
                        }
                        _ => false,
                    };
                    if done {
                        return Ok(last);
                    }
                }
                Err(Error::NotFound { .. }) => {
                    if let Some((code, oom, err)) = self
                        .inner
                        .exits
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&id)
                        .cloned()
                    {
                        last = WaitResult {
                            exit_code: code,
                            oom_killed: oom,
                            error: err,
                        };
                    }
                    return Ok(last);
                }
                Err(e) => return Err(e),
            }
            if rx.changed().await.is_err() {
                return Ok(last);
            }
        }
    }
}
