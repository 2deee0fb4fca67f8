//! Layers shifted for a user-namespace remap (daemon.json `userns-remap`):
//! a container whose root is host uid N sees the image's files owned by its
//! own root only if the files on disk are owned by N. Each layer is copied
//! once per remap into `snapshots/<n>/fs-<uid>-<gid>` with every owner moved
//! up by the remap's start, then shared by every container of that remap.
//! The copy is made under a temp name and renamed into place, so a crash
//! leaves no half-shifted layer in use.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, remove_tree, Result};

/// The host ids a container's uid 0 and gid 0 map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdShift {
    pub uid: u32,
    pub gid: u32,
}

impl IdShift {
    /// The shifted copy's name beside the layer's `fs`.
    pub(super) fn dir_name(self) -> String {
        format!("fs-{}-{}", self.uid, self.gid)
    }
}

/// `layer/fs` shifted by `shift`, made on first use: `layer/fs-<uid>-<gid>`.
pub(super) fn ensure(layer: &Path, shift: IdShift) -> Result<PathBuf> {
    let target = layer.join(shift.dir_name());
    if target.is_dir() {
        return Ok(target);
    }
    // Temp copies an earlier berthd left (killed mid-copy) go first.
    let prefix = format!("{}.tmp-", shift.dir_name());
    for e in std::fs::read_dir(layer).map_err(io_err(layer))?.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = remove_tree(&e.path());
        }
    }
    let tmp = layer.join(format!("{prefix}{}", std::process::id()));
    // cp -a keeps what a layer holds: hard links, xattrs (overlay's opaque
    // marks), whiteout devices, modes and times.
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(layer.join("fs"))
        .arg(&tmp)
        .status()
        .map_err(io_err(&tmp))?;
    if !status.success() {
        let _ = remove_tree(&tmp);
        return Err(io_err(&tmp)(std::io::Error::other(format!(
            "copying the layer for the remap failed ({status})"
        ))));
    }
    if let Err(e) = shift_tree(&tmp, shift) {
        let _ = remove_tree(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &target) {
        Ok(()) => Ok(target),
        // Another create made it meanwhile.
        Err(_) if target.is_dir() => {
            let _ = remove_tree(&tmp);
            Ok(target)
        }
        Err(e) => {
            let _ = remove_tree(&tmp);
            Err(io_err(&target)(e))
        }
    }
}

/// Moves every owner in `dir` up by `shift`, keeping set-id bits (which
/// chown clears).
fn shift_tree(dir: &Path, shift: IdShift) -> Result<()> {
    let meta = std::fs::symlink_metadata(dir).map_err(io_err(dir))?;
    shift_one(dir, &meta, shift)?;
    if meta.is_dir() {
        for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
            let e = e.map_err(io_err(dir))?;
            shift_tree(&e.path(), shift)?;
        }
    }
    Ok(())
}

fn shift_one(path: &Path, meta: &std::fs::Metadata, shift: IdShift) -> Result<()> {
    let uid = meta.uid().saturating_add(shift.uid);
    let gid = meta.gid().saturating_add(shift.gid);
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_err(path))?;
    if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_move_up_and_set_id_bits_stay() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: chown needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let fs = d.path().join("fs");
        std::fs::create_dir_all(fs.join("bin")).unwrap();
        std::fs::write(fs.join("bin/su"), "x").unwrap();
        // chown clears set-id bits, so the owner first, then the mode.
        std::os::unix::fs::lchown(fs.join("bin/su"), Some(5), Some(6)).unwrap();
        std::fs::set_permissions(fs.join("bin/su"), std::fs::Permissions::from_mode(0o4755))
            .unwrap();
        std::os::unix::fs::symlink("su", fs.join("bin/link")).unwrap();
        let shift = IdShift {
            uid: 100000,
            gid: 200000,
        };
        let out = ensure(d.path(), shift).unwrap();
        let su = std::fs::metadata(out.join("bin/su")).unwrap();
        assert_eq!(
            (su.uid(), su.gid(), su.mode() & 0o7777),
            (100005, 200006, 0o4755)
        );
        let link = std::fs::symlink_metadata(out.join("bin/link")).unwrap();
        assert_eq!(link.uid(), 100000);
        assert_eq!(std::fs::metadata(out.clone()).unwrap().uid(), 100000);
        // The original is untouched, and the copy is reused.
        assert_eq!(std::fs::metadata(fs.join("bin/su")).unwrap().uid(), 5);
        assert_eq!(ensure(d.path(), shift).unwrap(), out);
    }
}
