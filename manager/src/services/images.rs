//! gRPC adapter of `berth.services.images.v1`. Upload bodies go to the image
//! service's spool (`images::Upload`) before the blocking call reads them;
//! `save` streams the archive back in chunks. Events are the image service's.

use std::io::Write;
use std::sync::Arc;

use berth_proto::services::images::v1 as pb;
use pb::images_server::Images as Api;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{
    history_to_pb, image_detail_to_pb, image_status as st, image_to_pb, load_to_pb, remove_to_pb,
};
use crate::containers::{CommitRequest, Containers};
use crate::images::{ImageFilters, ImageService, ImportOptions, Spooled};
use crate::registry::{Credentials, Progress, ProgressEvent, PullOptions, PushOptions, Registry};

pub struct ImagesService {
    pub images: Arc<ImageService>,
    pub registry: Registry,
    pub containers: Containers,
}

fn creds(a: Option<pb::AuthConfig>) -> Option<Credentials> {
    a.map(|a| Credentials {
        username: a.username,
        password: a.password,
        identity_token: a.identity_token,
    })
}

fn progress_pb(e: ProgressEvent) -> pb::Progress {
    pb::Progress {
        id: e.id,
        status: e.status,
        current: e.current,
        total: e.total,
        result: Vec::new(),
    }
}

/// Runs a pull or push, streaming its progress; the last message carries the
/// result, an error ends the stream. The client going away cancels the work
/// (the task is dropped; ingests stay for the next attempt).
fn progress_stream<F, Fut>(work: F) -> ReceiverStream<Result<pb::Progress, Status>>
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<String>, crate::registry::Error>> + Send,
{
    let (tx, rx) = mpsc::channel(64);
    let (ptx, mut prx) = mpsc::channel::<ProgressEvent>(256);
    tokio::spawn(async move {
        let fwd_tx = tx.clone();
        let forward = async move {
            while let Some(e) = prx.recv().await {
                if fwd_tx.send(Ok(progress_pb(e))).await.is_err() {
                    return;
                }
            }
        };
        let run = async {
            let r = work(Progress::new(ptx)).await;
            r
        };
        let closed = tx.clone();
        let (r, ()) = tokio::select! {
            both = async { tokio::join!(run, forward) } => both,
            _ = closed.closed() => return,
        };
        let msg = match r {
            Ok(result) => Ok(pb::Progress {
                result,
                ..Default::default()
            }),
            Err(e) => Err(registry_status(e)),
        };
        let _ = tx.send(msg).await;
    });
    ReceiverStream::new(rx)
}

fn registry_status(e: crate::registry::Error) -> Status {
    super::convert::status(e)
}

type Res<T> = Result<Response<T>, Status>;

impl ImagesService {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<ImageService>) -> Result<T, crate::images::Error> + Send + 'static,
    ) -> Result<T, Status> {
        let i = self.images.clone();
        tokio::task::spawn_blocking(move || f(i))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(st)
    }

    /// Hands the data messages of an upload to the image service's spool.
    async fn spool<M, F>(&self, inbound: &mut Streaming<M>, data: F) -> Result<Spooled, Status>
    where
        M: Send + 'static,
        F: Fn(M) -> Option<Vec<u8>>,
    {
        let mut upload = self.images.upload().await.map_err(st)?;
        while let Some(m) = inbound.message().await? {
            if let Some(d) = data(m) {
                upload.write(&d).await.map_err(st)?;
            }
        }
        upload.finish().await.map_err(st)
    }
}

/// A `Write` that sends chunks down a channel (for `save`).
struct ChunkWriter(mpsc::Sender<Result<pb::Chunk, Status>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(pb::Chunk { data: buf.to_vec() }))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tonic::async_trait]
impl Api for ImagesService {
    async fn import(&self, req: Request<Streaming<pb::ImportRequest>>) -> Res<pb::ImportResponse> {
        let mut inbound = req.into_inner();
        let Some(pb::ImportRequest {
            msg: Some(pb::import_request::Msg::Options(o)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first import message must carry options",
            ));
        };
        let spool = self
            .spool(&mut inbound, |m: pb::ImportRequest| match m.msg {
                Some(pb::import_request::Msg::Data(d)) => Some(d),
                _ => None,
            })
            .await?;
        let image = self
            .blocking(move |i| {
                let opts = ImportOptions {
                    changes: o.changes,
                    message: (!o.message.is_empty()).then_some(o.message),
                };
                let name = (!o.reference.is_empty()).then_some(o.reference.as_str());
                i.import(spool.open()?, name, &opts)
            })
            .await?;
        Ok(Response::new(pb::ImportResponse {
            image: Some(image_to_pb(&image)),
        }))
    }

