//! `berth system df`: what images, containers and volumes take on disk, and
//! how much of it nothing uses.

use super::{Result, System};
use crate::images::ImageFilters;
use crate::volumes::Usage;

/// The three lines of `system df`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// An image is active while a container (in any state) uses it.
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
}

impl System {
    /// Walks the layers and volumes (blocking, off the reactor).
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || {
            let used = s.images_in_use()?;
            let mut images = Usage::default();
            for img in s.images.list(&ImageFilters::default())? {
                images.total += 1;
                images.size += img.size;
                if used.iter().any(|u| u == img.id.as_str()) {
                    images.active += 1;
                } else {
                    images.reclaimable += img.size;
                }
            }
            Ok(DiskUsage {
                images,
                containers: s.containers.usage()?,
                volumes: s.volumes.usage()?,
            })
        })
        .await?
    }
}
