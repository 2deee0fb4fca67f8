//! The container's processes: the init (cloned straight into its new namespaces by
//! [`spawn_init`]) and the processes `exec` adds ([`spawn_exec`]).
//!
//! No re-exec of our own binary and no threads: the runtime is single-threaded, so a
//! raw `clone` without `CLONE_VM` gives the child a private copy of it (fork
//! semantics) that runs the init sequence in `init.rs` and ends in `execve`.
//!
//! Parent/child protocol (messages in `channel.rs`), create:
//! 1. parent clones; fast path: every namespace new, one clone with all flags (cgroup
//!    and time are unshared later, after the child is in its cgroup). Joining path
//!    (some namespace has a `path`): the child joins them, unshares a new user
//!    namespace (→ `UsernsReady`, parent writes maps, ← `MapsDone`), unshares the rest
//!    and forks the real init into the new pid namespace (→ `InitPid`).
//! 2. the child joins its cgroups by itself (clone3 `CLONE_INTO_CGROUP` for v2, `0`
//!    into v1 `tasks`: see [`CgroupJoin`]); the parent writes uid/gid maps (fast
//!    path), the cgroup limits and oom_score_adj, with a user and a mount namespace
//!    the bind sources it opened in the child's mount namespace (`BindSources`
//!    messages carrying fds, see `rootfs::BindSources`), then `Go(host pid)`.
//! 3. child sets up the rootfs (→ `Hooks`; parent runs prestart/createRuntime hooks;
//!    ← `HooksDone`), createContainer hooks, pivot, console (the pty, also bound on
//!    /dev/console), `lo` up in a new network namespace, sysctl, hostname, finish,
//!    rlimits, user, capabilities, no_new_privs, cwd, and → `Ready`.
//! 4. child blocks on the exec fifo until `start`, then startContainer hooks,
//!    seccomp, execve. Any failure on the way → `Error(text)`, child exits.
//!
//! The security steps before execve (`execve::prepare`) make their calls through
//! the `ProcessSys` seam (`sys.rs`), so their order is unit-tested with a fake.
mod channel;
mod execve;
mod init;
mod loopback;
mod supervise;
mod sys;
mod sysctl;
mod tenant;

pub use channel::{Channel, Msg};
pub use init::START_ERROR_PREFIX;
pub use supervise::{hold_signals, supervise};
pub use tenant::{spawn_exec, ExecConfig};

use crate::namespaces::{self, NamespaceError, Plan};
use crate::{rootfs, seccomp};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("clone of the container process: {0}")]
    Clone(nix::Error),
    #[error("channel to the container process: {0}")]
    Channel(std::io::Error),
    /// The child's own description of the step that failed.
    #[error("{0}")]
    Child(String),
    #[error("the container process exited before it was ready (expected {expected})")]
    Died { expected: &'static str },
    #[error("the container process sent {got:?}, expected {expected}")]
    Protocol { got: Msg, expected: &'static str },
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    #[error(transparent)]
    Rlimit(#[from] crate::rlimits::RlimitError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A failed spawn whose half-made process could not be killed either.
    #[error("{error} (and killing the container process {pid} failed: {source})")]
    KillAfterFailure {
        error: Box<ProcessError>,
        pid: i32,
        source: nix::Error,
    },
}

impl ProcessError {
    /// Kill and reap our child `pid` after `self` made it useless, keeping a kill
    /// failure next to `self`.
    fn after_killing(self, pid: i32) -> ProcessError {
        match kill_and_reap(pid) {
            Ok(()) => self,
            Err(source) => ProcessError::KillAfterFailure {
                error: Box::new(self),
                pid,
                source,
            },
        }
    }
}

/// Everything the init sequence needs; borrowed from `container::create`.
pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub plan: &'a Plan,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub fifo: &'a Path,
    pub console: Option<&'a OwnedFd>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub seccomp: Option<&'a seccomp::Filter>,
    /// The seccomp agent, when the filter notifies.
    pub listener: Option<&'a seccomp::Listener>,
    pub cgroup: Option<&'a CgroupJoin>,
}

/// The runtime's handle on an init it cloned.
#[derive(Debug)]
pub struct Init {
    /// Host pid of the container's init.
    pub pid: i32,
    chan: Channel,
    /// Our direct children still to reap (the init in the fast path).
    children: Vec<i32>,
    /// clone3 could not place the init in its cgroup: the caller must `apply` it.
    pub needs_apply: bool,
}

/// In the bind-sources helper: enter the init's mount namespace `ns`, open the
/// sources there and send them, [`channel::MAX_FDS`] a message. The exit code says
/// which step failed.
fn send_from_ns(chan: &Channel, ns: &std::fs::File, wanted: &[(usize, PathBuf)]) -> i32 {
    if nix::sched::setns(ns, CloneFlags::CLONE_NEWNS).is_err() {
        return 2;
    }
    let opened = rootfs::BindSources::open_paths(wanted);
    for chunk in opened.chunks(channel::MAX_FDS) {
        let indexes = chunk.iter().map(|(i, _)| *i as u32).collect();
        let fds: Vec<_> = chunk
            .iter()
            .map(|(_, fd)| std::os::fd::AsRawFd::as_raw_fd(fd))
            .collect();
        if chan
            .send_with_fds(&Msg::BindSources(indexes), &fds)
            .is_err()
        {
            return 3;
        }
    }
    0
}

/// Clone `flags` with fork semantics. Returns 0 in the child.
fn raw_clone(flags: CloneFlags) -> Result<i32, ProcessError> {
    // SAFETY: no CLONE_VM and a NULL stack: the child gets a copy of our (single
    // threaded) address space and continues on a copy of this stack, like fork().
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags.bits() as libc::c_long) | libc::SIGCHLD as libc::c_long,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err(ProcessError::Clone(nix::Error::last()));
    }
    Ok(r as i32)
}

