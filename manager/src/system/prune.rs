//! `berth system prune`: stopped containers, then (with `--volumes`) unused
//! anonymous volumes, then dangling images (all unused ones with `--all`).
//! Nothing here publishes events, as berth always did (docker does; see the
//! issue 6 report).

use super::{Result, System};

/// What `system prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub containers_deleted: Vec<String>,
    pub volumes_deleted: Vec<String>,
    pub images_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

impl System {
    pub async fn prune(&self, all: bool, volumes: bool) -> Result<PruneReport> {
        let (containers_deleted, mut space) = self.containers.prune().await?;
        let mut volumes_deleted = Vec::new();
        if volumes {
            let vols = self.volumes.clone();
            let (d, s) =
                tokio::task::spawn_blocking(move || vols.prune_without_events(false)).await??;
            volumes_deleted = d;
            space += s;
        }
        let used = self.images_in_use()?;
        let images = self.images.clone();
        let pruned = tokio::task::spawn_blocking(move || {
            images.prune(all, &|id: &str| used.iter().any(|u| u == id))
        })
        .await??;
        space += pruned.space_reclaimed;
        Ok(PruneReport {
            containers_deleted,
            volumes_deleted,
            images_deleted: pruned
                .deleted
                .iter()
                .map(|d| d.as_str().to_string())
                .collect(),
            space_reclaimed: space,
        })
    }
}
