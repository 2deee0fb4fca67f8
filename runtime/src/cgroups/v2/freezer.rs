//! v2 freezer: write `cgroup.freeze`, then wait until `cgroup.events` says
//! `frozen 1` (or `0`): the kernel freezes asynchronously.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, FreezerState};

const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn get(fs: &dyn CgroupFs, dir: &Path) -> Result<FreezerState, CgroupError> {
    let v = fs::read(fs, dir, "cgroup.freeze")?;
    Ok(if v.trim() == "1" {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    })
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, state: FreezerState) -> Result<(), CgroupError> {
    let (value, want) = match state {
        FreezerState::Frozen => ("1", 1),
        FreezerState::Thawed => ("0", 0),
    };
    fs::write(fs, dir, "cgroup.freeze", value)?;
    let start = Instant::now();
    loop {
        let events = fs::read_keyed(fs, dir, "cgroup.events")?;
        let frozen = events.get("frozen").copied();
        // No `frozen` key: a kernel without the v2 freezer; the write was refused
        // already, or this is a fake without the file.
        if frozen.is_none_or(|f| f == want) {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            if state == FreezerState::Frozen {
                let _ = fs::write(fs, dir, "cgroup.freeze", "0");
            }
            return Err(CgroupError::FreezeTimeout {
                path: dir.join("cgroup.events"),
                state: if want == 1 { "frozen 1" } else { "frozen 0" },
                last: format!("frozen {}", frozen.unwrap_or(0)),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;

    #[test]
    fn freeze_writes_and_waits_for_events() {
        let fs = FakeFs::new();
        fs.set("/c/cgroup.freeze", "0");
        fs.set("/c/cgroup.events", "populated 1\nfrozen 1\n");
        set(&fs, Path::new("/c"), FreezerState::Frozen).unwrap();
        assert_eq!(get(&fs, Path::new("/c")).unwrap(), FreezerState::Frozen);
        fs.set("/c/cgroup.events", "populated 1\nfrozen 0\n");
        set(&fs, Path::new("/c"), FreezerState::Thawed).unwrap();
        assert_eq!(get(&fs, Path::new("/c")).unwrap(), FreezerState::Thawed);
    }
}
