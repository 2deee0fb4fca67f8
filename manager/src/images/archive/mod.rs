//! archive: the image archive formats of `docker save` / `docker load`.
//!
//! `save` writes what docker ≥ 25 writes — an OCI image layout that is also a docker
//! archive, so docker (any version), podman and skopeo load it:
//!
//! ```text
//! blobs/sha256/<hex>   layer tars (uncompressed), configs, manifests
//! oci-layout           {"imageLayoutVersion":"1.0.0"}
//! index.json           OCI index; each manifest annotated with its name and tag
//! manifest.json        [{"Config":"blobs/sha256/<cfg>","RepoTags":[…]|null,"Layers":["blobs/sha256/<l>",…]}]
//! repositories         {"busybox":{"latest":"<top layer hex>"}}   (legacy)
//! ```
//!
//! `load` reads `manifest.json` and whatever files it names, so it takes both that
//! layout and the legacy one (`<id>.json`, `<id>/layer.tar`, layers deduplicated by
//! symlinks), plain or gzip layers. Without `manifest.json` it reads an OCI layout
//! (`index.json`, as skopeo's `oci-archive:` writes): nested/multi-arch indexes resolve
//! to this host's platform, every blob is checked against its digest, and names come
//! from the `io.containerd.image.name` annotation (or a full-reference
//! `org.opencontainers.image.ref.name`). The stream is staged into
//! `content/ingest/load-*/` (hashing as it goes) because `manifest.json` may come last;
//! only then are configs and layers verified against the config's diff IDs and moved
//! into the content store. The staging dir is always removed.
//!
//! `mod.rs` stages the stream and resolves member names (links included);
//! `docker.rs` reads and writes `manifest.json` + `repositories`, `oci.rs` the
//! OCI layout (`index.json`, `oci-layout`). What becomes of the staged files is
//! the caller's (`load.rs`, `save.rs`): this module reads blobs to write them
//! but records nothing in the image store.

mod docker;
mod oci;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::ImageRecord;
use super::{Error, Result};
use crate::content::{ContentStore, Digest, HashingWriter};

pub(super) use docker::ManifestEntry;

/// Biggest JSON document (manifest.json, a config) read into memory.
const MAX_JSON: u64 = 16 << 20;
/// Longest GNU long name / long link accepted.
const MAX_NAME: u64 = 64 * 1024;
/// Largest PAX header accepted.
const MAX_PAX: u64 = 1024 * 1024;
/// Symlink hops followed inside an archive.
const MAX_HOPS: usize = 16;

enum Staged {
    File {
        path: PathBuf,
        digest: Digest,
        size: u64,
    },
    Link(String),
}

/// An archive's regular files and links, staged on disk by member name; the
/// directory goes with it.
pub(super) struct Staging {
    dir: PathBuf,
    files: HashMap<String, Staged>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Normalises an archive member name: relative, no `..`, no empty components.
fn member_name(raw: &[u8]) -> Result<String> {
    let s = String::from_utf8_lossy(raw);
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidArchive(format!(
                    "member {s:?} has a '..' component"
                )))
            }
            c => parts.push(c),
        }
    }
    if s.starts_with('/') {
        return Err(Error::InvalidArchive(format!("member {s:?} is absolute")));
    }
    Ok(parts.join("/"))
}

impl Staging {
    /// A fresh staging dir under the content store's ingest dir, so start-up gc
    /// clears what a crash leaves.
    pub(super) fn new(content: &ContentStore) -> Result<Staging> {
        let dir = content.ingest_dir().join(content.unique_ref("load"));
        fs::create_dir_all(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Staging {
            dir,
            files: HashMap::new(),
        })
    }

