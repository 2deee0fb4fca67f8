//! `berth version` and `berth info`.

use super::{host, Result, System};
use crate::containers::Status;
use crate::images::ImageFilters;

/// `berth version`'s server half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub runtime: String,
    pub runtime_version: String,
}

/// `berth info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub containers: i64,
    /// Restarting containers count as running (docker's rule).
    pub containers_running: i64,
    pub containers_paused: i64,
    pub containers_stopped: i64,
    pub images: i64,
    pub volumes: i64,
    pub storage_driver: String,
    pub root_dir: String,
    pub state_dir: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_type: String,
    pub architecture: String,
    pub ncpu: i64,
    pub mem_total: i64,
    pub cgroup_version: String,
    pub runtime: String,
    pub server_version: String,
    pub name: String,
    pub debug: bool,
    /// Containers outlive berthd, always.
    pub live_restore: bool,
}

impl System {
    /// `berth version`: berthd's and the OCI runtime's versions (runs
    /// `<runtime> --version`).
    pub async fn version(&self) -> Version {
        Version {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: "1".to_string(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel_version: host::kernel_release(),
            runtime: self.config.runtime.display().to_string(),
            runtime_version: host::runtime_version(&self.config.runtime).await,
        }
    }

    /// `berth info`: object counts, directories and host facts.
    pub async fn info(&self) -> Result<Info> {
        let all = self.containers.all()?;
        let count = |f: &dyn Fn(Status) -> bool| all.iter().filter(|c| f(c.state.status)).count();
        let images = self.images.clone();
        let n_images =
            tokio::task::spawn_blocking(move || images.list(&ImageFilters::default())).await??;
        let n_volumes = self.volumes.list(&[])?.len();
        Ok(Info {
            containers: all.len() as i64,
            containers_running: count(&|s| s == Status::Running || s == Status::Restarting) as i64,
            containers_paused: count(&|s| s == Status::Paused) as i64,
            containers_stopped: count(&|s| !s.is_live() && s != Status::Restarting) as i64,
            images: n_images.len() as i64,
            volumes: n_volumes as i64,
            storage_driver: "overlay2".to_string(),
            root_dir: self.config.root.display().to_string(),
            state_dir: self.config.state.display().to_string(),
            kernel_version: host::kernel_release(),
            operating_system: host::os_name(),
            os_type: "linux".to_string(),
            architecture: std::env::consts::ARCH.to_string(),
            ncpu: i64::from(host::ncpu()),
            mem_total: host::mem_total(),
            cgroup_version: host::cgroup_version().to_string(),
            runtime: self.config.runtime.display().to_string(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            name: host::hostname(),
            debug: self.config.debug,
            live_restore: true,
        })
    }
}
