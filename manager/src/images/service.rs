//! [`ImageService`]: the verbs of images/.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::config::{HistoryItem, ImageConfig, ImageConfiguration, RootFs};
use super::reference::{glob_match, Reference};
use super::{
    CommitOptions, Error, HistoryEntry, Image, ImageDetail, ImageFilters, ImportOptions,
    InspectRootFs, RemoveAction, ResolvedImage, Result,
};
use crate::content::{ContentStore, Digest};
use crate::metadata::{Store, Table};
use crate::snapshots::{Snapshotter, UnpackOptions};

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
    fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// Local images over content/ + snapshots/ + metadata/.
#[derive(Debug)]
pub struct ImageService {
    store: Store,
    content: ContentStore,
    snapshots: Snapshotter,
    unpack_opts: UnpackOptions,
    lock: Mutex<()>,
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

pub(super) fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl ImageService {
    /// Opens the image side of berthd's root (content/, snapshots/, meta.redb).
    pub fn new(root: &Path, store: Store) -> Result<ImageService> {
        Ok(ImageService {
            content: ContentStore::open(root)?,
            snapshots: Snapshotter::open(root, store.clone())?,
            store,
            unpack_opts: UnpackOptions::default(),
            lock: Mutex::new(()),
        })
    }

    /// Changes the unpack policy (e.g. to allow device nodes in layers).
    pub fn with_unpack_options(mut self, opts: UnpackOptions) -> ImageService {
        self.unpack_opts = opts;
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

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `docker import`: a rootfs tar (plain or gzip) becomes a one-layer image, tagged
    /// `name` (normalised: `busybox` → `busybox:latest`) when given.
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
        let snap = self.snapshots.unpack(
            None,
            &layer,
            self.content.open_blob(&layer)?,
            &self.unpack_opts,
        );
        let snap = match snap {
            Ok(s) => s,
            Err(e) => {
                self.drop_blob_if_unused(&layer);
                return Err(e.into());
            }
        };
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
        let layers = vec![LayerRecord { blob: layer, size }];
        let rec = self.commit_image(&config_bytes, &config, layers, vec![snap.chain_id])?;
        if let Some(t) = &tag {
            self.set_tag(t, &rec.id)?;
        }
        self.image_of(&rec)
    }

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
        let snap = self.snapshots.unpack(
            base_rec.chain.last(),
            &layer,
            self.content.open_blob(&layer)?,
            &self.unpack_opts,
        );
        let snap = match snap {
            Ok(s) => s,
            Err(e) => {
                self.drop_blob_if_unused(&layer);
                return Err(e.into());
            }
        };
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
        layers.push(LayerRecord { blob: layer, size });
        let mut chain = base_rec.chain.clone();
        chain.push(snap.chain_id);
        let rec = self.commit_image(&config_bytes, &config, layers, chain)?;
        if let Some(t) = &tag {
            self.set_tag(t, &rec.id)?;
        }
        self.image_of(&rec)
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
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": id, "size": config_bytes.len()},
            "layers": layers.iter().map(|l| serde_json::json!({
                "mediaType": MT_OCI_LAYER, "digest": l.blob, "size": l.size,
            })).collect::<Vec<_>>(),
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
        Ok(self.store.put(Table::Tags, &tag.to_string(), id.as_str())?)
    }

    fn tags(&self) -> Result<HashMap<Digest, Vec<String>>> {
        let mut m: HashMap<Digest, Vec<String>> = HashMap::new();
        for (tag, id) in self.store.list::<String>(Table::Tags)? {
            if let Ok(d) = id.parse::<Digest>() {
                m.entry(d).or_default().push(tag);
            }
        }
        Ok(m)
    }

    fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        Ok(self.tags()?.remove(id).unwrap_or_default())
    }

    fn record(&self, id: &Digest) -> Result<ImageRecord> {
        self.store
            .get::<ImageRecord>(Table::Images, id.as_str())?
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    fn records(&self) -> Result<Vec<ImageRecord>> {
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

    fn image_of(&self, rec: &ImageRecord) -> Result<Image> {
        let mut repo_tags = self.tags_of(&rec.id)?;
        repo_tags.sort();
        Ok(Self::image_with_tags(rec, repo_tags))
    }

    fn image_with_tags(rec: &ImageRecord, repo_tags: Vec<String>) -> Image {
        Image {
            id: rec.id.clone(),
            repo_tags,
            created: rec.created.clone(),
            size: rec.size(),
            labels: rec.labels.clone(),
        }
    }

    /// Resolves a reference to an image ID. Returns whether it was a tag.
    pub(super) fn lookup(&self, reference: &str) -> Result<(Digest, bool)> {
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

    /// `docker load`: every image of a docker-archive stream (docker save output,
    /// legacy or OCI-layout flavoured), with its tags.
    pub fn load(&self, archive: impl Read) -> Result<Vec<Image>> {
        super::archive::load(self, archive)
    }

    /// `docker save`: writes the images named by `refs` (tags or IDs) as one
    /// docker-archive (manifest.json + repositories + OCI layout blobs).
    pub fn save(&self, refs: &[String], out: impl Write) -> Result<()> {
        let mut wanted: Vec<(ImageRecord, Vec<String>)> = Vec::new();
        for r in refs {
            let (id, is_tag) = self.lookup(r)?;
            let tag = if is_tag {
                Some(Reference::parse(r)?.to_string())
            } else {
                None
            };
            match wanted.iter_mut().find(|(rec, _)| rec.id == id) {
                Some((_, tags)) => tags.extend(tag),
                None => wanted.push((self.record(&id)?, tag.into_iter().collect())),
            }
        }
        super::archive::save(self, &wanted, out)
    }

    /// `docker images`, newest first.
    pub fn list(&self, filters: &ImageFilters) -> Result<Vec<Image>> {
        let tags = self.tags()?;
        let time = |r: &ImageRecord| {
            chrono::DateTime::parse_from_rfc3339(&r.created)
                .map(|t| t.timestamp_nanos_opt().unwrap_or(0))
                .unwrap_or(0)
        };
        let bound = |r: &Option<String>| -> Result<Option<i64>> {
            r.as_ref()
                .map(|r| {
                    self.lookup(r)
                        .and_then(|(id, _)| self.record(&id))
                        .map(|rec| time(&rec))
                })
                .transpose()
        };
        let before = bound(&filters.before)?;
        let since = bound(&filters.since)?;
        let mut out = Vec::new();
        for rec in self.records()? {
            let mut rtags = tags.get(&rec.id).cloned().unwrap_or_default();
            rtags.sort();
            if let Some(d) = filters.dangling {
                if d != rtags.is_empty() {
                    continue;
                }
            }
            if !filters.reference.is_empty() {
                // As docker: only the matching tags are shown.
                rtags.retain(|t| {
                    let name = t.rsplit_once(':').map(|(n, _)| n).unwrap_or(t);
                    filters
                        .reference
                        .iter()
                        .any(|p| glob_match(p, t) || glob_match(p, name))
                });
                if rtags.is_empty() {
                    continue;
                }
            }
            let labels_ok = filters.label.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => rec.labels.get(k).is_some_and(|x| x == v),
                None => rec.labels.contains_key(l.as_str()),
            });
            if !labels_ok {
                continue;
            }
            if before.is_some_and(|b| time(&rec) >= b) || since.is_some_and(|s| time(&rec) <= s) {
                continue;
            }
            out.push((
                time(&rec),
                rec.added.clone(),
                Self::image_with_tags(&rec, rtags),
            ));
        }
        out.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        Ok(out.into_iter().map(|(_, _, i)| i).collect())
    }

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
            repo_digests: Vec::new(),
            parent: String::new(),
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

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let t = Reference::parse(target)?;
        let _g = self.guard();
        let (id, _) = self.lookup(source)?;
        self.set_tag(&t, &id)
    }

    /// `docker rmi`: untags `reference`; deletes the image (blobs, unused snapshots)
    /// when no tag is left. `in_use(image_id)` tells whether a container uses the
    /// image: then it is refused unless `force` (which only untags/deletes the record;
    /// layers under a container stay until the container is removed).
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemoveAction>> {
        let _g = self.guard();
        let (id, is_tag) = self.lookup(reference)?;
        let tags = self.tags_of(&id)?;
        if is_tag && tags.len() > 1 {
            let t = Reference::parse(reference)?.to_string();
            self.store.delete(Table::Tags, &t)?;
            return Ok(vec![RemoveAction::Untagged(t)]);
        }
        if !is_tag && tags.len() > 1 && !force {
            return Err(Error::MultipleTags {
                id: id.short().to_string(),
            });
        }
        if in_use(id.as_str()) && !force {
            return Err(Error::InUse {
                reference: reference.to_string(),
                id: id.short().to_string(),
            });
        }
        let rec = self.record(&id)?;
        let mut actions = Vec::new();
        self.store.update(|tx| -> Result<()> {
            for t in &tags {
                tx.delete(Table::Tags, t)?;
            }
            tx.delete(Table::Images, id.as_str())?;
            Ok(())
        })?;
        actions.extend(tags.into_iter().map(RemoveAction::Untagged));
        actions.push(RemoveAction::Deleted(id.clone()));
        let rest = self.records()?;
        let used: HashSet<&Digest> = rest
            .iter()
            .flat_map(|r| r.layers.iter().map(|l| &l.blob).chain([&r.id, &r.manifest]))
            .collect();
        for d in rec
            .layers
            .iter()
            .map(|l| &l.blob)
            .chain([&rec.id, &rec.manifest])
        {
            if !used.contains(d) {
                self.content.delete(d)?;
            }
        }
        let keep: Vec<Digest> = rest
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        self.snapshots.remove_unused(&keep)?;
        Ok(actions)
    }

    /// `docker history`, newest first.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let (id, _) = self.lookup(reference)?;
        let rec = self.record(&id)?;
        let cfg = self.config_of(&rec)?;
        let mut out = Vec::new();
        let mut layer = 0usize;
        if cfg.history.is_empty() {
            for l in &rec.layers {
                out.push(HistoryEntry {
                    id: String::new(),
                    created: rec.created.clone(),
                    created_by: String::new(),
                    size: l.size,
                    comment: String::new(),
                    tags: Vec::new(),
                });
            }
        }
        for h in &cfg.history {
            let size = if h.empty_layer {
                0
            } else {
                layer += 1;
                rec.layers.get(layer - 1).map(|l| l.size).unwrap_or(0)
            };
            out.push(HistoryEntry {
                id: String::new(),
                created: h.created.clone().unwrap_or_default(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
                tags: Vec::new(),
            });
        }
        out.reverse();
        for (i, e) in out.iter_mut().enumerate() {
            e.id = if i == 0 {
                id.to_string()
            } else {
                "<missing>".to_string()
            };
        }
        if let Some(top) = out.first_mut() {
            top.tags = self.image_of(&rec)?.repo_tags;
        }
        Ok(out)
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

    /// Start-up clean-up, before any other call: interrupted ingests, blobs and
    /// snapshots no image (or, for snapshots, no container rootfs) references.
    pub fn gc(&self) -> Result<GcReport> {
        let _g = self.guard();
        let mut report = GcReport {
            ingests: self.content.gc_ingests()?,
            ..Default::default()
        };
        let recs = self.records()?;
        let keep: Vec<Digest> = recs
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        let s = self.snapshots.gc(&keep)?;
        report.snapshots = s.snapshot_dirs + s.snapshot_records;
        let used: HashSet<&Digest> = recs
            .iter()
            .flat_map(|r| r.layers.iter().map(|l| &l.blob).chain([&r.id, &r.manifest]))
            .collect();
        for (d, _) in self.content.list()? {
            if !used.contains(&d) {
                self.content.delete(&d)?;
                report.blobs += 1;
            }
        }
        Ok(report)
    }

    pub(super) fn drop_blob_if_unused(&self, d: &Digest) {
        let used = self.records().map(|recs| {
            recs.iter()
                .any(|r| r.id == *d || r.manifest == *d || r.layers.iter().any(|l| l.blob == *d))
        });
        if let Ok(false) = used {
            let _ = self.content.delete(d);
        }
    }

    /// Deletes snapshots no image and no container rootfs needs.
    pub(super) fn remove_unused_snapshots(&self) -> Result<usize> {
        let keep: Vec<Digest> = self
            .records()?
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        Ok(self.snapshots.remove_unused(&keep)?)
    }

    pub(super) fn list_one(&self, id: &Digest) -> Result<Image> {
        self.image_of(&self.record(id)?)
    }

    pub(super) fn unpack_options(&self) -> &UnpackOptions {
        &self.unpack_opts
    }

    pub(super) fn lock_mutations(&self) -> MutexGuard<'_, ()> {
        self.guard()
    }
}

