//! gRPC adapter of `berth.services.volumes.v1`. Events are the volume manager's.

use berth_proto::services::volumes::v1 as pb;
use pb::volumes_server::Volumes as Api;
use tonic::{Request, Response, Status};

use super::convert::{volume_status as st, volume_to_pb};
use crate::events::parse_filters;
use crate::volumes::{CreateOptions, Volumes};

pub struct VolumesService {
    pub volumes: Volumes,
}

type Res<T> = Result<Response<T>, Status>;

impl VolumesService {
    /// Volume calls block on the store (fsync); keep them off the reactor.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Volumes) -> Result<T, crate::volumes::Error> + Send + 'static,
    ) -> Result<T, Status> {
        let v = self.volumes.clone();
        tokio::task::spawn_blocking(move || f(v))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(st)
    }
}

#[tonic::async_trait]
impl Api for VolumesService {
    async fn create(&self, req: Request<pb::CreateRequest>) -> Res<pb::Volume> {
        let r = req.into_inner();
        let v = self
            .blocking(move |v| {
                v.create(CreateOptions {
                    name: r.name,
                    driver: r.driver,
                    labels: r.labels,
                    options: r.options,
                    anonymous: false,
                })
            })
            .await?;
        Ok(Response::new(volume_to_pb(&v)))
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> Res<pb::ListResponse> {
        let filters = parse_filters(&req.into_inner().filters);
        let list = self.blocking(move |v| v.list(&filters)).await?;
        Ok(Response::new(pb::ListResponse {
            volumes: list.iter().map(volume_to_pb).collect(),
        }))
    }

    async fn inspect(&self, req: Request<pb::InspectRequest>) -> Res<pb::Volume> {
        let name = req.into_inner().name;
        let (vol, size) = self
            .blocking(move |v| {
                let vol = v.inspect(&name)?;
                let size = v.size(&vol);
                Ok((vol, size))
            })
            .await?;
        let mut pbv = volume_to_pb(&vol);
        pbv.size = size as i64;
        Ok(Response::new(pbv))
    }

    async fn remove(&self, req: Request<pb::RemoveRequest>) -> Res<pb::RemoveResponse> {
        let r = req.into_inner();
        self.blocking(move |v| v.destroy(&r.name, r.force)).await?;
        Ok(Response::new(pb::RemoveResponse {}))
    }

    async fn prune(&self, req: Request<pb::PruneRequest>) -> Res<pb::PruneResponse> {
        let all = req.into_inner().all;
        let (deleted, space_reclaimed) = self.blocking(move |v| v.prune(all)).await?;
        Ok(Response::new(pb::PruneResponse {
            deleted,
            space_reclaimed,
        }))
    }
}
