//! `pause` / `unpause`: freeze and thaw the container's cgroup.

use super::record::Status;
use super::{Containers, Error, Result};

impl Containers {
    pub async fn pause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        if c.state.status == Status::Paused {
            return Err(Error::Paused { name: c.name });
        }
        live.task.pause().await.map_err(super::task_err(&c.name))?;
        if let Some(c) = self.modify(&c.id, |c| c.state.status = Status::Paused)? {
            self.publish(&c, "pause", &[]);
        }
        Ok(())
    }

    pub async fn unpause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        if c.state.status != Status::Paused {
            return Err(Error::InvalidArgument {
                message: format!("Container {} is not paused", c.name),
            });
        }
        live.task.resume().await.map_err(super::task_err(&c.name))?;
        if let Some(c) = self.modify(&c.id, |c| c.state.status = Status::Running)? {
            self.publish(&c, "unpause", &[]);
        }
        Ok(())
    }
}
