//! A process added to a running container (`exec`): it joins every namespace of the
//! container's init that differs from ours (user last, see `namespaces::ALL`), the cgroup, and
//! gets the process spec's identity, capabilities and seccomp.
//!
//! The pid namespace is entered by the runtime itself (setns only affects future
//! children) right before the clone; the others by the child. The parent learns of
//! success when the channel closes at exec (close-on-exec) without an error.
use super::channel::{Channel, Msg};
use super::execve::{self, InitError};
use super::{clone_into, pid_ns_for_children, CgroupJoin, ProcessError};
use crate::namespaces::{self, NsFile};
use crate::{console, seccomp};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub struct ExecConfig<'a> {
    /// Host pid of the container's init.
    pub init_pid: i32,
    pub process: &'a Process,
    pub seccomp: Option<&'a seccomp::Filter>,
    /// The seccomp agent, when the filter notifies.
    pub listener: Option<&'a seccomp::Listener>,
    pub console: Option<&'a OwnedFd>,
    pub preserve_fds: u32,
    pub cgroup: Option<&'a CgroupJoin>,
}

/// Clone the process into the cgroup (`join_cgroup(pid)` when clone3 cannot), let
/// it run. Returns its host pid once
/// it has exec'd (or the child's error).
pub fn spawn_exec<E>(
    cfg: &ExecConfig,
    join_cgroup: impl FnOnce(i32) -> Result<(), E>,
) -> Result<i32, ProcessError>
where
    E: std::fmt::Display,
{
    let pid_path = PathBuf::from(format!("/proc/{}/ns/pid", cfg.init_pid));
    let files = namespaces::ALL
        .iter()
        .filter(|k| **k != LinuxNamespaceType::Pid)
        .filter(|k| namespaces::differs_from_self(cfg.init_pid, **k))
        .map(|k| {
            let path = PathBuf::from(format!(
                "/proc/{}/ns/{}",
                cfg.init_pid,
                namespaces::proc_name(*k)
            ));
            namespaces::open(*k, &path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (parent, child) = Channel::pair().map_err(ProcessError::Channel)?;
    let restore = if namespaces::differs_from_self(cfg.init_pid, LinuxNamespaceType::Pid) {
        Some(pid_ns_for_children(&pid_path)?)
    } else {
        None
    };
    let cloned = clone_into(CloneFlags::empty(), cfg.cgroup);
    if let Ok((0, _)) = cloned {
        drop(parent);
        run_child(cfg, &files, child);
    }
    if let Some(own) = restore {
        namespaces::join(&own)?;
    }
    let (pid, placed) = cloned?;
    drop(child);
    let kill = |e: ProcessError| e.after_killing(pid);
    if !placed {
        if let Err(e) = join_cgroup(pid) {
            return Err(kill(ProcessError::Child(format!(
                "joining the cgroup: {e}"
            ))));
        }
    }
    parent
        .send(&Msg::Go(pid))
        .map_err(|e| kill(ProcessError::Channel(e)))?;
    let mut got = parent.recv();
    while let Ok(Some(Msg::Warning(text))) = &got {
        crate::logging::warn(text);
        got = parent.recv();
    }
    match got {
        Ok(None) => Ok(pid),
        Ok(Some(Msg::Error(text))) => Err(kill(ProcessError::Child(text))),
        Ok(Some(got)) => Err(kill(ProcessError::Protocol {
            got,
            expected: "exec",
        })),
        Err(e) => Err(kill(ProcessError::Channel(e))),
    }
}

fn run_child(cfg: &ExecConfig, files: &[NsFile], chan: Channel) -> ! {
    let res =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sequence(cfg, files, &chan)));
    let text = match res {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(never)) => match never {},
        Err(_) => "the exec process panicked".to_string(),
    };
    if chan.send(&Msg::Error(text.clone())).is_err() {
        eprintln!("berth-runtime exec: {text}");
    }
    // SAFETY: leave without running the parent's exit handlers.
    unsafe { libc::_exit(1) }
}

fn sequence(cfg: &ExecConfig, files: &[NsFile], chan: &Channel) -> Result<Infallible, InitError> {
    if let Some(cg) = cfg.cgroup {
        cg.join_v1_self()?;
    }
    let host_pid = match chan.recv() {
        Ok(Some(Msg::Go(pid))) => pid,
        other => return Err(InitError::Protocol(format!("expected Go, got {other:?}"))),
    };
    for f in files {
        namespaces::join(f)?;
    }
    nix::unistd::setsid().map_err(|source| InitError::Sys {
        step: "setsid",
        source,
    })?;
    if cfg.process.terminal().unwrap_or(false) {
        let sock = cfg.console.ok_or(InitError::NoConsoleSocket)?;
        // An exec'd process gets its own pty; /dev/console stays the init's.
        console::setup_in_child(sock, cfg.process.console_size())?;
    }
    // As the init does (see init.rs): before `prepare` drops CAP_SYS_NICE.
    if let Some(s) = cfg.process.scheduler() {
        crate::scheduler::apply(s).map_err(|source| InitError::Sys {
            step: "process.scheduler: sched_setattr",
            source,
        })?;
    }
    let notify = cfg.listener.map(|l| (l, host_pid));
    let ready = execve::prepare(cfg.process, cfg.seccomp, notify, cfg.preserve_fds)?;
    for w in &ready.warnings {
        chan.send(&Msg::Warning(w.clone()))
            .map_err(|e| InitError::Protocol(e.to_string()))?;
    }
    Err(ready.exec())
}
