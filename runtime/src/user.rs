//! The process identity: `process.user` (uid, gid, additionalGids, umask).
//!
//! Called in the container's init, as root of its user namespace, after the rootfs is
//! in place and before `capabilities::apply`. The order inside [`apply`] is fixed by
//! the kernel: supplementary groups and gid need `CAP_SETGID`, which the uid switch
//! takes away, so groups → gid → uid. `PR_SET_KEEPCAPS` is held across `setuid` so the
//! *permitted* set survives a switch away from uid 0; the kernel still clears the
//! effective set, which `capabilities::apply` raises again from permitted before it
//! sets the spec's sets. Keepcaps is cleared afterwards so it does not leak into the
//! container process (runc does the same).
use std::io::ErrorKind;

use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};
use oci_spec::runtime::User;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user: setgroups({gids:?}) for process.user.additionalGids failed: {source}")]
    Setgroups {
        gids: Vec<u32>,
        #[source]
        source: nix::Error,
    },
    #[error("user: setgid({gid}) for process.user.gid failed (is it mapped in the user namespace?): {source}")]
    Setgid {
        gid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("user: setuid({uid}) for process.user.uid failed (is it mapped in the user namespace?): {source}")]
    Setuid {
        uid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("user: process.user.umask {umask:#o} is not a file mode (0-0777)")]
    Umask { umask: u32 },
    #[error("user: prctl(PR_SET_KEEPCAPS, {value}) failed: {source}")]
    KeepCaps {
        value: bool,
        #[source]
        source: std::io::Error,
    },
    #[error("user: reading /proc/self/setgroups failed: {source}")]
    SetgroupsPolicy {
        #[source]
        source: std::io::Error,
    },
}

/// The umask when `process.user.umask` is absent (runc's choice).
pub const DEFAULT_UMASK: u32 = 0o022;

/// setgroups, setgid, setuid (keeping capabilities across the switch so
/// `capabilities::apply` can set them afterwards), umask.
///
/// `umask` defaults to [`DEFAULT_UMASK`]. `setgroups` is skipped when the user
/// namespace denies it (`/proc/self/setgroups`
/// is `deny`, as for a rootless container with a single mapping); the gids listed then
/// cannot be applied, as with runc.
pub fn apply(user: &User) -> Result<(), UserError> {
    if let Some(mask) = user.umask() {
        if mask > 0o777 {
            return Err(UserError::Umask { umask: mask });
        }
    }
    if setgroups_allowed()? {
        let gids = user.additional_gids().clone().unwrap_or_default();
        let list: Vec<Gid> = gids.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&list).map_err(|source| UserError::Setgroups { gids, source })?;
    }
    setgid(Gid::from_raw(user.gid())).map_err(|source| UserError::Setgid {
        gid: user.gid(),
        source,
    })?;

    set_keepcaps(true)?;
    let switched = setuid(Uid::from_raw(user.uid())).map_err(|source| UserError::Setuid {
        uid: user.uid(),
        source,
    });
    // Cleared on both paths: keepcaps must never reach the container process.
    let cleared = set_keepcaps(false);
    switched?;
    cleared?;

    // Without `umask` in the spec, 0022 like runc: not whatever the caller of the
    // runtime happened to run with.
    umask(Mode::from_bits_truncate(
        user.umask().unwrap_or(DEFAULT_UMASK),
    ));
    Ok(())
}

fn set_keepcaps(value: bool) -> Result<(), UserError> {
    caps::securebits::set_keepcaps(value).map_err(|e| UserError::KeepCaps {
        value,
        source: std::io::Error::other(e.to_string()),
    })
}

/// `false` when this user namespace forbids setgroups(2) (`/proc/self/setgroups`
/// says `deny`); `true` otherwise, also on kernels without the file.
fn setgroups_allowed() -> Result<bool, UserError> {
    match std::fs::read_to_string("/proc/self/setgroups") {
        Ok(policy) => Ok(policy.trim() != "deny"),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
        Err(source) => Err(UserError::SetgroupsPolicy { source }),
    }
}

