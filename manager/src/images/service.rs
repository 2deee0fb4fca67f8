//! [`ImageService`]: the verbs of images/.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    Error, HistoryEntry, Image, ImageDetail, ImageFilters, ImportOptions, RemoveAction,
    ResolvedImage, Result,
};
use crate::content::ContentStore;
use crate::metadata::Store;
use crate::snapshots::Snapshotter;

/// Local images over content/ + snapshots/ + metadata/.
#[derive(Debug)]
pub struct ImageService {
    root: PathBuf,
    store: Store,
    content: ContentStore,
    snapshots: Snapshotter,
    lock: Mutex<()>,
}

impl ImageService {
    /// Opens the image side of berthd's root (content/, snapshots/, meta.redb).
    pub fn new(root: &Path, store: Store) -> Result<ImageService> {
        Ok(ImageService {
            root: root.to_path_buf(),
            content: ContentStore::open(root)?,
            snapshots: Snapshotter::open(root, store.clone())?,
            store,
            lock: Mutex::new(()),
        })
    }

    /// The content store (blobs).
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshotter (layers and container rootfs).
    pub fn snapshots(&self) -> &Snapshotter {
        &self.snapshots
    }

    /// `docker import`: a rootfs tar (plain or gzip) becomes a one-layer image, tagged
    /// `name` (normalised: `busybox` → `busybox:latest`) when given.
    pub fn import(
        &self,
        _rootfs_tar: impl Read,
        _name: Option<&str>,
        _opts: &ImportOptions,
    ) -> Result<Image> {
        Err(Error::InvalidArchive("import: not implemented yet".into()))
    }

    /// `docker load`: every image of a docker-archive stream (docker save output,
    /// legacy or OCI-layout flavoured), with its tags.
    pub fn load(&self, _archive: impl Read) -> Result<Vec<Image>> {
        Err(Error::InvalidArchive("load: not implemented yet".into()))
    }

    /// `docker save`: writes the images named by `refs` (tags or IDs) as one
    /// docker-archive (manifest.json + repositories + OCI layout blobs).
    pub fn save(&self, _refs: &[String], _out: impl Write) -> Result<()> {
        Err(Error::InvalidArchive("save: not implemented yet".into()))
    }

    /// `docker images`, newest first.
    pub fn list(&self, _filters: &ImageFilters) -> Result<Vec<Image>> {
        Ok(Vec::new())
    }

    /// `docker image inspect`.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetail> {
        Err(Error::NotFound(reference.to_string()))
    }

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, _target: &str) -> Result<()> {
        Err(Error::NotFound(source.to_string()))
    }

    /// `docker rmi`: untags `reference`; deletes the image (blobs, unused snapshots)
    /// when no tag is left. `in_use(image_id)` tells whether a container uses the
    /// image: then it is refused unless `force` (which only untags/deletes the record;
    /// layers under a container stay until the container is removed).
    pub fn remove(
        &self,
        reference: &str,
        _force: bool,
        _in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemoveAction>> {
        Err(Error::NotFound(reference.to_string()))
    }

    /// `docker history`, newest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        Err(Error::NotFound(reference.to_string()))
    }

    /// Everything needed to create a container: the ID, run config and layer chain.
    /// `reference` is a tag, a full or short (≥ 4 hex) ID, or `sha256:<hex>`.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage> {
        Err(Error::NotFound(reference.to_string()))
    }

    /// Start-up clean-up: stale ingests, snapshot dirs and records no image or rootfs
    /// references.
    pub fn gc(&self) -> Result<()> {
        Ok(())
    }
}
