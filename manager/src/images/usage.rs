//! `system df`'s image half: a layer that several images share is counted once,
//! and each image's size splits into what it shares and what is its own
//! (docker's SHARED SIZE and UNIQUE SIZE).

use std::collections::HashMap;

use super::{Image, ImageFilters, ImageService, Result};

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
        let records = self.records()?;
        // A layer is its chain ID: the same diff on another parent is another
        // snapshot on disk.
        let mut holders: HashMap<&str, u64> = HashMap::new();
        for rec in &records {
            for c in &rec.chain {
                *holders.entry(c.as_str()).or_default() += 1;
            }
        }
        let mut sizes: HashMap<&str, u64> = HashMap::new();
        let mut used_layers: HashMap<&str, ()> = HashMap::new();
        let mut out = ImagesUsage::default();
        let listed = self.list(&ImageFilters::default())?;
        for rec in &records {
            let containers = in_use.iter().filter(|u| *u == rec.id.as_str()).count() as u64;
            let (mut shared, mut unique) = (0, 0);
            for (c, l) in rec.chain.iter().zip(&rec.layers) {
                sizes.insert(c.as_str(), l.size);
                if containers > 0 {
                    used_layers.insert(c.as_str(), ());
                }
                if holders.get(c.as_str()).copied().unwrap_or(0) > 1 {
                    shared += l.size;
                } else {
                    unique += l.size;
                }
            }
            if let Some(image) = listed.iter().find(|i| i.id == rec.id) {
                out.images.push(ImageUsage {
                    image: image.clone(),
                    shared_size: shared,
                    unique_size: unique,
                    containers,
                });
            }
        }
        out.layers_size = sizes.values().sum();
        out.reclaimable = sizes
            .iter()
            .filter(|(c, _)| !used_layers.contains_key(*c))
            .map(|(_, s)| s)
            .sum();
        // Newest first, as `images` lists them.
        out.images.sort_by_key(|u| {
            listed
                .iter()
                .position(|i| i.id == u.image.id)
                .unwrap_or(usize::MAX)
        });
        Ok(out)
    }
}
