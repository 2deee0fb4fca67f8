//! `docker image inspect`, and `resolve`: what a container start needs of an image.

use super::{ImageDetail, ImageService, InspectRootFs, ResolvedImage, Result};

impl ImageService {
    /// `docker image inspect`.
    pub fn inspect(&self, reference: &str) -> Result<ImageDetail> {
        let (id, _) = self.lookup(reference)?;
        let rec = self.record(&id)?;
        let cfg = self.config_of(&rec)?;
        let image = self.image_of(&rec)?;
        let comment = cfg
            .extra
            .get("comment")
            .and_then(|c| c.as_str())
            .map(str::to_string)
            .or_else(|| cfg.history.last().and_then(|h| h.comment.clone()))
            .unwrap_or_default();
        Ok(ImageDetail {
            id: rec.id.clone(),
            repo_tags: image.repo_tags,
            repo_digests: {
                let mut d = rec.repo_digests.clone();
                d.sort();
                d
            },
            parent: rec
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            comment,
            created: rec.created.clone(),
            author: cfg.author.clone(),
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            config: cfg.config.clone(),
            rootfs: InspectRootFs {
                kind: "layers".into(),
                layers: cfg.rootfs.diff_ids.clone(),
            },
            size: rec.size(),
            manifest_digest: rec.manifest.clone(),
        })
    }

    /// Everything needed to create a container: the ID, run config and layer chain.
    /// `reference` is a tag, a full or short (≥ 4 hex) ID, or `sha256:<hex>`.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage> {
        let (id, _) = self.lookup(reference)?;
        let rec = self.record(&id)?;
        let cfg = self.config_of(&rec)?;
        Ok(ResolvedImage {
            id,
            config: cfg.config,
            chain: rec.chain,
        })
    }
}
