//! What the metadata store keeps per image ([`Table::Images`]) and the media
//! types of the manifests berth writes. Shared by the verbs and the archive
//! formats, so neither imports the other.
//!
//! [`Table::Images`]: crate::metadata::Table::Images

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::Digest;

pub(super) const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(super) const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub(super) const MT_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// What [`Table::Images`] stores per image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ImageRecord {
    pub id: Digest,
    pub manifest: Digest,
    /// Layer blobs (uncompressed: blob digest = diff ID), bottom first.
    pub layers: Vec<LayerRecord>,
    /// Chain IDs, bottom first.
    pub chain: Vec<Digest>,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When this daemon stored it (RFC 3339), for stable ordering.
    pub added: String,
    /// `name@sha256:…` of the manifests (or indexes) it was pulled or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The image a build step made this one from; an untagged image that is some
    /// image's parent is an intermediate one, hidden from `images` as docker does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

/// One layer: the blob berth keeps for it. A layer that came from a tar is kept
/// uncompressed (blob = diff ID); one pulled from a registry is kept as the
/// registry sent it (gzip, zstd), with its media type and diff ID beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LayerRecord {
    pub blob: Digest,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// Media type of a compressed blob; `None`: an uncompressed tar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Diff ID of a compressed blob; `None`: the blob's digest is the diff ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
}

impl LayerRecord {
    /// An uncompressed layer.
    pub(super) fn plain(blob: Digest, size: u64) -> LayerRecord {
        LayerRecord {
            blob,
            size,
            media_type: None,
            diff_id: None,
        }
    }

    /// The media type the blob has in a manifest.
    pub(super) fn manifest_media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(MT_OCI_LAYER)
    }
}

impl ImageRecord {
    pub(super) fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
