//! berth-engine-api: the typed Rust client of berthd.
//!
//! ```no_run
//! # async fn f() -> Result<(), berth_engine_api::Error> {
//! use berth_engine_api::{Client, ContainerSpec};
//! let client = Client::connect_default().await?;
//! let id = client
//!     .containers()
//!     .create(&ContainerSpec {
//!         image: "busybox".into(),
//!         cmd: vec!["echo".into(), "hello".into()],
//!         ..Default::default()
//!     })
//!     .await?
//!     .id;
//! client.containers().start(&id).await?;
//! let exit = client.containers().wait(&id, "not-running").await?;
//! println!("exit {}", exit.exit_code);
//! # Ok(()) }
//! ```
//!
//! One handle per service of the manager API (`containers()`, `images()`,
//! `volumes()`, `exec()`, `events()`, `system()`), all sharing one connection
//! to `<state>/berthd.sock`. Errors come back as [`Error`], whose kind tells a
//! missing object from a conflict from bad input; its text is the daemon's.

pub mod build;
mod client;
mod containers;
mod convert;
mod error;
mod events;
mod exec;
mod images;
mod io;
mod reference;
mod system;
mod types;
mod volumes;

pub use client::{Client, DEFAULT_SOCKET};
pub use containers::Containers;
pub use error::{Error, ErrorKind, Reason};
pub use events::Events;
pub use exec::{Exec, ExecConfig, ExecSession};
pub use images::{Images, RegistryAuth, TransferEvent};
pub use io::{Attach, Input, Output, OutputKind};
pub use reference::{registry_host, DOCKER_HUB};
pub use system::{DiskUsage, DiskUsageReport, ImageUsage, Info, System, SystemPrune, Version};
pub use types::{
    ByteSize, Container, ContainerSpec, ContainerState, CreateResponse, DeviceMapping, Event,
    GoDuration, Health, HealthConfig, HealthResult, HistoryEntry, Image, ImageConfig, InvalidCpus,
    InvalidDevice, InvalidDuration, InvalidNetworkMode, InvalidSize, InvalidTmpfsOption, LogEntry,
    LogsOptions, Mount, MountKind, MountPoint, NanoCpus, NetworkMode, PruneReport, RemovedImage,
    Resources, RestartPolicy, RestartPolicyError, Security, Stats, StopResult, TmpfsOptions, Top,
    Volume, WaitResult,
};
pub use volumes::Volumes;
