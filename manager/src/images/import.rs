//! `docker import`: a root filesystem tar becomes a one-layer image.

use std::io::Read;

use super::change::apply_change;
use super::config::{go_arch, HistoryItem, ImageConfig, ImageConfiguration, RootFs};
use super::record::{now_rfc3339, LayerRecord};
use super::{Error, Image, ImageService, ImportOptions, Reference, Result};

impl ImageService {
    /// `docker import`: a rootfs tar (plain or gzip) becomes a one-layer image, tagged
    /// `name` (normalised: `busybox` → `busybox:latest`) when given; publishes `import`.
    pub fn import(
        &self,
        rootfs_tar: impl Read,
        name: Option<&str>,
        opts: &ImportOptions,
    ) -> Result<Image> {
        let tag = name.map(Reference::parse).transpose()?;
        let mut run_config = ImageConfig::default();
        for change in &opts.changes {
            apply_change(&mut run_config, change)?;
        }
        let _g = self.guard();
        let (layer, size) = self.store_layer(rootfs_tar, None)?;
        let snap = self.unpack_or_drop(None, &layer)?;
        let created = now_rfc3339();
        let config = ImageConfiguration {
            created: Some(created.clone()),
            architecture: go_arch().to_string(),
            os: "linux".to_string(),
            config: run_config,
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids: vec![layer.clone()],
            },
            history: vec![HistoryItem {
                created: Some(created),
                created_by: Some("berth image import".to_string()),
                comment: Some(
                    opts.message
                        .clone()
                        .unwrap_or_else(|| "Imported from -".to_string()),
                ),
                ..Default::default()
            }],
            ..Default::default()
        };
        let config_bytes = serde_json::to_vec(&config).map_err(|e| Error::InvalidConfig {
            digest: "(new)".into(),
            reason: e.to_string(),
        })?;
        let layers = vec![LayerRecord::plain(layer, size)];
        let rec = self.commit_image(&config_bytes, &config, layers, vec![snap.chain_id])?;
        if let Some(t) = &tag {
            self.set_tag(t, &rec.id)?;
        }
        let image = self.image_of(&rec)?;
        self.publish("import", image.id.as_str(), name.unwrap_or_default());
        Ok(image)
    }
}
