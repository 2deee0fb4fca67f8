//! The OCI image layout half: reading `index.json` (nested and multi-arch
//! indexes, names from annotations) and writing it, each manifest annotated
//! with its name and tag as containerd does.

use std::collections::HashMap;

use serde::Deserialize;

use super::{ManifestEntry, Staging};
use crate::content::{ContentStore, Digest};
use crate::images::config::go_arch;
use crate::images::record::{ImageRecord, MT_OCI_MANIFEST};
use crate::images::{Error, Result};

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
pub(super) fn entries(st: &Staging) -> Result<Vec<ManifestEntry>> {
    let index: IndexOrManifest = serde_json::from_slice(&st.read_json("index.json")?)
        .map_err(|e| Error::InvalidArchive(format!("index.json: {e}")))?;
    let arch = go_arch();
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

/// `index.json` for `images`: one descriptor per tag (one without annotations
/// for an untagged image).
pub(super) fn index(
    content: &ContentStore,
    images: &[(ImageRecord, Vec<String>)],
) -> Result<serde_json::Value> {
    let mut index = Vec::new();
    for (rec, tags) in images {
        let msize = content.size(&rec.manifest)?;
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
        }
    }
    Ok(serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

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
