//! The last steps before `execve`, shared by the init and by `exec`: rlimits,
//! identity (user, capabilities, no_new_privs), cwd, executable lookup, file
//! descriptors, seccomp. Also the error type of everything that runs in the child.
//!
//! Seccomp placement follows runc: with no_new_privileges the filter goes on as the
//! very last step (so it need not allow the runtime's own syscalls); without it the
//! filter must be loaded while we still hold CAP_SYS_ADMIN, i.e. before the user and
//! capability switch.
use super::sys::{LinuxProcessSys, ProcessSys};
use crate::console::ConsoleError;
use crate::namespaces::NamespaceError;
use crate::{capabilities, hooks, rlimits, rootfs, seccomp, user};
use oci_spec::runtime::Process;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error(transparent)]
    Capabilities(#[from] capabilities::CapabilitiesError),
    #[error(transparent)]
    Seccomp(#[from] seccomp::SeccompError),
    #[error(transparent)]
    Rlimit(#[from] rlimits::RlimitError),
    #[error(transparent)]
    User(#[from] user::UserError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error("{step}: {source}")]
    Sys {
        step: &'static str,
        source: nix::Error,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("linux.sysctl: {key}: {source}")]
    Sysctl { key: String, source: std::io::Error },
    #[error("hostname: cannot set {field} without a private UTS namespace (add a uts namespace to linux.namespaces)")]
    NoUts { field: &'static str },
    #[error("process.args must not be empty")]
    NoArgs,
    #[error("process.terminal is true but no --console-socket was given")]
    NoConsoleSocket,
    #[error("process.cwd {path}: {source}")]
    Cwd { path: PathBuf, source: nix::Error },
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("exec: {0:?}: permission denied")]
    NotExecutable(String),
    #[error(
        "exec {0:?}: the seccomp profile denies execve (EPERM): allow execve in linux.seccomp"
    )]
    ExecDenied(String),
    #[error("exec {path:?}: {source}")]
    Exec { path: String, source: nix::Error },
    #[error("{0}: contains a NUL byte")]
    Nul(String),
    #[error("channel to the runtime: {0}")]
    Protocol(String),
}

/// A process ready to exec.
pub struct Ready<'a> {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    late_seccomp: Option<&'a seccomp::Filter>,
    late_handoff: Option<seccomp::Handoff<'a>>,
    /// A seccomp filter is (or will be, at exec) in place.
    filtered: bool,
    /// What `capabilities` skipped, for the runtime's log (the child cannot write it:
    /// the log path may not resolve after pivot_root).
    pub warnings: Vec<String>,
}

fn cstring(s: &str) -> Result<CString, InitError> {
    CString::new(s).map_err(|_| InitError::Nul(s.to_string()))
}

/// The container's `/etc/passwd` (after pivot_root), at most 4 MiB of it; empty
/// if there is none.
fn read_passwd() -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Ok(f) = std::fs::File::open("/etc/passwd") {
        let _ = f.take(4 << 20).read_to_string(&mut s);
    }
    s
}

/// The home directory `passwd` gives `uid`, or `/`.
fn home_of(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
                .then(|| f[5].to_string())
        })
        .unwrap_or_else(|| "/".to_string())
}

/// Everything up to (not including) the wait for `start` and the exec.
/// `notify` is the listener for a filter that notifies, with this process's host pid.
pub fn prepare<'a>(
    process: &Process,
    filter: Option<&'a seccomp::Filter>,
    notify: Option<(&'a seccomp::Listener, i32)>,
    preserve_fds: u32,
) -> Result<Ready<'a>, InitError> {
    prepare_with(&LinuxProcessSys, process, filter, notify, preserve_fds)
}

