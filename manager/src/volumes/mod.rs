//! volumes: named volumes, each a directory `<root>/volumes/<name>/_data` plus a
//! record in the metadata store (`Table::Volumes`).
//!
//! A volume records which containers use it (`users`): the claim is written
//! in the same transaction as the container record that owns it, at create,
//! and dropped in the one that deletes it (`claim`, `unclaim`), so `volume rm` of a used volume is refused
//! without scanning containers, and `prune` removes only unused ones. Anonymous
//! volumes (from `-v /path` or an image's VOLUME) are marked so `rm -v` and prune
//! can find them. The directory is created before the record and removed after it,
//! so a crash leaves at worst an unnamed directory, which `gc` removes.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::events::Events;
use crate::metadata::{self, Store, Table, Txn};
use crate::restricted_name;

/// Errors of the volume module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such volume: {name}")]
    NotFound { name: String },
    #[error("volume name \"{}\" is invalid: {}", restricted_name::shown(name), problem.hint())]
    InvalidName {
        name: String,
        problem: restricted_name::Problem,
    },
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error("volume driver {driver:?} is not supported (only \"local\")")]
    Driver { driver: String },
    #[error("volume {name}: {path}: {source}")]
    Io {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] metadata::Error),
}

impl crate::errors::Classify for Error {
    fn reason(&self) -> crate::errors::Reason {
        use crate::errors::Reason;
        match self {
            Error::NotFound { .. } => Reason::NotFound,
            Error::InvalidName { .. } | Error::Driver { .. } => Reason::InvalidArgument,
            Error::InUse { .. } => Reason::Conflict,
            Error::Io { .. } | Error::Store(_) => Reason::Internal,
        }
    }

