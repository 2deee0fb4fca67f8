//! `delete`: of a stopped container, or with `--force` of any (killing what still
//! runs first): remove the cgroup, run the poststop hooks, remove the state
//! directory.
use super::{Container, Error, Status};
use crate::cgroups::FreezerState;
use crate::hooks::HookKind;
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<(), Error> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(Error::NotExist(_)) => {
            // A create that died before writing state.json may have left the dir.
            let dir = root.join(id);
            if dir.is_dir() && super::validate_id(id).is_ok() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            if force {
                return Ok(());
            }
            return Err(Error::NotExist(id.to_string()));
        }
        Err(Error::StateCorrupt { path, reason }) if force => {
            crate::logging::warn(&format!(
                "removing {id} with an unreadable state file {}: {reason}",
                path.display()
            ));
            let dir = root.join(id);
            return std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e));
        }
        Err(e) => return Err(e),
    };
    let status = c.status();
    match status {
        Status::Stopped => {}
        // Created, running or paused: refused without effect; `--force` kills first.
        // The runtime spec ("delete": "Attempting to delete a container that is not
        // stopped MUST have no effect on the container and MUST generate an error")
        // wins here over runc 1.1, which deletes a created container without
        // `--force` (issue 12 point 5, runtime-tools' delete test). Engines do not
        // lose by it: containerd kills a created task before deleting it, and
        // berth-shim deletes a created container with `--force`.
        Status::Created | Status::Running | Status::Paused => {
            if !force {
                return Err(Error::NotStopped {
                    id: id.to_string(),
                    status,
                });
            }
            kill_and_wait(&c, status == Status::Paused)?;
        }
    }
    destroy(&c)
}

/// SIGKILL to `pid`; one that has exited already is what we wanted.
fn sigkill(pid: i32) -> Result<(), Error> {
    match signal::kill(Pid::from_raw(pid), Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(Error::Kill {
            pid,
            signal: libc::SIGKILL,
            source,
        }),
    }
}

pub(super) fn kill_and_wait(c: &Container, paused: bool) -> Result<(), Error> {
    // The recorded init pid: `status` checked its start time.
    sigkill(c.state.init_pid)?;
    // Without its own pid namespace the container's other processes survive the init.
    if let Ok(cg) = c.cgroup() {
        if !own_pid_ns(c) {
            for pid in cg.pids().unwrap_or_default() {
                sigkill(pid)?;
            }
        }
        if paused {
            let _ = cg.freeze(FreezerState::Thawed);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while super::pid_alive(c.state.init_pid, c.state.init_start_time) {
        if Instant::now() > deadline {
            return Err(Error::InitGone {
                pid: c.state.init_pid,
                reason: "did not die from SIGKILL within 10s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

fn own_pid_ns(c: &Container) -> bool {
    crate::namespaces::Plan::from_spec(&c.state.config)
        .map(|p| p.creates(oci_spec::runtime::LinuxNamespaceType::Pid))
        .unwrap_or(true)
}

/// Remove everything of a stopped container.
pub(super) fn destroy(c: &Container) -> Result<(), Error> {
    let cg = c.cgroup()?;
    if !own_pid_ns(c) {
        // The init's children outlive it without a pid namespace of their own (runc
        // kills them too).
        for pid in cg.pids().unwrap_or_default() {
            sigkill(pid)?;
        }
    }
    let mut res = cg.remove();
    let deadline = Instant::now() + Duration::from_secs(5);
    while res.is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        res = cg.remove();
    }
    res?;
    let hooks = c.state.config.hooks().as_ref();
    if hooks.is_some_and(|h| h.poststop().is_some()) {
        super::run_hooks_warning(HookKind::Poststop, hooks, &c.hook_state(HookKind::Poststop));
    }
    std::fs::remove_dir_all(&c.dir).map_err(|e| Error::io(&c.dir, e))
}
