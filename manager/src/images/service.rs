//! [`ImageService`]: the state every verb shares (content store, snapshotter,
//! metadata, the mutation lock, the event bus) and the store steps several verbs
//! take. Each verb is its own file beside this one (`import.rs`, `load.rs`, …).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::config::ImageConfiguration;
use super::record::{now_rfc3339, ImageRecord, LayerRecord, MT_OCI_CONFIG, MT_OCI_MANIFEST};
use super::{Error, Image, ImageRef, Reference, Result};
use crate::content::{ContentStore, Digest};
use crate::events::Events;
use crate::metadata::{Store, Table};
use crate::snapshots::{Snapshotter, UnpackOptions};

/// Local images over content/ + snapshots/ + metadata/.
#[derive(Debug)]
pub struct ImageService {
    pub(super) store: Store,
    pub(super) content: ContentStore,
    pub(super) snapshots: Snapshotter,
    pub(super) unpack_opts: UnpackOptions,
    /// Where uploads (import/load bodies) are spooled; cleared at daemon start.
    pub(super) uploads: PathBuf,
    events: Events,
    lock: Mutex<()>,
}

impl ImageService {
    /// Opens the image side of berthd's root (content/, snapshots/, meta.redb).
    /// Events go to a bus of its own until [`ImageService::with_events`].
    pub fn new(root: &Path, store: Store) -> Result<ImageService> {
        Ok(ImageService {
            content: ContentStore::open(root)?,
            snapshots: Snapshotter::open(root, store.clone())?,
            store,
            unpack_opts: UnpackOptions::default(),
            uploads: root.join("tmp"),
            events: Events::new(),
            lock: Mutex::new(()),
        })
    }

    /// Changes the unpack policy (e.g. to allow device nodes in layers).
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> ImageService {
        self.unpack_opts = opts;
        self
    }

    /// Publishes image events (`import`, `load`, `tag`, `untag`, `delete`) on
    /// the daemon's bus.
    pub fn with_events(mut self, events: Events) -> ImageService {
        self.events = events;
        self
    }

    /// The content store (blobs).
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The snapshotter (layers and container rootfs).
    pub fn snapshots(&self) -> &Snapshotter {
        &self.snapshots
    }

