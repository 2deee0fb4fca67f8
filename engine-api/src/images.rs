//! `client.images()`: local images. Archives are streamed in 256 KiB chunks.

use std::path::Path;

use berth_proto::services::images::v1 as pb;
use pb::images_client::ImagesClient;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;

use crate::error::{Error, Result};
use crate::types::{HistoryEntry, Image, RemovedImage};

const CHUNK: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Images {
    c: ImagesClient<Channel>,
}

/// Sends `first`, then `reader`'s bytes wrapped by `data`, down a channel.
fn upload<M: Send + 'static>(
    first: Option<M>,
    mut reader: impl AsyncRead + Unpin + Send + 'static,
    data: fn(Vec<u8>) -> M,
) -> (
    ReceiverStream<M>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (tx, rx) = mpsc::channel(8);
    let h = tokio::spawn(async move {
        if let Some(f) = first {
            if tx.send(f).await.is_err() {
                return Ok(());
            }
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            if tx.send(data(buf[..n].to_vec())).await.is_err() {
                return Ok(());
            }
        }
    });
    (ReceiverStream::new(rx), h)
}

async fn open(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::File::open(path)
        .await
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
}

impl Images {
    pub(crate) fn new(channel: Channel) -> Images {
        Images {
            c: ImagesClient::new(channel),
        }
    }

    /// `import`: a rootfs tar becomes a one-layer image named `reference`.
    pub async fn import(
        &self,
        tar: impl AsyncRead + Unpin + Send + 'static,
        reference: &str,
        changes: &[String],
        message: &str,
    ) -> Result<Image> {
        let first = pb::ImportRequest {
            msg: Some(pb::import_request::Msg::Options(pb::ImportOptions {
                reference: reference.to_string(),
                changes: changes.to_vec(),
                message: message.to_string(),
            })),
        };
        let (stream, reader) = upload(Some(first), tar, |d| pb::ImportRequest {
            msg: Some(pb::import_request::Msg::Data(d)),
        });
        let r = self.c.clone().import(stream).await;
        if let Ok(Err(e)) = reader.await {
            return Err(Error::Io {
                path: "import input".into(),
                source: e,
            });
        }
        Ok(Image::from(r?.into_inner().image.unwrap_or_default()))
    }

    /// `import` from a file.
    pub async fn import_file(
        &self,
        path: &Path,
        reference: &str,
        changes: &[String],
    ) -> Result<Image> {
        let f = open(path).await?;
        self.import(f, reference, changes, "").await
    }

    /// `load`: a docker-archive; returns docker's "Loaded image: …" lines.
    pub async fn load(
        &self,
        archive: impl AsyncRead + Unpin + Send + 'static,
    ) -> Result<Vec<String>> {
        let first = pb::LoadRequest {
            msg: Some(pb::load_request::Msg::Options(pb::LoadOptions {
                quiet: false,
            })),
        };
        let (stream, reader) = upload(Some(first), archive, |d| pb::LoadRequest {
            msg: Some(pb::load_request::Msg::Data(d)),
        });
        let r = self.c.clone().load(stream).await;
        if let Ok(Err(e)) = reader.await {
            return Err(Error::Io {
                path: "load input".into(),
                source: e,
            });
        }
        Ok(r?.into_inner().loaded)
    }

    pub async fn load_file(&self, path: &Path) -> Result<Vec<String>> {
        let f = open(path).await?;
        self.load(f).await
    }

    /// `save`: the docker-archive of `references`, as byte chunks.
    pub async fn save(&self, references: &[String]) -> Result<impl Stream<Item = Result<Vec<u8>>>> {
        let s = self
            .c
            .clone()
            .save(pb::SaveRequest {
                references: references.to_vec(),
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(|c| c.data).map_err(Error::from)))
    }

    pub async fn list(&self, all: bool, filters: &[String]) -> Result<Vec<Image>> {
        let r = self
            .c
            .clone()
            .list(pb::ListRequest {
                all,
                filters: filters.to_vec(),
            })
            .await?
            .into_inner();
        Ok(r.images.into_iter().map(Image::from).collect())
    }

