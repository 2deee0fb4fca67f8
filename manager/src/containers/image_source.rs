//! The seam between containers and images: resolve an image's run config and
//! give a container its rootfs. Owned here (the consumer), implemented over
//! `images::ImageService` + `snapshots` by [`LocalImages`].

use std::path::PathBuf;
use std::sync::Arc;

use super::commit::CommitRequest;
use super::health::HealthConfig;
use super::record::Container;
use crate::images::{self, CommitOptions, ImageService};
use crate::snapshots::IdShift;

/// What a container needs from its image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:<hex>`.
    pub id: String,
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: String,
    pub user: String,
    /// Paths the image declares as volumes.
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    /// The image's `Healthcheck`.
    pub healthcheck: Option<HealthConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {reference}")]
    NotFound { reference: String },
    #[error("{message}")]
    Other { message: String },
}

/// Images and rootfs for containers. Calls block.
pub trait ImageSource: Send + Sync {
    fn resolve(&self, reference: &str) -> Result<ImageInfo, ImageError>;
    /// Creates and mounts the rootfs of `container_id` (at
    /// `<root>/containers/<id>/rootfs`) from image `image_id`.
    /// With `shift`, the layers are shifted for that user-namespace remap.
    fn prepare_rootfs(
        &self,
        container_id: &str,
        image_id: &str,
        shift: Option<IdShift>,
    ) -> Result<PathBuf, ImageError>;
    /// Mounts an already prepared rootfs again (after a reboot); no-op when mounted.
    fn mount_rootfs(&self, container_id: &str) -> Result<(), ImageError>;
    /// Unmounts and deletes the rootfs; idempotent.
    fn remove_rootfs(&self, container_id: &str) -> Result<(), ImageError>;
    /// IDs of containers that have a rootfs (for start-up clean-up).
    fn rootfs_ids(&self) -> Result<Vec<String>, ImageError>;
    /// The container's changes as a new image over its own; returns the ID.
    fn commit(&self, c: &Container, req: &CommitRequest) -> Result<String, ImageError>;
    /// The container's whole filesystem as a tar (`export`), owners as the
    /// container sees them, symlinks archived, never followed.
    fn export_rootfs(
        &self,
        container_id: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ImageError>;
}

/// [`ImageSource`] over the local image service.
pub struct LocalImages {
    images: Arc<ImageService>,
}

impl LocalImages {
    pub fn new(images: Arc<ImageService>) -> LocalImages {
        LocalImages { images }
    }
}

fn other(e: impl std::fmt::Display) -> ImageError {
    ImageError::Other {
        message: e.to_string(),
    }
}

impl ImageSource for LocalImages {
    fn resolve(&self, reference: &str) -> Result<ImageInfo, ImageError> {
        let r = self.images.resolve(reference).map_err(|e| match e {
            images::Error::NotFound(_) => ImageError::NotFound {
                reference: reference.to_string(),
            },
            e => other(e),
        })?;
        let c = r.config;
        let healthcheck = c
            .extra
            .get("Healthcheck")
            .and_then(HealthConfig::from_image_json);
        Ok(ImageInfo {
            id: r.id.as_str().to_string(),
            env: c.env,
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            working_dir: c.working_dir,
            user: c.user,
            volumes: c.volumes.into_keys().collect(),
            stop_signal: c.stop_signal,
            healthcheck,
        })
    }

    fn prepare_rootfs(
        &self,
        container_id: &str,
        image_id: &str,
        shift: Option<IdShift>,
    ) -> Result<PathBuf, ImageError> {
        let r = self.images.resolve(image_id).map_err(other)?;
        let m = self
            .images
            .snapshots()
            .prepare(container_id, r.top(), shift)
            .map_err(other)?;
        if let Err(e) = m.mount() {
            let _ = self.images.snapshots().remove(container_id);
            return Err(other(e));
        }
        Ok(m.target())
    }

    fn mount_rootfs(&self, container_id: &str) -> Result<(), ImageError> {
        match self
            .images
            .snapshots()
            .rootfs(container_id)
            .map_err(other)?
        {
            Some(m) if !m.is_mounted() => m.mount().map_err(other),
            Some(_) => Ok(()),
            None => Err(ImageError::Other {
                message: format!("container {container_id} has no rootfs"),
            }),
        }
    }

    fn remove_rootfs(&self, container_id: &str) -> Result<(), ImageError> {
        self.images.snapshots().remove(container_id).map_err(other)
    }

    fn export_rootfs(
        &self,
        container_id: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), ImageError> {
        self.images
            .snapshots()
            .export(container_id, out)
            .map_err(other)
    }

    fn commit(&self, c: &Container, req: &CommitRequest) -> Result<String, ImageError> {
        let config = self
            .images
            .inspect(&c.image_id)
            .map(|d| commit_config(d.config, c))
            .ok();
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let opts = CommitOptions {
            reference: nonempty(&req.reference),
            config,
            changes: req.changes.clone(),
            message: nonempty(&req.message),
            author: nonempty(&req.author),
        };
        let image = self
            .images
            .commit(&c.id, &c.image_id, &opts)
            .map_err(|e| match e {
                images::Error::NotFound(r) => ImageError::NotFound { reference: r },
                e => other(e),
            })?;
        Ok(image.id.as_str().to_string())
    }

    fn rootfs_ids(&self) -> Result<Vec<String>, ImageError> {
        Ok(self
            .images
            .snapshots()
            .rootfs_list()
            .map_err(other)?
            .into_iter()
            .map(|r| r.container_id)
            .collect())
    }
}

/// docker commit stores the container's run config: its environment, command,
/// working dir and user, over the image's.
fn commit_config(mut base: images::ImageConfig, c: &Container) -> images::ImageConfig {
    base.env = c.env.clone();
    if let Some(ep) = &c.spec.entrypoint {
        base.entrypoint = Some(ep.clone());
    }
    if !c.spec.cmd.is_empty() {
        base.cmd = Some(c.spec.cmd.clone());
    }
    base.working_dir = c.working_dir.clone();
    base.user = c.user.clone();
    // docker commits the container's check (the image's with the run's over it).
    if let Some(h) = &c.healthcheck {
        base.extra.insert("Healthcheck".into(), h.to_image_json());
    }
    base
}
