//! `builder prune`: forget cached steps and delete the intermediate images only the
//! cache kept. Without `all`, only what no tagged image is built on ("dangling"
//! cache, docker's default); `until` keeps entries made after it.
use std::collections::HashSet;

use super::exec::Builder;
use super::BuildError;
use crate::content::Digest;
use crate::volumes::Usage;

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPruneReport {
    pub entries: usize,
    pub images: Vec<Digest>,
    pub reclaimed: u64,
}

impl Builder {
    /// `system df`'s Build Cache line: cached steps and cache mounts; the bytes of
    /// the layers only the cache holds, and of the cache mounts, all reclaimable
    /// by `builder prune -a`.
    pub async fn usage(&self) -> Result<Usage, BuildError> {
        let cache = self.cache().clone();
        let mounts = self.dirs().cache_mounts();
        self.blocking(move |images| {
            let entries = cache
                .entries()
                .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
            let ids: Vec<Digest> = entries.iter().map(|(_, e)| e.image.clone()).collect();
            let mut size = images.leftover_bytes(&ids)?;
            let mut total = entries.len() as u64;
            if let Ok(dirs) = std::fs::read_dir(&mounts) {
                for d in dirs.flatten() {
                    total += 1;
                    size += dir_bytes(&d.path());
                }
            }
            Ok(Usage {
                total,
                active: 0,
                size,
                reclaimable: size,
            })
        })
        .await
    }

    pub async fn prune(
        &self,
        all: bool,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<BuildPruneReport, BuildError> {
        let used: Vec<String> = self
            .containers()
            .all()
            .map_err(|e| BuildError::Invalid(e.to_string()))?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        let cache = self.cache().clone();
        let mounts = self.dirs().cache_mounts();
        self.blocking(move |images| {
            let kept: HashSet<Digest> = if all {
                HashSet::new()
            } else {
                images.tagged_and_ancestors()?
            };
            let mut report = BuildPruneReport::default();
            let entries = cache
                .entries()
                .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
            let before = images.usage(&used)?.layers_size;
            for (key, entry) in entries {
                let recent = until.is_some_and(|u| {
                    chrono::DateTime::parse_from_rfc3339(&entry.created)
                        .map(|t| t > u)
                        .unwrap_or(true)
                });
                if recent || kept.contains(&entry.image) {
                    continue;
                }
                cache
                    .remove(&key)
                    .map_err(|e| BuildError::Invalid(format!("build cache: {e}")))?;
                report.entries += 1;
                let id = entry.image.to_string();
                let in_use = |i: &str| used.iter().any(|u| u == i);
                if images.is_build_leftover(&entry.image)? && !in_use(&id) {
                    for a in images.remove(&id, false, &in_use)? {
                        if let crate::images::RemoveAction::Deleted(d) = a {
                            report.images.push(d);
                        }
                    }
                }
            }
            report.reclaimed = before.saturating_sub(images.usage(&used)?.layers_size);
            // Cache mounts belong to no image: `-a` takes them too (BuildKit's rule).
            if all && until.is_none() {
                if let Ok(dirs) = std::fs::read_dir(&mounts) {
                    for d in dirs.flatten() {
                        let bytes = dir_bytes(&d.path());
                        if std::fs::remove_dir_all(d.path()).is_ok() {
                            report.entries += 1;
                            report.reclaimed += bytes;
                        }
                    }
                }
            }
            Ok(report)
        })
        .await
    }
}

/// Bytes of the files under `dir` (not following symlinks).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
