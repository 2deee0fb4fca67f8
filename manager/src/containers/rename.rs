//! `rename`: move the name reservation and the record's name in one transaction.

use super::names;
use super::record::Container;
use super::{Containers, Error, Result};
use crate::metadata::{self, Table};

impl Containers {
    pub async fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.trim_start_matches('/');
        names::validate(new_name)?;
        let c = self.lookup(reference)?;
        if c.name == new_name {
            return Err(Error::InvalidArgument {
                message: "Renaming a container with the same name as its current name".to_string(),
            });
        }
        let clash = self.inner.store.update(|tx| {
            if let Some(id) = tx.get::<String>(Table::ContainerNames, new_name)? {
                return Ok::<_, metadata::Error>(Some(id));
            }
            let Some(mut rec) = tx.get::<Container>(Table::Containers, &c.id)? else {
                return Ok(None);
            };
            tx.delete(Table::ContainerNames, &rec.name)?;
            rec.name = new_name.to_string();
            tx.put(Table::ContainerNames, new_name, &c.id)?;
            tx.put(Table::Containers, &c.id, &rec)?;
            Ok(None)
        })?;
        if let Some(id) = clash {
            return Err(Error::NameInUse {
                name: new_name.to_string(),
                id,
            });
        }
        self.inner.changed.send_modify(|n| *n += 1);
        let mut renamed = c.clone();
        renamed.name = new_name.to_string();
        self.publish(&renamed, "rename", &[("oldName", format!("/{}", c.name))]);
        Ok(())
    }
}
