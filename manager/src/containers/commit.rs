//! `commit`: a container's changes become an image on top of its own. A
//! running container is frozen while its upper dir is read (docker's default),
//! so the layer is a consistent snapshot; the freeze is recorded as the
//! commit's intent, so a berthd killed mid-commit leaves a container that
//! start-up thaws, not one frozen for good.

use super::image_source::ImageError;
use super::record::{Intent, Status};
use super::{Containers, Error, Result};

/// `commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// Tag of the new image ("" for none).
    pub reference: String,
    /// Dockerfile-like changes (`CMD ...`, `ENV A=b`).
    pub changes: Vec<String>,
    pub message: String,
    pub author: String,
    pub pause: bool,
}

impl Containers {
    /// Returns the new image's ID.
    pub async fn commit(&self, reference: &str, req: CommitRequest) -> Result<String> {
        let c = self.lookup(reference)?;
        // Decided under the lock: a container the user paused meanwhile is
        // committed as it is (docker does too), not refused.
        let paused = {
            let lock = self.lock_for(&c.id);
            let _g = lock.lock().await;
            let c = self.lookup(&c.id)?;
            let freeze = req.pause && c.state.status == Status::Running;
            if freeze {
                self.freeze(&c, Intent::Commit).await?;
            }
            freeze
        };
        let images = self.inner.images.clone();
        let c2 = c.clone();
        let r = tokio::task::spawn_blocking(move || images.commit(&c2, &req))
            .await
            .map_err(super::interrupted("committing", &c.name));
        if paused {
            let lock = self.lock_for(&c.id);
            let _g = lock.lock().await;
            let thawed = match self.lookup(&c.id) {
                Ok(c) => self.thaw(&c).await,
                Err(e) => Err(e),
            };
            if let Err(e) = thawed {
                tracing::warn!(id = %c.id, error = %e, "unpausing after commit");
            }
        }
        let id = r?.map_err(|e| match e {
            ImageError::NotFound { reference } => Error::NoSuchImage { reference },
            ImageError::Other { message } => Error::Image {
                reference: c.spec.image.clone(),
                message,
            },
        })?;
        self.publish(&c, "commit", &[("imageID", id.clone())]);
        Ok(id)
    }
}
