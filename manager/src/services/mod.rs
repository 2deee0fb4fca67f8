//! services: the manager API on berthd's socket. Thin tonic adapters, one per
//! service (`berth.services.<name>.v1` ↔ `services/<name>.rs`), every
//! conversion and the one error mapping in `convert.rs`, stream plumbing in
//! `io.rs`. No handler touches the filesystem, takes a lock or spawns a
//! process: that is the domain modules' job.

mod build;
mod containers;
pub mod convert;
mod events;
mod exec;
mod images;
mod io;
mod logs;
mod system;
mod volumes;

use std::sync::Arc;

use berth_proto::services as api;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::Config;
use crate::containers::Containers;
use crate::events::Events;
use crate::images::ImageService;
use crate::system::System;
use crate::volumes::Volumes;

/// Everything the services adapt.
#[derive(Clone)]
pub struct Daemon {
    pub builder: crate::build::exec::Builder,
    /// Where build contexts are unpacked.
    pub contexts: std::path::PathBuf,
    pub config: Config,
    pub containers: Containers,
    pub images: Arc<ImageService>,
    pub registry: crate::registry::Registry,
    pub volumes: Volumes,
    pub events: Events,
}

/// Serves the manager API on `listener` until `shutdown` resolves.
pub async fn serve(
    d: Daemon,
    listener: UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(
            api::containers::v1::containers_server::ContainersServer::new(
                containers::ContainersService {
                    containers: d.containers.clone(),
                },
            ),
        )
        .add_service(api::build::v1::builder_server::BuilderServer::new(
            build::BuildService {
                builder: d.builder.clone(),
                contexts: d.contexts.clone(),
            },
        ))
        .add_service(api::exec::v1::exec_server::ExecServer::new(
            exec::ExecService {
                containers: d.containers.clone(),
            },
        ))
        .add_service(api::logs::v1::logs_server::LogsServer::new(
            logs::LogsService {
                containers: d.containers.clone(),
            },
        ))
        .add_service(api::events::v1::events_server::EventsServer::new(
            events::EventsService {
                events: d.events.clone(),
            },
        ))
        .add_service(api::volumes::v1::volumes_server::VolumesServer::new(
            volumes::VolumesService {
                volumes: d.volumes.clone(),
            },
        ))
        .add_service(api::images::v1::images_server::ImagesServer::new(
            images::ImagesService {
                images: d.images.clone(),
                registry: d.registry.clone(),
                containers: d.containers.clone(),
            },
        ))
        .add_service(api::system::v1::system_server::SystemServer::new(
            system::SystemService {
                system: System::new(
                    d.config.clone(),
                    d.containers.clone(),
                    d.images.clone(),
                    d.volumes.clone(),
                ),
                builder: d.builder.clone(),
            },
        ))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await
}
