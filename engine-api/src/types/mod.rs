//! Plain data exchanged with berthd, one module per noun. The proto
//! conversions live apart, in `crate::convert`.

mod container;
mod duration;
mod event;
mod health;
mod image;
mod log;
mod security;
mod spec;
mod volume;

pub use container::{
    Container, ContainerState, CreateResponse, MountPoint, PruneReport, Stats, StopResult, Top,
    WaitResult,
};
pub use duration::{GoDuration, InvalidDuration};
pub use event::Event;
pub use health::{Health, HealthConfig, HealthResult};
pub use image::{HistoryEntry, Image, ImageConfig, RemovedImage};
pub use log::{LogEntry, LogsOptions};
pub use security::{DeviceMapping, InvalidDevice, Security};
pub use spec::{
    ByteSize, ContainerSpec, InvalidCpus, InvalidNetworkMode, InvalidSize, InvalidTmpfsOption,
    Mount, MountKind, NanoCpus, NetworkMode, Resources, RestartPolicy, RestartPolicyError,
    TmpfsOptions,
};
pub use volume::Volume;
