//! `stats`: one resource sample of a running container.

use super::{Containers, Error, Result};
use crate::tasks::Stats;

impl Containers {
    pub async fn stats(&self, reference: &str) -> Result<(String, String, Stats)> {
        let c = self.lookup(reference)?;
        let live = self
            .live_task(&c.id)
            .ok_or_else(|| Error::NotRunning { id: c.id.clone() })?;
        let s = live.task.stats().await?;
        Ok((c.id, c.name, s))
    }
}