    pub async fn inspect(&self, reference: &str) -> Result<Image> {
        let r = self
            .c
            .clone()
            .inspect(pb::InspectRequest {
                reference: reference.to_string(),
            })
            .await?
            .into_inner();
        Ok(Image::from(r))
    }

    pub async fn remove(&self, reference: &str, force: bool) -> Result<RemovedImage> {
        let r = self
            .c
            .clone()
            .remove(pb::RemoveRequest {
                reference: reference.to_string(),
                force,
                no_prune: false,
            })
            .await?
            .into_inner();
        Ok(RemovedImage {
            untagged: r.untagged,
            deleted: r.deleted,
        })
    }

    pub async fn tag(&self, source: &str, target: &str) -> Result<()> {
        self.c
            .clone()
            .tag(pb::TagRequest {
                source: source.to_string(),
                target: target.to_string(),
            })
            .await?;
        Ok(())
    }

    /// A container's changes as a new image; returns its ID.
    pub async fn commit(
        &self,
        container: &str,
        reference: &str,
        changes: &[String],
        message: &str,
        author: &str,
        pause: bool,
    ) -> Result<String> {
        let r = self
            .c
            .clone()
            .commit(pb::CommitRequest {
                container: container.to_string(),
                reference: reference.to_string(),
                changes: changes.to_vec(),
                message: message.to_string(),
                author: author.to_string(),
                pause,
            })
            .await?
            .into_inner();
        Ok(r.id)
    }

    pub async fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let r = self
            .c
            .clone()
            .history(pb::HistoryRequest {
                reference: reference.to_string(),
            })
            .await?
            .into_inner();
        Ok(r.entries
            .into_iter()
            .map(|e| HistoryEntry {
                id: e.id,
                created: e.created,
                created_by: e.created_by,
                size: e.size,
                comment: e.comment,
                tags: e.tags,
            })
            .collect())
    }
    /// `pull`: progress events as they come; the last carries the pulled references.
    pub async fn pull(
        &self,
        reference: &str,
        platform: &str,
        all_tags: bool,
        auth: Option<RegistryAuth>,
    ) -> Result<impl Stream<Item = Result<TransferEvent>>> {
        let s = self
            .c
            .clone()
            .pull(pb::PullRequest {
                reference: reference.to_string(),
                platform: platform.to_string(),
                all_tags,
                auth: auth.map(RegistryAuth::into_pb),
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(TransferEvent::from).map_err(Error::from)))
    }

    /// `push`: progress events; the last carries `TAG@DIGEST` per pushed tag.
    pub async fn push(
        &self,
        reference: &str,
        all_tags: bool,
        auth: Option<RegistryAuth>,
    ) -> Result<impl Stream<Item = Result<TransferEvent>>> {
        let s = self
            .c
            .clone()
            .push(pb::PushRequest {
                reference: reference.to_string(),
                all_tags,
                auth: auth.map(RegistryAuth::into_pb),
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(TransferEvent::from).map_err(Error::from)))
    }

    /// `login`: berthd checks the credentials with the registry (it keeps none).
    pub async fn login(&self, server: &str, auth: RegistryAuth) -> Result<String> {
        let r = self
            .c
            .clone()
            .login(pb::LoginRequest {
                server: server.to_string(),
                auth: Some(auth.into_pb()),
            })
            .await?
            .into_inner();
        Ok(r.status)
    }
}

/// Credentials for one registry.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    pub identity_token: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RegistryAuth {
    fn into_pb(self) -> pb::AuthConfig {
        pb::AuthConfig {
            username: self.username,
            password: self.password,
            identity_token: self.identity_token,
        }
    }
}

/// One progress event of a pull or push.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferEvent {
    /// Short layer digest, or empty for a line about the image.
    pub id: String,
    pub status: String,
    pub current: u64,
    pub total: u64,
    /// Set on the last event only.
    pub result: Vec<String>,
}

impl From<pb::Progress> for TransferEvent {
    fn from(p: pb::Progress) -> Self {
        TransferEvent {
            id: p.id,
            status: p.status,
            current: p.current,
            total: p.total,
            result: p.result,
        }
    }
}
