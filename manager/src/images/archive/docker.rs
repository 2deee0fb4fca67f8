//! The docker-archive half: `manifest.json` (what `docker load` reads first)
//! and the legacy `repositories` file.

use serde::{Deserialize, Serialize};

use super::Staging;
use crate::images::record::ImageRecord;
use crate::images::{Error, Result};

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(in crate::images) struct ManifestEntry {
    pub config: String,
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(default)]
    pub layers: Vec<String>,
}

/// The entries of `manifest.json`.
pub(super) fn entries(st: &Staging) -> Result<Vec<ManifestEntry>> {
    serde_json::from_slice(&st.read_json("manifest.json")?)
        .map_err(|e| Error::InvalidArchive(format!("manifest.json: {e}")))
}

/// `manifest.json` for `images`: config and layers by their OCI blob paths.
pub(super) fn manifest(images: &[(ImageRecord, Vec<String>)]) -> Vec<ManifestEntry> {
    images
        .iter()
        .map(|(rec, tags)| ManifestEntry {
            config: format!("blobs/sha256/{}", rec.id.hex()),
            repo_tags: (!tags.is_empty()).then(|| tags.clone()),
            layers: rec
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.blob.hex()))
                .collect(),
        })
        .collect()
}

/// The legacy `repositories`: name → tag → top layer.
pub(super) fn repositories(
    images: &[(ImageRecord, Vec<String>)],
) -> serde_json::Map<String, serde_json::Value> {
    let mut repositories = serde_json::Map::new();
    for (rec, tags) in images {
        for t in tags {
            let (name, tag) = t.rsplit_once(':').unwrap_or((t, "latest"));
            if let Some(top) = rec.layers.last() {
                let e = repositories
                    .entry(name.to_string())
                    .or_insert_with(|| serde_json::json!({}));
                e[tag] = serde_json::Value::String(top.blob.hex().to_string());
            }
        }
    }
    repositories
}