    async fn load(&self, req: Request<Streaming<pb::LoadRequest>>) -> Res<pb::LoadResponse> {
        let mut inbound = req.into_inner();
        let spool = self
            .spool(&mut inbound, |m: pb::LoadRequest| match m.msg {
                Some(pb::load_request::Msg::Data(d)) => Some(d),
                _ => None,
            })
            .await?;
        let images = self.blocking(move |i| i.load(spool.open()?)).await?;
        Ok(Response::new(load_to_pb(&images)))
    }

    type SaveStream = ReceiverStream<Result<pb::Chunk, Status>>;

    async fn save(&self, req: Request<pb::SaveRequest>) -> Res<Self::SaveStream> {
        let refs = req.into_inner().references;
        if refs.is_empty() {
            return Err(Status::invalid_argument("save: name at least one image"));
        }
        // Unknown names fail the call itself, not the stream.
        for r in &refs {
            let r2 = r.clone();
            self.blocking(move |i| i.inspect(&r2)).await?;
        }
        let (tx, rx) = mpsc::channel(16);
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || {
            let err_tx = tx.clone();
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, ChunkWriter(tx));
            let r = images
                .save(&refs, &mut w)
                .and_then(|()| w.flush().map_err(crate::images::Error::Stream));
            if let Err(e) = r {
                let _ = err_tx.blocking_send(Err(st(e)));
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> Res<pb::ListResponse> {
        let r = req.into_inner();
        let mut filters = ImageFilters::parse(&r.filters).map_err(st)?;
        filters.all = r.all;
        let list = self.blocking(move |i| i.list(&filters)).await?;
        Ok(Response::new(pb::ListResponse {
            images: list.iter().map(image_to_pb).collect(),
        }))
    }

    async fn inspect(&self, req: Request<pb::InspectRequest>) -> Res<pb::Image> {
        let r = req.into_inner().reference;
        let d = self.blocking(move |i| i.inspect(&r)).await?;
        Ok(Response::new(image_detail_to_pb(&d)))
    }

    async fn remove(&self, req: Request<pb::RemoveRequest>) -> Res<pb::RemoveResponse> {
        let r = req.into_inner();
        let used: Vec<String> = self
            .containers
            .all()
            .map_err(super::convert::container_status)?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        let actions = self
            .blocking(move |i| {
                i.remove(&r.reference, r.force, &|id: &str| {
                    used.iter().any(|u| u == id)
                })
            })
            .await?;
        Ok(Response::new(remove_to_pb(actions)))
    }

    async fn tag(&self, req: Request<pb::TagRequest>) -> Res<pb::TagResponse> {
        let r = req.into_inner();
        self.blocking(move |i| i.tag(&r.source, &r.target)).await?;
        Ok(Response::new(pb::TagResponse {}))
    }

    async fn commit(&self, req: Request<pb::CommitRequest>) -> Res<pb::CommitResponse> {
        let r = req.into_inner();
        let opts = CommitRequest {
            reference: r.reference,
            changes: r.changes,
            message: r.message,
            author: r.author,
            pause: r.pause,
        };
        let id = self
            .containers
            .commit(&r.container, opts)
            .await
            .map_err(super::convert::container_status)?;
        Ok(Response::new(pb::CommitResponse { id }))
    }

    type PullStream = ReceiverStream<Result<pb::Progress, Status>>;

    async fn pull(&self, req: Request<pb::PullRequest>) -> Res<Self::PullStream> {
        let r = req.into_inner();
        let reg = self.registry.clone();
        let opts = PullOptions {
            platform: r.platform,
            all_tags: r.all_tags,
            creds: creds(r.auth),
        };
        Ok(Response::new(progress_stream(move |p| async move {
            let out = reg.pull(&r.reference, &opts, &p).await?;
            Ok(out.pulled.into_iter().map(|x| x.canonical).collect())
        })))
    }

    type PushStream = ReceiverStream<Result<pb::Progress, Status>>;

    async fn push(&self, req: Request<pb::PushRequest>) -> Res<Self::PushStream> {
        let r = req.into_inner();
        let reg = self.registry.clone();
        let opts = PushOptions {
            all_tags: r.all_tags,
            creds: creds(r.auth),
        };
        Ok(Response::new(progress_stream(move |p| async move {
            let out = reg.push(&r.reference, &opts, &p).await?;
            Ok(out
                .pushed
                .into_iter()
                .map(|x| format!("{}@{}", x.tag, x.digest))
                .collect())
        })))
    }

    async fn login(&self, req: Request<pb::LoginRequest>) -> Res<pb::LoginResponse> {
        let r = req.into_inner();
        let c = creds(r.auth).unwrap_or_default();
        let status = self
            .registry
            .login(&r.server, &c)
            .await
            .map_err(registry_status)?;
        Ok(Response::new(pb::LoginResponse { status }))
    }

    async fn history(&self, req: Request<pb::HistoryRequest>) -> Res<pb::HistoryResponse> {
        let r = req.into_inner().reference;
        let h = self.blocking(move |i| i.history(&r)).await?;
        Ok(Response::new(history_to_pb(h)))
    }
}
