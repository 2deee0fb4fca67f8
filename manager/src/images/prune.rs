//! The image half of `system prune`: dangling images (every image with `all`)
//! that no container uses. Like the rest of `system prune` it publishes no
//! events, which is what berth has always done.

use super::{ImageFilters, ImageService, RemoveAction, Result};
use crate::content::Digest;

/// What [`ImageService::prune`] deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    pub deleted: Vec<Digest>,
    /// Sum of the deleted images' sizes.
    pub space_reclaimed: u64,
}

impl ImageService {
    /// Deletes the images no container uses (`in_use(image_id)`): the dangling
    /// ones, or all with `all`. An image that cannot be deleted is skipped.
    pub fn prune(&self, all: bool, in_use: &dyn Fn(&str) -> bool) -> Result<PruneReport> {
        let filters = ImageFilters {
            dangling: (!all).then_some(true),
            ..Default::default()
        };
        let mut report = PruneReport::default();
        for img in self.list(&filters)? {
            if in_use(img.id.as_str()) {
                continue;
            }
            let Ok(actions) = self.remove_without_events(img.id.as_str(), true, &|_| false) else {
                continue;
            };
            for a in actions {
                if let RemoveAction::Deleted(d) = a {
                    report.deleted.push(d);
                    report.space_reclaimed += img.size;
                }
            }
        }
        Ok(report)
    }
}
