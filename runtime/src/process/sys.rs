//! The seam for the side effects of the last steps before `execve`
//! ([`super::execve::prepare`]): rlimits, I/O priority, seccomp, user, capabilities,
//! no_new_privs, cwd, the program's lookup and fd inheritance. [`LinuxProcessSys`] makes the real calls; the
//! tests use a recording fake, so the order the runtime spec and the kernel impose
//! (seccomp before the user switch unless no_new_privileges, capabilities after the
//! user, ...) is checked without root and without changing the test process.
use super::execve::InitError;
use crate::{capabilities, rlimits, seccomp, user};
use oci_spec::runtime::{LinuxCapabilities, LinuxIOPriority, PosixRlimit, User};
use std::path::Path;

pub(crate) trait ProcessSys {
    fn rlimits(&self, limits: &[PosixRlimit]) -> Result<(), InitError>;
    fn io_priority(&self, io: &LinuxIOPriority) -> Result<(), InitError>;
    fn seccomp(
        &self,
        filter: &seccomp::Filter,
        handoff: Option<&seccomp::Handoff>,
    ) -> Result<(), InitError>;
    fn user(&self, user: &User) -> Result<(), InitError>;
    /// Returns what could not be granted (warnings for the runtime's log).
    fn capabilities(&self, caps: &LinuxCapabilities) -> Result<Vec<String>, InitError>;
    fn no_new_privs(&self) -> Result<(), InitError>;
    fn chdir(&self, dir: &Path) -> Result<(), InitError>;
    /// The program `arg0` names, resolved with the container's `PATH`.
    fn lookup(&self, arg0: &str, env: &[String]) -> Result<String, InitError>;
    /// fds 3..3+`preserve` stay open across exec, every other one above 2 closes.
    fn fd_inheritance(&self, preserve: u32);
}

/// The real calls.
pub(crate) struct LinuxProcessSys;

impl ProcessSys for LinuxProcessSys {
    fn rlimits(&self, limits: &[PosixRlimit]) -> Result<(), InitError> {
        Ok(rlimits::apply(limits)?)
    }

    fn io_priority(&self, io: &LinuxIOPriority) -> Result<(), InitError> {
        super::execve::set_io_priority(io)
    }

    fn seccomp(
        &self,
        filter: &seccomp::Filter,
        handoff: Option<&seccomp::Handoff>,
    ) -> Result<(), InitError> {
        Ok(seccomp::load(filter, handoff)?)
    }

    fn user(&self, u: &User) -> Result<(), InitError> {
        Ok(user::apply(u)?)
    }

    fn capabilities(&self, caps: &LinuxCapabilities) -> Result<Vec<String>, InitError> {
        Ok(capabilities::apply_with_warnings(caps)?)
    }

    fn no_new_privs(&self) -> Result<(), InitError> {
        nix::sys::prctl::set_no_new_privs().map_err(|source| InitError::Sys {
            step: "process.noNewPrivileges",
            source,
        })
    }

    fn chdir(&self, dir: &Path) -> Result<(), InitError> {
        nix::unistd::chdir(dir).map_err(|source| InitError::Cwd {
            path: dir.to_path_buf(),
            source,
        })
    }

    fn lookup(&self, arg0: &str, env: &[String]) -> Result<String, InitError> {
        super::execve::lookup(arg0, env)
    }

    fn fd_inheritance(&self, preserve: u32) {
        super::execve::set_fd_inheritance(preserve)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use std::cell::RefCell;

    /// Records each call as one line (`"seccomp"`, `"chdir /work"`); `fail` makes the
    /// named step fail, `warnings` is what `capabilities` returns.
    #[derive(Default)]
    pub(crate) struct FakeProcessSys {
        pub calls: RefCell<Vec<String>>,
        pub fail: Option<&'static str>,
        pub warnings: Vec<String>,
    }

    impl FakeProcessSys {
        fn record(&self, step: &'static str, detail: String) -> Result<(), InitError> {
            let line = if detail.is_empty() {
                step.to_string()
            } else {
                format!("{step} {detail}")
            };
            self.calls.borrow_mut().push(line);
            if self.fail == Some(step) {
                return Err(InitError::Sys {
                    step,
                    source: nix::Error::EPERM,
                });
            }
            Ok(())
        }

        pub(crate) fn calls(&self) -> Vec<String> {
            self.calls.borrow().clone()
        }
    }

    impl ProcessSys for FakeProcessSys {
        fn rlimits(&self, limits: &[PosixRlimit]) -> Result<(), InitError> {
            self.record("rlimits", limits.len().to_string())
        }
        fn io_priority(&self, io: &LinuxIOPriority) -> Result<(), InitError> {
            self.record("io_priority", io.priority().to_string())
        }
        fn seccomp(
            &self,
            _: &seccomp::Filter,
            _: Option<&seccomp::Handoff>,
        ) -> Result<(), InitError> {
            self.record("seccomp", String::new())
        }
        fn user(&self, u: &User) -> Result<(), InitError> {
            self.record("user", u.uid().to_string())
        }
        fn capabilities(&self, _: &LinuxCapabilities) -> Result<Vec<String>, InitError> {
            self.record("capabilities", String::new())?;
            Ok(self.warnings.clone())
        }
        fn no_new_privs(&self) -> Result<(), InitError> {
            self.record("no_new_privs", String::new())
        }
        fn chdir(&self, dir: &Path) -> Result<(), InitError> {
            // Fails once when asked to: a cwd only the container's user may enter.
            let failed_before = self.calls().iter().any(|c| c.starts_with("chdir"));
            self.record("chdir", dir.display().to_string())
                .map_err(|_| InitError::Cwd {
                    path: dir.to_path_buf(),
                    source: nix::Error::EACCES,
                })
                .or_else(|e| if failed_before { Ok(()) } else { Err(e) })
        }
        fn lookup(&self, arg0: &str, _: &[String]) -> Result<String, InitError> {
            self.record("lookup", arg0.to_string())?;
            Ok(arg0.to_string())
        }
        fn fd_inheritance(&self, preserve: u32) {
            let _ = self.record("fd_inheritance", preserve.to_string());
        }
    }
}
