//! `docker rmi`: untag, and delete what no tag and no other image needs.

use std::collections::HashSet;

use super::{Error, ImageService, Reference, RemoveAction, Result};
use crate::content::Digest;
use crate::metadata::Table;

impl ImageService {
    /// `docker rmi`: untags `reference`; deletes the image (blobs, unused snapshots)
    /// when no tag is left. `in_use(image_id)` tells whether a container uses the
    /// image: then it is refused unless `force` (which only untags/deletes the record;
    /// layers under a container stay until the container is removed).
    /// Publishes `untag` / `delete` for each effect.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemoveAction>> {
        let parent = self
            .lookup(reference)
            .and_then(|(id, _)| self.record(&id))
            .ok()
            .and_then(|r| r.parent);
        let mut actions = self.remove_without_events(reference, force, in_use)?;
        if actions
            .iter()
            .any(|a| matches!(a, RemoveAction::Deleted(_)))
        {
            actions.extend(self.remove_untagged_parents(parent, in_use)?);
        }
        for a in &actions {
            match a {
                RemoveAction::Untagged(t) => self.publish("untag", t, t),
                RemoveAction::Deleted(d) => self.publish("delete", d.as_str(), ""),
            }
        }
        Ok(actions)
    }

    /// As docker's rmi: the build steps an image was made from go with it while they
    /// are untagged, unused and no other image's parent.
    fn remove_untagged_parents(
        &self,
        mut next: Option<Digest>,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemoveAction>> {
        let mut actions = Vec::new();
        while let Some(p) = next {
            let Ok(rec) = self.record(&p) else { break };
            let child = self
                .records()?
                .iter()
                .any(|r| r.parent.as_ref() == Some(&p));
            if child || !self.tags_of(&p)?.is_empty() || in_use(p.as_str()) {
                break;
            }
            next = rec.parent.clone();
            actions.extend(self.remove_without_events(p.as_str(), false, in_use)?);
        }
        Ok(actions)
    }

    /// [`ImageService::remove`] without events: `prune` has never announced
    /// what it deletes.
    pub(super) fn remove_without_events(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemoveAction>> {
        let _g = self.guard();
        let (id, is_tag) = self.lookup(reference)?;
        let tags = self.tags_of(&id)?;
        if is_tag && tags.len() > 1 {
            let t = Reference::parse(reference)?.to_string();
            self.store.delete(Table::Tags, &t)?;
            return Ok(vec![RemoveAction::Untagged(t)]);
        }
        if !is_tag && tags.len() > 1 && !force {
            return Err(Error::MultipleTags {
                id: id.short().to_string(),
            });
        }
        if in_use(id.as_str()) && !force {
            return Err(Error::InUse {
                reference: reference.to_string(),
                id: id.short().to_string(),
            });
        }
        let rec = self.record(&id)?;
        let mut actions = Vec::new();
        self.store.update(|tx| -> Result<()> {
            for t in &tags {
                tx.delete(Table::Tags, t)?;
            }
            tx.delete(Table::Images, id.as_str())?;
            Ok(())
        })?;
        actions.extend(tags.into_iter().map(RemoveAction::Untagged));
        actions.push(RemoveAction::Deleted(id.clone()));
        let rest = self.records()?;
        let used: HashSet<&Digest> = rest
            .iter()
            .flat_map(|r| r.layers.iter().map(|l| &l.blob).chain([&r.id, &r.manifest]))
            .collect();
        for d in rec
            .layers
            .iter()
            .map(|l| &l.blob)
            .chain([&rec.id, &rec.manifest])
        {
            if !used.contains(d) {
                self.content.delete(d)?;
            }
        }
        let keep: Vec<Digest> = rest
            .iter()
            .filter_map(|r| r.chain.last().cloned())
            .collect();
        self.snapshots.remove_unused(&keep)?;
        Ok(actions)
    }
}
