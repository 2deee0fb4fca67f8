//! One build step's image: a base (or nothing, for `FROM scratch`), at most one new
//! layer (a container's changes, or a tar the builder writes), a new run config and
//! one history entry. The builder chains these; each result records its parent, so
//! `images` can hide the intermediate ones as docker does.

use std::io::Write;

use super::config::{go_arch, HistoryItem, ImageConfig, ImageConfiguration, RootFs};
use super::record::{now_rfc3339, LayerRecord};
use super::{Error, Image, ImageService, Result};
use crate::content::Digest;

/// The layer a step adds.
pub enum StepLayer<'a> {
    /// Metadata only (`ENV`, `CMD`…): an `empty_layer` history entry.
    None,
    /// The changes of this container (a RUN step's) to its image, less the
    /// mountpoints made for the given targets (its `--mount`s).
    Container(&'a str, &'a [String]),
    /// A tar the caller writes (COPY, ADD): an uncompressed layer.
    Tar(&'a mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>),
}

/// What the new image says about itself.
#[derive(Debug, Clone, Default)]
pub struct StepMeta {
    pub config: ImageConfig,
    /// history `created_by` (`RUN /bin/sh -c make`, `COPY src /app # buildkit`).
    pub created_by: String,
    pub comment: Option<String>,
}

/// The part of an image the builder starts a stage from.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub id: Digest,
    pub configuration: ImageConfiguration,
}

impl ImageService {
    /// Tagged images and every image they were built on: the build cache that is
    /// not dangling.
    pub fn tagged_and_ancestors(&self) -> Result<std::collections::HashSet<Digest>> {
        let records = self.records()?;
        let by_id: std::collections::HashMap<&Digest, &super::record::ImageRecord> =
            records.iter().map(|r| (&r.id, r)).collect();
        let mut out = std::collections::HashSet::new();
        for id in self.tags()?.into_keys() {
            let mut next = Some(id);
            while let Some(d) = next {
                if !out.insert(d.clone()) {
                    break;
                }
                next = by_id.get(&d).and_then(|r| r.parent.clone());
            }
        }
        Ok(out)
    }

    /// An untagged image a build step made (it has a parent).
    pub fn is_build_leftover(&self, id: &Digest) -> Result<bool> {
        let Ok(rec) = self.record(id) else {
            return Ok(false);
        };
        Ok(rec.parent.is_some() && self.tags_of(id)?.is_empty())
    }

    /// Bytes of layers that only build leftovers among `ids` hold: what the build
    /// cache takes on disk beyond the images people use.
    pub fn leftover_bytes(&self, ids: &[Digest]) -> Result<u64> {
        let records = self.records()?;
        let leftovers: std::collections::HashSet<&Digest> = ids
            .iter()
            .filter(|d| self.is_build_leftover(d).unwrap_or(false))
            .collect();
        let mut kept = std::collections::HashSet::new();
        for r in records.iter().filter(|r| !leftovers.contains(&r.id)) {
            kept.extend(r.chain.iter());
        }
        let mut counted = std::collections::HashSet::new();
        let mut bytes = 0;
        for r in records.iter().filter(|r| leftovers.contains(&r.id)) {
            for (c, l) in r.chain.iter().zip(&r.layers) {
                if !kept.contains(c) && counted.insert(c) {
                    bytes += l.size;
                }
            }
        }
        Ok(bytes)
    }

    /// The config of an image, for a build stage to start from.
    pub fn base(&self, reference: &str) -> Result<BaseImage> {
        let (id, _) = self.lookup(reference)?;
        let rec = self.record(&id)?;
        Ok(BaseImage {
            configuration: self.config_of(&rec)?,
            id,
        })
    }

    /// A new image on `base` (`None`: empty) with `layer` and `meta`. Untagged; the
    /// result remembers `base` as its parent.
    pub fn derive(
        &self,
        base: Option<&Digest>,
        layer: StepLayer,
        meta: &StepMeta,
    ) -> Result<Image> {
        let base_rec = base.map(|b| self.record(b)).transpose()?;
        let base_cfg = base_rec.as_ref().map(|r| self.config_of(r)).transpose()?;
        let _g = self.guard();
        let mut from_container = None;
        let new_layer = match layer {
            StepLayer::None => None,
            StepLayer::Container(id, mountpoints) => {
                self.snapshots.drop_mountpoints(id, mountpoints)?;
                let mut w = self.content.writer(&self.content.unique_ref("build"))?;
                self.snapshots.diff(id, &mut w)?;
                from_container = Some(id);
                Some(w.commit(None)?)
            }
            StepLayer::Tar(write) => {
                let mut w = self.content.writer(&self.content.unique_ref("build"))?;
                write(&mut w).map_err(Error::Stream)?;
                Some(w.commit(None)?)
            }
        };
        let mut layers = base_rec
            .as_ref()
            .map(|r| r.layers.clone())
            .unwrap_or_default();
        let mut chain = base_rec
            .as_ref()
            .map(|r| r.chain.clone())
            .unwrap_or_default();
        let mut diff_ids = base_cfg
            .as_ref()
            .map(|c| c.rootfs.diff_ids.clone())
            .unwrap_or_default();
        if let Some((digest, size)) = &new_layer {
            // A RUN's upper dir is the snapshot already: moved, not unpacked again.
            let adopted = match from_container {
                Some(id) => self
                    .snapshots
                    .adopt_upper(id, chain.last(), digest, *size)?,
                None => None,
            };
            let snap = match adopted {
                Some(s) => s,
                None => self.unpack_or_drop(chain.last(), digest)?,
            };
            layers.push(LayerRecord::plain(digest.clone(), *size));
            chain.push(snap.chain_id);
            diff_ids.push(digest.clone());
        }
        let created = now_rfc3339();
        let mut history = base_cfg
            .as_ref()
            .map(|c| c.history.clone())
            .unwrap_or_default();
        history.push(HistoryItem {
            created: Some(created.clone()),
            created_by: Some(meta.created_by.clone()),
            author: None,
            comment: meta.comment.clone(),
            empty_layer: new_layer.is_none(),
        });
        let config = ImageConfiguration {
            created: Some(created),
            author: base_cfg
                .as_ref()
                .map(|c| c.author.clone())
                .unwrap_or_default(),
            architecture: base_cfg
                .as_ref()
                .map(|c| c.architecture.clone())
                .unwrap_or_else(|| go_arch().to_string()),
            os: base_cfg
                .as_ref()
                .map(|c| c.os.clone())
                .unwrap_or_else(|| "linux".to_string()),
            variant: base_cfg.as_ref().and_then(|c| c.variant.clone()),
            config: meta.config.clone(),
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
        let mut rec = self.commit_image(&config_bytes, &config, layers, chain)?;
        if rec.parent.is_none() && base.is_some() {
            rec.parent = base.cloned();
            self.store
                .put(crate::metadata::Table::Images, rec.id.as_str(), &rec)?;
        }
        self.image_of(&rec)
    }
}
