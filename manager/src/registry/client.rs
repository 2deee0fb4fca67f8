//! One repository on one endpoint: the distribution API calls pull and push make.

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Response, StatusCode};

use super::auth::{error_text, Credentials, Session};
use super::transport::Endpoint;
use super::{Error, Result};
use crate::content::Digest;

/// Manifest media types berth reads.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Largest manifest berth reads (the distribution registry's own limit is 4 MiB).
const MANIFEST_MAX: usize = 4 << 20;

/// A manifest as the registry sent it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// One repository (`library/busybox`) on one endpoint.
#[derive(Debug, Clone)]
pub struct Repo {
    pub session: Session,
    pub path: String,
}

impl Repo {
    /// A repository session with the scopes of `actions` (`pull` or `pull,push`).
    pub fn new(endpoint: Endpoint, path: &str, creds: Option<Credentials>, actions: &str) -> Repo {
        let scopes = vec![format!("repository:{path}:{actions}")];
        Repo {
            session: Session::new(endpoint, creds).with_scopes(scopes),
            path: path.to_string(),
        }
    }

    /// The registry as users name it.
    pub fn registry(&self) -> &str {
        &self.session.endpoint.registry
    }

    fn url(&self, rest: &str) -> String {
        self.session.endpoint.url(&format!("{}/{rest}", self.path))
    }

    async fn http_err(&self, what: &str, resp: Response) -> Error {
        let status = resp.status();
        let msg = error_text(resp).await;
        if status == StatusCode::NOT_FOUND {
            Error::NotFound {
                reference: format!("{}/{}", self.registry(), self.path),
                message: format!("{what}: {msg}"),
            }
        } else {
            Error::Http {
                registry: self.session.endpoint.base.clone(),
                message: format!("{what}: {msg}"),
            }
        }
    }

