//! `pause` / `unpause`: freeze and thaw the container's cgroup. Both record
//! their intent before acting (see `record::Intent`), so a berthd killed in
//! between leaves a record start-up can settle against the freezer.

use super::record::{Container, Intent, Status};
use super::{Containers, Error, Result};

impl Containers {
    pub async fn pause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let lock = self.lock_for(&c.id);
        let _g = lock.lock().await;
        let c = self.lookup(&c.id)?;
        self.freeze(&c, Intent::Pause).await
    }

    pub async fn unpause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let lock = self.lock_for(&c.id);
        let _g = lock.lock().await;
        let c = self.lookup(&c.id)?;
        self.thaw(&c).await
    }

    /// Freezes a running container for `intent`: the user's `pause`, or a
    /// `commit`, which keeps its intent until its thaw so that start-up
    /// thaws a container only `commit` froze. Called with the lock held.
    pub(super) async fn freeze(&self, c: &Container, intent: Intent) -> Result<()> {
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        if c.state.status == Status::Paused {
            return Err(Error::AlreadyPaused {
                name: c.name.clone(),
            });
        }
        self.modify(&c.id, |c| c.intent = Some(intent))?;
        if let Err(e) = live.task.pause().await {
            self.modify(&c.id, |c| c.intent = None)?;
            return Err(super::task_err(&c.name)(e));
        }
        let done = self.modify(&c.id, |c| {
            c.state.status = Status::Paused;
            if intent != Intent::Commit {
                c.intent = None;
            }
        })?;
        if let Some(c) = done {
            self.pause_health(&c.id);
            self.publish(&c, "pause", &[]);
        }
        Ok(())
    }

    /// Thaws a paused container (the user's `unpause`, or the end of a
    /// `commit`). Called with the lock held.
    pub(super) async fn thaw(&self, c: &Container) -> Result<()> {
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        if c.state.status != Status::Paused {
            return Err(Error::InvalidArgument {
                message: format!("Container {} is not paused", c.name),
            });
        }
        if c.intent.is_none() {
            self.modify(&c.id, |c| c.intent = Some(Intent::Unpause))?;
        }
        let resumed = live.task.resume().await;
        let done = self.modify(&c.id, |c| {
            if resumed.is_ok() {
                c.state.status = Status::Running;
            }
            c.intent = None;
        })?;
        resumed.map_err(super::task_err(&c.name))?;
        if let Some(c) = done {
            self.publish(&c, "unpause", &[]);
        }
        Ok(())
    }
}
