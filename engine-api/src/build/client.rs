//! `client.builder()`: `berth build`. The context goes up as a tar stream (a
//! directory is read, filtered and tarred as it is sent; a tar from stdin is passed
//! through), and the build's events come back while it runs.
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use berth_proto::services::build::v1 as pb;
use pb::builder_client::BuilderClient;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::context::{ignore_rules, write_tar};
use crate::error::{Error, Result};

const CHUNK: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Builder {
    c: BuilderClient<Channel>,
}

/// What to build, as `berth build`'s flags say.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// The Dockerfile's path within the context (`Dockerfile` when empty).
    pub dockerfile: String,
    /// The Dockerfile's text, when it is not in the context (`-f -`, or a path
    /// outside the context directory).
    pub dockerfile_text: Option<String>,
    pub tags: Vec<String>,
    pub build_args: HashMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: HashMap<String, String>,
    pub network: String,
    /// `--secret`: id → value.
    pub secrets: HashMap<String, Vec<u8>>,
    /// `-o`: stream the result's filesystem back (`BuildEvent::Export`).
    pub export_tar: bool,
}

/// Where the context comes from.
pub enum ContextSource {
    /// A directory; `.dockerignore` (or `<Dockerfile>.dockerignore`) applies here.
    Dir(PathBuf),
    /// A tar stream (`berth build - < ctx.tar`).
    Tar(Box<dyn AsyncRead + Unpin + Send>),
}

/// One thing the build reported.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildEvent {
    Step {
        id: u32,
        stage: String,
        text: String,
    },
    Cached(u32),
    Miss {
        id: u32,
        reason: String,
    },
    Output {
        id: u32,
        data: Vec<u8>,
    },
    Done {
        id: u32,
        secs: f64,
    },
    Warning(String),
    /// The image built: the last event of a build that worked.
    Image(String),
    /// With `export_tar`: the next bytes of the result's filesystem tar.
    Export(Vec<u8>),
}

struct ChunkSender(mpsc::Sender<pb::BuildRequest>);

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for part in buf.chunks(CHUNK) {
            let m = pb::BuildRequest {
                msg: Some(pb::build_request::Msg::Data(part.to_vec())),
            };
            self.0.blocking_send(m).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "berthd stopped reading the context",
                )
            })?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `builder prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildPrune {
    pub entries: u32,
    pub images: Vec<String>,
    pub space_reclaimed: u64,
}

impl Builder {
    /// `builder prune [-a] [--filter until=…]` (`until`: Unix seconds, 0 for none).
    pub async fn prune(&self, all: bool, until: i64) -> Result<BuildPrune> {
        let r = self
            .c
            .clone()
            .prune(pb::PruneRequest { all, until })
            .await?
            .into_inner();
        Ok(BuildPrune {
            entries: r.entries,
            images: r.images,
            space_reclaimed: r.space_reclaimed,
        })
    }

    pub(crate) fn new(channel: Channel) -> Builder {
        Builder {
            c: BuilderClient::new(channel),
        }
    }

    /// Start a build; events arrive on the receiver, an `Err` ends it.
    pub async fn build(
        &self,
        spec: &BuildSpec,
        context: ContextSource,
    ) -> Result<mpsc::Receiver<Result<BuildEvent>>> {
        let first = pb::BuildRequest {
            msg: Some(pb::build_request::Msg::Options(pb::BuildOptions {
                dockerfile: spec.dockerfile.clone(),
                dockerfile_text: spec.dockerfile_text.clone().unwrap_or_default(),
                has_dockerfile_text: spec.dockerfile_text.is_some(),
                tags: spec.tags.clone(),
                build_args: spec.build_args.clone(),
                target: spec.target.clone().unwrap_or_default(),
                no_cache: spec.no_cache,
                pull: spec.pull,
                labels: spec.labels.clone(),
                network: spec.network.clone(),
                secrets: spec.secrets.clone(),
                export_tar: spec.export_tar,
            })),
        };
        let (tx, rx) = mpsc::channel(8);
        tx.send(first).await.map_err(|_| Error::Io {
            path: "build context".into(),
            source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "request stream closed"),
        })?;
        let sender: tokio::task::JoinHandle<std::result::Result<(), Error>> = match context {
            ContextSource::Dir(root) => {
                let dockerfile = if spec.dockerfile.is_empty() {
                    "Dockerfile".to_string()
                } else {
                    spec.dockerfile.clone()
                };
                tokio::task::spawn_blocking(move || {
                    let ignore =
                        ignore_rules(&root, &root.join(&dockerfile)).map_err(|e| Error::Io {
                            path: root.clone(),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                    let keep = vec![
                        dockerfile.clone(),
                        ".dockerignore".to_string(),
                        format!("{dockerfile}.dockerignore"),
                    ];
                    // tar writes a header or a few KiB at a time: gather them into
                    // CHUNK-sized messages.
                    let out = std::io::BufWriter::with_capacity(CHUNK, ChunkSender(tx));
                    let mut out = write_tar(&root, &ignore, &keep, out).map_err(|e| Error::Io {
                        path: root.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                    out.flush().map_err(|source| Error::Io {
                        path: root.clone(),
                        source,
                    })?;
                    Ok(())
                })
            }
            ContextSource::Tar(mut r) => tokio::spawn(async move {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = r.read(&mut buf).await.map_err(|source| Error::Io {
                        path: "build context (stdin)".into(),
                        source,
                    })?;
                    if n == 0 {
                        return Ok(());
                    }
                    let m = pb::BuildRequest {
                        msg: Some(pb::build_request::Msg::Data(buf[..n].to_vec())),
                    };
                    if tx.send(m).await.is_err() {
                        return Ok(());
                    }
                }
            }),
        };
        let response = self.c.clone().build(ReceiverStream::new(rx)).await;
        // A context that could not be read is the error to show, not the daemon's.
        if let Ok(Err(e)) = sender.await {
            return Err(e);
        }
        let mut inbound = response?.into_inner();
        let (etx, erx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let next = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(s) => {
                        let _ = etx.send(Err(Error::from(s))).await;
                        return;
                    }
                };
                use pb::build_event::Event as E;
                let ev = match next.event {
                    Some(E::Step(s)) => BuildEvent::Step {
                        id: s.id,
                        stage: s.stage,
                        text: s.text,
                    },
                    Some(E::Cached(id)) => BuildEvent::Cached(id),
                    Some(E::Miss(m)) => BuildEvent::Miss {
                        id: m.id,
                        reason: m.reason,
                    },
                    Some(E::Output(o)) => BuildEvent::Output {
                        id: o.id,
                        data: o.data,
                    },
                    Some(E::Done(d)) => BuildEvent::Done {
                        id: d.id,
                        secs: d.secs,
                    },
                    Some(E::Warning(w)) => BuildEvent::Warning(w),
                    Some(E::Image(i)) => BuildEvent::Image(i),
                    Some(E::Export(data)) => BuildEvent::Export(data),
                    None => continue,
                };
                if etx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
        });
        Ok(erx)
    }
}
