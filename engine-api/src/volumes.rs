//! `client.volumes()`: named volumes.

use std::collections::BTreeMap;

use berth_proto::services::volumes::v1 as pb;
use pb::volumes_client::VolumesClient;
use tonic::transport::Channel;

use crate::error::Result;
use crate::types::{PruneReport, Volume};

#[derive(Clone, Debug)]
pub struct Volumes {
    c: VolumesClient<Channel>,
}

impl Volumes {
    pub(crate) fn new(channel: Channel) -> Volumes {
        Volumes {
            c: VolumesClient::new(channel),
        }
    }

    /// Empty `name`: a random one.
    pub async fn create(
        &self,
        name: &str,
        driver: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<Volume> {
        let r = self
            .c
            .clone()
            .create(pb::CreateRequest {
                name: name.to_string(),
                driver: driver.to_string(),
                labels: labels.clone().into_iter().collect(),
                options: Default::default(),
            })
            .await?
            .into_inner();
        Ok(Volume::from(r))
    }

    pub async fn list(&self, filters: &[String]) -> Result<Vec<Volume>> {
        let r = self
            .c
            .clone()
            .list(pb::ListRequest {
                filters: filters.to_vec(),
            })
            .await?
            .into_inner();
        Ok(r.volumes.into_iter().map(Volume::from).collect())
    }

    pub async fn inspect(&self, name: &str) -> Result<Volume> {
        let r = self
            .c
            .clone()
            .inspect(pb::InspectRequest {
                name: name.to_string(),
            })
            .await?
            .into_inner();
        Ok(Volume::from(r))
    }

    pub async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.c
            .clone()
            .remove(pb::RemoveRequest {
                name: name.to_string(),
                force,
            })
            .await?;
        Ok(())
    }

    /// Unused anonymous volumes (all unused with `all`).
    pub async fn prune(&self, all: bool) -> Result<PruneReport> {
        let r = self
            .c
            .clone()
            .prune(pb::PruneRequest {
                filters: vec![],
                all,
            })
            .await?
            .into_inner();
        Ok(PruneReport {
            deleted: r.deleted,
            space_reclaimed: r.space_reclaimed,
        })
    }
}