    /// Stages every regular file and link of the archive. Raw tar entries: GNU long
    /// names and PAX headers are read here with size caps, so a hostile header cannot
    /// make berthd buffer gigabytes.
    pub(super) fn read_archive(&mut self, r: impl Read) -> Result<()> {
        let mut ar = tar::Archive::new(r);
        let mut n = 0u64;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let bad = |e: io::Error| Error::InvalidArchive(e.to_string());
        for e in ar.entries().map_err(Error::Stream)?.raw(true) {
            let mut e = e.map_err(bad)?;
            let kind = e.header().entry_type();
            let size = e.header().entry_size().map_err(bad)?;
            let ext_limit = match kind {
                tar::EntryType::GNULongName | tar::EntryType::GNULongLink => Some(MAX_NAME),
                tar::EntryType::XHeader | tar::EntryType::XGlobalHeader => Some(MAX_PAX),
                _ => None,
            };
            if let Some(limit) = ext_limit {
                if size > limit {
                    return Err(Error::InvalidArchive(format!(
                        "extension header of {size} bytes (limit {limit})"
                    )));
                }
                let mut v = Vec::with_capacity(size as usize);
                (&mut e).take(size).read_to_end(&mut v).map_err(bad)?;
                if v.len() as u64 != size {
                    return Err(Error::InvalidArchive("truncated extension header".into()));
                }
                match kind {
                    tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                        while v.last() == Some(&0) {
                            v.pop();
                        }
                        if kind == tar::EntryType::GNULongName {
                            long_name = Some(v);
                        } else {
                            long_link = Some(v);
                        }
                    }
                    tar::EntryType::XHeader => {
                        for x in tar::PaxExtensions::new(&v) {
                            let x = x.map_err(bad)?;
                            let k = String::from_utf8_lossy(x.key_bytes()).into_owned();
                            pax.push((k, x.value_bytes().to_vec()));
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let pax_get = |k: &str| {
                pax.iter()
                    .rev()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let raw_name = pax_get("path")
                .or(long_name.take())
                .unwrap_or_else(|| e.header().path_bytes().into_owned());
            let raw_link = pax_get("linkpath")
                .or(long_link.take())
                .or_else(|| e.header().link_name_bytes().map(|l| l.into_owned()))
                .unwrap_or_default();
            if pax_get("size").is_some_and(|v| v != size.to_string().as_bytes()) {
                return Err(Error::InvalidArchive(
                    "PAX size differs from the header size (members over 8 GiB are not supported)"
                        .into(),
                ));
            }
            pax.clear();
            let name = member_name(&raw_name)?;
            match kind {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    n += 1;
                    let path = self.dir.join(n.to_string());
                    let f = File::create(&path).map_err(|source| Error::Io {
                        path: path.clone(),
                        source,
                    })?;
                    let mut w = HashingWriter::new(io::BufWriter::new(f));
                    let got = io::copy(&mut e, &mut w).map_err(Error::Stream)?;
                    if got != size {
                        return Err(Error::InvalidArchive(format!(
                            "member {name:?} is truncated ({got} of {size} bytes)"
                        )));
                    }
                    let (digest, size, bw) = w.finish();
                    bw.into_inner().map_err(|e| Error::Stream(e.into_error()))?;
                    self.files.insert(name, Staged::File { path, digest, size });
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let t = String::from_utf8_lossy(&raw_link).into_owned();
                    // Symlinks are relative to their directory; hard links to the root.
                    let joined = if kind == tar::EntryType::Symlink {
                        let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        join_rel(dir, &t)
                    } else {
                        member_name(t.as_bytes())
                    };
                    // A link leading out of the archive is dropped: should the
                    // manifest name it, it reads as missing.
                    if let Ok(joined) = joined {
                        self.files.insert(name, Staged::Link(joined));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The staged file behind a member name, following in-archive links.
    pub(super) fn get(&self, name: &str) -> Result<(&Path, &Digest, u64)> {
        let mut cur = member_name(name.as_bytes())?;
        for _ in 0..MAX_HOPS {
            match self.files.get(&cur) {
                Some(Staged::File { path, digest, size }) => return Ok((path, digest, *size)),
                Some(Staged::Link(t)) => cur = t.clone(),
                None => {
                    return Err(Error::InvalidArchive(format!(
                        "manifest.json names {name:?}, which is not in the archive"
                    )))
                }
            }
        }
        Err(Error::InvalidArchive(format!(
            "too many links resolving {name:?}"
        )))
    }

    pub(super) fn read_json(&self, name: &str) -> Result<Vec<u8>> {
        let (path, _, size) = self.get(name)?;
        if size > MAX_JSON {
            return Err(Error::InvalidArchive(format!(
                "{name:?} is {size} bytes; JSON documents are limited to {MAX_JSON}"
            )));
        }
        fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `dir` + relative `target`, normalised, refusing to climb out of the archive.
fn join_rel(dir: &str, target: &str) -> Result<String> {
    if target.starts_with('/') {
        return Err(Error::InvalidArchive(format!(
            "link to absolute path {target:?}"
        )));
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::InvalidArchive(format!(
                        "link {target:?} leaves the archive"
                    )));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// The images of a staged archive: `manifest.json` when there is one (docker
/// archives, which may also be OCI layouts), else the OCI layout's `index.json`.
pub(super) fn entries(st: &Staging) -> Result<Vec<ManifestEntry>> {
    if st.files.contains_key("manifest.json") {
        docker::entries(st)
    } else if st.files.contains_key("index.json") {
        oci::entries(st)
    } else {
        Err(Error::InvalidArchive(
            "neither manifest.json nor index.json: not a docker-archive or OCI layout \
             (docker save / skopeo copy oci-archive: output expected); for a root \
             filesystem tar use `berth image import`"
                .into(),
        ))
    }
}

fn header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    // Paths here are short ASCII; set_path cannot fail on them.
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

/// Writes `images` (each with the tags to record) as one archive that is both
/// a docker archive and an OCI layout.
pub(super) fn write(
    content: &ContentStore,
    images: &[(ImageRecord, Vec<String>)],
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut written = std::collections::HashSet::new();
    let mut add_blob = |b: &mut tar::Builder<_>, d: &Digest| -> Result<()> {
        if !written.insert(d.clone()) {
            return Ok(());
        }
        let size = content.size(d)?;
        let f = content.open_blob(d)?;
        let mut h = header(&format!("blobs/sha256/{}", d.hex()), size, false);
        b.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), f)
            .map_err(Error::Stream)
    };
    for (p, _) in [("blobs/", 0), ("blobs/sha256/", 0)] {
        let mut h = header(p, 0, true);
        b.append_data(&mut h, p, io::empty())
            .map_err(Error::Stream)?;
    }
    for (rec, _) in images {
        for l in &rec.layers {
            add_blob(&mut b, &l.blob)?;
        }
        add_blob(&mut b, &rec.id)?;
        add_blob(&mut b, &rec.manifest)?;
    }
    let files: [(&str, Vec<u8>); 4] = [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ("index.json", to_json(&oci::index(content, images)?)?),
        ("manifest.json", to_json(&docker::manifest(images))?),
        ("repositories", to_json(&docker::repositories(images))?),
    ];
    for (name, bytes) in files {
        let mut h = header(name, bytes.len() as u64, false);
        b.append_data(&mut h, name, bytes.as_slice())
            .map_err(Error::Stream)?;
    }
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(Error::Stream)
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Stream(io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_cannot_escape() {
        assert_eq!(member_name(b"./a//b").unwrap(), "a/b");
        assert!(member_name(b"../a").is_err());
        assert!(member_name(b"/a").is_err());
        assert_eq!(
            join_rel("abc", "../def/layer.tar").unwrap(),
            "def/layer.tar"
        );
        assert!(join_rel("abc", "../../x").is_err());
        assert!(join_rel("abc", "/etc/passwd").is_err());
    }
}