fn prepare_with<'a>(
    sys: &dyn ProcessSys,
    process: &Process,
    filter: Option<&'a seccomp::Filter>,
    notify: Option<(&'a seccomp::Listener, i32)>,
    preserve_fds: u32,
) -> Result<Ready<'a>, InitError> {
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(InitError::NoArgs);
    }
    let mut env = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // As runc and docker: the user's home from the container's /etc/passwd,
        // `/` for a uid it does not list. Read before any filter is loaded.
        let passwd = read_passwd();
        env.push(format!("HOME={}", home_of(&passwd, process.user().uid())));
    }
    if let Some(limits) = process.rlimits() {
        sys.rlimits(limits)?;
    }
    if let Some(io) = process.io_priority() {
        sys.io_priority(io)?;
    }
    // Everything that looks at the filesystem happens before a filter is loaded:
    // a profile older than the calls libc uses for it (faccessat2, close_range)
    // would deny them, and runc does its lookups first too. Without
    // noNewPrivileges the filter must go on while CAP_SYS_ADMIN is still held, so
    // only the identity switch (setgroups, setresuid, capset, prctl) follows it.
    let path = sys.lookup(&args[0], &env)?;
    let cwd = process.cwd();
    // As runc: the cwd is entered as root first; one that only the container's
    // user may enter is tried again after the switch.
    let mut cwd_after_switch = false;
    if !cwd.as_os_str().is_empty() {
        match sys.chdir(cwd) {
            Ok(()) => {}
            Err(InitError::Cwd {
                source: nix::Error::EACCES | nix::Error::EPERM,
                ..
            }) => cwd_after_switch = true,
            Err(e) => return Err(e),
        }
    }
    sys.fd_inheritance(preserve_fds);
    // Rendered now: after the load there is only the one sendmsg.
    let handoff = notify
        .filter(|_| filter.is_some_and(|f| f.notifies()))
        .map(|(listener, pid)| listener.handoff(pid));
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut late_seccomp = None;
    let mut late_handoff = None;
    if let Some(f) = filter {
        if nnp {
            late_seccomp = Some(f);
            late_handoff = handoff;
        } else {
            sys.seccomp(f, handoff.as_ref())?;
        }
    }
    sys.user(process.user())?;
    let warnings = match process.capabilities() {
        Some(caps) => sys.capabilities(caps)?,
        None => Vec::new(),
    };
    if cwd_after_switch {
        sys.chdir(cwd)?;
    }
    if nnp {
        sys.no_new_privs()?;
    }
    Ok(Ready {
        path: cstring(&path)?,
        argv: args.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?,
        envp: env.iter().map(|e| cstring(e)).collect::<Result<_, _>>()?,
        late_seccomp,
        late_handoff,
        filtered: filter.is_some(),
        warnings,
    })
}

impl Ready<'_> {
    /// Only returns on failure.
    pub fn exec(self) -> InitError {
        reset_signals();
        if let Some(f) = self.late_seccomp {
            if let Err(e) = seccomp::load(f, self.late_handoff.as_ref()) {
                return e.into();
            }
        }
        match nix::unistd::execve(&self.path, &self.argv, &self.envp) {
            // A file the process may not run is EACCES; EPERM from execve is what
            // a profile's default errno looks like when it leaves execve out.
            Err(nix::Error::EPERM) if self.filtered => {
                InitError::ExecDenied(self.path.to_string_lossy().into_owned())
            }
            Err(source) => InitError::Exec {
                path: self.path.to_string_lossy().into_owned(),
                source,
            },
            Ok(never) => match never {},
        }
    }
}

/// `process.ioPriority` (before the user switch: the realtime class needs privilege).
pub(super) fn set_io_priority(io: &oci_spec::runtime::LinuxIOPriority) -> Result<(), InitError> {
    use oci_spec::runtime::IOPriorityClass;
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    let class: libc::c_long = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let value = (class << 13) | (io.priority() as libc::c_long & 0x1fff);
    // SAFETY: ioprio_set with integer arguments, for ourselves (who = 0).
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(InitError::Sys {
            step: "process.ioPriority",
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// `linux.personality` (the init only: it is inherited by everything in it).
pub fn set_personality(p: &oci_spec::runtime::LinuxPersonality) -> Result<(), InitError> {
    use oci_spec::runtime::LinuxPersonalityDomain;
    let persona: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality(2) with an integer argument.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(InitError::Sys {
            step: "linux.personality",
            source: nix::Error::last(),
        });
    }
    Ok(())
}

/// The container's process starts with every signal at its default and none blocked,
/// whatever the runtime had (Rust ignores SIGPIPE; a foreground `run` blocks the
/// signals it forwards).
fn reset_signals() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // The raw syscall: glibc refuses to touch its own signals (32, 33), which a
        // parent may have left ignored.
        #[repr(C)]
        struct KernelSigaction {
            handler: usize,
            flags: u64,
            restorer: usize,
            mask: u64,
        }
        let act = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: rt_sigaction with a valid struct and the kernel's sigset size (8).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// Resolve `arg0` like execvp, with the container's `PATH` (checked before `start`
/// so a missing binary fails `create`, as with runc).
pub fn lookup(arg0: &str, env: &[String]) -> Result<String, InitError> {
    if arg0.contains('/') {
        return match std::fs::metadata(arg0) {
            // Checked now, while create can still fail with docker's 126
            // message, rather than at execve after start (runc does the same).
            Ok(m) if m.is_dir() || !executable(arg0) => {
                Err(InitError::NotExecutable(arg0.to_string()))
            }
            Ok(_) => Ok(arg0.to_string()),
            Err(e) => Err(InitError::Io {
                what: "exec: stat",
                path: PathBuf::from(arg0),
                source: e,
            }),
        };
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate.to_string_lossy().into_owned());
            }
        }
    }
    Err(InitError::NotFound(arg0.to_string()))
}

