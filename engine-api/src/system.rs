//! `client.system()`: version, info, disk usage, prune.

use berth_proto::services::system::v1 as pb;
use pb::system_client::SystemClient;
use serde::Serialize;
use tonic::transport::Channel;

use crate::error::Result;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub runtime: String,
    pub runtime_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    pub containers: i64,
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub volumes: i64,
    pub driver: String,
    pub root_dir: String,
    pub state_dir: String,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    pub mem_total: i64,
    pub cgroup_version: String,
    pub runtime: String,
    pub server_version: String,
    pub name: String,
    pub debug: bool,
    pub live_restore_enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub total: i64,
    pub active: i64,
    pub size: u64,
    pub reclaimable: u64,
}

/// One image's share of the disk (`system df -v`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageUsage {
    #[serde(rename = "ID")]
    pub id: String,
    pub repo_tags: Vec<String>,
    pub created: String,
    pub size: u64,
    pub shared_size: u64,
    pub unique_size: u64,
    pub containers: i64,
}

/// `system df`: the three lines, and each image's share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsageReport {
    pub entries: Vec<DiskUsage>,
    pub images: Vec<ImageUsage>,
}

/// What `system prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPrune {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    pub space_reclaimed: u64,
}

#[derive(Clone, Debug)]
pub struct System {
    c: SystemClient<Channel>,
}

impl System {
    pub(crate) fn new(channel: Channel) -> System {
        System {
            c: SystemClient::new(channel),
        }
    }

    pub async fn version(&self) -> Result<Version> {
        let r = self
            .c
            .clone()
            .version(pb::VersionRequest {})
            .await?
            .into_inner();
        Ok(Version {
            version: r.version,
            api_version: r.api_version,
            os: r.os,
            arch: r.arch,
            kernel_version: r.kernel_version,
            runtime: r.runtime,
            runtime_version: r.runtime_version,
        })
    }

    pub async fn info(&self) -> Result<Info> {
        let r = self.c.clone().info(pb::InfoRequest {}).await?.into_inner();
        Ok(Info {
            containers: r.containers,
            containers_running: r.containers_running,
            containers_paused: r.containers_paused,
            containers_stopped: r.containers_stopped,
            images: r.images,
            volumes: r.volumes,
            driver: r.storage_driver,
            root_dir: r.root_dir,
            state_dir: r.state_dir,
            kernel_version: r.kernel_version,
            operating_system: r.operating_system,
            os_type: r.os_type,
            architecture: r.architecture,
            ncpu: r.ncpu,
            mem_total: r.mem_total,
            cgroup_version: r.cgroup_version,
            runtime: r.runtime,
            server_version: r.server_version,
            name: r.name,
            debug: r.debug,
            live_restore_enabled: r.live_restore,
        })
    }

    pub async fn disk_usage(&self) -> Result<DiskUsageReport> {
        let r = self
            .c
            .clone()
            .disk_usage(pb::DiskUsageRequest {})
            .await?
            .into_inner();
        Ok(DiskUsageReport {
            entries: r
                .entries
                .into_iter()
                .map(|e| DiskUsage {
                    kind: e.kind,
                    total: e.total,
                    active: e.active,
                    size: e.size,
                    reclaimable: e.reclaimable,
                })
                .collect(),
            images: r
                .images
                .into_iter()
                .map(|i| ImageUsage {
                    id: i.id,
                    repo_tags: i.repo_tags,
                    created: i.created,
                    size: i.size,
                    shared_size: i.shared_size,
                    unique_size: i.unique_size,
                    containers: i.containers,
                })
                .collect(),
        })
    }

    pub async fn prune(&self, volumes: bool, all: bool) -> Result<SystemPrune> {
        let r = self
            .c
            .clone()
            .prune(pb::PruneRequest { volumes, all })
            .await?
            .into_inner();
        Ok(SystemPrune {
            containers: r.containers_deleted,
            volumes: r.volumes_deleted,
            images: r.images_deleted,
            space_reclaimed: r.space_reclaimed,
        })
    }
}
