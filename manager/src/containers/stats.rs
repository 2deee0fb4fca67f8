//! `stats`: one resource sample of a running container.

use super::{Containers, Error, Result};
use crate::tasks::Stats;

impl Containers {
    pub async fn stats(&self, reference: &str) -> Result<(String, String, Stats)> {
        let c = self.lookup(reference)?;
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        let s = live.task.stats().await.map_err(super::task_err(&c.name))?;
        Ok((c.id, c.name, s))
    }
}