/// How a new process enters the container's cgroups by itself, without the kernel's
/// global threadgroup lock that a `cgroup.procs` write takes (an RCU grace period,
/// 10-20 ms, per create): clone3 `CLONE_INTO_CGROUP` puts it in the v2 directory, and
/// the child writes `0` (itself, one thread) into each v1 directory's `tasks`.
#[derive(Debug, Default)]
pub struct CgroupJoin {
    pub v1: Vec<PathBuf>,
    pub v2: Option<OwnedFd>,
}

impl CgroupJoin {
    /// `v1`: the container's v1 directories; `v2`: its v2 directory (hybrid/unified).
    pub fn open(v1: Vec<PathBuf>, v2: Option<&Path>) -> Result<CgroupJoin, ProcessError> {
        use std::os::unix::fs::OpenOptionsExt;
        let v2 = match v2 {
            Some(dir) => Some(
                std::fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(dir)
                    .map_err(|source| ProcessError::Write {
                        path: dir.to_path_buf(),
                        source,
                    })?
                    .into(),
            ),
            None => None,
        };
        Ok(CgroupJoin { v1, v2 })
    }

    /// In the child: join the v1 directories.
    fn join_v1_self(&self) -> Result<(), execve::InitError> {
        for dir in &self.v1 {
            let path = dir.join("tasks");
            std::fs::write(&path, "0").map_err(|source| execve::InitError::Io {
                what: "joining the cgroup",
                path,
                source,
            })?;
        }
        Ok(())
    }
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clone into the v2 cgroup when there is one. Returns (pid, placed in v2); when
/// clone3 is unavailable the caller must move the child in itself.
fn clone_into(flags: CloneFlags, cg: Option<&CgroupJoin>) -> Result<(i32, bool), ProcessError> {
    use std::os::fd::AsRawFd;
    if let Some(fd) = cg.and_then(|c| c.v2.as_ref()) {
        let args = CloneArgs {
            flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: fd.as_raw_fd() as u64,
            ..Default::default()
        };
        // SAFETY: clone3 with no CLONE_VM and no stack: fork semantics, as in
        // raw_clone; `args` outlives the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if r >= 0 {
            return Ok((r as i32, true));
        }
        let e = nix::Error::last();
        if !matches!(
            e,
            nix::Error::ENOSYS | nix::Error::E2BIG | nix::Error::EINVAL
        ) {
            return Err(ProcessError::Clone(e));
        }
    }
    raw_clone(flags).map(|pid| (pid, cg.is_none_or(|c| c.v2.is_none())))
}

