//! Generated gRPC code for berth's two APIs, and the shim's state-dir
//! contract. Domain types belong to the crates that use them (STYLE.md,
//! guideline 6), so the only hand-written module is [`shim_state`]: the files
//! berth-shim leaves for berthd (socket address, pid, exit record) and the
//! long-socket-path rule are a wire between two processes like the `.proto`
//! files, and need one definition both sides compile against.

/// The manager API (berthd's socket), one package per service.
pub mod services {
    pub mod build {
        pub mod v1 {
            tonic::include_proto!("berth.services.build.v1");
        }
    }
    pub mod containers {
        pub mod v1 {
            tonic::include_proto!("berth.services.containers.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("berth.services.events.v1");
        }
    }
    pub mod exec {
        pub mod v1 {
            tonic::include_proto!("berth.services.exec.v1");
        }
    }
    pub mod images {
        pub mod v1 {
            tonic::include_proto!("berth.services.images.v1");
        }
    }
    pub mod logs {
        pub mod v1 {
            tonic::include_proto!("berth.services.logs.v1");
        }
    }
    pub mod system {
        pub mod v1 {
            tonic::include_proto!("berth.services.system.v1");
        }
    }
    pub mod volumes {
        pub mod v1 {
            tonic::include_proto!("berth.services.volumes.v1");
        }
    }
}

/// Why a call failed, attached to every error status of the manager API.
pub mod errors {
    pub mod v1 {
        tonic::include_proto!("berth.errors.v1");
    }
}

/// The shim API (one berth-shim per container, spoken only by berthd's `tasks`).
pub mod shim {
    pub mod v1 {
        tonic::include_proto!("berth.shim.v1");
    }
}

pub mod shim_state;