/// A forked child for the tests of the process-security modules (user, capabilities,
/// seccomp, rlimits): they change the identity, caps, filters and limits of the calling
/// process, which must not be the test harness. The child reports back over a pipe and
/// waits for the parent, so the parent can read `/proc/<pid>/status` of the changed
/// process; it always leaves by `_exit` and never returns into the harness.
#[cfg(test)]
pub(crate) mod forked {
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::time::Duration;

    use nix::fcntl::OFlag;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe2, ForkResult, Pid};

    /// The child's side: tell the parent it is ready, or why it failed; wait for "go".
    pub(crate) struct Channel {
        report: File,
        go: File,
    }

    impl Channel {
        pub(crate) fn ready(&mut self) {
            let _ = self.report.write_all(b"OK\n");
        }

        pub(crate) fn fail(&mut self, msg: &str) -> i32 {
            let _ = writeln!(self.report, "ERR {}", msg.replace('\n', " "));
            90
        }

        pub(crate) fn wait_go(&mut self) {
            let mut b = [0u8; 1];
            let _ = self.go.read(&mut b);
        }
    }

    pub(crate) struct Child {
        pub(crate) pid: Pid,
        report: File,
        go: File,
        reaped: bool,
    }

    /// Fork; the child runs `body` and `_exit`s with its return value (or 101 on a
    /// panic). Both pipes are close-on-exec, so a `body` that execs closes the report
    /// pipe, which the parent sees as end of file.
    pub(crate) fn spawn(body: impl FnOnce(&mut Channel) -> i32) -> Child {
        let (report_r, report_w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        // SAFETY: the child only runs `body` and `_exit`s; glibc makes malloc usable
        // in the child of a multi-threaded parent.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                drop(report_r);
                drop(go_w);
                close_other_fds(&[&report_w, &go_r]);
                let mut channel = Channel {
                    report: File::from(report_w),
                    go: File::from(go_r),
                };
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut channel)))
                        .unwrap_or(101);
                // SAFETY: leaving the forked child without running the harness' code.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => Child {
                pid: child,
                report: File::from(report_r),
                go: File::from(go_w),
                reaped: false,
            },
        }
    }

    /// Other tests fork at the same time; without this, their children would hold our
    /// pipe ends open and the parent would not see end of file.
    fn close_other_fds(keep: &[&OwnedFd]) {
        let mut keep: Vec<u32> = keep.iter().map(|f| f.as_raw_fd() as u32).collect();
        keep.sort_unstable();
        let mut first = 3u32;
        for fd in keep {
            if fd > first {
                // SAFETY: closing descriptors this child does not use.
                unsafe { libc::syscall(libc::SYS_close_range, first, fd - 1, 0) };
            }
            first = fd + 1;
        }
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    }

    impl Child {
        /// The child's report: `Ok(())` for ready (or exec'd, when `eof_ok`), the
        /// child's error otherwise. Gives up after 20 s.
        pub(crate) fn report(&mut self, eof_ok: bool) -> Result<(), String> {
            let mut line = Vec::new();
            loop {
                let mut fds = [PollFd::new(self.report.as_fd(), PollFlags::POLLIN)];
                let n = poll(&mut fds, PollTimeout::from(20_000u16)).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("child did not report within 20s".into());
                }
                let mut b = [0u8; 1];
                match self.report.read(&mut b) {
                    Ok(0) if eof_ok && line.is_empty() => return Ok(()),
                    Ok(0) => return Err(format!("child exited: {:?}", self.wait())),
                    Ok(_) if b[0] == b'\n' => break,
                    Ok(_) => line.push(b[0]),
                    Err(e) => return Err(e.to_string()),
                }
            }
            match String::from_utf8_lossy(&line).as_ref() {
                "OK" => Ok(()),
                other => Err(other.to_string()),
            }
        }

        /// A line of `/proc/<pid>/status`, e.g. `field("CapEff")`.
        pub(crate) fn status_field(&self, name: &str) -> String {
            let status =
                std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("read status");
            status
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {name} in status"))
        }

        /// Let the child go on, then wait for its exit code.
        pub(crate) fn go_and_wait(mut self) -> WaitStatus {
            let _ = self.go.write_all(b"g");
            self.wait()
        }

        pub(crate) fn wait(&mut self) -> WaitStatus {
            if self.reaped {
                return WaitStatus::StillAlive;
            }
            for _ in 0..200 {
                match waitpid(self.pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(50)),
                    Ok(status) => {
                        self.reaped = true;
                        return status;
                    }
                    Err(e) => panic!("waitpid: {e}"),
                }
            }
            panic!("child {} did not exit within 10s", self.pid);
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            if !self.reaped {
                let _ = kill(self.pid, Signal::SIGKILL);
                let _ = waitpid(self.pid, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::forked;
    use super::*;
    use nix::sys::wait::WaitStatus;
    use oci_spec::runtime::UserBuilder;

    fn user(uid: u32, gid: u32, gids: Vec<u32>, umask: Option<u32>) -> User {
        let mut b = UserBuilder::default()
            .uid(uid)
            .gid(gid)
            .additional_gids(gids);
        if let Some(m) = umask {
            b = b.umask(m);
        }
        b.build().expect("user")
    }

    #[test]
    fn error_texts_name_the_field() {
        let e = apply(&user(0, 0, vec![], Some(0o1777))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "user: process.user.umask 0o1777 is not a file mode (0-0777)"
        );
        let e = UserError::Setuid {
            uid: 1000,
            source: nix::Error::EINVAL,
        };
        assert!(e
            .to_string()
            .starts_with("user: setuid(1000) for process.user.uid failed"));
    }

    #[test]
    fn root_switch_sets_ids_groups_umask_and_keeps_permitted_caps() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Root]) {
            return;
        }
        let mut child = forked::spawn(|ch| {
            if let Err(e) = apply(&user(1000, 1001, vec![1002, 1003], Some(0o027))) {
                return ch.fail(&e.to_string());
            }
            if caps::securebits::has_keepcaps().unwrap_or(true) {
                return ch.fail("keepcaps still set");
            }
            ch.ready();
            ch.wait_go();
            0
        });
        child.report(false).expect("child apply");
        assert_eq!(child.status_field("Uid"), "1000\t1000\t1000\t1000");
        assert_eq!(child.status_field("Gid"), "1001\t1001\t1001\t1001");
        assert_eq!(child.status_field("Groups"), "1002 1003");
        assert_eq!(child.status_field("Umask"), "0027");
        // Permitted survives thanks to keepcaps; effective is cleared by the kernel.
        assert_ne!(child.status_field("CapPrm"), "0000000000000000");
        assert_eq!(child.status_field("CapEff"), "0000000000000000");
        let pid = child.pid;
        assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, 0));
    }

    #[test]
    fn root_staying_root_clears_groups_and_defaults_umask() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Root]) {
            return;
        }
        let mut child = forked::spawn(|ch| {
            umask(Mode::from_bits_truncate(0o077));
            let _ = setgroups(&[Gid::from_raw(4242)]);
            if let Err(e) = apply(&user(0, 0, vec![], None)) {
                return ch.fail(&e.to_string());
            }
            ch.ready();
            ch.wait_go();
            0
        });
        child.report(false).expect("child apply");
        assert_eq!(child.status_field("Uid"), "0\t0\t0\t0");
        assert_eq!(child.status_field("Groups"), "");
        assert_eq!(child.status_field("Umask"), "0022");
        assert_ne!(child.status_field("CapEff"), "0000000000000000");
    }
}