/// What [`ImageService::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub ingests: usize,
    pub blobs: usize,
    pub snapshots: usize,
}

/// Applies one `docker import --change` instruction.
fn apply_change(c: &mut ImageConfig, change: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidChange {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let change = change.trim();
    let (instr, rest) = change
        .split_once(char::is_whitespace)
        .map(|(a, b)| (a, b.trim()))
        .unwrap_or((change, ""));
    if rest.is_empty() {
        return Err(bad("missing argument"));
    }
    let exec_form = |rest: &str| -> Result<Vec<String>> {
        if rest.starts_with('[') {
            serde_json::from_str::<Vec<String>>(rest)
                .map_err(|e| bad(&format!("invalid JSON array: {e}")))
        } else {
            Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
        }
    };
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(exec_form(rest)?),
        "ENTRYPOINT" => c.entrypoint = Some(exec_form(rest)?),
        "WORKDIR" => c.working_dir = rest.to_string(),
        "USER" => c.user = rest.to_string(),
        "STOPSIGNAL" => c.stop_signal = Some(rest.to_string()),
        "ENV" => {
            for (k, v) in key_values(rest).map_err(|r| bad(&r))? {
                let prefix = format!("{k}=");
                c.env.retain(|e| !e.starts_with(&prefix));
                c.env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(rest).map_err(|r| bad(&r))? {
                c.labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                c.exposed_ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| bad(&format!("invalid JSON array: {e}")))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in vols {
                c.volumes.insert(v, serde_json::json!({}));
            }
        }
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ))
        }
    }
    Ok(())
}

