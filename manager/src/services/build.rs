//! `berth.services.build.v1` over the builder: the context is spooled to disk as it
//! arrives (never held in memory), unpacked into a private dir, and the build's
//! events stream back while it runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_proto::services::build::v1 as pb;
use pb::builder_server::Builder as Api;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{image_status, status};
use crate::build::context::Context;
use crate::build::exec::{BuildOptions, Builder, Event, Sink};
use crate::containers::NetworkMode;
use crate::images::ImageService;

pub struct BuildService {
    pub builder: Builder,
    pub images: Arc<ImageService>,
    /// Where contexts are unpacked (`<root>/build/contexts`).
    pub contexts: PathBuf,
}

fn options(o: pb::BuildOptions) -> Result<BuildOptions, Status> {
    let network = match o.network.as_str() {
        "" | "default" => NetworkMode::Default,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => {
            return Err(Status::invalid_argument(format!(
                "--network {other}: use none, host or default"
            )))
        }
    };
    Ok(BuildOptions {
        dockerfile: o.dockerfile,
        dockerfile_text: o.has_dockerfile_text.then_some(o.dockerfile_text),
        tags: o.tags,
        build_args: o.build_args.into_iter().collect(),
        target: (!o.target.is_empty()).then_some(o.target),
        no_cache: o.no_cache,
        pull: o.pull,
        labels: o.labels.into_iter().collect::<BTreeMap<_, _>>(),
        network,
        secrets: o.secrets.into_iter().collect(),
    })
}

fn event_to_pb(e: Event) -> pb::BuildEvent {
    use pb::build_event::Event as E;
    let event = match e {
        Event::Step { id, stage, text } => E::Step(pb::Step {
            id: id as u32,
            stage,
            text,
        }),
        Event::Cached { id } => E::Cached(id as u32),
        Event::Miss { id, reason } => E::Miss(pb::Miss {
            id: id as u32,
            reason,
        }),
        Event::Output { id, data } => E::Output(pb::Output {
            id: id as u32,
            data,
        }),
        Event::Done { id, secs } => E::Done(pb::Done {
            id: id as u32,
            secs,
        }),
        Event::Warning(w) => E::Warning(w),
    };
    pb::BuildEvent { event: Some(event) }
}

#[tonic::async_trait]
impl Api for BuildService {
    type BuildStream = UnboundedReceiverStream<Result<pb::BuildEvent, Status>>;

    async fn build(
        &self,
        req: Request<Streaming<pb::BuildRequest>>,
    ) -> Result<Response<Self::BuildStream>, Status> {
        let mut inbound = req.into_inner();
        let Some(pb::BuildRequest {
            msg: Some(pb::build_request::Msg::Options(o)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first build message must carry options",
            ));
        };
        let export = o.export_tar;
        let opts = options(o)?;
        let mut upload = self.images.upload().await.map_err(image_status)?;
        while let Some(m) = inbound.message().await? {
            if let Some(pb::build_request::Msg::Data(d)) = m.msg {
                upload.write(&d).await.map_err(image_status)?;
            }
        }
        let spooled = upload.finish().await.map_err(image_status)?;
        let dir = self
            .contexts
            .join(format!("{}-{}", std::process::id(), rand::random::<u64>()));
        let ctx = tokio::task::spawn_blocking(move || {
            let f = spooled
                .open()
                .map_err(|e| status(crate::build::BuildError::Image(e)))?;
            Context::unpack(f, &dir).map_err(status)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        let ctx = Arc::new(ctx);
        let (tx, rx) = mpsc::unbounded_channel();
        let builder = self.builder.clone();
        tokio::spawn(async move {
            let events = tx.clone();
            let sink: Sink = Arc::new(move |e| {
                // A client that went away stops hearing; the build still finishes
                // or fails on its own, leaving its cache entries.
                let _ = events.send(Ok(event_to_pb(e)));
            });
            let built = builder.build(ctx, &opts, &sink).await;
            let built = match built {
                Ok(image) if export => {
                    let chunks = tx.clone();
                    builder
                        .export(&image, move |data| {
                            chunks
                                .send(Ok(pb::BuildEvent {
                                    event: Some(pb::build_event::Event::Export(data)),
                                }))
                                .is_ok()
                        })
                        .await
                        .map(|_| image)
                }
                other => other,
            };
            let last = match built {
                Ok(image) => Ok(pb::BuildEvent {
                    event: Some(pb::build_event::Event::Image(image.to_string())),
                }),
                Err(e) => Err(status(e)),
            };
            let _ = tx.send(last);
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn prune(
        &self,
        req: Request<pb::PruneRequest>,
    ) -> Result<Response<pb::PruneResponse>, Status> {
        let r = req.into_inner();
        let until = (r.until != 0)
            .then(|| chrono::DateTime::from_timestamp(r.until, 0))
            .flatten();
        let report = self.builder.prune(r.all, until).await.map_err(status)?;
        Ok(Response::new(pb::PruneResponse {
            entries: report.entries as u32,
            images: report.images.iter().map(|d| d.to_string()).collect(),
            space_reclaimed: report.reclaimed,
        }))
    }
}
