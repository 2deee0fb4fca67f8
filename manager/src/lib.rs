//! berthd: the manager daemon. One module per domain noun (STYLE.md); `services/`
//! only adapts proto to these modules.

pub mod build;
pub mod config;
pub mod containers;
pub mod content;
pub mod errors;
pub mod events;
pub mod images;
pub mod metadata;
pub mod registry;
pub mod restricted_name;
pub mod security;
pub mod services;
pub mod snapshots;
pub mod system;
pub mod tasks;
pub mod volumes;