/// Whether the effective ids may execute `path` (mount flags included).
fn executable(path: &str) -> bool {
    nix::unistd::faccessat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::unistd::AccessFlags::X_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

/// fds 3..3+preserve_fds are passed on; every other descriptor above stderr is
/// closed at exec.
pub(super) fn set_fd_inheritance(preserve_fds: u32) {
    let first = 3 + preserve_fds;
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only flags descriptors; no memory is touched.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        // Kernels before 5.11: walk our fd table instead.
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            let fds: Vec<i32> = dir
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            for fd in fds.into_iter().filter(|&fd| fd >= first as i32) {
                // SAFETY: setting FD_CLOEXEC on a descriptor number.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
    for fd in 3..first as i32 {
        // SAFETY: clearing FD_CLOEXEC on a descriptor the caller asked to pass on.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::super::sys::fake::FakeProcessSys;
    use super::*;

    #[test]
    fn home_comes_from_passwd_or_is_root_dir() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nodd:x:7:7\n";
        assert_eq!(home_of(passwd, 0), "/root");
        assert_eq!(home_of(passwd, 1000), "/home/app");
        assert_eq!(home_of(passwd, 7), "/");
        assert_eq!(home_of(passwd, 4242), "/");
        assert_eq!(home_of("", 0), "/");
    }

    fn process(nnp: bool) -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["/bin/sh"], "cwd": "/work", "user": {"uid": 1000, "gid": 1000},
            "noNewPrivileges": nnp,
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "capabilities": {"bounding": ["CAP_KILL"]}
        }))
        .expect("process")
    }

    fn filter() -> seccomp::Filter {
        let spec = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .expect("seccomp spec");
        seccomp::compile(&spec).expect("filter")
    }

    #[test]
    fn seccomp_goes_on_before_the_user_switch_without_no_new_privs() {
        let sys = FakeProcessSys::default();
        let f = filter();
        let ready = prepare_with(&sys, &process(false), Some(&f), None, 2).expect("prepare");
        assert_eq!(
            sys.calls(),
            [
                "rlimits 1",
                "lookup /bin/sh",
                "chdir /work",
                "fd_inheritance 2",
                "seccomp",
                "user 1000",
                "capabilities",
            ]
        );
        assert!(ready.late_seccomp.is_none());
    }

    #[test]
    fn with_no_new_privs_seccomp_waits_for_the_exec() {
        let sys = FakeProcessSys {
            warnings: vec!["capabilities: CAP_X skipped".into()],
            ..Default::default()
        };
        let f = filter();
        let ready = prepare_with(&sys, &process(true), Some(&f), None, 0).expect("prepare");
        assert_eq!(
            sys.calls(),
            [
                "rlimits 1",
                "lookup /bin/sh",
                "chdir /work",
                "fd_inheritance 0",
                "user 1000",
                "capabilities",
                "no_new_privs",
            ]
        );
        assert!(ready.late_seccomp.is_some());
        assert_eq!(ready.warnings, ["capabilities: CAP_X skipped"]);
    }

    #[test]
    fn a_failed_step_stops_the_sequence() {
        let sys = FakeProcessSys {
            fail: Some("capabilities"),
            ..Default::default()
        };
        let err = prepare_with(&sys, &process(true), None, None, 0)
            .err()
            .expect("capabilities fail");
        assert!(
            matches!(
                err,
                InitError::Sys {
                    step: "capabilities",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            sys.calls(),
            [
                "rlimits 1",
                "lookup /bin/sh",
                "chdir /work",
                "fd_inheritance 0",
                "user 1000",
                "capabilities"
            ]
        );
    }

    #[test]
    fn a_cwd_root_may_not_enter_is_entered_after_the_user_switch() {
        let sys = FakeProcessSys {
            fail: Some("chdir"),
            ..Default::default()
        };
        let f = filter();
        prepare_with(&sys, &process(false), Some(&f), None, 0).expect("prepare");
        assert_eq!(
            sys.calls(),
            [
                "rlimits 1",
                "lookup /bin/sh",
                "chdir /work",
                "fd_inheritance 0",
                "seccomp",
                "user 1000",
                "capabilities",
                "chdir /work",
            ]
        );
    }

    #[test]
    fn lookup_uses_the_container_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let found = lookup("sh", &env).expect("sh");
        assert!(found.ends_with("/sh"), "{found}");
        assert_eq!(lookup("/bin/sh", &env).expect("abs"), "/bin/sh");
        assert!(lookup("/no/such/x", &env).is_err());
        let err = lookup("/etc/passwd", &env).expect_err("not executable");
        assert_eq!(err.to_string(), "exec: \"/etc/passwd\": permission denied");
        let err = lookup("no-such-binary-xyz", &env).expect_err("missing");
        assert_eq!(
            err.to_string(),
            "exec: \"no-such-binary-xyz\": executable file not found in $PATH"
        );
    }
}
