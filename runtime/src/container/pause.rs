//! `pause` / `resume`: the cgroup freezer, with the paused flag kept in state.json.
use super::{Container, Error, Status};
use crate::cgroups::FreezerState;
use std::path::Path;

pub fn pause(root: &Path, id: &str) -> Result<(), Error> {
    let mut c = Container::load(root, id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        _ => return Err(Error::NotRunning(id.to_string())),
    }
    c.cgroup()?.freeze(FreezerState::Frozen)?;
    c.state.paused = true;
    c.state.save(&c.dir)
}

pub fn resume(root: &Path, id: &str) -> Result<(), Error> {
    let mut c = Container::load(root, id)?;
    if c.status() != Status::Paused {
        return Err(Error::NotPaused(id.to_string()));
    }
    c.cgroup()?.freeze(FreezerState::Thawed)?;
    c.state.paused = false;
    c.state.save(&c.dir)
}
