//! The image-store half of a push: the blobs and the manifest a registry gets.
//!
//! Registries take compressed layers; berth keeps a layer from a tar
//! uncompressed until its first push, which gzips it once and makes the
//! compressed blob *the* layer blob of every image that has it (the plain one
//! goes), so a second push, or a push to another registry, sends the same bytes
//! without compressing again — and gets the same manifest digest.

use std::io::{BufReader, Read};

use super::record::{ImageRecord, LayerRecord};
use super::{Error, ImageRef, ImageService, Result};
use crate::content::Digest;
use crate::metadata::Table;

const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// One blob to send.
#[derive(Debug, Clone)]
pub struct PushBlob {
    pub digest: Digest,
    pub size: u64,
    pub path: std::path::PathBuf,
    /// Repositories of the same registry known to have it (cross-repo mount).
    pub mount_from: Vec<String>,
}

/// What a push of one image sends: layers, config, then the manifest.
#[derive(Debug, Clone)]
pub struct PushPlan {
    pub id: Digest,
    pub layers: Vec<PushBlob>,
    pub config: PushBlob,
    pub manifest: Vec<u8>,
    pub media_type: String,
}

impl ImageService {
    /// Every local tag of the repository `r` names (`push -a`).
    pub fn tags_of_repository(&self, r: &ImageRef) -> Result<Vec<String>> {
        let name = r.name();
        let mut out: Vec<String> = self
            .store
            .list::<String>(Table::Tags)?
            .into_iter()
            .filter_map(|(t, _)| {
                t.rsplit_once(':')
                    .filter(|(n, _)| *n == name)
                    .map(|(_, tag)| tag.to_string())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Compresses the layers that are still plain (once), and returns what to send
    /// for `local` to `registry`.
    pub fn prepare_push(&self, local: &str, registry: &str) -> Result<PushPlan> {
        let (id, _) = self.lookup(local)?;
        let rec = self.record(&id)?;
        for l in &rec.layers {
            if l.media_type.is_none() {
                self.compress_layer(l)?;
            }
        }
        // Re-read: the layers point at the compressed blobs now.
        let rec = self.record(&id)?;
        let config_size = self.content.size(&rec.id)?;
        let mut descs = Vec::new();
        let mut layers = Vec::new();
        let records = self.records()?;
        for l in &rec.layers {
            let size = self.content.size(&l.blob)?;
            let media = l.manifest_media_type();
            descs.push(serde_json::json!({"mediaType": media, "size": size, "digest": l.blob}));
            layers.push(PushBlob {
                digest: l.blob.clone(),
                size,
                path: self.content.path(&l.blob),
                mount_from: mount_sources(&records, &l.blob, registry),
            });
        }
        // The manifest it was pulled as, when it lists exactly these blobs: the
        // digest stays the registry's.
        let (manifest, media_type) = match self.stored_manifest_for(&rec) {
            Some(m) => m,
            None => {
                let m = serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": MT_DOCKER_MANIFEST,
                    "config": {"mediaType": MT_DOCKER_CONFIG, "size": config_size, "digest": rec.id},
                    "layers": descs,
                });
                let bytes = serde_json::to_vec_pretty(&m).map_err(|e| Error::InvalidConfig {
                    digest: rec.id.to_string(),
                    reason: e.to_string(),
                })?;
                (bytes, MT_DOCKER_MANIFEST.to_string())
            }
        };
        Ok(PushPlan {
            id: rec.id.clone(),
            layers,
            config: PushBlob {
                digest: rec.id.clone(),
                size: config_size,
                path: self.content.path(&rec.id),
                mount_from: Vec::new(),
            },
            manifest,
            media_type,
        })
    }

    /// Records a finished push: the manifest is kept and `name@digest` is a repo digest.
    pub fn pushed(&self, id: &Digest, manifest: &[u8], repo_digest: &str) -> Result<()> {
        let m = self.content.put_bytes(manifest)?;
        let _g = self.guard();
        self.store.update(|tx| {
            if let Some(mut rec) = tx.get::<ImageRecord>(Table::Images, id.as_str())? {
                rec.manifest = m.clone();
                tx.put(Table::Images, id.as_str(), &rec)?;
            }
            Ok::<(), crate::metadata::Error>(())
        })?;
        self.add_repo_digest(id, repo_digest)?;
        self.publish(
            "push",
            id.as_str(),
            repo_digest.split('@').next().unwrap_or(""),
        );
        Ok(())
    }

    /// The stored manifest, if it is a registry manifest of exactly this image's blobs.
    fn stored_manifest_for(&self, rec: &ImageRecord) -> Option<(Vec<u8>, String)> {
        let bytes = self.content.read(&rec.manifest).ok()?;
        #[derive(serde::Deserialize)]
        struct D {
            digest: Digest,
        }
        #[derive(serde::Deserialize)]
        struct M {
            #[serde(rename = "mediaType", default)]
            media_type: String,
            config: D,
            layers: Vec<D>,
        }
        let m: M = serde_json::from_slice(&bytes).ok()?;
        let same = m.config.digest == rec.id
            && m.layers.len() == rec.layers.len()
            && m.layers
                .iter()
                .zip(&rec.layers)
                .all(|(a, b)| a.digest == b.blob);
        let media = if m.media_type.is_empty() {
            "application/vnd.oci.image.manifest.v1+json".to_string()
        } else {
            m.media_type
        };
        same.then_some((bytes, media))
    }

    /// Gzips a plain layer into a new blob and makes it the layer blob of every
    /// image that has the plain one.
    fn compress_layer(&self, l: &LayerRecord) -> Result<()> {
        let plain = self.content.open_blob(&l.blob)?;
        let w = self.content.writer(&self.content.unique_ref("gzip"))?;
        // Level 1: a registry stores what it gets; the time goes into the push.
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
        let mut r = BufReader::with_capacity(1 << 20, plain);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.read(&mut buf).map_err(Error::Stream)?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut gz, &buf[..n]).map_err(Error::Stream)?;
        }
        let w = gz.finish().map_err(Error::Stream)?;
        let (blob, _) = w.commit(None)?;
        let _g = self.guard();
        let diff_id = l.blob.clone();
        self.store.update(|tx| {
            for (key, mut rec) in tx.list::<ImageRecord>(Table::Images)? {
                let mut changed = false;
                for layer in rec.layers.iter_mut() {
                    if layer.media_type.is_none() && layer.blob == diff_id {
                        layer.blob = blob.clone();
                        layer.media_type = Some(MT_DOCKER_LAYER_GZIP.to_string());
                        layer.diff_id = Some(diff_id.clone());
                        changed = true;
                    }
                }
                if changed {
                    tx.put(Table::Images, &key, &rec)?;
                }
            }
            Ok::<(), crate::metadata::Error>(())
        })?;
        self.drop_blob_if_unused(&diff_id);
        Ok(())
    }
}

/// `registry/path` repositories that hold `blob`, from the repo digests of the
/// images that have it: the sources of a cross-repository mount.
fn mount_sources(records: &[ImageRecord], blob: &Digest, registry: &str) -> Vec<String> {
    let mut out = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.layers.iter().any(|l| l.blob == *blob))
    {
        for rd in &r.repo_digests {
            let name = rd.split('@').next().unwrap_or("");
            if let Ok(parsed) = ImageRef::parse(name) {
                if parsed.domain() == registry && !out.iter().any(|p| p == parsed.path()) {
                    out.push(parsed.path().to_string());
                }
            }
        }
    }
    out
}
