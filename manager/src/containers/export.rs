//! `export`: the container's filesystem (its rootfs: image layers plus its
//! own changes) as a tar stream, written by the snapshotter, which archives
//! symlinks as links (nothing outside the rootfs is read) and gives owners as
//! the container sees them (under a userns remap, not the host's ids).

use std::io::Write;

use super::{Containers, Error, Result};

impl Containers {
    /// Writes the tar of the container's rootfs to `out`. Blocks.
    pub fn export_blocking(&self, reference: &str, mut out: impl Write) -> Result<()> {
        let c = self.lookup(reference)?;
        self.inner
            .images
            .export_rootfs(&c.id, &mut out)
            .map_err(|e| Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            })
    }
}
