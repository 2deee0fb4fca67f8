//! `docker images`: the local images, filtered and newest first.

use super::record::ImageRecord;
use super::reference::glob_match;
use super::{Image, ImageFilters, ImageService, Result};

impl ImageService {
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
        let records = self.records()?;
        let parents: std::collections::HashSet<&crate::content::Digest> =
            records.iter().filter_map(|r| r.parent.as_ref()).collect();
        let mut out = Vec::new();
        for rec in &records {
            let mut rtags = tags.get(&rec.id).cloned().unwrap_or_default();
            if !filters.all && rtags.is_empty() && parents.contains(&rec.id) {
                continue;
            }
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
            if before.is_some_and(|b| time(rec) >= b) || since.is_some_and(|s| time(rec) <= s) {
                continue;
            }
            out.push((
                time(rec),
                rec.added.clone(),
                Self::image_with_tags(rec, rtags),
            ));
        }
        out.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        Ok(out.into_iter().map(|(_, _, i)| i).collect())
    }
}
