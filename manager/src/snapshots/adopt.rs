//! A build's RUN step: the container's upper dir becomes the snapshot of the layer
//! just written from it, moved instead of unpacked from that layer again. The upper
//! is already what an unpacked layer is (overlay whiteouts, opaque markers), so
//! only trees with overlayfs metadata that changes what a file is (redirects,
//! metacopy) are left to the unpack path.
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{io_err, Error, Result, Snapshot, Snapshotter, StagedLayer};
use crate::content::Digest;

impl Snapshotter {
    /// The snapshot of `diff_id` on `parent`, made from `container_id`'s changes.
    /// `Ok(None)`: this tree cannot be moved (remapped ids, overlay metadata);
    /// unpack the layer instead. The container keeps an empty upper dir and is
    /// unmounted: it is to be removed, not run again.
    pub fn adopt_upper(
        &self,
        container_id: &str,
        parent: Option<&Digest>,
        diff_id: &Digest,
        size: u64,
    ) -> Result<Option<Snapshot>> {
        if let Some(s) = self.get(&super::chain_id(parent, diff_id))? {
            return Ok(Some(s));
        }
        let m = self
            .rootfs(container_id)?
            .ok_or_else(|| Error::NoRootfs(container_id.to_string()))?;
        let shifted = self
            .store
            .get::<super::RootfsRecord>(crate::metadata::Table::Rootfs, container_id)?
            .and_then(|r| r.shift)
            .is_some();
        let up = m.upperdir();
        if shifted || has_overlay_metadata(&up) {
            return Ok(None);
        }
        m.unmount()?;
        let snaps = self.root.join("snapshots");
        let tmp = snaps.join(format!("tmp-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        let fs = tmp.join("fs");
        std::fs::rename(&up, &fs).map_err(io_err(&up))?;
        std::fs::create_dir(&up).map_err(io_err(&up))?;
        self.commit_staged(
            parent,
            StagedLayer {
                tmp,
                diff_id: diff_id.clone(),
                size,
            },
        )
        .map(Some)
    }
}

/// Whether anything under `dir` carries overlayfs xattrs that make it more than
/// its files.
fn has_overlay_metadata(dir: &Path) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if foreign_xattr(&d) {
            return true;
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            return true;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) => {
                    if foreign_xattr(&p) {
                        return true;
                    }
                }
                Err(_) => return true,
            }
        }
    }
    false
}

fn foreign_xattr(p: &Path) -> bool {
    let Ok(cp) = CString::new(p.as_os_str().as_bytes()) else {
        return true;
    };
    let mut buf = vec![0u8; 4096];
    // SAFETY: a NUL-terminated path and a buffer of the length passed.
    let n = unsafe { libc::llistxattr(cp.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        // No xattr support is no metadata; anything else: do not guess.
        return std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOTSUP);
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .any(|name| {
            // Opaque markers are layer content; uuid, origin and impure describe
            // the old mount, not the files. Redirects and metacopy change what
            // the files are: those trees unpack.
            name.starts_with(b"trusted.overlay.")
                && !matches!(
                    name,
                    b"trusted.overlay.opaque"
                        | b"trusted.overlay.uuid"
                        | b"trusted.overlay.origin"
                        | b"trusted.overlay.impure"
                )
        })
}
