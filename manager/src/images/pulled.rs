//! The image-store half of a pull: what the registry client fetched and unpacked
//! becomes an image — snapshots stacked bottom first, manifest (and index) kept as
//! the registry sent them, the tag and the repo digest recorded — in one step
//! under the store's lock, so a failure leaves no record and start-up gc takes the
//! rest.

use super::config::ImageConfiguration;
use super::record::{now_rfc3339, ImageRecord, LayerRecord};
use super::{Error, ImageService, Reference, Result};
use crate::content::Digest;
use crate::snapshots::{chain_id, StagedLayer};

/// One layer of a pulled image.
#[derive(Debug)]
pub struct PulledLayer {
    /// The blob as the registry sent it (already in the content store).
    pub blob: Digest,
    pub media_type: String,
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    /// The unpacked layer, unless its snapshot was already there.
    pub staged: Option<StagedLayer>,
}

/// Everything a pull fetched for one image.
#[derive(Debug)]
pub struct PulledImage {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    /// The platform manifest as sent (its digest is checked by the caller).
    pub manifest: Vec<u8>,
    /// The index the tag pointed to, for a multi-platform image.
    pub index: Option<Vec<u8>>,
    pub layers: Vec<PulledLayer>,
    pub tag: Option<Reference>,
    /// `name@digest` of what the reference resolved to (index or manifest).
    pub repo_digest: String,
}

impl ImageService {
    /// The tar size an image already records for the layer of chain ID `chain`.
    pub fn layer_size(&self, chain: &Digest) -> Result<Option<u64>> {
        for rec in self.records()? {
            if let Some(i) = rec.chain.iter().position(|c| c == chain) {
                if let Some(l) = rec.layers.get(i) {
                    return Ok(Some(l.size));
                }
            }
        }
        Ok(None)
    }

    /// Parses and checks a pulled image's config against its layers.
    pub fn check_pulled_config(
        &self,
        config: &[u8],
        digest: &Digest,
        layers: usize,
    ) -> Result<ImageConfiguration> {
        let cfg = ImageConfiguration::parse(config, digest)?;
        if cfg.rootfs.diff_ids.len() != layers {
            return Err(Error::InvalidConfig {
                digest: digest.to_string(),
                reason: format!(
                    "the manifest lists {layers} layers but the config has {} diff IDs",
                    cfg.rootfs.diff_ids.len()
                ),
            });
        }
        Ok(cfg)
    }

    /// Whether the image `id` is complete here (record, blobs and snapshots).
    pub fn has_complete(&self, id: &Digest) -> bool {
        let Ok(rec) = self.record(id) else {
            return false;
        };
        rec.layers.iter().all(|l| self.content.exists(&l.blob))
            && rec
                .chain
                .last()
                .is_none_or(|c| self.snapshots.chain(c).is_ok())
    }

    /// Records the tag and repo digest of an image already here (`Image is up to date`).
    pub fn retag_pulled(
        &self,
        id: &Digest,
        tag: Option<&Reference>,
        repo_digest: &str,
    ) -> Result<()> {
        let _g = self.guard();
        self.add_repo_digest(id, repo_digest)?;
        if let Some(t) = tag {
            self.set_tag(t, id)?;
        }
        self.publish(
            "pull",
            id.as_str(),
            repo_digest.split('@').next().unwrap_or(""),
        );
        Ok(())
    }

    pub(super) fn add_repo_digest(&self, id: &Digest, repo_digest: &str) -> Result<()> {
        let name = repo_digest.split('@').next().unwrap_or("");
        self.store.update(|tx| {
            let Some(mut rec): Option<ImageRecord> =
                tx.get(crate::metadata::Table::Images, id.as_str())?
            else {
                return Ok(());
            };
            // One digest per repository, as docker keeps it.
            rec.repo_digests
                .retain(|d| d.split('@').next() != Some(name) || d == repo_digest);
            if !rec.repo_digests.iter().any(|d| d == repo_digest) {
                rec.repo_digests.push(repo_digest.to_string());
            }
            tx.put(crate::metadata::Table::Images, id.as_str(), &rec)
        })?;
        Ok(())
    }

    /// Makes a pulled image an image: stacks its staged layers, stores manifest,
    /// index and config, writes the record, tag and repo digest.
    pub fn store_pulled(&self, img: PulledImage) -> Result<Digest> {
        let config = self.check_pulled_config(&img.config, &img.config_digest, img.layers.len())?;
        let _g = self.guard();
        let mut parent: Option<Digest> = None;
        let mut chain = Vec::new();
        let mut layers = Vec::new();
        for l in img.layers {
            // A blob or snapshot found at the start may have gone with an rmi since.
            if !self.content.exists(&l.blob) {
                return Err(Error::InvalidArchive(format!(
                    "layer {} was removed while the pull ran; pull again",
                    l.blob
                )));
            }
            let snap = match l.staged {
                Some(s) => self.snapshots.commit_staged(parent.as_ref(), s)?,
                None => {
                    let c = chain_id(parent.as_ref(), &l.diff_id);
                    self.snapshots.get(&c)?.ok_or_else(|| {
                        Error::InvalidArchive(format!(
                            "layer {} was removed while the pull ran; pull again",
                            l.diff_id
                        ))
                    })?
                }
            };
            parent = Some(snap.chain_id.clone());
            chain.push(snap.chain_id);
            let compressed = l.blob != l.diff_id;
            layers.push(LayerRecord {
                blob: l.blob,
                size: l.size,
                media_type: compressed.then_some(l.media_type),
                diff_id: compressed.then_some(l.diff_id),
            });
        }
        let id = self.content.put_bytes(&img.config)?;
        let manifest = self.content.put_bytes(&img.manifest)?;
        if let Some(index) = &img.index {
            self.content.put_bytes(index)?;
        }
        let rec = ImageRecord {
            id: id.clone(),
            manifest,
            layers,
            chain,
            created: config.created.clone().unwrap_or_default(),
            labels: config.config.labels.clone(),
            added: now_rfc3339(),
            repo_digests: vec![img.repo_digest.clone()],
            parent: None,
        };
        self.store.update(|tx| {
            let existing: Option<ImageRecord> =
                tx.get(crate::metadata::Table::Images, id.as_str())?;
            let rec = match existing {
                Some(mut e) => {
                    e.repo_digests = rec.repo_digests.clone();
                    e.manifest = rec.manifest.clone();
                    e.layers = rec.layers.clone();
                    e
                }
                None => rec.clone(),
            };
            tx.put(crate::metadata::Table::Images, id.as_str(), &rec)
        })?;
        if let Some(t) = &img.tag {
            self.set_tag(t, &id)?;
        }
        let name = img.repo_digest.split('@').next().unwrap_or("").to_string();
        self.publish("pull", id.as_str(), &name);
        Ok(id)
    }
}
