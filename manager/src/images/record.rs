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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LayerRecord {
    pub blob: Digest,
    pub size: u64,
}

impl ImageRecord {
    pub(super) fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
