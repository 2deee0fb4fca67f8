//! gRPC adapter of `berth.services.system.v1`: version, info, disk usage,
//! prune, all computed by `system::System`.

use berth_proto::services::system::v1 as pb;
use pb::system_server::System as Api;
use tonic::{Request, Response, Status};

use super::convert::{
    disk_usage_to_pb, info_to_pb, system_prune_to_pb, system_status as st, version_to_pb,
};
use crate::system::System;

pub struct SystemService {
    pub system: System,
    /// For the Build Cache line of `system df`.
    pub builder: crate::build::exec::Builder,
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Api for SystemService {
    async fn version(&self, _req: Request<pb::VersionRequest>) -> Res<pb::VersionResponse> {
        Ok(Response::new(version_to_pb(self.system.version().await)))
    }

    async fn info(&self, _req: Request<pb::InfoRequest>) -> Res<pb::InfoResponse> {
        let info = self.system.info().await.map_err(st)?;
        Ok(Response::new(info_to_pb(info)))
    }

    async fn disk_usage(&self, _req: Request<pb::DiskUsageRequest>) -> Res<pb::DiskUsageResponse> {
        let du = self.system.disk_usage().await.map_err(st)?;
        let build = self.builder.usage().await.map_err(super::convert::status)?;
        Ok(Response::new(disk_usage_to_pb(du, build)))
    }

    async fn prune(&self, req: Request<pb::PruneRequest>) -> Res<pb::PruneResponse> {
        let r = req.into_inner();
        let report = self.system.prune(r.all, r.volumes).await.map_err(st)?;
        Ok(Response::new(system_prune_to_pb(report)))
    }
}
