//! `system df`'s image half: a layer that several images share is counted once,
//! and each image's size splits into what it shares and what is its own
//! (docker's SHARED SIZE and UNIQUE SIZE).

use std::collections::{HashMap, HashSet};

use super::record::ImageRecord;
use super::{Image, ImageFilters, ImageService, Result};
use crate::content::Digest;

/// One image's share of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub image: Image,
    /// Bytes of its layers that another image has too.
    pub shared_size: u64,
    /// Bytes of its layers no other image has.
    pub unique_size: u64,
    /// Containers (in any state) made from it.
    pub containers: u64,
}

/// All images' share of the disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagesUsage {
    pub images: Vec<ImageUsage>,
    /// Every layer once.
    pub layers_size: u64,
    /// What removing every image no container uses would free: the layers no
    /// such image shares with one in use.
    pub reclaimable: u64,
}

impl ImageService {
    /// Usage of every image; `in_use` holds the image ID of each container.
    pub fn usage(&self, in_use: &[String]) -> Result<ImagesUsage> {
        let records: HashMap<Digest, ImageRecord> = self
            .records()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        // A layer is its chain ID: the same diff on another parent is another
        // snapshot on disk.
        let mut holders: HashMap<&Digest, u64> = HashMap::new();
        let mut sizes: HashMap<&Digest, u64> = HashMap::new();
        for rec in records.values() {
            for (c, l) in rec.chain.iter().zip(&rec.layers) {
                *holders.entry(c).or_default() += 1;
                sizes.insert(c, l.size);
            }
        }
        let mut used_layers: HashSet<&Digest> = HashSet::new();
        let mut out = ImagesUsage::default();
        // `list` gives the order (newest first, as `images` shows them).
        for image in self.list(&ImageFilters::default())? {
            let Some(rec) = records.get(&image.id) else {
                continue;
            };
            let containers = in_use.iter().filter(|u| *u == rec.id.as_str()).count() as u64;
            let (mut shared, mut unique) = (0, 0);
            for (c, l) in rec.chain.iter().zip(&rec.layers) {
                if containers > 0 {
                    used_layers.insert(c);
                }
                if holders.get(c).copied().unwrap_or(0) > 1 {
                    shared += l.size;
                } else {
                    unique += l.size;
                }
            }
            out.images.push(ImageUsage {
                image,
                shared_size: shared,
                unique_size: unique,
                containers,
            });
        }
        out.layers_size = sizes.values().sum();
        out.reclaimable = sizes
            .iter()
            .filter(|(c, _)| !used_layers.contains(*c))
            .map(|(_, s)| s)
            .sum();
        Ok(out)
    }
}
