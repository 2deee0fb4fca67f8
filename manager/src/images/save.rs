//! `docker save`: the named images, with the tags they were named by, as one
//! archive (see `archive/` for the format).

use std::io::Write;

use super::record::ImageRecord;
use super::{archive, ImageService, Reference, Result};

impl ImageService {
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
        archive::write(&self.content, &wanted, out)
    }
}