    /// `GET /v2/NAME/manifests/REF`, checked against its digest when `reference` is one.
    pub async fn manifest(&mut self, reference: &str) -> Result<RawManifest> {
        let url = self.url(&format!("manifests/{reference}"));
        let accept = [
            MT_OCI_INDEX,
            MT_DOCKER_LIST,
            MT_OCI_MANIFEST,
            MT_DOCKER_MANIFEST,
        ]
        .join(", ");
        let resp = self
            .session
            .send(|c| c.get(&url).header(ACCEPT, accept.as_str()))
            .await?;
        if !resp.status().is_success() {
            return Err(self.http_err(&format!("manifest {reference}"), resp).await);
        }
        let header_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = read_limited(resp, MANIFEST_MAX, &url).await?;
        let digest = Digest::of_bytes(&bytes);
        if let Ok(want) = reference.parse::<Digest>() {
            if want != digest {
                return Err(Error::BadManifest {
                    reference: reference.to_string(),
                    reason: format!("the registry sent content with digest {digest}"),
                });
            }
        }
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType", default)]
            media_type: String,
            #[serde(default)]
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
            reference: reference.to_string(),
            reason: format!("not JSON: {e}"),
        })?;
        let media_type = if !probe.media_type.is_empty() {
            probe.media_type
        } else if let Some(t) =
            header_type.filter(|t| t.contains("manifest") || t.contains("index"))
        {
            t
        } else if probe.manifests.is_some() {
            MT_OCI_INDEX.to_string()
        } else {
            MT_OCI_MANIFEST.to_string()
        };
        Ok(RawManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// `GET /v2/NAME/blobs/DIGEST` from byte `offset` on. Returns the response and the
    /// offset it starts at (0 when the registry ignored the range).
    pub async fn blob(&mut self, digest: &Digest, offset: u64) -> Result<(Response, u64)> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .session
            .send(|c| {
                let rb = c.get(&url);
                if offset > 0 {
                    rb.header(RANGE, format!("bytes={offset}-"))
                } else {
                    rb
                }
            })
            .await?;
        match resp.status() {
            StatusCode::PARTIAL_CONTENT if offset > 0 => Ok((resp, offset)),
            StatusCode::RANGE_NOT_SATISFIABLE => Err(Error::BadBlob {
                registry: self.registry().to_string(),
                digest: digest.to_string(),
                reason: format!("the registry has fewer than {offset} bytes of it"),
            }),
            s if s.is_success() => Ok((resp, 0)),
            _ => Err(self.http_err(&format!("blob {digest}"), resp).await),
        }
    }

    /// `GET /v2/NAME/tags/list` (one page; registries send all by default).
    pub async fn tags(&mut self) -> Result<Vec<String>> {
        let url = self.url("tags/list");
        let resp = self.session.send(|c| c.get(&url)).await?;
        if !resp.status().is_success() {
            return Err(self.http_err("tags", resp).await);
        }
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let body = read_limited(resp, MANIFEST_MAX, &url).await?;
        let t: Tags = serde_json::from_slice(&body)
            .map_err(|e| Error::Invalid(format!("{url}: not a tag list: {e}")))?;
        Ok(t.tags.unwrap_or_default())
    }

    /// Reads a small blob whole (a config), checked against its digest.
    pub async fn small_blob(&mut self, digest: &Digest, max: usize) -> Result<Vec<u8>> {
        let (resp, _) = self.blob(digest, 0).await?;
        let url = self.url(&format!("blobs/{digest}"));
        let bytes = read_limited(resp, max, &url).await?;
        let actual = Digest::of_bytes(&bytes);
        if actual != *digest {
            return Err(Error::BadBlob {
                registry: self.registry().to_string(),
                digest: digest.to_string(),
                reason: format!("the registry sent content with digest {actual}"),
            });
        }
        Ok(bytes)
    }

    /// `HEAD /v2/NAME/blobs/DIGEST`: the size when the registry has it.
    pub async fn blob_size(&mut self, digest: &Digest) -> Result<Option<u64>> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.session.send(|c| c.head(&url)).await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.http_err(&format!("blob {digest}"), resp).await),
        }
    }

    /// Cross-repository mount of `digest` from `from` (same registry). `Ok(None)`:
    /// mounted; `Ok(Some(location))`: not mounted, an upload was opened instead.
    pub async fn mount(&mut self, digest: &Digest, from: &str) -> Result<Option<String>> {
        let url = self.url("blobs/uploads/");
        let q = [("mount", digest.as_str()), ("from", from)];
        let resp = self
            .session
            .send(|c| c.post(&url).query(&q).header(CONTENT_LENGTH, "0"))
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(Some(self.location(&resp)?)),
            _ => Err(self.http_err(&format!("mount of {digest}"), resp).await),
        }
    }

    /// Opens an upload; returns its location.
    pub async fn start_upload(&mut self) -> Result<String> {
        let url = self.url("blobs/uploads/");
        let resp = self
            .session
            .send(|c| c.post(&url).header(CONTENT_LENGTH, "0"))
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.http_err("starting an upload", resp).await);
        }
        self.location(&resp)
    }

    fn location(&self, resp: &Response) -> Result<String> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Http {
                registry: self.session.endpoint.base.clone(),
                message: "upload answered without a Location".into(),
            })?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                format!("{}{loc}", self.session.endpoint.base)
            },
        )
    }

    /// Finishes an upload in one `PUT` with the whole blob, streamed from `path`.
    pub async fn put_blob(
        &mut self,
        location: &str,
        digest: &Digest,
        path: &std::path::Path,
        size: u64,
    ) -> Result<()> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let p = path.to_path_buf();
        let resp = self
            .session
            .send(|c| {
                let p = p.clone();
                let body = reqwest::Body::wrap_stream(
                    futures_util::stream::once(async move { tokio::fs::File::open(p).await })
                        .map_ok(tokio_util::io::ReaderStream::new)
                        .try_flatten(),
                );
                c.put(&url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size)
                    .body(body)
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(self.http_err(&format!("upload of {digest}"), resp).await);
        }
        Ok(())
    }

    /// `PUT /v2/NAME/manifests/TAG`.
    pub async fn put_manifest(&mut self, tag: &str, m: &RawManifest) -> Result<()> {
        let url = self.url(&format!("manifests/{tag}"));
        let resp = self
            .session
            .send(|c| {
                c.put(&url)
                    .header(CONTENT_TYPE, m.media_type.as_str())
                    .body(m.bytes.clone())
            })
            .await?;
        if !resp.status().is_success() {
            return Err(self.http_err(&format!("manifest {tag}"), resp).await);
        }
        Ok(())
    }
}

use futures_util::{StreamExt as _, TryStreamExt as _};

/// Reads a whole small body, refusing more than `max` bytes.
async fn read_limited(resp: Response, max: usize, url: &str) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Error::Invalid(format!("{url}: larger than {max} bytes")));
    }
    let mut out = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| Error::Transport {
            url: url.to_string(),
            source: e,
        })?;
        if out.len() + chunk.len() > max {
            return Err(Error::Invalid(format!("{url}: larger than {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
