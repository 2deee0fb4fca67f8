//! metadata: berthd's ACID store of record (`<root>/meta.redb`, one redb database).
//!
//! Everything berthd must remember across a restart or a crash lives here: images and
//! their tags, unpacked layer snapshots, container rootfs mounts, containers, volumes,
//! networks. Files on disk (blobs, snapshot dirs, bundles) are only *reachable* once a
//! record here names them; anything on disk that no record names is garbage left by a
//! crash and is removed on start (`snapshots::Snapshotter::gc`, `content::ContentStore::gc`).
//!
//! # Model
//!
//! One redb table per domain noun ([`Table`]). Keys are strings (an ID or a name), values
//! are JSON documents of whatever `Serialize` type the owning module chooses, so modules
//! evolve their records without touching this one (add fields with `#[serde(default)]`).
//!
//! ```no_run
//! # use berthd::metadata::{Store, Table};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Container { name: String }
//! # fn f() -> Result<(), berthd::metadata::Error> {
//! let store = Store::open(std::path::Path::new("/var/lib/berth"))?;
//! store.put(Table::Containers, "abc", &Container { name: "web".into() })?;
//! let c: Option<Container> = store.get(Table::Containers, "abc")?;
//! // Several changes that must happen together: one transaction, committed on Ok.
//! store.update(|tx| {
//!     if tx.get::<Container>(Table::Containers, "def")?.is_some() {
//!         return Err(berthd::metadata::Error::AlreadyExists { table: Table::Containers, key: "def".into() });
//!     }
//!     tx.put(Table::Containers, "def", &Container { name: "db".into() })?;
//!     tx.delete(Table::Containers, "abc")?;
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! Every write is a committed, fsynced redb transaction. Calls block (a write costs an
//! fsync, ~ms): async callers wrap them in `spawn_blocking` or accept the short block.
//! `Store` is a cheap `Clone` (an `Arc`) shared by every module.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The file name of the database inside berthd's root.
pub const DB_FILE: &str = "meta.redb";

/// One table per domain noun. The owning module decides the record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// containers/: container ID → container record.
    Containers,
    /// containers/: container name → container ID (name reservation).
    ContainerNames,
    /// volumes/: volume name → volume record.
    Volumes,
    /// network/: network ID → network record.
    Networks,
    /// images/: image ID (`sha256:<config digest hex>`) → image record.
    Images,
    /// images/: familiar reference (`busybox:latest`) → image ID.
    Tags,
    /// snapshots/: chain ID → unpacked layer record.
    Snapshots,
    /// snapshots/: container ID → prepared rootfs (overlay) record.
    Rootfs,
    /// build/: cache key → cached step result.
    BuildCache,
    /// Small daemon-wide values (e.g. counters, schema version).
    Daemon,
}

impl Table {
    /// Every table, created on open so readers never meet a missing table.
    pub const ALL: [Table; 10] = [
        Table::Containers,
        Table::ContainerNames,
        Table::Volumes,
        Table::Networks,
        Table::Images,
        Table::Tags,
        Table::Snapshots,
        Table::Rootfs,
        Table::BuildCache,
        Table::Daemon,
    ];

    /// The redb table name (stable: it is on disk).
    pub fn name(self) -> &'static str {
        match self {
            Table::Containers => "containers",
            Table::ContainerNames => "container_names",
            Table::Volumes => "volumes",
            Table::Networks => "networks",
            Table::Images => "images",
            Table::Tags => "tags",
            Table::Snapshots => "snapshots",
            Table::Rootfs => "rootfs",
            Table::BuildCache => "build_cache",
            Table::Daemon => "daemon",
        }
    }

    fn def(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(self.name())
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create metadata directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open metadata database {path}: {source} (is another berthd running on this root?)"
    )]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    /// Boxed: redb's error is large and this one travels in every `Result`.
    #[error("metadata database error: {0}")]
    Db(Box<redb::Error>),
    #[error("record {table}/{key} is not valid JSON for its type: {source}")]
    Decode {
        table: Table,
        key: String,
        source: serde_json::Error,
    },
    #[error("cannot encode record {table}/{key}: {source}")]
    Encode {
        table: Table,
        key: String,
        source: serde_json::Error,
    },
    /// Returned by callers of [`Store::update`] to abort on a name clash, and by
    /// [`Store::insert_new`].
    #[error("{table}/{key} already exists")]
    AlreadyExists { table: Table, key: String },
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Error {
        Error::Db(Box::new(e))
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Handle on `meta.redb`. Clone freely.
#[derive(Clone)]
pub struct Store {
    db: Arc<redb::Database>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `<root>/meta.redb` and every [`Table`].
    pub fn open(root: &Path) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(|source| Error::CreateDir {
            path: root.to_path_buf(),
            source,
        })?;
        let path = root.join(DB_FILE);
        let db = redb::Database::create(&path).map_err(|source| Error::Open {
            path: path.clone(),
            source: Box::new(source),
        })?;
        let tx = db.begin_write().map_err(redb::Error::from)?;
        for t in Table::ALL {
            tx.open_table(t.def()).map_err(redb::Error::from)?;
        }
        tx.commit().map_err(redb::Error::from)?;
        Ok(Store {
            db: Arc::new(db),
            path,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let tx = self.db.begin_read().map_err(redb::Error::from)?;
        let t = tx.open_table(table.def()).map_err(redb::Error::from)?;
        let v = t.get(key).map_err(redb::Error::from)?;
        v.map(|v| decode(table, key, v.value())).transpose()
    }

    /// Every record of a table, ordered by key.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        self.list_prefix(table, "")
    }

    /// Records whose key starts with `prefix`, ordered by key.
    pub fn list_prefix<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<(String, T)>> {
        let tx = self.db.begin_read().map_err(redb::Error::from)?;
        let t = tx.open_table(table.def()).map_err(redb::Error::from)?;
        collect_prefix(&t, table, prefix)
    }

    /// Inserts or replaces one record (one transaction).
    pub fn put<T: Serialize + ?Sized>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        self.update(|tx| tx.put(table, key, value))
    }

    /// Inserts one record; fails with [`Error::AlreadyExists`] if the key is taken.
    pub fn insert_new<T: Serialize + ?Sized>(
        &self,
        table: Table,
        key: &str,
        value: &T,
    ) -> Result<()> {
        self.update(|tx| {
            if tx.contains(table, key)? {
                return Err(Error::AlreadyExists {
                    table,
                    key: key.to_string(),
                });
            }
            tx.put(table, key, value)
        })
    }

    /// Deletes one record; `true` if it existed.
    pub fn delete(&self, table: Table, key: &str) -> Result<bool> {
        self.update(|tx| tx.delete(table, key))
    }

    /// Runs `f` in one write transaction: committed if `f` returns `Ok`, rolled back
    /// otherwise. Write transactions are serialised, so read-check-write inside `f` is
    /// race free (use it for name reservations).
    pub fn update<R, E, F>(&self, f: F) -> std::result::Result<R, E>
    where
        F: FnOnce(&Txn<'_>) -> std::result::Result<R, E>,
        E: From<Error>,
    {
        let tx = self
            .db
            .begin_write()
            .map_err(|e| Error::from(redb::Error::from(e)))
            .map_err(E::from)?;
        let r = f(&Txn { tx: &tx })?;
        tx.commit()
            .map_err(|e| Error::from(redb::Error::from(e)))
            .map_err(E::from)?;
        Ok(r)
    }
}

/// A write transaction, handed to the closure of [`Store::update`].
pub struct Txn<'a> {
    tx: &'a redb::WriteTransaction,
}

