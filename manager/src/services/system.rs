//! gRPC adapter of `berth.services.system.v1`: version, info, disk usage, prune.

use std::sync::Arc;

use berth_proto::services::system::v1 as pb;
use pb::system_server::System as Api;
use tonic::{Request, Response, Status};

use super::convert::{container_status, image_status, usage_to_pb, volume_status};
use crate::config::Config;
use crate::containers::{Containers, Status as CStatus};
use crate::images::{ImageFilters, ImageService};
use crate::volumes::{Usage, Volumes};

pub struct SystemService {
    pub config: Config,
    pub containers: Containers,
    pub images: Arc<ImageService>,
    pub volumes: Volumes,
}

type Res<T> = Result<Response<T>, Status>;

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().to_string())
        .unwrap_or_default()
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".to_string())
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

#[tonic::async_trait]
impl Api for SystemService {
    async fn version(&self, _req: Request<pb::VersionRequest>) -> Res<pb::VersionResponse> {
        let runtime_version = tokio::process::Command::new(&self.config.runtime)
            .arg("--version")
            .output()
            .await
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        Ok(Response::new(pb::VersionResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: "1".to_string(),
            git_commit: String::new(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel_version: kernel(),
            runtime: self.config.runtime.display().to_string(),
            runtime_version,
        }))
    }

    async fn info(&self, _req: Request<pb::InfoRequest>) -> Res<pb::InfoResponse> {
        let all = self.containers.all().map_err(container_status)?;
        let count =
            |f: &dyn Fn(CStatus) -> bool| all.iter().filter(|c| f(c.state.status)).count() as i64;
        let images = self.images.clone();
        let n_images = tokio::task::spawn_blocking(move || images.list(&ImageFilters::default()))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(image_status)?
            .len() as i64;
        let n_volumes = self.volumes.list(&[]).map_err(volume_status)?.len() as i64;
        Ok(Response::new(pb::InfoResponse {
            containers: all.len() as i64,
            containers_running: count(&|s| s == CStatus::Running || s == CStatus::Restarting),
            containers_paused: count(&|s| s == CStatus::Paused),
            containers_stopped: count(&|s| !s.is_live() && s != CStatus::Restarting),
            images: n_images,
            volumes: n_volumes,
            storage_driver: "overlay2".to_string(),
            root_dir: self.config.root.display().to_string(),
            state_dir: self.config.state.display().to_string(),
            kernel_version: kernel(),
            operating_system: os_name(),
            os_type: "linux".to_string(),
            architecture: std::env::consts::ARCH.to_string(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total(),
            cgroup_version: cgroup_version().to_string(),
            runtime: self.config.runtime.display().to_string(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            name: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().to_string())
                .unwrap_or_default(),
            debug: self.config.debug,
            live_restore: true,
        }))
    }

    async fn disk_usage(&self, _req: Request<pb::DiskUsageRequest>) -> Res<pb::DiskUsageResponse> {
        let (containers, images, volumes) = (
            self.containers.clone(),
            self.images.clone(),
            self.volumes.clone(),
        );
        let entries = tokio::task::spawn_blocking(move || {
            let used: Vec<String> = containers
                .all()
                .map_err(container_status)?
                .into_iter()
                .map(|c| c.image_id)
                .collect();
            let imgs = images
                .list(&ImageFilters::default())
                .map_err(image_status)?;
            let mut i = Usage::default();
            for img in &imgs {
                i.total += 1;
                i.size += img.size;
                if used.iter().any(|u| u == img.id.as_str()) {
                    i.active += 1;
                } else {
                    i.reclaimable += img.size;
                }
            }
            let c = containers.usage().map_err(container_status)?;
            let v = volumes.usage().map_err(volume_status)?;
            Ok::<_, Status>(vec![
                usage_to_pb("Images", i),
                usage_to_pb("Containers", c),
                usage_to_pb("Local Volumes", v),
            ])
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(pb::DiskUsageResponse { entries }))
    }

    async fn prune(&self, req: Request<pb::PruneRequest>) -> Res<pb::PruneResponse> {
        let r = req.into_inner();
        let (containers_deleted, mut space) =
            self.containers.prune().await.map_err(container_status)?;
        let mut volumes_deleted = Vec::new();
        if r.volumes {
            let vols = self.volumes.clone();
            let (d, s) = tokio::task::spawn_blocking(move || vols.prune(false))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(volume_status)?;
            volumes_deleted = d;
            space += s;
        }
        let mut images_deleted = Vec::new();
        let used: Vec<String> = self
            .containers
            .all()
            .map_err(container_status)?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        let images = self.images.clone();
        let all = r.all;
        let removed = tokio::task::spawn_blocking(move || {
            let filters = if all {
                ImageFilters::default()
            } else {
                ImageFilters {
                    dangling: Some(true),
                    ..Default::default()
                }
            };
            let mut out = Vec::new();
            for img in images.list(&filters)? {
                if used.iter().any(|u| u == img.id.as_str()) {
                    continue;
                }
                let reference = img.id.as_str().to_string();
                if let Ok(actions) = images.remove(&reference, true, &|_| false) {
                    out.extend(actions.into_iter().filter_map(|a| match a {
                        crate::images::RemoveAction::Deleted(d) => {
                            Some((d.as_str().to_string(), img.size))
                        }
                        _ => None,
                    }));
                }
            }
            Ok::<_, crate::images::Error>(out)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(image_status)?;
        for (id, size) in removed {
            images_deleted.push(id);
            space += size;
        }
        Ok(Response::new(pb::PruneResponse {
            containers_deleted,
            volumes_deleted,
            images_deleted,
            space_reclaimed: space,
        }))
    }
}
