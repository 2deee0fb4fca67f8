//! `builder prune`: forget cached steps and delete the intermediate images only the
//! cache kept. Without `all`, only what no tagged image is built on ("dangling"
//! cache, docker's default); `until` keeps entries made after it.
use std::collections::HashSet;

use super::exec::Builder;
use super::BuildError;
use crate::content::Digest;

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPruneReport {
    pub entries: usize,
    pub images: Vec<Digest>,
    pub reclaimed: u64,
}

impl Builder {
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
            Ok(report)
        })
        .await
    }
}