/// `k=v k2="v 2"` or the legacy `k v with spaces`.
fn key_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let first = s.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut k = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            k.push(c);
        }
        let mut v = String::new();
        let mut quote = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some(_), '\\') => {
                    if let Some(n) = chars.next() {
                        v.push(n);
                    }
                }
                (None, c) if c.is_whitespace() => break,
                (_, c) => v.push(c),
            }
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(format!("invalid key {k:?}"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// `PathBuf` helper for archive staging.
pub(super) fn stage_dir(content: &ContentStore) -> PathBuf {
    content.ingest_dir().join(content.unique_ref("load"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_docker_import() {
        let mut c = ImageConfig::default();
        for ch in [
            r#"CMD ["sh"]"#,
            "ENV PATH=/bin:/usr/bin",
            r#"ENV A="x y" B=z"#,
            "ENV LEGACY some value",
            "WORKDIR /root",
            "EXPOSE 80 53/udp",
            "LABEL org.x=1",
            "ENTRYPOINT echo hi",
        ] {
            apply_change(&mut c, ch).unwrap();
        }
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            c.env,
            vec!["PATH=/bin:/usr/bin", "A=x y", "B=z", "LEGACY=some value"]
        );
        assert_eq!(c.working_dir, "/root");
        assert!(c.exposed_ports.contains_key("80/tcp") && c.exposed_ports.contains_key("53/udp"));
        assert_eq!(c.labels.get("org.x").map(String::as_str), Some("1"));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert!(apply_change(&mut c, "RUN x").is_err());
        assert!(apply_change(&mut c, "CMD [bad").is_err());
    }
}
