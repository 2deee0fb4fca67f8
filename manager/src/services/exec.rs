//! gRPC adapter of `berth.services.exec.v1`.

use berth_proto::services::exec::v1 as pb;
use pb::exec_server::Exec as Api;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::container_status as st;
use super::io;
use crate::containers::{Containers, ExecOptions};

pub struct ExecService {
    pub containers: Containers,
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for ExecService {
    async fn create(&self, req: Request<pb::CreateRequest>) -> Res<pb::CreateResponse> {
        let r = req.into_inner();
        let exec_id = self
            .containers
            .exec_create(
                &r.container_id,
                ExecOptions {
                    args: r.args,
                    env: r.env,
                    user: r.user,
                    working_dir: r.working_dir,
                    tty: r.tty,
                    attach_stdin: r.attach_stdin,
                    privileged: r.privileged,
                },
            )
            .map_err(st)?;
        Ok(Response::new(pb::CreateResponse { exec_id }))
    }

    type StartStream = ReceiverStream<Result<pb::StartResponse, Status>>;

    async fn start(&self, req: Request<Streaming<pb::StartRequest>>) -> Res<Self::StartStream> {
        let mut inbound = req.into_inner();
        let Some(pb::StartRequest {
            msg: Some(pb::start_request::Msg::Options(o)),
        }) = inbound.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first exec start message must carry options",
            ));
        };
        let started = self
            .containers
            .exec_start(&o.exec_id, o.detach)
            .await
            .map_err(st)?;
        Ok(Response::new(io::exec_stream(
            self.containers.clone(),
            o.exec_id,
            started,
            inbound,
        )))
    }

    async fn resize(&self, req: Request<pb::ResizeRequest>) -> Res<pb::ResizeResponse> {
        let r = req.into_inner();
        let s = r.size.unwrap_or_default();
        self.containers
            .exec_resize(&r.exec_id, s.width, s.height)
            .await
            .map_err(st)?;
        Ok(Response::new(pb::ResizeResponse {}))
    }

    async fn inspect(&self, req: Request<pb::InspectRequest>) -> Res<pb::ExecInfo> {
        let i = self
            .containers
            .exec_inspect(&req.into_inner().exec_id)
            .map_err(st)?;
        Ok(Response::new(pb::ExecInfo {
            id: i.id,
            container_id: i.container_id,
            running: i.running,
            exit_code: i.exit_code.unwrap_or(0),
            pid: i64::from(i.pid),
            args: i.args,
            tty: i.tty,
        }))
    }
}
