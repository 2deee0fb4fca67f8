//! cgroups v1, v2 and hybrid hosts. A manager is picked once per host layout
//! ([`Manager::new`]) and owns one container's cgroup(s).
//!
//! Contract used by the runtime core:
//! - `create`: `Manager::new(cgroups_path, id)` then `apply(init_pid)` then `set(resources)`.
//!   An error after `new` must be followed by `remove()` so nothing is left behind.
//! - later verbs (`pause`, `update`, `events`, `ps`, `delete`) rebuild the manager from the
//!   same `(cgroups_path, id)` recorded in the container's state.
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups: {0}")]
    Unimplemented(&'static str),
}

/// Freezer states (runc's `pause`/`resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Frozen,
    Thawed,
}

/// Resource usage in runc's `events --stats` JSON shape (the `data` object).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Stats {}

/// One container's cgroup(s).
#[derive(Debug)]
pub struct Manager {}

impl Manager {
    /// `cgroups_path` is `linux.cgroupsPath` (relative or absolute, or none: then a
    /// default derived from `id`).
    pub fn new(_cgroups_path: Option<&str>, _id: &str) -> Result<Self, CgroupError> {
        Err(CgroupError::Unimplemented("new"))
    }
    /// Create the cgroup(s) and move `pid` in.
    pub fn apply(&self, _pid: i32) -> Result<(), CgroupError> {
        Err(CgroupError::Unimplemented("apply"))
    }
    /// Write limits (create and `update`).
    pub fn set(&self, _resources: &LinuxResources) -> Result<(), CgroupError> {
        Err(CgroupError::Unimplemented("set"))
    }
    pub fn freeze(&self, _state: FreezerState) -> Result<(), CgroupError> {
        Err(CgroupError::Unimplemented("freeze"))
    }
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        Err(CgroupError::Unimplemented("stats"))
    }
    /// Every pid in the container's cgroup (for `ps`, `kill --all`).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Err(CgroupError::Unimplemented("pids"))
    }
    /// Remove the cgroup(s); the processes must be gone.
    pub fn remove(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unimplemented("remove"))
    }
}
