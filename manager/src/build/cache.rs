//! The step cache: a step is reused when its parent image, its instruction (after
//! expansion), the build args it reads and — for COPY/ADD — the content of its sources
//! (paths, bytes, modes, owners; not mtimes) all match. Entries live in the metadata
//! store ([`Table::BuildCache`]) under `<parent>/<key>`, so the steps ever built on
//! one parent sit together: a miss is explained by comparing with them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::content::Digest;
use crate::metadata::{Store, Table};

/// What makes a step what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepKey {
    /// The parent image ID, or `scratch`.
    pub parent: String,
    /// The instruction as it runs (`RUN /bin/sh -c make`, `COPY --chown=1 a /b`).
    pub instruction: String,
    /// Build args the step reads, with their values.
    pub args: BTreeMap<String, String>,
    /// COPY/ADD: context-relative path → checksum of its content and metadata.
    pub files: BTreeMap<String, String>,
}

/// A cached step: its result and what it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub image: Digest,
    pub instruction: String,
    pub args: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    pub created: String,
}

/// Bumped when the builder lays out a step's result differently, so results of an
/// older berth are not reused.
const FORMAT: &str = "berth-build-v1";

impl StepKey {
    fn store_key(&self) -> String {
        let mut json = FORMAT.as_bytes().to_vec();
        json.extend(serde_json::to_vec(self).unwrap_or_default());
        format!("{}/{}", self.parent, hex::encode(Sha256::digest(&json)))
    }
}

#[derive(Clone)]
pub struct Cache {
    store: Store,
}

impl Cache {
    pub fn new(store: Store) -> Cache {
        Cache { store }
    }

    pub fn get(&self, key: &StepKey) -> Result<Option<Entry>, crate::metadata::Error> {
        self.store.get(Table::BuildCache, &key.store_key())
    }

    pub fn put(&self, key: &StepKey, image: &Digest) -> Result<(), crate::metadata::Error> {
        let entry = Entry {
            image: image.clone(),
            instruction: key.instruction.clone(),
            args: key.args.clone(),
            files: key.files.clone(),
            created: chrono::Utc::now().to_rfc3339(),
        };
        self.store.put(Table::BuildCache, &key.store_key(), &entry)
    }

    /// Forget `key` (its image is gone).
    pub fn forget(&self, key: &StepKey) -> Result<(), crate::metadata::Error> {
        self.store
            .delete(Table::BuildCache, &key.store_key())
            .map(|_| ())
    }

    /// Why `key` has no entry, judged against the steps built on the same parent
    /// before: which build arg, which file, or the instruction itself changed.
    pub fn explain_miss(&self, key: &StepKey) -> String {
        let siblings: Vec<Entry> = self
            .store
            .list_prefix::<Entry>(Table::BuildCache, &format!("{}/", key.parent))
            .map(|v| v.into_iter().map(|(_, e)| e).collect())
            .unwrap_or_default();
        explain(key, &siblings)
    }

    /// Every entry, for `builder prune` and `system df`.
    pub fn entries(&self) -> Result<Vec<(String, Entry)>, crate::metadata::Error> {
        self.store.list(Table::BuildCache)
    }

    pub fn remove(&self, store_key: &str) -> Result<(), crate::metadata::Error> {
        self.store.delete(Table::BuildCache, store_key).map(|_| ())
    }
}

fn explain(key: &StepKey, siblings: &[Entry]) -> String {
    let newest =
        |it: &mut dyn Iterator<Item = &Entry>| it.max_by(|a, b| a.created.cmp(&b.created)).cloned();
    let same_text = newest(&mut siblings.iter().filter(|e| e.instruction == key.instruction));
    if let Some(prev) = same_text {
        let mut names: Vec<&String> = key.args.keys().chain(prev.args.keys()).collect();
        names.sort();
        names.dedup();
        if let Some(n) = names
            .iter()
            .find(|n| key.args.get(**n) != prev.args.get(**n))
        {
            return format!("build arg {n} changed");
        }
        let mut paths: Vec<&String> = key.files.keys().chain(prev.files.keys()).collect();
        paths.sort();
        paths.dedup();
        for p in paths {
            match (key.files.get(p), prev.files.get(p)) {
                (Some(a), Some(b)) if a != b => return format!("{p} changed"),
                (Some(_), None) => return format!("{p} added"),
                (None, Some(_)) => return format!("{p} removed"),
                _ => {}
            }
        }
        return "its cached result is gone".into();
    }
    let keyword = key.instruction.split_whitespace().next().unwrap_or("");
    let same_kind = newest(
        &mut siblings
            .iter()
            .filter(|e| e.instruction.split_whitespace().next() == Some(keyword)),
    );
    match same_kind {
        Some(prev) => format!("instruction changed (was: {})", prev.instruction),
        None => "not built on this parent before".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(instruction: &str, args: &[(&str, &str)], files: &[(&str, &str)]) -> StepKey {
        StepKey {
            parent: "sha256:p".into(),
            instruction: instruction.into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn entry(k: &StepKey, created: &str) -> Entry {
        Entry {
            image: Digest::of_bytes(b"x"),
            instruction: k.instruction.clone(),
            args: k.args.clone(),
            files: k.files.clone(),
            created: created.into(),
        }
    }

    #[test]
    fn misses_say_what_changed() {
        let old = key(
            "COPY src/ ./",
            &[],
            &[("src/main.rs", "1"), ("src/lib.rs", "2")],
        );
        let siblings = vec![entry(&old, "1")];
        let k = key(
            "COPY src/ ./",
            &[],
            &[("src/main.rs", "9"), ("src/lib.rs", "2")],
        );
        assert_eq!(explain(&k, &siblings), "src/main.rs changed");
        let k = key(
            "COPY src/ ./",
            &[],
            &[
                ("src/main.rs", "1"),
                ("src/lib.rs", "2"),
                ("src/new.rs", "3"),
            ],
        );
        assert_eq!(explain(&k, &siblings), "src/new.rs added");
        let k = key("COPY src/ ./", &[], &[("src/main.rs", "1")]);
        assert_eq!(explain(&k, &siblings), "src/lib.rs removed");

        let old = key("RUN /bin/sh -c make", &[("VERSION", "1")], &[]);
        let siblings = vec![entry(&old, "1")];
        let k = key("RUN /bin/sh -c make", &[("VERSION", "2")], &[]);
        assert_eq!(explain(&k, &siblings), "build arg VERSION changed");
        let k = key("RUN /bin/sh -c make test", &[("VERSION", "1")], &[]);
        assert_eq!(
            explain(&k, &siblings),
            "instruction changed (was: RUN /bin/sh -c make)"
        );
        assert_eq!(explain(&k, &[]), "not built on this parent before");
    }

    #[test]
    fn entries_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = Cache::new(store);
        let k = key("RUN /bin/sh -c true", &[], &[]);
        assert_eq!(cache.get(&k).unwrap(), None);
        let img = Digest::of_bytes(b"img");
        cache.put(&k, &img).unwrap();
        assert_eq!(cache.get(&k).unwrap().map(|e| e.image), Some(img));
        let other = key("RUN /bin/sh -c false", &[], &[]);
        assert_eq!(cache.get(&other).unwrap(), None);
        assert!(cache
            .explain_miss(&other)
            .starts_with("instruction changed"));
        cache.forget(&k).unwrap();
        assert_eq!(cache.get(&k).unwrap(), None);
    }
}
