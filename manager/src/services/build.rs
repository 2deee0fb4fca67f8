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

use super::convert::status;
use crate::build::context::Context;
use crate::build::exec::{BuildOptions, Builder, Event, Sink};
use crate::containers::NetworkMode;
use berth_engine_api::build::pipe::chunk_pipe;

pub struct BuildService {
    pub builder: Builder,
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
        // The context is unpacked as it arrives: never whole in memory, never
        // spooled to disk first.
        let dir = self
            .contexts
            .join(format!("{}-{}", std::process::id(), rand::random::<u64>()));
        let (tx, reader) = chunk_pipe(8);
        let unpacked = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || Context::unpack(reader, &dir))
        };
        let mut received = Ok(());
        loop {
            match inbound.message().await {
                Ok(Some(pb::BuildRequest {
                    msg: Some(pb::build_request::Msg::Data(d)),
                })) => {
                    // The unpacker stopped (a bad entry): its error says why.
                    if tx.send(d).await.is_err() {
                        break;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    received = Err(e);
                    break;
                }
            }
        }
        drop(tx);
        let ctx = unpacked
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        // A client that hung up mid-context: the stream's error, not a context
        // cut short.
        if let Err(e) = received {
            drop(ctx);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let ctx = ctx.map_err(status)?;
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
