//! snapshots: the overlayfs snapshotter (`<root>/snapshots/`, container rootfs under
//! `<root>/containers/<id>/`).
//!
//! # Lifecycle
//!
//! * **Committed snapshots** are image layers, each unpacked exactly once into
//!   `snapshots/<n>/fs` and recorded in [`Table::Snapshots`] under its *chain ID*
//!   (OCI: `chain(L0) = diffid(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diffid(Ln))`),
//!   so every image that shares a layer stack shares the directories. A layer is
//!   unpacked into a temp dir and renamed into place only when the whole tar was valid;
//!   the record is written after the rename, so a crash leaves an unreferenced dir that
//!   [`Snapshotter::gc`] removes.
//! * **Active snapshots** are container rootfs: [`Snapshotter::prepare`] creates
//!   `containers/<id>/overlay/{upper,work}` and the mount point `containers/<id>/rootfs`
//!   and records the chain in [`Table::Rootfs`]; [`RootfsMount::mount`] mounts the
//!   overlay there; [`Snapshotter::remove`] unmounts, moves `overlay/` to
//!   `snapshots/trash-*` (deleted in the background, or by gc after a crash) and
//!   removes the mount point — not the rest of `containers/<id>/`, which containers/
//!   owns.
//! * A committed snapshot may be deleted only when no image lists it and no active
//!   snapshot has it in its chain (images/ asks via [`Snapshotter::remove_unused`]).
//!
//! All calls block (tar unpacking, fsync): async callers use `spawn_blocking`.

mod adopt;
mod diff;
mod mount;
mod shift;
mod unpack;

pub use mount::RootfsMount;
pub use shift::IdShift;
pub use unpack::{UnpackError, UnpackOptions};

use std::path::{Path, PathBuf};

use crate::content::Digest;
use crate::metadata::{Store, Table};

/// One unpacked layer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Chain ID of this layer stack (the key).
    pub chain_id: Digest,
    /// Chain ID of the stack below, if any.
    pub parent: Option<Digest>,
    /// Digest of this layer's uncompressed tar.
    pub diff_id: Digest,
    /// Directory number: the files are in `snapshots/<dir>/fs`.
    pub dir: u64,
    /// Bytes of file content unpacked.
    pub size: u64,
}

/// What [`Snapshotter::prepare`] recorded for a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootfsRecord {
    pub container_id: String,
    /// Top chain ID of the image the rootfs was made from (`None`: empty rootfs).
    pub chain_id: Option<Digest>,
    /// The user-namespace remap its layers are shifted for, if any.
    #[serde(default)]
    pub shift: Option<IdShift>,
}

/// What [`Snapshotter::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub snapshot_dirs: usize,
    pub snapshot_records: usize,
}

/// Errors of the snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Metadata(#[from] crate::metadata::Error),
    #[error("snapshot {0} not found (was the image removed?)")]
    NotFound(Digest),
    #[error("invalid container id {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidContainerId(String),
    #[error("container {0} has no rootfs (was it removed?)")]
    NoRootfs(String),
    #[error("container {0} already has a rootfs; remove it first")]
    RootfsExists(String),
    #[error("layer {diff_id}: {source}")]
    Unpack {
        diff_id: Digest,
        #[source]
        source: UnpackError,
    },
    #[error("layer content is {actual} but the image says {expected}: the archive is corrupt")]
    DiffIdMismatch { expected: Digest, actual: Digest },
    #[error("mount of {target}: {source}")]
    Mount {
        target: PathBuf,
        source: std::io::Error,
    },
    #[error("unmount of {target}: {source}")]
    Unmount {
        target: PathBuf,
        source: std::io::Error,
    },
    #[error("snapshot I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The next chain ID: `sha256(parent + " " + diff_id)`, or `diff_id` for the bottom layer.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of_bytes(format!("{p} {diff_id}").as_bytes()),
    }
}

