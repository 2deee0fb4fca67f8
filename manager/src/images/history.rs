//! `docker history`: one entry per config history step, newest first.

use super::{HistoryEntry, ImageService, Result};

impl ImageService {
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
}
