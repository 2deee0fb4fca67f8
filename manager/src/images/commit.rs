//! `docker commit`: a container's changes become a layer on its image.

use super::change::apply_change;
use super::config::{HistoryItem, ImageConfiguration, RootFs};
use super::record::{now_rfc3339, LayerRecord};
use super::{CommitOptions, Error, Image, ImageService, Reference, Result};

impl ImageService {
    /// `docker commit`: the container's changes (its rootfs upper dir) become a new
    /// layer on top of `base` (the image the container was created from).
    pub fn commit(&self, container_id: &str, base: &str, opts: &CommitOptions) -> Result<Image> {
        let tag = opts
            .reference
            .as_deref()
            .map(Reference::parse)
            .transpose()?;
        let (base_id, _) = self.lookup(base)?;
        let base_rec = self.record(&base_id)?;
        let base_cfg = self.config_of(&base_rec)?;
        let mut run_config = opts
            .config
            .clone()
            .unwrap_or_else(|| base_cfg.config.clone());
        for change in &opts.changes {
            apply_change(&mut run_config, change)?;
        }
        let _g = self.guard();
        let mut w = self.content.writer(&self.content.unique_ref("commit"))?;
        self.snapshots.diff(container_id, &mut w)?;
        let (layer, size) = w.commit(None)?;
        let snap = self.unpack_or_drop(base_rec.chain.last(), &layer)?;
        let created = now_rfc3339();
        let mut diff_ids = base_cfg.rootfs.diff_ids.clone();
        diff_ids.push(layer.clone());
        let mut history = base_cfg.history.clone();
        history.push(HistoryItem {
            created: Some(created.clone()),
            created_by: Some("berth commit".to_string()),
            author: opts.author.clone(),
            comment: opts.message.clone(),
            empty_layer: false,
        });
        let config = ImageConfiguration {
            created: Some(created),
            author: opts.author.clone().unwrap_or_default(),
            architecture: base_cfg.architecture.clone(),
            os: base_cfg.os.clone(),
            variant: base_cfg.variant.clone(),
            config: run_config,
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids,
            },
            history,
            extra: Default::default(),
        };
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig {
            digest: "(new)".into(),
            reason: e.to_string(),
        })?;
        let mut layers = base_rec.layers.clone();
        layers.push(LayerRecord::plain(layer, size));
        let mut chain = base_rec.chain.clone();
        chain.push(snap.chain_id);
        let rec = self.commit_image(&config_bytes, &config, layers, chain)?;
        if let Some(t) = &tag {
            self.set_tag(t, &rec.id)?;
        }
        self.image_of(&rec)
    }
}
