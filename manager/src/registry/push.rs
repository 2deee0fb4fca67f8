//! `docker push`: for each tag, the layers the registry lacks go up in parallel
//! (up to `max-concurrent-uploads`) — unless it already has them (HEAD) or can
//! mount them from another of its repositories — then the config, then the
//! manifest, last, so a registry never holds a manifest whose blobs are missing.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::client::{RawManifest, Repo};
use super::progress::Progress;
use super::{Credentials, Error, Registry, Result};
use crate::content::Digest;
use crate::images::{ImageRef, PushBlob};

/// `push` options.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// `-a`: every local tag of the repository.
    pub all_tags: bool,
    pub creds: Option<Credentials>,
}

/// One pushed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    pub tag: String,
    pub digest: Digest,
    pub size: u64,
}

/// What `push` did.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    pub pushed: Vec<PushedTag>,
}

impl Registry {
    /// `docker push [-a] REF`.
    pub async fn push(
        &self,
        reference: &str,
        opts: &PushOptions,
        progress: &Progress,
    ) -> Result<PushOutcome> {
        let r = ImageRef::parse(reference)?;
        if r.digest().is_some() {
            return Err(Error::Invalid(format!(
                "{reference}: push a tag, not a digest"
            )));
        }
        let tags = if opts.all_tags {
            if r.tag().is_some() {
                return Err(Error::Invalid(
                    "tag can't be used with --all-tags/-a".into(),
                ));
            }
            let images = self.images.clone();
            let rr = r.clone();
            let t = tokio::task::spawn_blocking(move || images.tags_of_repository(&rr))
                .await
                .map_err(|e| Error::Invalid(e.to_string()))??;
            if t.is_empty() {
                return Err(Error::Image(crate::images::Error::NotFound(r.name())));
            }
            t
        } else {
            vec![r.tag().unwrap_or("latest").to_string()]
        };
        progress
            .line(
                "",
                format!(
                    "The push refers to repository [{}/{}]",
                    r.domain(),
                    r.path()
                ),
            )
            .await;
        let ep = self
            .transport
            .endpoints(r.domain(), false)?
            .into_iter()
            .collect::<Vec<_>>();
        let mut out = PushOutcome::default();
        for tag in tags {
            let rt = r.with_tag(&tag);
            let mut last = None;
            let mut done = None;
            for e in &ep {
                let mut repo = Repo::new(e.clone(), r.path(), opts.creds.clone(), "pull,push");
                match self.push_tag(&mut repo, &rt, progress).await {
                    Ok(p) => {
                        done = Some(p);
                        break;
                    }
                    Err(err @ Error::Transport { .. }) => last = Some(err),
                    Err(err) => return Err(err),
                }
            }
            match done {
                Some(p) => out.pushed.push(p),
                None => {
                    return Err(last.unwrap_or_else(|| Error::NoEndpoint(r.domain().to_string())))
                }
            }
        }
        Ok(out)
    }

    async fn push_tag(
        &self,
        repo: &mut Repo,
        r: &ImageRef,
        progress: &Progress,
    ) -> Result<PushedTag> {
        let tag = r.tag().unwrap_or("latest").to_string();
        let local = r
            .tag_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| r.to_string());
        let images = self.images.clone();
        let registry = r.domain().to_string();
        let plan = tokio::task::spawn_blocking(move || images.prepare_push(&local, &registry))
            .await
            .map_err(|e| Error::Invalid(e.to_string()))??;
        // One ping + token first, so the parallel uploads share it.
        repo.session.ping().await?;
        let sem = Arc::new(Semaphore::new(self.transport.config().max_uploads.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for blob in plan.layers.iter().cloned() {
            let mut repo = repo.clone();
            let sem = sem.clone();
            let progress = progress.clone();
            progress.line(blob.digest.short(), "Preparing").await;
            set.spawn(async move {
                let _permit = sem.acquire().await.map_err(|_| Error::Cancelled)?;
                upload(&mut repo, &blob, &progress).await
            });
        }
        while let Some(j) = set.join_next().await {
            j.map_err(|e| Error::Invalid(format!("upload task: {e}")))??;
        }
        upload(repo, &plan.config, &Progress::none()).await?;
        let digest = Digest::of_bytes(&plan.manifest);
        let raw = RawManifest {
            bytes: plan.manifest.clone(),
            media_type: plan.media_type.clone(),
            digest: digest.clone(),
        };
        repo.put_manifest(&tag, &raw).await?;
        let images = self.images.clone();
        let (id, m, rd) = (
            plan.id.clone(),
            plan.manifest.clone(),
            r.repo_digest(&digest),
        );
        tokio::task::spawn_blocking(move || images.pushed(&id, &m, &rd))
            .await
            .map_err(|e| Error::Invalid(e.to_string()))??;
        let size = plan.manifest.len() as u64;
        progress
            .line("", format!("{tag}: digest: {digest} size: {size}"))
            .await;
        Ok(PushedTag { tag, digest, size })
    }
}

/// One blob: skipped when the registry has it, mounted when another repository
/// of it does, else uploaded in one streamed PUT.
async fn upload(repo: &mut Repo, blob: &PushBlob, progress: &Progress) -> Result<()> {
    let id = blob.digest.short();
    if repo.blob_size(&blob.digest).await?.is_some() {
        progress.line(id, "Layer already exists").await;
        return Ok(());
    }
    let mut location = None;
    let own = repo.path.clone();
    for from in blob.mount_from.iter().filter(|f| **f != own) {
        match repo.mount(&blob.digest, from).await {
            Ok(None) => {
                progress.line(id, format!("Mounted from {from}")).await;
                return Ok(());
            }
            Ok(Some(loc)) => {
                location = Some(loc);
                break;
            }
            Err(e) => tracing::info!(blob = %blob.digest, from, error = %e, "mount refused"),
        }
    }
    let location = match location {
        Some(l) => l,
        None => repo.start_upload().await?,
    };
    progress.send(id, "Pushing", 0, blob.size);
    repo.put_blob(&location, &blob.digest, &blob.path, blob.size)
        .await?;
    progress.line(id, "Pushed").await;
    Ok(())
}
