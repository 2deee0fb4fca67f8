//! `pause` / `unpause`: freeze and thaw the container's cgroup.

use super::record::Status;
use super::{Containers, Error, Result};

impl Containers {
    pub async fn pause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let live = self
            .live_task(&c.id)
            .ok_or_else(|| Error::NotRunning { id: c.id.clone() })?;
        if c.state.status == Status::Paused {
            return Err(Error::Paused { id: c.id });
        }
        live.task.pause().await?;
        if let Some(c) = self.modify(&c.id, |c| c.state.status = Status::Paused)? {
            self.publish(&c, "pause", &[]);
        }
        Ok(())
    }

    pub async fn unpause(&self, reference: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let live = self
            .live_task(&c.id)
            .ok_or_else(|| Error::NotRunning { id: c.id.clone() })?;
        if c.state.status != Status::Paused {
            return Err(Error::InvalidArgument {
                message: format!("Container {} is not paused", c.id),
            });
        }
        live.task.resume().await?;
        if let Some(c) = self.modify(&c.id, |c| c.state.status = Status::Running)? {
            self.publish(&c, "unpause", &[]);
        }
        Ok(())
    }
}