/// A layer unpacked into a staging directory, not yet a snapshot: see
/// [`Snapshotter::stage`]. Dropped uncommitted, its directory is removed.
#[derive(Debug)]
pub struct StagedLayer {
    tmp: PathBuf,
    diff_id: Digest,
    size: u64,
}

impl StagedLayer {
    /// Bytes of the unpacked files.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        // After a commit the directory has been renamed away; nothing is there.
        if self.tmp.exists() {
            let _ = remove_tree(&self.tmp);
        }
    }
}

/// The overlayfs snapshotter.
#[derive(Debug)]
pub struct Snapshotter {
    root: PathBuf,
    store: Store,
    /// Serialises directory allocation and unpack-once decisions.
    lock: std::sync::Mutex<()>,
    /// Unreferenced dirs younger than this belong to unpacks in flight, not to a crash.
    opened_at: std::time::SystemTime,
}

impl Snapshotter {
    /// Opens the snapshotter on `<root>/snapshots` (creating it).
    pub fn open(root: &Path, store: Store) -> Result<Snapshotter> {
        for d in [root.join("snapshots"), root.join("containers")] {
            std::fs::create_dir_all(&d).map_err(io_err(&d))?;
        }
        // Absolute: mounts resolve paths from a thread whose cwd is the root.
        let root = std::fs::canonicalize(root).map_err(io_err(root))?;
        Ok(Snapshotter {
            root,
            store,
            lock: std::sync::Mutex::new(()),
            opened_at: std::time::SystemTime::now(),
        })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory holding a committed snapshot's files.
    pub fn fs_dir(&self, snap: &Snapshot) -> PathBuf {
        self.root
            .join("snapshots")
            .join(snap.dir.to_string())
            .join("fs")
    }

    /// Looks a committed snapshot up by chain ID.
    pub fn get(&self, chain_id: &Digest) -> Result<Option<Snapshot>> {
        Ok(self.store.get(Table::Snapshots, chain_id.as_str())?)
    }

    /// Every committed snapshot.
    pub fn list(&self) -> Result<Vec<Snapshot>> {
        Ok(self
            .store
            .list::<Snapshot>(Table::Snapshots)?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// The stack ending at `chain_id`, bottom layer first.
    pub fn chain(&self, chain_id: &Digest) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        let mut next = Some(chain_id.clone());
        while let Some(c) = next {
            let s = self.get(&c)?.ok_or(Error::NotFound(c))?;
            next = s.parent.clone();
            out.push(s);
        }
        out.reverse();
        Ok(out)
    }

    /// Unpacks one layer (an uncompressed tar) on top of `parent`, unless that chain is
    /// already unpacked. Verifies the tar's digest against `diff_id`. On any error
    /// nothing is left behind.
    pub fn unpack(
        &self,
        parent: Option<&Digest>,
        diff_id: &Digest,
        layer: impl std::io::Read,
        opts: &UnpackOptions,
    ) -> Result<Snapshot> {
        let chain = chain_id(parent, diff_id);
        if let Some(s) = self.get(&chain)? {
            return Ok(s);
        }
        if let Some(p) = parent {
            if self.get(p)?.is_none() {
                return Err(Error::NotFound(p.clone()));
            }
        }
        let staged = self.stage(diff_id, layer, opts)?;
        self.commit_staged(parent, staged)
    }

    /// Unpacks a layer into a staging directory without a parent: layers of one image
    /// can unpack concurrently (a pull unpacks each while it downloads), then
    /// [`Snapshotter::commit_staged`] stacks them bottom first. Verifies the diff ID.
    pub fn stage(
        &self,
        diff_id: &Digest,
        layer: impl std::io::Read,
        opts: &UnpackOptions,
    ) -> Result<StagedLayer> {
        let snaps = self.root.join("snapshots");
        let tmp = snaps.join(format!("tmp-{:016x}", rand::random::<u64>()));
        let fs_tmp = tmp.join("fs");
        std::fs::create_dir_all(&fs_tmp).map_err(io_err(&fs_tmp))?;
        let mut staged = StagedLayer {
            tmp,
            diff_id: diff_id.clone(),
            size: 0,
        };
        let mut hr = crate::content::HashingReader::new(layer);
        staged.size = unpack::unpack(&mut hr, &fs_tmp, opts).map_err(|source| Error::Unpack {
            diff_id: diff_id.clone(),
            source,
        })?;
        // The diff ID covers the whole stream, including the padding after the
        // end-of-archive blocks the tar reader stops at.
        std::io::copy(&mut hr, &mut std::io::sink()).map_err(|e| Error::Unpack {
            diff_id: diff_id.clone(),
            source: UnpackError::Malformed(e),
        })?;
        let (actual, _) = hr.finish();
        if actual != *diff_id {
            return Err(Error::DiffIdMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        Ok(staged)
    }

    /// Makes a staged layer the snapshot on top of `parent` (which must be committed).
    /// A chain unpacked meanwhile by someone else wins; the staged copy goes.
    pub fn commit_staged(&self, parent: Option<&Digest>, staged: StagedLayer) -> Result<Snapshot> {
        let chain = chain_id(parent, &staged.diff_id);
        let _g = self.guard();
        if let Some(s) = self.get(&chain)? {
            return Ok(s);
        }
        if let Some(p) = parent {
            if self.get(p)?.is_none() {
                return Err(Error::NotFound(p.clone()));
            }
        }
        let snaps = self.root.join("snapshots");
        let dir = self.next_dir()?;
        let dst = snaps.join(dir.to_string());
        std::fs::rename(&staged.tmp, &dst).map_err(io_err(&dst))?;
        crate::content::sync_dir(&snaps).map_err(|e| Error::Io {
            path: snaps.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let snap = Snapshot {
            chain_id: chain.clone(),
            parent: parent.cloned(),
            diff_id: staged.diff_id.clone(),
            dir,
            size: staged.size,
        };
        self.store.put(Table::Snapshots, chain.as_str(), &snap)?;
        Ok(snap)
    }

    fn next_dir(&self) -> Result<u64> {
        let snaps = self.root.join("snapshots");
        let mut max = 0u64;
        for e in std::fs::read_dir(&snaps).map_err(io_err(&snaps))? {
            let e = e.map_err(io_err(&snaps))?;
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) {
                max = max.max(n);
            }
        }
        Ok(max + 1)
    }

    fn container_dir(&self, container_id: &str) -> Result<PathBuf> {
        if container_id.is_empty()
            || container_id.starts_with('.')
            || !container_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(Error::InvalidContainerId(container_id.to_string()));
        }
        Ok(self.root.join("containers").join(container_id))
    }

    fn mount_for(
        &self,
        container_id: &str,
        chain_id: Option<&Digest>,
        shift: Option<IdShift>,
    ) -> Result<RootfsMount> {
        let base = self.container_dir(container_id)?;
        let mut lowers = Vec::new();
        if let Some(c) = chain_id {
            for s in self.chain(c)?.iter().rev() {
                let layer = PathBuf::from("snapshots").join(s.dir.to_string());
                let fs = match shift {
                    None => "fs".to_string(),
                    Some(shift) => {
                        shift::ensure(&self.root.join(&layer), shift)?;
                        shift.dir_name()
                    }
                };
                lowers.push(layer.join(fs));
            }
        }
        Ok(RootfsMount::new(&self.root, &base, lowers))
    }

    /// Creates the private upper/work dirs of a container's rootfs over the image stack
    /// ending at `chain_id` (`None`: an empty rootfs) and records it. Does not mount:
    /// call [`RootfsMount::mount`]. With `shift`, the layers are the remap's
    /// shifted copies and the container's own `/` belongs to its root.
    pub fn prepare(
        &self,
        container_id: &str,
        chain_id: Option<&Digest>,
        shift: Option<IdShift>,
    ) -> Result<RootfsMount> {
        let m = self.mount_for(container_id, chain_id, shift)?;
        let rec = RootfsRecord {
            container_id: container_id.to_string(),
            chain_id: chain_id.cloned(),
            shift,
        };
        self.store.update(|tx| {
            if tx.contains(Table::Rootfs, container_id)? {
                return Err(Error::RootfsExists(container_id.to_string()));
            }
            tx.put(Table::Rootfs, container_id, &rec)?;
            Ok(())
        })?;
        if let Err(e) = m.create_dirs(shift) {
            let _ = self.store.delete(Table::Rootfs, container_id);
            return Err(e);
        }
        Ok(m)
    }

    /// The rootfs prepared for a container, if any (e.g. to remount after a reboot).
    pub fn rootfs(&self, container_id: &str) -> Result<Option<RootfsMount>> {
        let Some(rec) = self
            .store
            .get::<RootfsRecord>(Table::Rootfs, container_id)?
        else {
            return Ok(None);
        };
        self.mount_for(container_id, rec.chain_id.as_ref(), rec.shift)
            .map(Some)
    }

    /// Every prepared rootfs.
    pub fn rootfs_list(&self) -> Result<Vec<RootfsRecord>> {
        Ok(self
            .store
            .list::<RootfsRecord>(Table::Rootfs)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    /// Unmounts (if mounted) and deletes a container's upper/work/rootfs and its record.
    /// Idempotent.
    pub fn remove(&self, container_id: &str) -> Result<()> {
        let m = self.mount_for(container_id, None, None)?;
        m.unmount()?;
        m.remove_dirs()?;
        self.store.delete(Table::Rootfs, container_id)?;
        Ok(())
    }

    /// Deletes every committed snapshot that no chain ending in `keep` and no prepared
    /// rootfs needs. Returns how many were removed.
    pub fn remove_unused(&self, keep: &[Digest]) -> Result<usize> {
        let _g = self.guard();
        let needed = self.needed(keep)?;
        let mut n = 0;
        for s in self.list()? {
            if needed.contains(&s.chain_id) {
                continue;
            }
            self.store.delete(Table::Snapshots, s.chain_id.as_str())?;
            let dir = self.root.join("snapshots").join(s.dir.to_string());
            remove_tree(&dir)?;
            n += 1;
        }
        Ok(n)
    }

    fn needed(&self, keep: &[Digest]) -> Result<std::collections::HashSet<Digest>> {
        let mut tops: Vec<Digest> = keep.to_vec();
        tops.extend(self.rootfs_list()?.into_iter().filter_map(|r| r.chain_id));
        let all: std::collections::HashMap<Digest, Snapshot> = self
            .list()?
            .into_iter()
            .map(|s| (s.chain_id.clone(), s))
            .collect();
        let mut needed = std::collections::HashSet::new();
        for t in tops {
            let mut next = Some(t);
            while let Some(c) = next {
                if !needed.insert(c.clone()) {
                    break;
                }
                next = all.get(&c).and_then(|s| s.parent.clone());
            }
        }
        Ok(needed)
    }

    /// Start-up clean-up: removes snapshot dirs no record names and older than this
    /// snapshotter (interrupted unpacks) and records whose dir vanished, and unreferenced snapshots (not in `keep`'s
    /// chains nor under a prepared rootfs).
    pub fn gc(&self, keep: &[Digest]) -> Result<GcReport> {
        let mut report = GcReport::default();
        let known: std::collections::HashSet<u64> = self.list()?.iter().map(|s| s.dir).collect();
        let snaps = self.root.join("snapshots");
        for e in std::fs::read_dir(&snaps).map_err(io_err(&snaps))? {
            let e = e.map_err(io_err(&snaps))?;
            let referenced = e
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|n| known.contains(&n));
            let fresh = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t + crate::content::CLOCK_SLACK >= self.opened_at);
            if !referenced && !fresh {
                remove_tree(&e.path())?;
                report.snapshot_dirs += 1;
            }
        }
        for s in self.list()? {
            if !self.fs_dir(&s).is_dir() {
                self.store.delete(Table::Snapshots, s.chain_id.as_str())?;
                report.snapshot_records += 1;
            }
        }
        report.snapshot_records += self.remove_unused(keep)?;
        Ok(report)
    }
}

impl Snapshotter {
    /// Writes a container's changes (its upper dir) as an OCI layer tar: what
    /// `commit` stores. Deterministic for the same changes.
    pub fn diff(&self, container_id: &str, out: impl std::io::Write) -> Result<()> {
        let m = self
            .rootfs(container_id)?
            .ok_or_else(|| Error::NoRootfs(container_id.to_string()))?;
        let shift = self
            .store
            .get::<RootfsRecord>(Table::Rootfs, container_id)?
            .and_then(|r| r.shift);
        let up = m.upperdir();
        diff::write_tree(&up, diff::Tree::Upper, shift, out).map_err(io_err(&up))
    }

    /// Takes out of a container's changes the mountpoints the runtime made for
    /// mounts that are not part of them (a build's `RUN --mount` targets): each
    /// path, then its parents, while it is an empty file or an empty directory
    /// in the upper dir. Nothing is followed: a symlink on the way ends the walk.
    pub fn drop_mountpoints(&self, container_id: &str, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let m = self
            .rootfs(container_id)?
            .ok_or_else(|| Error::NoRootfs(container_id.to_string()))?;
        let up = m.upperdir();
        for p in paths {
            let comps: Vec<&str> = p
                .split('/')
                .filter(|c| !c.is_empty() && *c != "." && *c != "..")
                .collect();
            // Every directory on the way must be a real one in the upper dir.
            let mut real = 0;
            let mut cur = up.clone();
            for c in &comps {
                cur.push(c);
                match std::fs::symlink_metadata(&cur) {
                    Ok(md) if md.is_dir() || (md.is_file() && real + 1 == comps.len()) => real += 1,
                    _ => break,
                }
            }
            for depth in (1..=real).rev() {
                let path = comps[..depth].iter().fold(up.clone(), |acc, c| acc.join(c));
                let Ok(md) = std::fs::symlink_metadata(&path) else {
                    break;
                };
                let gone = if md.is_file() && md.len() == 0 {
                    std::fs::remove_file(&path).is_ok()
                } else if md.is_dir() && diff::get_xattr(&path, "trusted.overlay.opaque").is_none()
                {
                    std::fs::remove_dir(&path).is_ok()
                } else {
                    false
                };
                if !gone {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Writes the tree at `root` (a mounted image view) as a tar, as it is.
    pub fn export_tree(root: &Path, out: impl std::io::Write) -> Result<()> {
        diff::write_tree(root, diff::Tree::Rootfs, None, out).map_err(io_err(root))
    }

    /// Writes a container's whole filesystem as a tar (`export`), mounting the
    /// rootfs for the duration when it is not mounted.
    pub fn export(&self, container_id: &str, out: impl std::io::Write) -> Result<()> {
        let m = self
            .rootfs(container_id)?
            .ok_or_else(|| Error::NoRootfs(container_id.to_string()))?;
        let was_mounted = m.is_mounted();
        if !was_mounted {
            m.mount()?;
        }
        let t = m.target();
        let shift = self
            .store
            .get::<RootfsRecord>(Table::Rootfs, container_id)?
            .and_then(|r| r.shift);
        let r = diff::write_tree(&t, diff::Tree::Rootfs, shift, out).map_err(io_err(&t));
        if !was_mounted {
            let u = m.unmount();
            r?;
            return u;
        }
        r
    }
}

/// Removes a tree that may contain read-only dirs or immutable-looking modes.
pub(crate) fn remove_tree(p: &Path) -> Result<()> {
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(p)(e)),
    }
}
