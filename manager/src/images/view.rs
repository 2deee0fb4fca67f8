//! A mounted view of an image's filesystem, for the builder to read (COPY --from,
//! the parent directories and users a COPY needs). An overlay over the image's
//! layers with a private upper dir, unmounted and removed on drop.

use std::path::PathBuf;
use std::sync::Arc;

use super::{ImageService, Result};
use crate::content::Digest;
use crate::snapshots::RootfsMount;

pub struct View {
    images: Arc<ImageService>,
    key: String,
    mount: RootfsMount,
}

impl ImageService {
    /// Mount `image` (`None`: an empty filesystem) somewhere private.
    pub fn view(self: &Arc<Self>, image: Option<&Digest>) -> Result<View> {
        let chain = match image {
            Some(id) => self.record(id)?.chain.last().cloned(),
            None => None,
        };
        let key = format!(
            "build-view-{}",
            self.content.unique_ref("view").replace('/', "-")
        );
        let mount = self.snapshots.prepare(&key, chain.as_ref(), None)?;
        let view = View {
            images: self.clone(),
            key,
            mount,
        };
        view.mount.mount()?;
        Ok(view)
    }
}

impl ImageService {
    /// Views a crash left behind (their mounts went with the reboot or the kill).
    pub fn remove_stale_views(&self) -> Result<usize> {
        let mut n = 0;
        for r in self.snapshots.rootfs_list()? {
            if r.container_id.starts_with("build-view-") {
                self.snapshots.remove(&r.container_id)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl View {
    /// Where the image's `/` is.
    pub fn root(&self) -> PathBuf {
        self.mount.target()
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if let Err(e) = self.images.snapshots.remove(&self.key) {
            tracing::warn!(view = %self.key, "removing a build view: {e}");
        }
    }
}
