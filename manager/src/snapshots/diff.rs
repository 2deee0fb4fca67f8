//! Trees back to tars: a container's changes as an OCI layer (`diff`, for commit) and
//! its whole mounted rootfs (`export`).
//!
//! A diff is the overlay upper dir with overlayfs' markers turned back into OCI ones:
//! a char device 0:0 becomes `.wh.NAME`, a dir with `trusted.overlay.opaque=y` gets a
//! `.wh..wh..opq` entry. Output is deterministic (entries sorted by name) so the same
//! changes give the same diff ID. Hard links inside the tree are kept as tar links.
//! The walk never follows symlinks and never leaves the tree's filesystem.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::IdShift;

/// Which tree is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tree {
    /// An overlay upper dir: convert whiteouts and opaque markers.
    Upper,
    /// A plain (mounted) rootfs: copy as is.
    Rootfs,
}

/// `unshift`: the remap a container's files were written under; its ids are
/// moved back down so the layer holds the container's view of owners.
pub(super) fn write_tree(
    root: &Path,
    tree: Tree,
    unshift: Option<IdShift>,
    out: impl Write,
) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let dev = fs::symlink_metadata(root)?.dev();
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(
        &mut b,
        root,
        Path::new(""),
        (tree, unshift),
        dev,
        &mut links,
    )?;
    b.into_inner()?.flush()
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    (tree, unshift): (Tree, Option<IdShift>),
    dev: u64,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let r = rel.join(&name);
        let p = root.join(&r);
        let m = fs::symlink_metadata(&p)?;
        let ft = m.file_type();
        if tree == Tree::Upper && ft.is_char_device() && m.rdev() == 0 {
            let wh = rel.join(format!(".wh.{}", name.to_string_lossy()));
            let mut h = header(&m, unshift);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, &wh, io::empty())?;
            continue;
        }
        let mut h = header(&m, unshift);
        if ft.is_dir() {
            h.set_size(0);
            b.append_data(&mut h, dir_name(&r), io::empty())?;
            if tree == Tree::Upper
                && get_xattr(&p, "trusted.overlay.opaque").as_deref() == Some(b"y")
            {
                let mut oh = header(&m, unshift);
                oh.set_entry_type(tar::EntryType::Regular);
                oh.set_size(0);
                oh.set_mode(0o644);
                b.append_data(&mut oh, r.join(".wh..wh..opq"), io::empty())?;
            }
            // Another filesystem mounted inside the tree is not part of it.
            if m.dev() == dev {
                walk(b, root, &r, (tree, unshift), dev, links)?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(&p)?;
            h.set_size(0);
            b.append_link(&mut h, &r, target)?;
        } else if ft.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &r, first)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), r.clone());
            }
            let f = fs::File::open(&p)?;
            b.append_data(&mut h, &r, f)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let rdev = m.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
            h.set_size(0);
            b.append_data(&mut h, &r, io::empty())?;
        }
        // Sockets are not files a layer can carry: skipped, as docker does.
    }
    Ok(())
}

fn header(m: &fs::Metadata, unshift: Option<IdShift>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(m, tar::HeaderMode::Complete);
    h.set_mode(m.mode() & 0o7777);
    if let Some(s) = unshift {
        h.set_uid(u64::from(m.uid().saturating_sub(s.uid)));
        h.set_gid(u64::from(m.gid().saturating_sub(s.gid)));
    }
    h
}

fn dir_name(r: &Path) -> PathBuf {
    let mut s = r.as_os_str().to_owned();
    s.push("/");
    PathBuf::from(s)
}

pub(super) fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let cp = CString::new(p.as_os_str().as_bytes()).ok()?;
    let cn = CString::new(name).ok()?;
    let mut buf = [0u8; 64];
    // SAFETY: NUL-terminated strings and a buffer of the length passed.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}
