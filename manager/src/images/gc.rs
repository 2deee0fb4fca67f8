//! Start-up clean-up and the undo of half-done writes: blobs and snapshots no
//! image (or, for snapshots, no container rootfs) references.

use std::collections::HashSet;

use super::{ImageService, Result};
use crate::content::Digest;

impl ImageService {
    /// Start-up clean-up, before any other call: interrupted ingests, blobs and
    /// snapshots no image (or, for snapshots, no container rootfs) references.
    pub fn gc(&self) -> Result<GcReport> {
        let _g = self.guard();
        let mut report = GcReport {
            ingests: self.content.gc_ingests()?,
            ..Default::default()
        };
        let recs = self.records()?;
        let keep: Vec<Digest> = recs
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        let s = self.snapshots.gc(&keep)?;
        report.snapshots = s.snapshot_dirs + s.snapshot_records;
        let used: HashSet<&Digest> = recs
            .iter()
            .flat_map(|r| r.layers.iter().map(|l| &l.blob).chain([&r.id, &r.manifest]))
            .collect();
        for (d, _) in self.content.list()? {
            if !used.contains(&d) {
                self.content.delete(&d)?;
                report.blobs += 1;
            }
        }
        Ok(report)
    }

    /// Unpacks the stored layer blob `layer` onto `parent`; when that fails
    /// the blob goes too (unless an image uses it), so a bad layer leaves
    /// nothing behind.
    pub(super) fn unpack_or_drop(
        &self,
        parent: Option<&Digest>,
        layer: &Digest,
    ) -> Result<crate::snapshots::Snapshot> {
        let snap = self.snapshots.unpack(
            parent,
            layer,
            self.content.open_blob(layer)?,
            &self.unpack_opts,
        );
        snap.map_err(|e| {
            self.drop_blob_if_unused(layer);
            e.into()
        })
    }

    pub(super) fn drop_blob_if_unused(&self, d: &Digest) {
        let used = self.records().map(|recs| {
            recs.iter()
                .any(|r| r.id == *d || r.manifest == *d || r.layers.iter().any(|l| l.blob == *d))
        });
        if let Ok(false) = used {
            let _ = self.content.delete(d);
        }
    }

    /// Deletes snapshots no image and no container rootfs needs.
    pub(super) fn remove_unused_snapshots(&self) -> Result<usize> {
        let keep: Vec<Digest> = self
            .records()?
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        Ok(self.snapshots.remove_unused(&keep)?)
    }
}

/// What [`ImageService::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub ingests: usize,
    pub blobs: usize,
    pub snapshots: usize,
}
