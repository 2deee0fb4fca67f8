//! images: local images — import, commit, load/save (docker-archive, OCI layout),
//! list, inspect, tag, remove, history — over the content store, the snapshotter and
//! the metadata store.
//!
//! # Model
//!
//! * An image is identified by its **ID**, the digest of its config blob (docker's
//!   rule), `sha256:<hex>`. Its record ([`crate::metadata::Table::Images`]) lists the layer blobs, their
//!   diff IDs and the top chain ID; config, manifest and layers live in content/.
//! * Layer blobs are stored **uncompressed** (compressed input is inflated on the way
//!   in), so a layer's blob digest is its diff ID and `save` writes it as is.
//! * **Tags** ([`crate::metadata::Table::Tags`]) map a familiar reference (`busybox:latest`; `busybox`
//!   means `busybox:latest`, `docker.io/library/` is dropped) to an image ID. An image
//!   without tags is *dangling*.
//! * Every layer is unpacked once at import/load time (snapshots/), so `resolve` +
//!   `Snapshotter::prepare` is all a container start needs.
//!
//! All calls block (but [`ImageService::upload`]); async callers use
//! `spawn_blocking`. Mutations are serialised by one lock so a remove never races a
//! load over shared layers. Verbs that change what `berth images` shows publish an
//! `image` event once the change is stored.
//!
//! One file per verb (`import.rs`, `load.rs`, `remove.rs`, …), each an
//! `impl ImageService` block; `service.rs` holds the shared state and store
//! steps, `record.rs` what the store keeps, `archive/` the docker and OCI
//! archive formats.

mod archive;
mod change;
mod commit;
mod config;
mod derive;
mod gc;
mod history;
mod import;
mod inspect;
mod list;
mod load;
mod prune;
mod pulled;
mod push;
mod record;
pub mod reference;
mod remove;
mod save;
mod service;
mod tag;
mod upload;
mod usage;
mod view;

pub use config::{HistoryItem, ImageConfig, ImageConfiguration, RootFs};
pub use derive::{BaseImage, StepLayer, StepMeta};
pub use gc::GcReport;
pub use prune::PruneReport;
pub use pulled::{PulledImage, PulledLayer};
pub use push::{PushBlob, PushPlan};
pub use reference::{ImageRef, Reference, DOCKER_HUB};
pub use service::ImageService;
pub use upload::{Spooled, Upload};
pub use usage::{ImageUsage, ImagesUsage};
pub use view::View;

use crate::content::Digest;

/// One image as listed (`berth images`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Image {
    /// `sha256:<hex>` of the config blob.
    pub id: Digest,
    /// Familiar references, e.g. `busybox:latest`. Empty: dangling.
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` of the manifests it was pulled or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// RFC 3339 creation time from the config (empty when the config has none).
    pub created: String,
    /// Sum of the uncompressed layer sizes.
    pub size: u64,
    /// `config.Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// `berth image inspect`: docker's inspect shape (field names serialise as docker's).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDetail {
    pub id: Digest,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    pub author: String,
    pub architecture: String,
    pub os: String,
    pub config: ImageConfig,
    #[serde(rename = "RootFS")]
    pub rootfs: InspectRootFs,
    pub size: u64,
    /// Digest of the manifest berth stores for the image.
    pub manifest_digest: Digest,
}

/// `RootFS` of [`ImageDetail`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectRootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff IDs, bottom layer first.
    pub layers: Vec<Digest>,
}

/// One line of `berth history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEntry {
    /// The image ID on the top entry, `<missing>` below (as docker prints).
    pub id: String,
    pub created: String,
    pub created_by: String,
    /// Size of the layer this step made (0 for empty layers).
    pub size: u64,
    pub comment: String,
    /// Tags, on the top entry only.
    pub tags: Vec<String>,
}

/// What the caller needs to run a container from an image.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedImage {
    pub id: Digest,
    /// The run config (Env, Cmd, Entrypoint, WorkingDir, User, …).
    pub config: ImageConfig,
    /// Chain IDs of the unpacked layers, bottom first; pass the last one to
    /// `Snapshotter::prepare` (`None` when the image has no layers).
    pub chain: Vec<Digest>,
}

