//! docker-archive: the format of `docker save` / `docker load`.
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

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::ImageConfiguration;
use super::reference::Reference;
use super::service::{stage_dir, ImageRecord, ImageService, LayerRecord, MT_OCI_MANIFEST};
use super::{Error, Image, Result};
use crate::content::{Digest, HashingWriter};

/// One entry of `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

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

struct Staging {
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
    fn new(svc: &ImageService) -> Result<Staging> {
        let dir = stage_dir(svc.content());
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
    fn read_archive(&mut self, r: impl Read) -> Result<()> {
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
    fn get(&self, name: &str) -> Result<(&Path, &Digest, u64)> {
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

    fn read_json(&self, name: &str) -> Result<Vec<u8>> {
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

pub(super) fn load(svc: &ImageService, archive: impl Read) -> Result<Vec<Image>> {
    // Held from the start: start-up gc must not take the staging dir away.
    let _g = svc.lock_mutations();
    let mut st = Staging::new(svc)?;
    st.read_archive(archive)?;
    let manifest: Vec<ManifestEntry> = if st.files.contains_key("manifest.json") {
        serde_json::from_slice(&st.read_json("manifest.json")?)
            .map_err(|e| Error::InvalidArchive(format!("manifest.json: {e}")))?
    } else if st.files.contains_key("index.json") {
        oci_entries(&st)?
    } else {
        return Err(Error::InvalidArchive(
            "neither manifest.json nor index.json: not a docker-archive or OCI layout \
             (docker save / skopeo copy oci-archive: output expected); for a root \
             filesystem tar use `berth image import`"
                .into(),
        ));
    };
    let mut out = Vec::new();
    for m in &manifest {
        let mut touched = Vec::new();
        match load_one(svc, &st, m, &mut touched) {
            Ok(id) => out.push(id),
            Err(e) => {
                // Leave no half-loaded image: blobs and snapshots this entry added
                // and nothing else uses go again.
                for d in &touched {
                    svc.drop_blob_if_unused(d);
                }
                let _ = svc.remove_unused_snapshots();
                return Err(e);
            }
        }
    }
    drop(st);
    out.iter()
        .map(|id| svc.list_one(id))
        .collect::<Result<Vec<_>>>()
}

/// An OCI descriptor (the fields berth reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: Digest,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

/// An OCI index or manifest (whichever the blob is).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexOrManifest {
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// A content-addressed member of an OCI layout, checked against its digest.
fn oci_blob(st: &Staging, d: &Digest) -> Result<String> {
    let name = format!("blobs/sha256/{}", d.hex());
    let (_, actual, _) = st.get(&name)?;
    if actual != d {
        return Err(Error::InvalidArchive(format!(
            "{name} does not match its digest (it is {actual}): corrupt archive"
        )));
    }
    Ok(name)
}

/// The images of an OCI layout (index.json), as docker-archive entries. Multi-arch
/// indexes resolve to this host's platform; names come from the containerd/docker
/// annotation, or from `org.opencontainers.image.ref.name` when it is a full reference.
fn oci_entries(st: &Staging) -> Result<Vec<ManifestEntry>> {
    let index: IndexOrManifest = serde_json::from_slice(&st.read_json("index.json")?)
        .map_err(|e| Error::InvalidArchive(format!("index.json: {e}")))?;
    let arch = super::service::go_arch();
    let mut out: Vec<ManifestEntry> = Vec::new();
    let mut todo: Vec<(Descriptor, Option<String>, usize)> = index
        .manifests
        .into_iter()
        .map(|d| {
            let name = d
                .annotations
                .get("io.containerd.image.name")
                .cloned()
                .or_else(|| {
                    d.annotations
                        .get("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains(['/', ':']))
                        .cloned()
                });
            (d, name, 0)
        })
        .collect();
    while let Some((d, name, depth)) = todo.pop() {
        if depth > 4 {
            return Err(Error::InvalidArchive("indexes nested too deep".into()));
        }
        let blob = oci_blob(st, &d.digest)?;
        let m: IndexOrManifest = serde_json::from_slice(&st.read_json(&blob)?)
            .map_err(|e| Error::InvalidArchive(format!("{blob}: {e}")))?;
        let is_index = d.media_type.contains("index")
            || d.media_type.contains("manifest.list")
            || m.media_type.contains("index")
            || m.media_type.contains("manifest.list")
            || (m.config.is_none() && !m.manifests.is_empty());
        if is_index {
            let pick = m
                .manifests
                .into_iter()
                .find(|c| {
                    c.platform
                        .as_ref()
                        .is_some_and(|p| p.os == "linux" && p.architecture == arch)
                })
                .ok_or_else(|| {
                    Error::InvalidArchive(format!("{blob}: no linux/{arch} image in the index"))
                })?;
            todo.push((pick, name, depth + 1));
            continue;
        }
        let config = m
            .config
            .ok_or_else(|| Error::InvalidArchive(format!("{blob}: manifest without config")))?;
        let mut layers = Vec::new();
        for l in &m.layers {
            if l.media_type.contains("zstd") {
                return Err(Error::InvalidArchive(format!(
                    "layer {} is zstd-compressed; berth reads plain and gzip layers",
                    l.digest
                )));
            }
            layers.push(oci_blob(st, &l.digest)?);
        }
        out.push(ManifestEntry {
            config: oci_blob(st, &config.digest)?,
            repo_tags: name.map(|n| vec![n]),
            layers,
        });
    }
    out.reverse();
    Ok(out)
}

fn load_one(
    svc: &ImageService,
    st: &Staging,
    m: &ManifestEntry,
    touched: &mut Vec<Digest>,
) -> Result<Digest> {
    let config_bytes = st.read_json(&m.config)?;
    let (_, config_digest, _) = st.get(&m.config)?;
    let config = ImageConfiguration::parse(&config_bytes, config_digest)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != m.layers.len() {
        return Err(Error::InvalidArchive(format!(
            "{}: {} layers listed but the config has {} diff IDs",
            m.config,
            m.layers.len(),
            diff_ids.len()
        )));
    }
    let tags = m
        .repo_tags
        .iter()
        .flatten()
        .map(|t| Reference::parse(t))
        .collect::<Result<Vec<_>>>()?;
    let mut layers = Vec::new();
    let mut chain = Vec::new();
    for (lname, diff_id) in m.layers.iter().zip(diff_ids) {
        let (path, digest, size) = st.get(lname)?;
        let size = if svc.content().exists(diff_id) {
            svc.content().size(diff_id)?
        } else if digest == diff_id {
            // Plain tar: the staged file becomes the blob (a later member sharing
            // it finds the blob present above).
            svc.content().adopt(path, diff_id)?;
            size
        } else {
            let f = File::open(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            svc.store_layer(f, Some(diff_id))
                .map_err(|e| match e {
                    Error::Content(crate::content::Error::DigestMismatch { actual, .. }) => {
                        Error::InvalidArchive(format!(
                        "layer {lname:?} is {actual} but the config says {diff_id}: corrupt archive"
                    ))
                    }
                    e => e,
                })?
                .1
        };
        touched.push(diff_id.clone());
        let blob = svc.content().open_blob(diff_id)?;
        let snap = svc
            .snapshots()
            .unpack(chain.last(), diff_id, blob, svc.unpack_options())?;
        chain.push(snap.chain_id);
        layers.push(LayerRecord {
            blob: diff_id.clone(),
            size,
        });
    }
    let rec = svc.commit_image(&config_bytes, &config, layers, chain)?;
    for t in &tags {
        svc.set_tag(t, &rec.id)?;
    }
    Ok(rec.id)
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

pub(super) fn save(
    svc: &ImageService,
    images: &[(ImageRecord, Vec<String>)],
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut written = std::collections::HashSet::new();
    let mut add_blob = |b: &mut tar::Builder<_>, d: &Digest| -> Result<()> {
        if !written.insert(d.clone()) {
            return Ok(());
        }
        let size = svc.content().size(d)?;
        let f = svc.content().open_blob(d)?;
        let mut h = header(&format!("blobs/sha256/{}", d.hex()), size, false);
        b.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), f)
            .map_err(Error::Stream)
    };
    for (p, _) in [("blobs/", 0), ("blobs/sha256/", 0)] {
        let mut h = header(p, 0, true);
        b.append_data(&mut h, p, io::empty())
            .map_err(Error::Stream)?;
    }
    let mut manifest = Vec::new();
    let mut index = Vec::new();
    let mut repositories: serde_json::Map<String, serde_json::Value> = serde_json::Map::new();
    for (rec, tags) in images {
        for l in &rec.layers {
            add_blob(&mut b, &l.blob)?;
        }
        add_blob(&mut b, &rec.id)?;
        add_blob(&mut b, &rec.manifest)?;
        let msize = svc.content().size(&rec.manifest)?;
        manifest.push(ManifestEntry {
            config: format!("blobs/sha256/{}", rec.id.hex()),
            repo_tags: (!tags.is_empty()).then(|| tags.clone()),
            layers: rec
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.blob.hex()))
                .collect(),
        });
        let desc = |ann: Option<(&str, &str)>| {
            let mut d = serde_json::json!({
                "mediaType": MT_OCI_MANIFEST,
                "digest": rec.manifest,
                "size": msize,
            });
            if let Some((name, tag)) = ann {
                d["annotations"] = serde_json::json!({
                    "io.containerd.image.name": full_name(name, tag),
                    "org.opencontainers.image.ref.name": tag,
                });
            }
            d
        };
        if tags.is_empty() {
            index.push(desc(None));
        }
        for t in tags {
            let (name, tag) = t.rsplit_once(':').unwrap_or((t, "latest"));
            index.push(desc(Some((name, tag))));
            if let Some(top) = rec.layers.last() {
                let e = repositories
                    .entry(name.to_string())
                    .or_insert_with(|| serde_json::json!({}));
                e[tag] = serde_json::Value::String(top.blob.hex().to_string());
            }
        }
    }
    let files: [(&str, Vec<u8>); 4] = [
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (
            "index.json",
            to_json(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": index,
            }))?,
        ),
        ("manifest.json", to_json(&manifest)?),
        ("repositories", to_json(&repositories)?),
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

/// docker's fully qualified name, as containerd annotates it.
fn full_name(name: &str, tag: &str) -> String {
    let first = name.split('/').next().unwrap_or("");
    let has_host = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if has_host {
        format!("{name}:{tag}")
    } else if name.contains('/') {
        format!("docker.io/{name}:{tag}")
    } else {
        format!("docker.io/library/{name}:{tag}")
    }
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

    #[test]
    fn containerd_names() {
        assert_eq!(
            full_name("busybox", "latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_name("me/app", "1"), "docker.io/me/app:1");
        assert_eq!(full_name("localhost:5000/a", "1"), "localhost:5000/a:1");
    }
}