impl Txn<'_> {
    /// Reads one record (sees this transaction's own writes).
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        let t = self.tx.open_table(table.def()).map_err(redb::Error::from)?;
        let v = t.get(key).map_err(redb::Error::from)?;
        v.map(|v| decode(table, key, v.value())).transpose()
    }

    /// Whether `key` exists.
    pub fn contains(&self, table: Table, key: &str) -> Result<bool> {
        let t = self.tx.open_table(table.def()).map_err(redb::Error::from)?;
        let v = t.get(key).map_err(redb::Error::from)?;
        Ok(v.is_some())
    }

    /// Every record of a table, ordered by key.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>> {
        let t = self.tx.open_table(table.def()).map_err(redb::Error::from)?;
        collect_prefix(&t, table, "")
    }

    /// Inserts or replaces one record.
    pub fn put<T: Serialize + ?Sized>(&self, table: Table, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|source| Error::Encode {
            table,
            key: key.to_string(),
            source,
        })?;
        let mut t = self.tx.open_table(table.def()).map_err(redb::Error::from)?;
        t.insert(key, bytes.as_slice()).map_err(redb::Error::from)?;
        Ok(())
    }

    /// Deletes one record; `true` if it existed.
    pub fn delete(&self, table: Table, key: &str) -> Result<bool> {
        let mut t = self.tx.open_table(table.def()).map_err(redb::Error::from)?;
        let old = t.remove(key).map_err(redb::Error::from)?;
        Ok(old.is_some())
    }
}

fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| Error::Decode {
        table,
        key: key.to_string(),
        source,
    })
}

fn collect_prefix<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    table: Table,
    prefix: &str,
) -> Result<Vec<(String, T)>> {
    let mut out = Vec::new();
    for item in t.range(prefix..).map_err(redb::Error::from)? {
        let (k, v) = item.map_err(redb::Error::from)?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_string(), decode(table, key, v.value())?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rec {
        n: u32,
    }

    #[test]
    fn put_get_list_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put(Table::Volumes, "b", &Rec { n: 2 }).unwrap();
        s.put(Table::Volumes, "a", &Rec { n: 1 }).unwrap();
        s.put(Table::Containers, "a", &Rec { n: 9 }).unwrap();
        assert_eq!(
            s.get::<Rec>(Table::Volumes, "a").unwrap(),
            Some(Rec { n: 1 })
        );
        let all: Vec<(String, Rec)> = s.list(Table::Volumes).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "a");
        assert!(s.delete(Table::Volumes, "a").unwrap());
        assert!(!s.delete(Table::Volumes, "a").unwrap());
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get::<Rec>(Table::Volumes, "a").unwrap(), None);
        assert_eq!(
            s.get::<Rec>(Table::Containers, "a").unwrap(),
            Some(Rec { n: 9 })
        );
    }

    #[test]
    fn failed_update_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.put(Table::Tags, "x", &Rec { n: 1 }).unwrap();
        let r: Result<()> = s.update(|tx| {
            tx.put(Table::Tags, "y", &Rec { n: 2 })?;
            Err(Error::AlreadyExists {
                table: Table::Tags,
                key: "x".into(),
            })
        });
        assert!(r.is_err());
        assert_eq!(s.get::<Rec>(Table::Tags, "y").unwrap(), None);
        assert!(matches!(
            s.insert_new(Table::Tags, "x", &Rec { n: 3 }),
            Err(Error::AlreadyExists { .. })
        ));
    }

    #[test]
    fn prefix_listing_stops_at_prefix_end() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for k in ["a/1", "a/2", "b/1", "a"] {
            s.put(Table::Daemon, k, &Rec { n: 0 }).unwrap();
        }
        let keys: Vec<String> = s
            .list_prefix::<Rec>(Table::Daemon, "a/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["a/1", "a/2"]);
    }
}
