//! gRPC adapter of `berth.services.containers.v1`: unwrap, convert, call
//! `containers::Containers`, convert back. Stream plumbing lives in `io.rs`.

use berth_proto::services::containers::v1 as pb;
use pb::containers_server::Containers as Api;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::{container_status as st, container_to_pb};
use super::io;
use crate::containers::{AttachRequest, Containers};
use crate::events::parse_filters;

pub struct ContainersService {
    pub containers: Containers,
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for ContainersService {
    async fn create(&self, req: Request<pb::CreateRequest>) -> Res<pb::CreateResponse> {
        let spec = crate::containers::Spec::try_from(req.into_inner().spec.unwrap_or_default())?;
        let (id, warnings) = self.containers.create(spec).await.map_err(st)?;
        Ok(Response::new(pb::CreateResponse { id, warnings }))
    }

    async fn start(&self, req: Request<pb::ContainerRef>) -> Res<()> {
        self.containers
            .start(&req.into_inner().id)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }

    async fn stop(&self, req: Request<pb::StopRequest>) -> Res<pb::StopResponse> {
        let r = req.into_inner();
        let out = self.containers.stop(&r.id, r.timeout).await.map_err(st)?;
        Ok(Response::new(pb::StopResponse {
            killed: out.killed,
            reason: out.reason,
        }))
    }

    async fn restart(&self, req: Request<pb::StopRequest>) -> Res<pb::StopResponse> {
        let r = req.into_inner();
        let out = self
            .containers
            .restart(&r.id, r.timeout)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::StopResponse {
            killed: out.killed,
            reason: out.reason,
        }))
    }

    async fn kill(&self, req: Request<pb::KillRequest>) -> Res<()> {
        let r = req.into_inner();
        self.containers.kill(&r.id, &r.signal).await.map_err(st)?;
        Ok(Response::new(()))
    }

    async fn remove(&self, req: Request<pb::RemoveRequest>) -> Res<()> {
        let r = req.into_inner();
        self.containers
            .remove(&r.id, r.force, r.volumes)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }

    async fn pause(&self, req: Request<pb::ContainerRef>) -> Res<()> {
        self.containers
            .pause(&req.into_inner().id)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }

    async fn unpause(&self, req: Request<pb::ContainerRef>) -> Res<()> {
        self.containers
            .unpause(&req.into_inner().id)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> Res<pb::ListResponse> {
        let r = req.into_inner();
        let filters = parse_filters(&r.filters);
        let list = self
            .containers
            .list(r.all, &filters, r.limit.max(0) as usize)
            .map_err(st)?;
        Ok(Response::new(pb::ListResponse {
            containers: list.iter().map(container_to_pb).collect(),
        }))
    }

    async fn inspect(&self, req: Request<pb::ContainerRef>) -> Res<pb::Container> {
        let c = self.containers.inspect(&req.into_inner().id).map_err(st)?;
        Ok(Response::new(container_to_pb(&c)))
    }

    async fn wait(&self, req: Request<pb::WaitRequest>) -> Res<pb::WaitResponse> {
        let r = req.into_inner();
        let w = self
            .containers
            .wait(&r.id, &r.condition)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::WaitResponse {
            exit_code: w.exit_code,
            error: w.error,
            oom_killed: w.oom_killed,
        }))
    }

    async fn rename(&self, req: Request<pb::RenameRequest>) -> Res<()> {
        let r = req.into_inner();
        self.containers
            .rename(&r.id, &r.new_name)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }

    async fn top(&self, req: Request<pb::TopRequest>) -> Res<pb::TopResponse> {
        let r = req.into_inner();
        let (titles, rows) = self.containers.top(&r.id, &r.ps_args).await.map_err(st)?;
        Ok(Response::new(pb::TopResponse {
            titles,
            processes: rows
                .into_iter()
                .map(|columns| pb::TopRow { columns })
                .collect(),
        }))
    }

    type StatsStream = ReceiverStream<Result<pb::StatsSample, Status>>;

    async fn stats(&self, req: Request<pb::StatsRequest>) -> Res<Self::StatsStream> {
        let r = req.into_inner();
        // Fail early for an unknown or stopped container.
        self.containers.stats(&r.id).await.map_err(st)?;
        Ok(Response::new(io::stats_stream(
            self.containers.clone(),
            r.id,
            r.stream,
        )))
    }

    async fn prune(&self, _req: Request<pb::PruneRequest>) -> Res<pb::PruneResponse> {
        let (deleted, space_reclaimed) = self.containers.prune().await.map_err(st)?;
        Ok(Response::new(pb::PruneResponse {
            deleted,
            space_reclaimed,
        }))
    }

    type AttachStream = ReceiverStream<Result<pb::AttachResponse, Status>>;

    async fn attach(&self, req: Request<Streaming<pb::AttachRequest>>) -> Res<Self::AttachStream> {
        let mut inbound = req.into_inner();
        let Some(pb::AttachRequest {
            msg: Some(pb::attach_request::Msg::Options(o)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first attach message must carry options",
            ));
        };
        let pending = self
            .containers
            .attach(
                &o.id,
                AttachRequest {
                    stdin: o.stdin,
                    stdout: o.stdout,
                    stderr: o.stderr,
                },
            )
            .await
            .map_err(st)?;
        Ok(Response::new(io::attach_stream(
            self.containers.clone(),
            pending,
            inbound,
        )))
    }

    type ExportStream = ReceiverStream<Result<pb::ExportChunk, Status>>;

    async fn export(&self, req: Request<pb::ContainerRef>) -> Res<Self::ExportStream> {
        let id = req.into_inner().id;
        // Unknown names fail the call, not the stream.
        self.containers.lookup(&id).map_err(st)?;
        Ok(Response::new(io::export_stream(
            self.containers.clone(),
            id,
        )))
    }

    type CopyFromStream = ReceiverStream<Result<pb::ExportChunk, Status>>;

    async fn copy_from(&self, req: Request<pb::CopyFromRequest>) -> Res<Self::CopyFromStream> {
        let r = req.into_inner();
        self.containers.lookup(&r.id).map_err(st)?;
        Ok(Response::new(io::copy_from_stream(
            self.containers.clone(),
            r.id,
            r.path,
        )))
    }

    async fn copy_to(&self, req: Request<Streaming<pb::CopyToRequest>>) -> Res<()> {
        let mut inbound = req.into_inner();
        let Some(pb::CopyToRequest {
            msg: Some(pb::copy_to_request::Msg::Options(o)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first copy message must carry options",
            ));
        };
        io::copy_to(self.containers.clone(), o.id, o.path, inbound).await?;
        Ok(Response::new(()))
    }

    async fn resize(&self, req: Request<pb::ResizeRequest>) -> Res<()> {
        let r = req.into_inner();
        let size = r.size.unwrap_or_default();
        self.containers
            .resize(&r.id, size.width, size.height)
            .await
            .map_err(st)?;
        Ok(Response::new(()))
    }
}
