//! `docker pull`: resolve the reference (an index picks the platform), fetch the
//! config, then every layer at once (up to `max-concurrent-downloads`), each
//! streamed into its resumable ingest **and** through the decompressor into its
//! staging snapshot as the bytes arrive, so a layer is unpacked when its last byte
//! lands. A layer is checked against its digest and size (and its diff ID) before
//! it becomes a blob; a connection that drops mid-layer is picked up where it
//! stopped (HTTP Range), now or at the next pull, even after berthd was killed.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::client::{Repo, MT_DOCKER_LIST, MT_OCI_INDEX};
use super::progress::Progress;
use super::{Credentials, Error, Registry, Result};
use crate::content::Digest;
use crate::images::{ImageRef, ImageService, PulledImage, PulledLayer};
use crate::snapshots::{chain_id, StagedLayer};

/// Largest image config berth reads.
const CONFIG_MAX: usize = 8 << 20;
/// Attempts per layer when the connection drops (each resumes where it stopped).
const LAYER_ATTEMPTS: u32 = 4;

/// `pull` options.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `--platform os/arch[/variant]`; empty: the host's.
    pub platform: String,
    /// `-a`: every tag of the repository.
    pub all_tags: bool,
    pub creds: Option<Credentials>,
}

/// What one reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledRef {
    /// The familiar reference (`busybox:latest`, `x@sha256:…`).
    pub reference: String,
    /// Fully qualified (`docker.io/library/busybox:latest`), as docker's last line.
    pub canonical: String,
    pub id: Digest,
    /// The digest the reference resolved to (index or manifest).
    pub digest: Digest,
    /// Nothing was downloaded: the image was complete already.
    pub up_to_date: bool,
}

