//! `berth system df`: what images, containers and volumes take on disk, and
//! how much of it nothing uses.

use super::{Result, System};
use crate::images::ImageUsage;
use crate::volumes::Usage;

/// The three lines of `system df`, and (`-v`) each image's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// An image is active while a container (in any state) uses it. Sizes
    /// count a layer shared by several images once.
    pub images: Usage,
    pub containers: Usage,
    pub volumes: Usage,
    pub image_details: Vec<ImageUsage>,
}

impl System {
    /// Walks the layers and volumes (blocking, off the reactor).
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let s = self.clone();
        tokio::task::spawn_blocking(move || {
            let used = s.images_in_use()?;
            let u = s.images.usage(&used)?;
            let images = Usage {
                total: u.images.len() as u64,
                active: u.images.iter().filter(|i| i.containers > 0).count() as u64,
                size: u.layers_size,
                reclaimable: u.reclaimable,
            };
            Ok(DiskUsage {
                images,
                containers: s.containers.usage()?,
                volumes: s.volumes.usage()?,
                image_details: u.images,
            })
        })
        .await?
    }
}