/// Enter the pid namespace at `path` for our future children only; returns our own
/// so the caller can switch back (hooks must not start inside the container).
fn pid_ns_for_children(path: &Path) -> Result<namespaces::NsFile, ProcessError> {
    let own = namespaces::open(
        LinuxNamespaceType::Pid,
        Path::new("/proc/self/ns/pid_for_children"),
    )?;
    namespaces::join(&namespaces::open(LinuxNamespaceType::Pid, path)?)?;
    Ok(own)
}

/// Step 1 of the protocol: clone the init and, when needed, write its id maps.
/// Returns once the init's host pid is known; it then waits for [`Init::go`].
pub fn spawn_init(cfg: &InitConfig) -> Result<Init, ProcessError> {
    let plan = cfg.plan;
    let fast = plan.join.iter().all(|(k, _)| *k == LinuxNamespaceType::Pid);
    let (parent, child) = Channel::pair().map_err(ProcessError::Channel)?;
    let restore = match plan.joins(LinuxNamespaceType::Pid) {
        Some(p) => Some(pid_ns_for_children(p)?),
        None => None,
    };
    let flags = if fast {
        plan.new_flags(&[LinuxNamespaceType::Cgroup, LinuxNamespaceType::Time])
    } else {
        CloneFlags::empty()
    };
    // Opened here, read-write (so neither side blocks on open), and inherited: the
    // child may already be an unprivileged user in a new user namespace.
    let fifo: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(cfg.fifo)
        .map_err(|source| ProcessError::Write {
            path: cfg.fifo.to_path_buf(),
            source,
        })?
        .into();
    let cloned = clone_into(flags, cfg.cgroup);
    if let Ok((0, _)) = cloned {
        drop(parent);
        init::run(cfg, child, fifo, fast);
    }
    drop(fifo);
    if let Some(own) = restore {
        namespaces::join(&own)?;
    }
    let (pid, placed) = cloned?;
    drop(child);
    let mut init = Init {
        pid,
        chan: parent,
        children: vec![pid],
        needs_apply: !placed,
    };
    if let Err(e) = init.finish_spawn(cfg.spec, plan, fast) {
        return Err(match init.kill() {
            Ok(()) => e,
            Err(source) => ProcessError::KillAfterFailure {
                error: Box::new(e),
                pid,
                source,
            },
        });
    }
    Ok(init)
}

impl Init {
    fn finish_spawn(&mut self, spec: &Spec, plan: &Plan, fast: bool) -> Result<(), ProcessError> {
        let user = plan.creates(LinuxNamespaceType::User);
        if fast {
            if user {
                namespaces::write_id_maps(self.pid, spec)?;
            }
            return Ok(());
        }
        if user {
            self.expect(Msg::UsernsReady, "UsernsReady")?;
            namespaces::write_id_maps(self.pid, spec)?;
            self.send(Msg::MapsDone)?;
        }
        if plan.creates(LinuxNamespaceType::Pid) {
            match self.recv("InitPid")? {
                Msg::InitPid(pid) => {
                    // The intermediate child exits right after sending this.
                    reap(self.pid);
                    self.children.clear();
                    self.pid = pid;
                }
                got => {
                    return Err(ProcessError::Protocol {
                        got,
                        expected: "InitPid",
                    })
                }
            }
        }
        Ok(())
    }

    fn send(&self, msg: Msg) -> Result<(), ProcessError> {
        self.chan.send(&msg).map_err(ProcessError::Channel)
    }

    fn recv(&self, expected: &'static str) -> Result<Msg, ProcessError> {
        match self.chan.recv().map_err(ProcessError::Channel)? {
            Some(Msg::Error(text)) => Err(ProcessError::Child(text)),
            Some(m) => Ok(m),
            None => Err(ProcessError::Died { expected }),
        }
    }

    fn expect(&self, want: Msg, name: &'static str) -> Result<(), ProcessError> {
        let got = self.recv(name)?;
        if got == want {
            Ok(())
        } else {
            Err(ProcessError::Protocol {
                got,
                expected: name,
            })
        }
    }