/// What `pull` did.
#[derive(Debug, Clone, Default)]
pub struct PullOutcome {
    pub pulled: Vec<PulledRef>,
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform, in Go's names (GOARCH).
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// Parses `--platform`; empty is the host's.
    pub fn parse(s: &str) -> Result<Platform> {
        if s.is_empty() {
            return Ok(Platform::host());
        }
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::Invalid(format!(
                "invalid platform {s:?}: expected os/arch[/variant]"
            ))
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                arch: arch.to_lowercase(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => Ok(Platform {
                os: os.to_lowercase(),
                arch: arch.to_lowercase(),
                variant: Some(v.to_lowercase()),
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct PlatformJson {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub(super) struct ManifestJson {
    #[serde(rename = "schemaVersion", default)]
    pub schema_version: u32,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

fn parse_manifest(reference: &str, bytes: &[u8]) -> Result<ManifestJson> {
    let m: ManifestJson = serde_json::from_slice(bytes).map_err(|e| Error::BadManifest {
        reference: reference.to_string(),
        reason: e.to_string(),
    })?;
    if m.schema_version == 1 {
        return Err(Error::BadManifest {
            reference: reference.to_string(),
            reason: "Docker schema 1 manifests are not supported; push the image again with a current docker".into(),
        });
    }
    Ok(m)
}

fn digest_of(reference: &str, d: &Descriptor) -> Result<Digest> {
    d.digest.parse().map_err(|_| Error::BadManifest {
        reference: reference.to_string(),
        reason: format!("descriptor digest {:?} is not sha256:<64 hex>", d.digest),
    })
}

impl Registry {
    /// `docker pull [-a] [--platform P] REF`.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<PullOutcome> {
        let r = ImageRef::parse(reference)?;
        let platform = Platform::parse(&opts.platform)?;
        let mut out = PullOutcome::default();
        if opts.all_tags {
            if r.tag().is_some() || r.digest().is_some() {
                return Err(Error::Invalid(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let tags = self.tags(&r, opts.creds.clone()).await?;
            if tags.is_empty() {
                return Err(Error::NotFound {
                    reference: r.name(),
                    message: "the repository has no tags".into(),
                });
            }
            for t in tags {
                let rt = r.with_tag(&t);
                out.pulled
                    .push(self.pull_one(&rt, &platform, &opts.creds, progress).await?);
            }
        } else {
            out.pulled
                .push(self.pull_one(&r, &platform, &opts.creds, progress).await?);
        }
        Ok(out)
    }

    async fn tags(&self, r: &ImageRef, creds: Option<Credentials>) -> Result<Vec<String>> {
        let mut last = None;
        for ep in self.transport.endpoints(r.domain(), true)? {
            let fallback = ep.mirror;
            let mut repo = Repo::new(ep, r.path(), creds.clone(), "pull");
            match repo.tags().await {
                Ok(t) => return Ok(t),
                Err(e) if fallback || matches!(e, Error::Transport { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::NoEndpoint(r.domain().to_string())))
    }

    async fn pull_one(
        &self,
        r: &ImageRef,
        platform: &Platform,
        creds: &Option<Credentials>,
        progress: &Progress,
    ) -> Result<PulledRef> {
        let what = r
            .tag()
            .map(str::to_string)
            .unwrap_or_else(|| r.registry_reference());
        progress
            .line("", format!("{what}: Pulling from {}", r.path()))
            .await;
        let mut last = None;
        for ep in self.transport.endpoints(r.domain(), true)? {
            let fallback = ep.mirror;
            let base = ep.base.clone();
            let mut repo = Repo::new(ep, r.path(), creds.clone(), "pull");
            match self.pull_from(&mut repo, r, platform, progress).await {
                Ok(p) => return Ok(p),
                Err(e) if fallback || matches!(e, Error::Transport { .. }) => {
                    tracing::info!(endpoint = %base, error = %e, "pull: trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::NoEndpoint(r.domain().to_string())))
    }

    async fn pull_from(
        &self,
        repo: &mut Repo,
        r: &ImageRef,
        platform: &Platform,
        progress: &Progress,
    ) -> Result<PulledRef> {
        let reference = r.registry_reference();
        let top = repo.manifest(&reference).await?;
        let top_json = parse_manifest(&reference, &top.bytes)?;
        let is_index = top.media_type == MT_OCI_INDEX
            || top.media_type == MT_DOCKER_LIST
            || (top_json.config.is_none() && !top_json.manifests.is_empty());
        let (manifest, m, index) = if is_index {
            let chosen =
                pick_platform(&top_json.manifests, platform).ok_or_else(|| Error::NoPlatform {
                    reference: r.to_string(),
                    platform: platform.to_string(),
                })?;
            let d = digest_of(&reference, chosen)?;
            let raw = repo.manifest(d.as_str()).await?;
            let m = parse_manifest(d.as_str(), &raw.bytes)?;
            (raw, m, Some(top.bytes.clone()))
        } else {
            (top.clone(), top_json, None)
        };
        let config_desc = m.config.as_ref().ok_or_else(|| Error::BadManifest {
            reference: reference.clone(),
            reason: "a manifest without a config".into(),
        })?;
        let config_digest = digest_of(&reference, config_desc)?;
        let repo_digest = r.repo_digest(&top.digest);
        let tag = r.tag_ref();
        let canonical = format!(
            "{}/{}{}",
            r.domain(),
            r.path(),
            match (r.tag(), r.digest()) {
                (_, Some(d)) => format!("@{d}"),
                (Some(t), None) => format!(":{t}"),
                (None, None) => ":latest".to_string(),
            }
        );
        let familiar = match &tag {
            Some(t) => t.to_string(),
            None => repo_digest.clone(),
        };
        let images = self.images.clone();
        let cd = config_digest.clone();
        let complete = tokio::task::spawn_blocking(move || images.has_complete(&cd))
            .await
            .unwrap_or(false);
        if complete {
            let images = self.images.clone();
            let (cd, t, rd) = (config_digest.clone(), tag.clone(), repo_digest.clone());
            tokio::task::spawn_blocking(move || images.retag_pulled(&cd, t.as_ref(), &rd))
                .await
                .map_err(|e| Error::Invalid(e.to_string()))??;
            progress.line("", format!("Digest: {}", top.digest)).await;
            progress
                .line("", format!("Status: Image is up to date for {familiar}"))
                .await;
            return Ok(PulledRef {
                reference: familiar,
                canonical,
                id: config_digest,
                digest: top.digest,
                up_to_date: true,
            });
        }
        let config = repo.small_blob(&config_digest, CONFIG_MAX).await?;
        let cfg = self
            .images
            .check_pulled_config(&config, &config_digest, m.layers.len())?;
        let layers = self
            .fetch_layers(repo, &reference, &m.layers, &cfg.rootfs.diff_ids, progress)
            .await?;
        let images = self.images.clone();
        let img = PulledImage {
            config,
            config_digest: config_digest.clone(),
            manifest: manifest.bytes,
            index,
            layers,
            tag,
            repo_digest,
        };
        let id = tokio::task::spawn_blocking(move || images.store_pulled(img))
            .await
            .map_err(|e| Error::Invalid(e.to_string()))??;
        progress.line("", format!("Digest: {}", top.digest)).await;
        progress
            .line("", format!("Status: Downloaded newer image for {familiar}"))
            .await;
        Ok(PulledRef {
            reference: familiar,
            canonical,
            id,
            digest: top.digest,
            up_to_date: false,
        })
    }

    /// Every layer at once, bounded by `max-concurrent-downloads`. The first failure
    /// stops the others (their ingests stay for the next attempt).
    async fn fetch_layers(
        &self,
        repo: &Repo,
        reference: &str,
        descs: &[Descriptor],
        diff_ids: &[Digest],
        progress: &Progress,
    ) -> Result<Vec<PulledLayer>> {
        let sem = Arc::new(Semaphore::new(self.transport.config().max_downloads.max(1)));
        let mut set = tokio::task::JoinSet::new();
        let mut parent: Option<Digest> = None;
        for (i, (desc, diff_id)) in descs.iter().zip(diff_ids).enumerate() {
            let chain = chain_id(parent.as_ref(), diff_id);
            parent = Some(chain.clone());
            let job = LayerJob {
                images: self.images.clone(),
                repo: repo.clone(),
                blob: digest_of(reference, desc)?,
                size: desc.size,
                media_type: desc.media_type.clone(),
                diff_id: diff_id.clone(),
                chain,
                limit: self.transport.config().layer_limit(desc.size),
                progress: progress.clone(),
            };
            progress.line(job.blob.short(), "Pulling fs layer").await;
            let sem = sem.clone();
            set.spawn(async move {
                let r = async {
                    let _permit = sem.acquire().await.map_err(|_| Error::Cancelled)?;
                    job.run().await
                }
                .await;
                (i, r)
            });
        }
        let mut out: Vec<Option<PulledLayer>> = (0..descs.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|e| Error::Invalid(format!("layer task: {e}")))?;
            // Returning drops the set, which aborts the other downloads.
            out[i] = Some(r?);
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// Picks the manifest for `p` from an index (docker's matcher: os and architecture,
/// the variant when asked for or when the host has one).
fn pick_platform<'a>(manifests: &'a [Descriptor], p: &Platform) -> Option<&'a Descriptor> {
    let matches = |d: &&Descriptor, strict_variant: bool| {
        d.platform.as_ref().is_some_and(|q| {
            q.os == p.os
                && q.architecture == p.arch
                && match (&p.variant, &q.variant) {
                    (Some(want), Some(have)) => want == have,
                    (Some(_), None) => !strict_variant,
                    (None, _) => true,
                }
        })
    };
    manifests
        .iter()
        .find(|d| matches(d, true))
        .or_else(|| manifests.iter().find(|d| matches(d, false)))
}

/// One layer to fetch.
struct LayerJob {
    images: Arc<ImageService>,
    repo: Repo,
    blob: Digest,
    size: u64,
    media_type: String,
    diff_id: Digest,
    chain: Digest,
    limit: u64,
    progress: Progress,
}

/// What the download side hands the unpack side.
enum Chunk {
    Data(Bytes),
    End,
    Failed(String),
}

impl LayerJob {
    async fn run(mut self) -> Result<PulledLayer> {
        let id = self.blob.short().to_string();
        let images = self.images.clone();
        let (chain, blob) = (self.chain.clone(), self.blob.clone());
        let (snap, have_blob, tar_size) = tokio::task::spawn_blocking(move || {
            let snap = images.snapshots().get(&chain).ok().flatten();
            let tar_size = images.layer_size(&chain).ok().flatten();
            (snap, images.content().exists(&blob), tar_size)
        })
        .await
        .map_err(|e| Error::Invalid(e.to_string()))?;
        if let (Some(s), true) = (&snap, have_blob) {
            self.progress.line(&id, "Already exists").await;
            // An image's size counts tar bytes, as the layer's other images do
            // (the snapshot's own size counts only file bytes).
            return Ok(self.layer(tar_size.unwrap_or(s.size), None));
        }
        let unpack = snap.is_none();
        let (len_tx, len_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel::<Chunk>(32);
        let worker = {
            let images = self.images.clone();
            let (blob, size, media, diff_id, limit) = (
                self.blob.clone(),
                self.size,
                self.media_type.clone(),
                self.diff_id.clone(),
                self.limit,
            );
            let registry = self.repo.registry().to_string();
            tokio::task::spawn_blocking(move || {
                ingest_and_unpack(IngestJob {
                    images: &images,
                    registry,
                    blob,
                    size,
                    media_type: media,
                    diff_id,
                    limit,
                    unpack,
                    len_tx,
                    rx,
                })
            })
        };
        // The worker says how much is already here; a failure before that is its own.
        let have = match len_rx.await {
            Ok(n) => n,
            Err(_) => {
                return Err(worker
                    .await
                    .map_err(|e| Error::Invalid(e.to_string()))?
                    .err()
                    .unwrap_or(Error::Cancelled))
            }
        };
        if have > 0 && have < self.size {
            self.progress
                .line(
                    &id,
                    format!("Resuming download at {have} of {} bytes", self.size),
                )
                .await;
        }
        let downloaded = self.download(have, &tx).await;
        if let Err(e) = &downloaded {
            let _ = tx.send(Chunk::Failed(e.to_string())).await;
        } else {
            let _ = tx.send(Chunk::End).await;
            self.progress.line(&id, "Download complete").await;
        }
        drop(tx);
        let res = worker.await.map_err(|e| Error::Invalid(e.to_string()))?;
        // The download's own error says more than the worker's "cut short".
        downloaded?;
        let (size, staged) = res?;
        self.progress.line(&id, "Pull complete").await;
        Ok(self.layer(size.unwrap_or(0), staged))
    }

    fn layer(&self, size: u64, staged: Option<StagedLayer>) -> PulledLayer {
        PulledLayer {
            blob: self.blob.clone(),
            media_type: self.media_type.clone(),
            diff_id: self.diff_id.clone(),
            size,
            staged,
        }
    }

    /// Sends bytes `have..size` of the blob to the worker, resuming with a Range
    /// request when the connection drops.
    async fn download(&mut self, have: u64, tx: &mpsc::Sender<Chunk>) -> Result<()> {
        let id = self.blob.short().to_string();
        let mut got = have;
        let mut attempt = 0;
        let mut last_report = 0u64;
        while got < self.size {
            attempt += 1;
            let (resp, start) = match self.repo.blob(&self.blob, got).await {
                Ok(r) => r,
                Err(e @ Error::Transport { .. }) if attempt < LAYER_ATTEMPTS => {
                    tracing::info!(blob = %self.blob, error = %e, "layer download: retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt as u64))
                        .await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut skip = got - start;
            let mut body = resp.bytes_stream();
            let mut cut: Option<String> = None;
            while let Some(next) = body.next().await {
                let mut chunk = match next {
                    Ok(c) => c,
                    Err(e) => {
                        cut = Some(e.to_string());
                        break;
                    }
                };
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64) as usize;
                    chunk = chunk.slice(n..);
                    skip -= n as u64;
                }
                if chunk.is_empty() {
                    continue;
                }
                if got + chunk.len() as u64 > self.size {
                    return Err(Error::BadBlob {
                        registry: self.repo.registry().to_string(),
                        digest: self.blob.to_string(),
                        reason: format!("longer than the {} bytes its descriptor says", self.size),
                    });
                }
                got += chunk.len() as u64;
                if tx.send(Chunk::Data(chunk)).await.is_err() {
                    // The worker stopped (bad data); its error tells why.
                    return Ok(());
                }
                if got - last_report >= 256 * 1024 || got == self.size {
                    last_report = got;
                    self.progress.send(&id, "Downloading", got, self.size);
                }
            }
            if got < self.size {
                let why = cut.unwrap_or_else(|| "the connection closed early".into());
                if attempt >= LAYER_ATTEMPTS {
                    return Err(Error::BadBlob {
                        registry: self.repo.registry().to_string(),
                        digest: self.blob.to_string(),
                        reason: format!(
                            "cut off at {got} of {} bytes ({why}); pull again to resume",
                            self.size
                        ),
                    });
                }
                tracing::info!(blob = %self.blob, got, why, "layer download cut off: resuming");
            }
        }
        Ok(())
    }
}

struct IngestJob<'a> {
    images: &'a ImageService,
    registry: String,
    blob: Digest,
    size: u64,
    media_type: String,
    diff_id: Digest,
    limit: u64,
    unpack: bool,
    len_tx: oneshot::Sender<u64>,
    rx: mpsc::Receiver<Chunk>,
}

/// The blocking half of a layer: appends what arrives to the ingest, hashes the
/// whole blob, and (with `unpack`) decompresses and unpacks it on the way.
/// Returns the uncompressed size and the staged layer.
fn ingest_and_unpack(job: IngestJob<'_>) -> Result<(Option<u64>, Option<StagedLayer>)> {
    let content = job.images.content();
    let bad = |reason: String| Error::BadBlob {
        registry: job.registry.clone(),
        digest: job.blob.to_string(),
        reason,
    };
    let mut ingest = content
        .resumable(&job.blob)
        .map_err(crate::images::Error::from)?;
    if ingest.len() > job.size {
        ingest.discard();
        ingest = content
            .resumable(&job.blob)
            .map_err(crate::images::Error::from)?;
    }
    // Another pull may have finished this blob while we waited for its lock.
    let done = content.exists(&job.blob);
    let have = if done { job.size } else { ingest.len() };
    let _ = job.len_tx.send(have);
    let mut reader = BlobReader {
        prefix: if done {
            Some(Box::new(
                content
                    .open_blob(&job.blob)
                    .map_err(crate::images::Error::from)?,
            ))
        } else {
            Some(Box::new(
                ingest.prefix().map_err(crate::images::Error::from)?,
            ))
        },
        rx: job.rx,
        cur: Bytes::new(),
        ingest: if done { None } else { Some(&mut ingest) },
        hasher: Sha256::new(),
        count: 0,
        ended: false,
        failure: None,
    };
    let mut result = (None, None);
    if job.unpack {
        let mut br = BufReader::with_capacity(256 * 1024, &mut reader);
        let kind = Compression::of(
            &job.media_type,
            br.fill_buf().map_err(|e| bad(e.to_string()))?,
        );
        let mut decoded = Decoded::new(kind, br).map_err(|e| bad(format!("decompressing: {e}")))?;
        let mut counted = Limited {
            inner: &mut decoded,
            count: 0,
            limit: job.limit,
        };
        let staged =
            job.images
                .snapshots()
                .stage(&job.diff_id, &mut counted, job.images.unpack_options());
        let tar_size = counted.count;
        let staged = match staged {
            Ok(s) => s,
            Err(e) => {
                drop(decoded);
                if let Some(f) = reader.failure.take() {
                    // The download stopped: what the ingest holds is a
                    // prefix of the blob, kept for the next pull to resume.
                    return Err(f);
                }
                let err = if tar_size >= job.limit {
                    drop(reader);
                    bad(format!(
                        "expands beyond {} bytes uncompressed: refused (a decompression bomb?); \
                         raise max-layer-size in daemon.json if the image is trusted",
                        job.limit
                    ))
                } else {
                    // Read the rest so that bytes which are not the blob are
                    // reported as such rather than as a broken tar.
                    let drained = io::copy(&mut reader, &mut io::sink());
                    let failure = reader.failure.take();
                    let (actual, count) = reader.finish();
                    match (drained, failure) {
                        (_, Some(f)) => return Err(f),
                        (Ok(_), None) if count == job.size && actual != job.blob => bad(format!(
                            "the registry sent content with digest {actual}; refused"
                        )),
                        _ => bad(format!(
                            "unpacking the layer: {}",
                            crate::images::Error::from(e)
                        )),
                    }
                };
                // Not a download cut: the bytes are wrong or unusable, so the
                // next pull must fetch them again rather than resume them.
                ingest.discard();
                return Err(err);
            }
        };
        let mut br = decoded.into_inner();
        io::copy(&mut br, &mut io::sink()).map_err(|e| bad(e.to_string()))?;
        result = (Some(tar_size), Some(staged));
    } else {
        io::copy(&mut reader, &mut io::sink()).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(f) = reader.failure.take() {
        return Err(f);
    }
    let (actual, count) = reader.finish();
    if count != job.size {
        return Err(bad(format!(
            "{count} bytes arrived but its descriptor says {}",
            job.size
        )));
    }
    if actual != job.blob {
        ingest.discard();
        return Err(bad(format!(
            "the registry sent content with digest {actual}"
        )));
    }
    if !done {
        ingest
            .commit_verified()
            .map_err(crate::images::Error::from)?;
    }
    Ok(result)
}

/// The blob's bytes in order: what an earlier attempt left in the ingest, then
/// what the download sends (appended to the ingest as it passes), all hashed.
struct BlobReader<'a, 'b> {
    prefix: Option<Box<dyn Read + 'b>>,
    rx: mpsc::Receiver<Chunk>,
    cur: Bytes,
    ingest: Option<&'b mut crate::content::Resumable<'a>>,
    hasher: Sha256,
    count: u64,
    ended: bool,
    failure: Option<Error>,
}

impl BlobReader<'_, '_> {
    fn finish(self) -> (Digest, u64) {
        (Digest::from_hasher(self.hasher), self.count)
    }
}

impl Read for BlobReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &mut self.prefix {
            let n = p.read(buf)?;
            if n > 0 {
                self.hasher.update(&buf[..n]);
                self.count += n as u64;
                return Ok(n);
            }
            self.prefix = None;
        }
        while self.cur.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => {
                    if let Some(ing) = self.ingest.as_mut() {
                        ing.append(&b).map_err(io::Error::other)?;
                    }
                    self.cur = b;
                }
                Some(Chunk::End) => self.ended = true,
                Some(Chunk::Failed(why)) => {
                    self.failure = Some(Error::Cancelled);
                    return Err(io::Error::other(why));
                }
                None => {
                    self.failure = Some(Error::Cancelled);
                    return Err(io::Error::other("the download stopped"));
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// By media type, else by magic number (docker's media types say
    /// `tar.gzip` for every layer).
    fn of(media_type: &str, head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || (media_type.ends_with("zstd") && head.is_empty())
        {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

enum Decoded<R: BufRead> {
    Plain(R),
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: BufRead> Decoded<R> {
    fn new(kind: Compression, r: R) -> io::Result<Decoded<R>> {
        Ok(match kind {
            Compression::None => Decoded::Plain(r),
            Compression::Gzip => Decoded::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(r))),
            Compression::Zstd => Decoded::Zstd(zstd::stream::read::Decoder::with_buffer(r)?),
        })
    }

    fn into_inner(self) -> R {
        match self {
            Decoded::Plain(r) => r,
            Decoded::Gzip(d) => d.into_inner(),
            Decoded::Zstd(d) => d.finish(),
        }
    }
}

impl<R: BufRead> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoded::Plain(r) => r.read(buf),
            Decoded::Gzip(d) => d.read(buf),
            Decoded::Zstd(d) => d.read(buf),
        }
    }
}

/// Counts the uncompressed bytes and refuses more than `limit`.
struct Limited<R> {
    inner: R,
    count: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.count = self.limit;
            return Err(io::Error::other("layer too large uncompressed"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: String::new(),
            digest: format!("sha256:{arch}"),
            size: 1,
            platform: Some(PlatformJson {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(str::to_string),
            }),
        }
    }

    #[test]
    fn platform_matching() {
        let list = vec![
            desc("arm", Some("v6")),
            desc("arm", Some("v7")),
            desc("amd64", None),
        ];
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!(pick_platform(&list, &p).unwrap().digest, "sha256:arm");
        assert_eq!(
            pick_platform(&list, &p)
                .unwrap()
                .platform
                .as_ref()
                .unwrap()
                .variant
                .as_deref(),
            Some("v7")
        );
        let p = Platform::parse("linux/amd64").unwrap();
        assert_eq!(pick_platform(&list, &p).unwrap().digest, "sha256:amd64");
        assert!(pick_platform(&list, &Platform::parse("linux/s390x").unwrap()).is_none());
        assert!(Platform::parse("linux").is_err());
        assert_eq!(Platform::parse("").unwrap(), Platform::host());
    }

    #[test]
    fn compression_by_magic() {
        assert_eq!(
            Compression::of("x.tar.gzip", &[0x1f, 0x8b, 8]),
            Compression::Gzip
        );
        assert_eq!(
            Compression::of("x+zstd", &[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::of("x.tar", b"ustar"), Compression::None);
    }
}
