//! `docker tag SOURCE TARGET`.

use super::{ImageService, Reference, Result};

impl ImageService {
    /// `docker tag SOURCE TARGET`; publishes `tag`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let t = Reference::parse(target)?;
        let _g = self.guard();
        let (id, _) = self.lookup(source)?;
        self.set_tag(&t, &id)?;
        self.publish("tag", target, target);
        Ok(())
    }
}