    pub(super) fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes `image <action>` once the change is in the store; `name`, when
    /// not empty, is the `name` attribute `--filter image=` matches.
    pub(super) fn publish(&self, action: &str, id: &str, name: &str) {
        let mut attrs = HashMap::new();
        if !name.is_empty() {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.events.publish("image", action, id, attrs);
    }

    /// Streams a layer (gzip or plain) into the content store uncompressed, verifying
    /// `expected` (the diff ID) when given. Returns the blob (= diff ID) and size.
    pub(super) fn store_layer(
        &self,
        r: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut br = BufReader::with_capacity(1 << 16, r);
        let gz = br
            .fill_buf()
            .map_err(Error::Stream)?
            .starts_with(&[0x1f, 0x8b]);
        let mut w = self.content.writer(&self.content.unique_ref("layer"))?;
        if gz {
            let mut d = flate2::read::MultiGzDecoder::new(br);
            std::io::copy(&mut d, &mut w).map_err(Error::Stream)?;
        } else {
            std::io::copy(&mut br, &mut w).map_err(Error::Stream)?;
        }
        Ok(w.commit(expected)?)
    }

    /// Stores config + manifest and the image record (no tags).
    pub(super) fn commit_image(
        &self,
        config_bytes: &[u8],
        config: &ImageConfiguration,
        layers: Vec<LayerRecord>,
        chain: Vec<Digest>,
    ) -> Result<ImageRecord> {
        let id = self.content.put_bytes(config_bytes)?;
        let mut descs = Vec::new();
        for l in &layers {
            // A descriptor's size is the blob's (compressed, for a pulled layer).
            let size = match l.media_type {
                None => l.size,
                Some(_) => self.content.size(&l.blob)?,
            };
            descs.push(serde_json::json!({
                "mediaType": l.manifest_media_type(), "digest": l.blob, "size": size,
            }));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": id, "size": config_bytes.len()},
            "layers": descs,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::InvalidConfig {
            digest: id.to_string(),
            reason: e.to_string(),
        })?;
        let manifest = self.content.put_bytes(&manifest_bytes)?;
        let rec = ImageRecord {
            id: id.clone(),
            manifest,
            layers,
            chain,
            created: config.created.clone().unwrap_or_default(),
            labels: config.config.labels.clone(),
            added: now_rfc3339(),
            repo_digests: Vec::new(),
            parent: None,
        };
        self.store.update(|tx| {
            // Loading an image that is already here keeps its first `added` time.
            let existing: Option<ImageRecord> = tx.get(Table::Images, id.as_str())?;
            let rec = existing.unwrap_or_else(|| rec.clone());
            tx.put(Table::Images, id.as_str(), &rec)
        })?;
        Ok(rec)
    }

    pub(super) fn set_tag(&self, tag: &Reference, id: &Digest) -> Result<()> {
        let name = tag.to_string();
        // A rebuild tags the same image again: no write, no fsync, for that.
        if self.store.get::<String>(Table::Tags, &name)?.as_deref() == Some(id.as_str()) {
            return Ok(());
        }
        Ok(self.store.put(Table::Tags, &name, id.as_str())?)
    }

    pub(super) fn tags(&self) -> Result<HashMap<Digest, Vec<String>>> {
        let mut m: HashMap<Digest, Vec<String>> = HashMap::new();
        for (tag, id) in self.store.list::<String>(Table::Tags)? {
            if let Ok(d) = id.parse::<Digest>() {
                m.entry(d).or_default().push(tag);
            }
        }
        Ok(m)
    }

    pub(super) fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self.tags()?.remove(id).unwrap_or_default())
    }

    pub(super) fn record(&self, id: &Digest) -> Result<ImageRecord> {
        self.store
            .get::<ImageRecord>(Table::Images, id.as_str())?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    pub(super) fn records(&self) -> Result<Vec<ImageRecord>> {
        Ok(self
            .store
            .list::<ImageRecord>(Table::Images)?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }

    pub(super) fn config_of(&self, rec: &ImageRecord) -> Result<ImageConfiguration> {
        let bytes = self.content.read(&rec.id)?;
        ImageConfiguration::parse(&bytes, &rec.id)
    }

    pub(super) fn image_of(&self, rec: &ImageRecord) -> Result<Image> {
        let mut repo_tags = self.tags_of(&rec.id)?;
        repo_tags.sort();
        Ok(Self::image_with_tags(rec, repo_tags))
    }

    pub(super) fn image_with_tags(rec: &ImageRecord, repo_tags: Vec<String>) -> Image {
        Image {
            id: rec.id.clone(),
            repo_tags,
            repo_digests: {
                let mut d = rec.repo_digests.clone();
                d.sort();
                d
            },
            created: rec.created.clone(),
            size: rec.size(),
            labels: rec.labels.clone(),
        }
    }

    /// Resolves a reference to an image ID. Returns whether it was a tag.
    pub(super) fn lookup(&self, reference: &str) -> Result<(Digest, bool)> {
        if reference.contains('@') {
            // `name@digest` (a tag beside it is ignored, as docker does): the image
            // pulled or pushed as that manifest.
            let r = ImageRef::parse(reference)?;
            if let Some(d) = r.digest() {
                let want = r.repo_digest(d);
                for rec in self.records()? {
                    if rec.repo_digests.contains(&want) {
                        return Ok((rec.id, false));
                    }
                }
            }
            return Err(Error::NotFound(reference.to_string()));
        }
        if let Ok(r) = Reference::parse(reference) {
            if let Some(id) = self.store.get::<String>(Table::Tags, &r.to_string())? {
                if let Ok(d) = id.parse() {
                    return Ok((d, true));
                }
            }
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() >= 4 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let found: Vec<Digest> = self
                .store
                .list_prefix::<ImageRecord>(Table::Images, &format!("sha256:{hex}"))?
                .into_iter()
                .map(|(_, r)| r.id)
                .collect();
            match found.len() {
                1 => return Ok((found[0].clone(), false)),
                0 => {}
                _ => {
                    return Err(Error::InvalidReference {
                        reference: reference.to_string(),
                        reason: "ambiguous short ID; give more digits".into(),
                    })
                }
            }
        }
        Err(Error::NotFound(reference.to_string()))
    }

    pub(super) fn list_one(&self, id: &Digest) -> Result<Image> {
        self.image_of(&self.record(id)?)
    }

    pub fn unpack_options(&self) -> &UnpackOptions {
        &self.unpack_opts
    }
}
