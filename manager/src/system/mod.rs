//! system: what `berth version`, `info`, `system df` and `system prune` report
//! or do across the other domain modules (containers, images, volumes) and the
//! host (`host.rs`). Owns no state of its own: every figure is read when asked.

mod df;
pub mod host;
mod info;
mod prune;

use std::sync::Arc;

pub use df::DiskUsage;
pub use info::{Info, Version};
pub use prune::PruneReport;

use crate::config::Config;
use crate::containers::{self, Containers};
use crate::images::{self, ImageService};
use crate::volumes::{self, Volumes};

/// Errors of the system verbs: those of the module that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Containers(#[from] containers::Error),
    #[error(transparent)]
    Images(#[from] images::Error),
    #[error(transparent)]
    Volumes(#[from] volumes::Error),
    /// A blocking step panicked or was cancelled.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The system verbs over the daemon's domain modules.
#[derive(Clone)]
pub struct System {
    config: Config,
    containers: Containers,
    images: Arc<ImageService>,
    volumes: Volumes,
}

impl System {
    pub fn new(
        config: Config,
        containers: Containers,
        images: Arc<ImageService>,
        volumes: Volumes,
    ) -> System {
        System {
            config,
            containers,
            images,
            volumes,
        }
    }

    /// IDs of the images some container (in any state) was created from.
    fn images_in_use(&self) -> Result<Vec<String>> {
        Ok(self
            .containers
            .all()?
            .into_iter()
            .map(|c| c.image_id)
            .collect())
    }
}
