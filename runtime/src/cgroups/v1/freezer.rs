//! v1 freezer: `freezer.state`. Freezing is asynchronous (`FREEZING` until every
//! task stopped), so `set` waits for `FROZEN`, writing again now and then because a
//! task forking at the wrong moment can leave the cgroup stuck in `FREEZING`.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, FreezerState};

const FILE: &str = "freezer.state";
const TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn get(fs: &dyn CgroupFs, dir: &Path) -> Result<FreezerState, CgroupError> {
    let state = fs::read(fs, dir, FILE)?;
    Ok(match state.trim() {
        // FREEZING is on its way to frozen: runc reports it as paused too.
        "FROZEN" | "FREEZING" => FreezerState::Frozen,
        _ => FreezerState::Thawed,
    })
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, state: FreezerState) -> Result<(), CgroupError> {
    let want = match state {
        FreezerState::Frozen => "FROZEN",
        FreezerState::Thawed => "THAWED",
    };
    let start = Instant::now();
    let mut round = 0u32;
    let mut next_write = 0u32;
    loop {
        if round == next_write {
            fs::write(fs, dir, FILE, want)?;
            next_write += 50;
        }
        let now = fs::read(fs, dir, FILE)?;
        if now.trim() == want {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            // Do not leave a half-frozen container behind.
            if state == FreezerState::Frozen {
                let _ = fs::write(fs, dir, FILE, "THAWED");
            }
            return Err(CgroupError::FreezeTimeout {
                path: dir.join(FILE),
                state: want,
                last: now.trim().to_string(),
            });
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(if round < 10 { 1 } else { 10 }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;

    #[test]
    fn freeze_and_thaw_write_state() {
        let fs = FakeFs::new();
        fs.set("/f/freezer.state", "THAWED\n");
        set(&fs, Path::new("/f"), FreezerState::Frozen).unwrap();
        assert_eq!(get(&fs, Path::new("/f")).unwrap(), FreezerState::Frozen);
        set(&fs, Path::new("/f"), FreezerState::Thawed).unwrap();
        assert_eq!(
            fs.writes(),
            [
                ("/f/freezer.state".into(), "FROZEN".into()),
                ("/f/freezer.state".into(), "THAWED".into())
            ]
        );
        fs.set("/f/freezer.state", "FREEZING\n");
        assert_eq!(get(&fs, Path::new("/f")).unwrap(), FreezerState::Frozen);
    }
}