impl ResolvedImage {
    /// The top chain ID, for `Snapshotter::prepare`.
    pub fn top(&self) -> Option<&Digest> {
        self.chain.last()
    }
}

/// `docker import --change`-like options.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Dockerfile instructions applied to the config: `CMD`, `ENTRYPOINT`, `ENV`,
    /// `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`.
    pub changes: Vec<String>,
    /// History comment.
    pub message: Option<String>,
}

/// `docker commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Tag for the new image.
    pub reference: Option<String>,
    /// The run config of the new image (docker stores the container's config);
    /// `None`: the base image's.
    pub config: Option<ImageConfig>,
    /// `--change` instructions applied on top (see [`ImportOptions::changes`]).
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// `--author`.
    pub author: Option<String>,
}

/// `berth images --filter` (docker's keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilters {
    /// `reference=PATTERN` (glob on `name` or `name:tag`); any may match.
    pub reference: Vec<String>,
    /// `dangling=true|false`.
    pub dangling: Option<bool>,
    /// `label=KEY` or `label=KEY=VALUE`; all must match.
    pub label: Vec<String>,
    /// `before=REF`: images created before this one.
    pub before: Option<String>,
    /// `since=REF`: images created after this one.
    pub since: Option<String>,
    /// `images -a`: also the intermediate images of builds (untagged parents).
    pub all: bool,
}

impl ImageFilters {
    /// Parses docker-style `key=value` filters.
    pub fn parse<S: AsRef<str>>(filters: &[S]) -> Result<ImageFilters, Error> {
        let mut f = ImageFilters::default();
        for s in filters {
            let s = s.as_ref();
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| Error::InvalidFilter(s.to_string()))?;
            match k {
                "reference" => f.reference.push(v.to_string()),
                "dangling" => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(Error::InvalidFilter(s.to_string())),
                    })
                }
                "label" => f.label.push(v.to_string()),
                "before" => f.before = Some(v.to_string()),
                "since" => f.since = Some(v.to_string()),
                _ => return Err(Error::InvalidFilter(s.to_string())),
            }
        }
        Ok(f)
    }
}

/// One effect of [`ImageService::remove`] (docker prints `Untagged:` / `Deleted:`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemoveAction {
    Untagged(String),
    Deleted(Digest),
}

pub use crate::errors::{Classify, ErrorKind, Reason};

/// Errors of the image service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("invalid reference format {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid filter {0:?}: use reference=, dangling=true|false, label=, before=, since=")]
    InvalidFilter(String),
    #[error("invalid --change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },
    #[error(
        "unable to delete {id} (must be forced) - image is referenced in multiple repositories"
    )]
    MultipleTags { id: String },
    #[error("conflict: unable to remove {reference} (must be forced) - image {id} is being used by a container; remove the container first or use --force")]
    InUse { reference: String, id: String },
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("invalid image config {digest}: {reason}")]
    InvalidConfig { digest: String, reason: String },
    #[error(transparent)]
    Content(#[from] crate::content::Error),
    #[error(transparent)]
    Snapshots(#[from] crate::snapshots::Error),
    #[error(transparent)]
    Metadata(#[from] crate::metadata::Error),
    #[error("image I/O on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("reading/writing the archive stream: {0}")]
    Stream(#[source] std::io::Error),
}

impl Classify for Error {
    fn reason(&self) -> Reason {
        use crate::snapshots::Error as S;
        match self {
            Error::NotFound(_) => Reason::NoSuchImage,
            Error::InvalidReference { .. }
            | Error::InvalidFilter(_)
            | Error::InvalidChange { .. }
            | Error::InvalidArchive(_)
            | Error::InvalidConfig { .. }
            | Error::Stream(_) => Reason::InvalidArgument,
            Error::Content(crate::content::Error::DigestMismatch { .. }) => Reason::InvalidArgument,
            Error::Snapshots(S::Unpack { .. } | S::DiffIdMismatch { .. }) => {
                Reason::InvalidArgument
            }
            Error::MultipleTags { .. } | Error::InUse { .. } => Reason::Conflict,
            _ => Reason::Internal,
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Error::NotFound(reference) => Some(reference),
            Error::InvalidReference { reference, .. } | Error::InUse { reference, .. } => {
                Some(reference)
            }
            _ => None,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