    /// For an init in a user namespace, before [`Init::go`]: open the bind sources
    /// of `spec` as host root in the init's mount namespace and pass them over the
    /// channel (see `rootfs::BindSources`). A helper process does the opening, so
    /// the runtime itself never leaves its own mount namespace. Best effort: what
    /// cannot be opened is bound by path in the init as before, so this only logs.
    pub fn send_bind_sources(&self, spec: &Spec, bundle: &Path) {
        let wanted = rootfs::BindSources::wanted(spec, bundle);
        if wanted.is_empty() {
            return;
        }
        let ns_path = format!("/proc/{}/ns/mnt", self.pid);
        let ns = match std::fs::File::open(&ns_path) {
            Ok(f) => f,
            Err(e) => {
                crate::logging::debug(&format!("bind sources not opened: {ns_path}: {e}"));
                return;
            }
        };
        // SAFETY: the runtime is single-threaded; the helper only does setns, opens,
        // sends and `_exit`s.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                let code = send_from_ns(&self.chan, &ns, &wanted);
                // SAFETY: leave the helper without running the parent's exit handlers.
                unsafe { libc::_exit(code) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => match waitpid(child, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => {}
                other => crate::logging::debug(&format!(
                    "bind sources helper (pid {child}) ended with {other:?}"
                )),
            },
            Err(e) => crate::logging::debug(&format!("bind sources not opened: fork: {e}")),
        }
    }

    /// Step 2 done: let the child set itself up.
    pub fn go(&self) -> Result<(), ProcessError> {
        self.send(Msg::Go(self.pid))
    }

    /// Wait until the child's mounts are done (time for prestart/createRuntime hooks).
    pub fn wait_hooks(&self) -> Result<(), ProcessError> {
        self.expect(Msg::Hooks, "Hooks")
    }

    pub fn hooks_done(&self) -> Result<(), ProcessError> {
        self.send(Msg::HooksDone)
    }

    /// Wait until the child blocks on the exec fifo.
    /// The child's warnings on the way are logged (level warning).
    pub fn wait_ready(&self) -> Result<(), ProcessError> {
        loop {
            match self.recv("Ready")? {
                Msg::Ready => return Ok(()),
                Msg::Warning(text) => crate::logging::warn(&text),
                got => {
                    return Err(ProcessError::Protocol {
                        got,
                        expected: "Ready",
                    })
                }
            }
        }
    }

    /// Kill the init (on a failed create) and reap what is ours to reap. An init
    /// that is gone already is no error.
    pub fn kill(&mut self) -> Result<(), nix::Error> {
        let res = match signal::kill(Pid::from_raw(self.pid), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(e),
        };
        for pid in self.children.drain(..) {
            reap(pid);
        }
        res
    }

    /// Write `value` to `/proc/<pid>/oom_score_adj`.
    pub fn set_oom_score_adj(&self, value: i32) -> Result<(), ProcessError> {
        let path = PathBuf::from(format!("/proc/{}/oom_score_adj", self.pid));
        std::fs::write(&path, value.to_string())
            .map_err(|source| ProcessError::Write { path, source })
    }

    /// `process.rlimits` on the init, from here (see [`crate::rlimits::apply_to`]).
    pub fn set_rlimits(
        &self,
        limits: &[oci_spec::runtime::PosixRlimit],
    ) -> Result<(), ProcessError> {
        Ok(crate::rlimits::apply_to(self.pid, limits)?)
    }

    /// The init is our direct child (so `run` can wait for it).
    pub fn is_child(&self) -> bool {
        self.children.contains(&self.pid)
    }
}

/// Wait for our child `pid` to exit, discarding its status.
fn reap(pid: i32) {
    // EINVAL here is a status nix cannot decode (death by a real-time signal): the
    // child is reaped all the same.
    while waitpid(Pid::from_raw(pid), None) == Err(Errno::EINTR) {}
}

/// SIGKILL and reap our child `pid`.
fn kill_and_reap(pid: i32) -> Result<(), nix::Error> {
    signal::kill(Pid::from_raw(pid), Signal::SIGKILL)?;
    reap(pid);
    Ok(())
}

/// Wait for `pid` (our child, or a descendant re-parented to us as subreaper) and
/// return its exit code the way a shell reports it (128 + signal when killed).
pub fn wait_exit_code(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // Not nix's waitpid: it turns a death by a real-time signal into EINVAL
        // after reaping, which would lose the 128 + signal code.
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && nix::Error::last() != nix::Error::EINTR {
            return 255;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}
