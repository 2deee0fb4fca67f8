//! `export`: the container's filesystem (its mounted rootfs: image layers plus
//! its own changes) as a tar stream. Symlinks are archived as links, never
//! followed, so nothing outside the rootfs is read.

use std::io::Write;

use super::{Containers, Error, Result};

impl Containers {
    /// Writes the tar of the container's rootfs to `out`. Blocks.
    pub fn export_blocking(&self, reference: &str, out: impl Write) -> Result<()> {
        let c = self.lookup(reference)?;
        self.inner
            .images
            .mount_rootfs(&c.id)
            .map_err(|e| Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            })?;
        let rootfs = c.rootfs();
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        b.append_dir_all(".", &rootfs)
            .and_then(|()| b.finish())
            .map_err(super::io_err(&c.id, &rootfs))?;
        Ok(())
    }
}
