//! `ps`: list containers, newest first, with docker's filters.

use super::record::{Container, Status};
use super::{Containers, Error, Result};

/// docker's `ps --filter` keys: id, name, label, status, exited, ancestor, health.
fn matches(c: &Container, filters: &[(String, String)]) -> Result<bool> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (k, v) in filters {
        by_key.entry(k.as_str()).or_default().push(v.as_str());
    }
    for (k, vals) in by_key {
        let ok = match k {
            "id" => vals.iter().any(|v| c.id.starts_with(v)),
            "name" => vals.iter().any(|v| c.name.contains(v)),
            "status" => vals.iter().any(|v| c.state.status.as_str() == *v),
            "exited" => vals.iter().any(|v| {
                c.state.status == Status::Exited && v.parse::<i32>().ok() == Some(c.state.exit_code)
            }),
            // docker's words; `none`: no (enabled) check.
            "health" => {
                let h = c.state.health.as_ref().map_or("none", |h| h.status.as_str());
                vals.contains(&h)
            }
            "ancestor" => vals
                .iter()
                .any(|v| c.spec.image == *v || c.image_id.contains(v)),
            // Labels AND together.
            "label" => vals.iter().all(|v| match v.split_once('=') {
                Some((lk, lv)) => c.spec.labels.get(lk).is_some_and(|x| x == lv),
                None => c.spec.labels.contains_key(*v),
            }),
            other => {
                return Err(Error::InvalidArgument {
                    message: format!(
                        "invalid filter '{other}' (use id, name, label, status, exited, ancestor, health)"
                    ),
                })
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Containers {
    /// Running containers, or all with `all`; `limit` > 0 keeps the newest N.
    pub fn list(
        &self,
        all: bool,
        filters: &[(String, String)],
        limit: usize,
    ) -> Result<Vec<Container>> {
        // docker checks the values up front, containers or not.
        for (k, v) in filters {
            if k == "health" && !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none")
            {
                return Err(Error::InvalidArgument {
                    message: format!("Unrecognised filter value for health: {v}"),
                });
            }
        }
        let mut out = Vec::new();
        for c in self.all()? {
            let c = self.with_live_health(c);
            let shown = all
                || limit > 0
                || c.state.status.is_live()
                || c.state.status == Status::Restarting;
            if shown && matches(&c, filters)? {
                out.push(c);
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.created));
        if limit > 0 {
            out.truncate(limit);
        }
        Ok(out)
    }
}

impl Containers {
    /// `system df`'s line for containers: their writable layers; those of
    /// stopped containers are reclaimable. Blocks (walks the layers).
    pub fn usage(&self) -> Result<crate::volumes::Usage> {
        let mut u = crate::volumes::Usage::default();
        for c in self.all()? {
            let size = crate::volumes::dir_size(&c.rw_layer());
            u.total += 1;
            u.size += size;
            if c.state.status.is_live() {
                u.active += 1;
            } else {
                u.reclaimable += size;
            }
        }
        Ok(u)
    }
}