    fn subject(&self) -> Option<&str> {
        match self {
            Error::NotFound { name }
            | Error::InvalidName { name, .. }
            | Error::InUse { name, .. }
            | Error::Io { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A stored volume.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub options: HashMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
    /// IDs of the containers that mount it.
    #[serde(default)]
    pub users: BTreeSet<String>,
}

/// Disk usage of one kind of object (`system df`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: u64,
    pub active: u64,
    pub size: u64,
    pub reclaimable: u64,
}

/// Options of `volume create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: String,
    pub driver: String,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    pub anonymous: bool,
}

/// The volume manager.
#[derive(Clone, Debug)]
pub struct Volumes {
    dir: PathBuf,
    store: Store,
    events: Events,
}

impl Volumes {
    /// Volumes under `<root>/volumes`. Events go to a bus of its own until
    /// [`Volumes::with_events`].
    pub fn new(root: &Path, store: Store) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
            store,
            events: Events::new(),
        }
    }

    /// Publishes `volume create` / `volume destroy` of the user's verbs on the
    /// daemon's bus. What containers do to their volumes (claims, removing
    /// anonymous ones) and `system prune` publish nothing, as berth always did.
    pub fn with_events(mut self, events: Events) -> Volumes {
        self.events = events;
        self
    }

    fn publish(&self, action: &str, name: &str) {
        self.events
            .publish("volume", action, name, Default::default());
    }

    fn io(name: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let (name, path) = (name.to_string(), path.to_path_buf());
        move |source| Error::Io { name, path, source }
    }

    /// `volume create`; creating an existing one returns it unchanged (docker
    /// does too). Publishes `create` either way.
    pub fn create(&self, opts: CreateOptions) -> Result<Volume, Error> {
        let v = self.ensure(opts)?;
        self.publish("create", &v.name);
        Ok(v)
    }

    /// Creates the volume unless it exists.
    fn ensure(&self, opts: CreateOptions) -> Result<Volume, Error> {
        let name = if opts.name.is_empty() {
            random_name()
        } else {
            opts.name.clone()
        };
        validate_name(&name)?;
        if !opts.driver.is_empty() && opts.driver != "local" {
            return Err(Error::Driver {
                driver: opts.driver,
            });
        }
        if let Some(v) = self.store.get::<Volume>(Table::Volumes, &name)? {
            return Ok(v);
        }
        let data = self.dir.join(&name).join("_data");
        std::fs::create_dir_all(&data).map_err(Self::io(&name, &data))?;
        let vol = Volume {
            name: name.clone(),
            driver: "local".to_string(),
            mountpoint: data,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: opts.labels,
            options: opts.options,
            anonymous: opts.anonymous,
            users: BTreeSet::new(),
        };
        let created = self.store.update(|tx| {
            if let Some(existing) = tx.get::<Volume>(Table::Volumes, &name)? {
                return Ok::<_, metadata::Error>(existing);
            }
            tx.put(Table::Volumes, &name, &vol)?;
            Ok(vol.clone())
        })?;
        Ok(created)
    }

    pub fn inspect(&self, name: &str) -> Result<Volume, Error> {
        self.store
            .get(Table::Volumes, name)?
            .ok_or_else(|| Error::NotFound {
                name: name.to_string(),
            })
    }

    /// Every volume, filtered by docker's keys (`name`, `label`, `dangling`).
    pub fn list(&self, filters: &[(String, String)]) -> Result<Vec<Volume>, Error> {
        let all: Vec<(String, Volume)> = self.store.list(Table::Volumes)?;
        Ok(all
            .into_iter()
            .map(|(_, v)| v)
            .filter(|v| {
                filters.iter().all(|(k, val)| match k.as_str() {
                    "name" => v.name.contains(val.as_str()),
                    "dangling" => (val == "true" || val == "1") == v.users.is_empty(),
                    "label" => match val.split_once('=') {
                        Some((lk, lv)) => v.labels.get(lk).is_some_and(|x| x == lv),
                        None => v.labels.contains_key(val),
                    },
                    "driver" => v.driver == *val,
                    _ => true,
                })
            })
            .collect())
    }

    /// Makes sure volume `name` exists, creating it if needed, without
    /// claiming it: the claim is written by [`Volumes::claim`] in the
    /// transaction that stores its owner.
    pub fn prepare(&self, name: &str, anonymous: bool) -> Result<Volume, Error> {
        self.ensure(CreateOptions {
            name: name.to_string(),
            anonymous,
            ..Default::default()
        })
    }

    /// Marks `container` as a user of volume `name`, inside `tx`: the
    /// transaction that writes the container's record, so that a claim never
    /// exists without its owner (or an owner without its claim).
    pub fn claim(&self, tx: &Txn<'_>, name: &str, container: &str) -> Result<(), Error> {
        let mut v: Volume = tx
            .get(Table::Volumes, name)?
            .ok_or_else(|| Error::NotFound {
                name: name.to_string(),
            })?;
        if v.users.insert(container.to_string()) {
            tx.put(Table::Volumes, name, &v)?;
        }
        Ok(())
    }

    /// Drops `container` from the users of `name` inside `tx`, the
    /// transaction that deletes the container's record (missing volume:
    /// nothing to do).
    pub fn unclaim(&self, tx: &Txn<'_>, name: &str, container: &str) -> Result<(), Error> {
        if let Some(mut v) = tx.get::<Volume>(Table::Volumes, name)? {
            if v.users.remove(container) {
                tx.put(Table::Volumes, name, &v)?;
            }
        }
        Ok(())
    }

    /// Makes every volume's users exactly `owners` (volume name → the
    /// containers whose records mount it), in one transaction: start-up's
    /// repair of claims an older berthd or a crash left wrong. Returns what
    /// changed, for the log.
    pub fn reconcile_claims(
        &self,
        owners: &HashMap<String, BTreeSet<String>>,
    ) -> Result<Vec<String>, Error> {
        let none = BTreeSet::new();
        self.store.update(|tx| {
            let mut repaired = Vec::new();
            for (name, mut v) in tx.list::<Volume>(Table::Volumes)? {
                let truth = owners.get(&name).unwrap_or(&none);
                if v.users == *truth {
                    continue;
                }
                for gone in v.users.difference(truth) {
                    repaired.push(format!(
                        "volume {name}: released the claim of container {gone}, which does not exist or does not mount it"
                    ));
                }
                for missing in truth.difference(&v.users) {
                    repaired.push(format!(
                        "volume {name}: restored the claim of container {missing}, which mounts it"
                    ));
                }
                v.users = truth.clone();
                tx.put(Table::Volumes, &name, &v)?;
            }
            Ok::<_, Error>(repaired)
        })
    }

    /// `volume rm`: [`Volumes::remove`], then publishes `destroy`.
    pub fn destroy(&self, name: &str, force: bool) -> Result<(), Error> {
        self.remove(name, force)?;
        self.publish("destroy", name);
        Ok(())
    }

    /// Removes a volume and its data. Refused while a container uses it unless `force`.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), Error> {
        self.store.update(|tx| {
            let v: Volume = tx
                .get(Table::Volumes, name)?
                .ok_or_else(|| Error::NotFound {
                    name: name.to_string(),
                })?;
            if !v.users.is_empty() && !force {
                return Err(Error::InUse {
                    name: name.to_string(),
                    users: v.users.iter().cloned().collect(),
                });
            }
            tx.delete(Table::Volumes, name)?;
            Ok(())
        })?;
        let dir = self.dir.join(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(name, &dir)(e)),
        }
    }

    /// `volume prune`: [`Volumes::prune_without_events`], then publishes
    /// `destroy` for each removed volume.
    pub fn prune(&self, all: bool) -> Result<(Vec<String>, u64), Error> {
        let pruned = self.prune_without_events(all)?;
        for name in &pruned.0 {
            self.publish("destroy", name);
        }
        Ok(pruned)
    }

    /// Removes unused volumes (only anonymous ones unless `all`); returns names and bytes.
    pub fn prune_without_events(&self, all: bool) -> Result<(Vec<String>, u64), Error> {
        let mut deleted = Vec::new();
        let mut bytes = 0;
        for v in self.list(&[])? {
            if v.users.is_empty() && (all || v.anonymous) {
                let size = dir_size(&v.mountpoint);
                match self.remove(&v.name, false) {
                    Ok(()) => {
                        bytes += size;
                        deleted.push(v.name);
                    }
                    Err(Error::InUse { .. }) | Err(Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((deleted, bytes))
    }

    /// Removes directories under `<root>/volumes` that no record names (a crash
    /// between mkdir and the store write).
    pub fn gc(&self) -> Result<Vec<PathBuf>, Error> {
        let mut removed = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(removed);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if self.store.get::<Volume>(Table::Volumes, &name)?.is_none() {
                let p = e.path();
                std::fs::remove_dir_all(&p).map_err(Self::io(&name, &p))?;
                removed.push(p);
            }
        }
        Ok(removed)
    }

    /// Bytes used by a volume's data.
    pub fn size(&self, v: &Volume) -> u64 {
        dir_size(&v.mountpoint)
    }

    /// `system df`'s line for volumes: in use = mounted by a container;
    /// reclaimable = the data of unused ones. Blocks (walks the data).
    pub fn usage(&self) -> Result<Usage, Error> {
        let mut u = Usage::default();
        for v in self.list(&[])? {
            let size = self.size(&v);
            u.total += 1;
            u.size += size;
            if v.users.is_empty() {
                u.reclaimable += size;
            } else {
                u.active += 1;
            }
        }
        Ok(u)
    }
}

fn validate_name(name: &str) -> Result<(), Error> {
    restricted_name::check(name).map_err(|problem| Error::InvalidName {
        name: name.to_string(),
        problem,
    })
}

fn random_name() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Apparent size of a tree, not following symlinks.
pub fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|it| it.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vols() -> (tempfile::TempDir, Volumes) {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let v = Volumes::new(d.path(), store);
        (d, v)
    }

    fn claim(v: &Volumes, name: &str, container: &str) {
        v.store.update(|tx| v.claim(tx, name, container)).unwrap();
    }

    fn unclaim(v: &Volumes, name: &str, container: &str) {
        v.store.update(|tx| v.unclaim(tx, name, container)).unwrap();
    }

    #[test]
    fn claims_are_reconciled_with_their_owners() {
        let (_d, v) = vols();
        v.prepare("a", false).unwrap();
        v.prepare("b", false).unwrap();
        claim(&v, "a", "gone");
        claim(&v, "a", "kept");
        let owners = HashMap::from([
            ("a".to_string(), BTreeSet::from(["kept".to_string()])),
            ("b".to_string(), BTreeSet::from(["new".to_string()])),
        ]);
        let repaired = v.reconcile_claims(&owners).unwrap();
        assert_eq!(repaired.len(), 2, "{repaired:?}");
        assert_eq!(v.inspect("a").unwrap().users, owners["a"]);
        assert_eq!(v.inspect("b").unwrap().users, owners["b"]);
        assert!(v.reconcile_claims(&owners).unwrap().is_empty());
        // A claim needs its volume.
        let missing = v.store.update(|tx| v.claim(tx, "nope", "c"));
        assert!(matches!(missing, Err(Error::NotFound { .. })));
    }

    /// The user's verbs announce; what containers do and `system prune` do not.
    #[tokio::test]
    async fn only_the_user_s_verbs_publish_events() {
        let (_d, v) = vols();
        let events = Events::new();
        let v = v.with_events(events.clone());
        let (_, mut rx) = events.subscribe(0);
        let named = |name: &str| CreateOptions {
            name: name.into(),
            ..Default::default()
        };
        v.create(named("a")).unwrap();
        v.prepare("anon", true).unwrap();
        claim(&v, "anon", "c1");
        unclaim(&v, "anon", "c1");
        v.remove("anon", false).unwrap();
        v.destroy("a", false).unwrap();
        v.create(named("b")).unwrap();
        v.create(named("c")).unwrap();
        v.prune(true).unwrap();
        v.create(named("d")).unwrap();
        v.prune_without_events(true).unwrap();
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(format!("{} {}", e.action, e.id));
        }
        got.sort();
        assert_eq!(
            got,
            [
                "create a",
                "create b",
                "create c",
                "create d",
                "destroy a",
                "destroy b",
                "destroy c"
            ]
        );
    }

    #[test]
    fn create_use_remove() {
        let (_d, v) = vols();
        let vol = v
            .create(CreateOptions {
                name: "data".into(),
                ..Default::default()
            })
            .unwrap();
        assert!(vol.mountpoint.is_dir());
        claim(&v, "data", "c1");
        assert!(matches!(v.remove("data", false), Err(Error::InUse { .. })));
        unclaim(&v, "data", "c1");
        v.remove("data", false).unwrap();
        assert!(!vol.mountpoint.exists());
        assert!(matches!(v.inspect("data"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn bad_names_and_prune() {
        let (_d, v) = vols();
        for bad in ["../x", "a/b", "-a", ".hidden"] {
            assert!(
                v.create(CreateOptions {
                    name: bad.into(),
                    ..Default::default()
                })
                .is_err(),
                "{bad}"
            );
        }
        v.prepare("anon1", true).unwrap();
        claim(&v, "anon1", "c");
        v.create(CreateOptions {
            name: "anon2".into(),
            anonymous: true,
            ..Default::default()
        })
        .unwrap();
        v.create(CreateOptions {
            name: "named".into(),
            ..Default::default()
        })
        .unwrap();
        let (deleted, _) = v.prune(false).unwrap();
        assert_eq!(deleted, vec!["anon2".to_string()]);
        let (deleted, _) = v.prune(true).unwrap();
        assert_eq!(deleted, vec!["named".to_string()]);
    }
}
