//! `docker load`: every image of a docker archive or OCI layout stream, with
//! its tags. The stream is staged first (`archive::Staging`), then each image's
//! config and layers are verified and stored; an image that fails leaves nothing
//! behind.

use std::fs::File;
use std::io::Read;

use super::archive::{self, ManifestEntry, Staging};
use super::config::ImageConfiguration;
use super::record::LayerRecord;
use super::{Error, Image, ImageService, Reference, Result};
use crate::content::Digest;

impl ImageService {
    /// `docker load`: every image of a docker-archive stream (docker save output,
    /// legacy or OCI-layout flavoured), with its tags. Publishes `load` per image.
    pub fn load(&self, archive: impl Read) -> Result<Vec<Image>> {
        let images = self.load_staged(archive)?;
        for img in &images {
            let name = img.repo_tags.first().map_or("", String::as_str);
            self.publish("load", img.id.as_str(), name);
        }
        Ok(images)
    }

    fn load_staged(&self, archive: impl Read) -> Result<Vec<Image>> {
        // Held from the start: start-up gc must not take the staging dir away.
        let _g = self.guard();
        let mut st = Staging::new(&self.content)?;
        st.read_archive(archive)?;
        let manifest = archive::entries(&st)?;
        let mut out = Vec::new();
        for m in &manifest {
            let mut touched = Vec::new();
            match load_one(self, &st, m, &mut touched) {
                Ok(id) => out.push(id),
                Err(e) => {
                    // Leave no half-loaded image: blobs and snapshots this entry added
                    // and nothing else uses go again.
                    for d in &touched {
                        self.drop_blob_if_unused(d);
                    }
                    let _ = self.remove_unused_snapshots();
                    return Err(e);
                }
            }
        }
        drop(st);
        out.iter()
            .map(|id| self.list_one(id))
            .collect::<Result<Vec<_>>>()
    }
}

fn load_one(
    svc: &ImageService,
    st: &Staging,
    m: &ManifestEntry,
    touched: &mut Vec<Digest>,
) -> Result<Digest> {
    let config_bytes = st.read_json(&m.config)?;
    let (_, config_digest, _) = st.get(&m.config)?;
    let config = ImageConfiguration::parse(&config_bytes, config_digest)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != m.layers.len() {
        return Err(Error::InvalidArchive(format!(
            "{}: {} layers listed but the config has {} diff IDs",
            m.config,
            m.layers.len(),
            diff_ids.len()
        )));
    }
    let tags = m
        .repo_tags
        .iter()
        .flatten()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let mut layers = Vec::new();
    let mut chain = Vec::new();
    for (lname, diff_id) in m.layers.iter().zip(diff_ids) {
        let (path, digest, size) = st.get(lname)?;
        let size = if svc.content().exists(diff_id) {
            svc.content().size(diff_id)?
        } else if digest == diff_id {
            // Plain tar: the staged file becomes the blob (a later member sharing
            // it finds the blob present above).
            svc.content().adopt(path, diff_id)?;
            size
        } else {
            let f = File::open(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            svc.store_layer(f, Some(diff_id))
                .map_err(|e| match e {
                    Error::Content(crate::content::Error::DigestMismatch { actual, .. }) => {
                        Error::InvalidArchive(format!(
                        "layer {lname:?} is {actual} but the config says {diff_id}: corrupt archive"
                    ))
                    }
                    e => e,
                })?
                .1
        };
        touched.push(diff_id.clone());
        let blob = svc.content().open_blob(diff_id)?;
        let snap = svc
            .snapshots()
            .unpack(chain.last(), diff_id, blob, svc.unpack_options())?;
        chain.push(snap.chain_id);
        layers.push(LayerRecord::plain(diff_id.clone(), size));
    }
    let rec = svc.commit_image(&config_bytes, &config, layers, chain)?;
    for t in &tags {
        svc.set_tag(t, &rec.id)?;
    }
    Ok(rec.id)
}
