//! The init sequence, run in the cloned child (see the protocol in `mod.rs`). Every
//! step maps its failure to an [`InitError`] whose text the parent reports as the
//! `create` error; the child then exits, so nothing of it outlives a failed create.
use super::channel::{Channel, Msg};
use super::execve::{self, InitError};
use super::sysctl;
use super::InitConfig;
use crate::namespaces::{self, Plan};
use crate::{console, hooks, rootfs};
use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxNamespaceType;
use std::convert::Infallible;
use std::os::fd::OwnedFd;
use std::path::Path;

/// Never returns: ends in execve or `_exit`.
pub(super) fn run(cfg: &InitConfig, chan: Channel, fifo: OwnedFd, fast: bool) -> ! {
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sequence(cfg, &chan, fifo, fast)
    }));
    let text = match res {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(never)) => match never {},
        Err(_) => "the container init panicked".to_string(),
    };
    // After `Ready` the runtime may be gone; then stderr is the only witness.
    if chan.send(&Msg::Error(text.clone())).is_err() {
        eprintln!("berth-runtime init: {text}");
    }
    // SAFETY: leave without running the parent's exit handlers or destructors.
    unsafe { libc::_exit(1) }
}

fn recv(chan: &Channel, want: Msg) -> Result<Msg, InitError> {
    match chan.recv() {
        Ok(Some(m)) if std::mem::discriminant(&m) == std::mem::discriminant(&want) => Ok(m),
        Ok(Some(m)) => Err(InitError::Protocol(format!("got {m:?}, expected {want:?}"))),
        Ok(None) => Err(InitError::Protocol("the runtime went away".into())),
        Err(e) => Err(InitError::Protocol(e.to_string())),
    }
}

/// `Go` with the host pid, and the bind sources the parent sent before it.
fn recv_go(chan: &Channel) -> Result<(i32, rootfs::BindSources), InitError> {
    let mut fds = Vec::new();
    loop {
        match chan.recv_with_fds() {
            Ok(Some((Msg::Go(pid), _))) => return Ok((pid, rootfs::BindSources::from_fds(fds))),
            Ok(Some((Msg::BindSources(indexes), received))) => {
                fds.extend(indexes.into_iter().map(|i| i as usize).zip(received));
            }
            Ok(Some((m, _))) => return Err(InitError::Protocol(format!("got {m:?}, expected Go"))),
            Ok(None) => return Err(InitError::Protocol("the runtime went away".into())),
            Err(e) => return Err(InitError::Protocol(e.to_string())),
        }
    }
}

fn send(chan: &Channel, msg: Msg) -> Result<(), InitError> {
    chan.send(&msg)
        .map_err(|e| InitError::Protocol(e.to_string()))
}

fn sys(step: &'static str) -> impl FnOnce(nix::Error) -> InitError {
    move |source| InitError::Sys { step, source }
}

/// The joining path: namespaces with a `path` first (user last, see `namespaces::ALL`), then a new user
/// namespace (maps by the parent), the other new namespaces, and a fork into the new
/// pid namespace. Returns in the process that becomes the init.
fn join_and_unshare(plan: &Plan, chan: &Channel) -> Result<(), InitError> {
    // Open every path before joining anything: a new mount namespace hides them.
    let files = plan
        .join
        .iter()
        .filter(|(k, _)| *k != LinuxNamespaceType::Pid)
        .map(|(k, p)| namespaces::open(*k, p))
        .collect::<Result<Vec<_>, _>>()?;
    for f in &files {
        namespaces::join(f)?;
    }
    // Like a new one: be the namespace's root, or files made in the rootfs setup
    // (tmpfs /dev owned by that namespace) cannot be owned by us (EOVERFLOW).
    if plan.joins(LinuxNamespaceType::User).is_some() {
        become_root_in_userns()?;
    }
    if plan.creates(LinuxNamespaceType::User) {
        namespaces::unshare(CloneFlags::CLONE_NEWUSER)?;
        send(chan, Msg::UsernsReady)?;
        recv(chan, Msg::MapsDone)?;
        become_root_in_userns()?;
    }
    namespaces::unshare(plan.new_flags(&[
        LinuxNamespaceType::User,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Time,
    ]))?;
    if plan.creates(LinuxNamespaceType::Pid) {
        namespaces::unshare(CloneFlags::CLONE_NEWPID)?;
        // SAFETY: single-threaded process; fork semantics as in raw_clone.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(InitError::Sys {
                step: "fork into the new pid namespace",
                source: nix::Error::last(),
            });
        }
        if pid > 0 {
            let _ = chan.send(&Msg::InitPid(pid));
            // SAFETY: the intermediate process is done.
            unsafe { libc::_exit(0) };
        }
    }
    Ok(())
}

fn become_root_in_userns() -> Result<(), InitError> {
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())
        .map_err(sys("setgid(0) in the user namespace"))?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())
        .map_err(sys("setuid(0) in the user namespace"))
}

fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else {
        return;
    };
    // SAFETY: keyctl with a valid C string; failure (no keyring support) is ignored,
    // as runc does.
    unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
}

fn sequence(
    cfg: &InitConfig,
    chan: &Channel,
    fifo: OwnedFd,
    fast: bool,
) -> Result<Infallible, InitError> {
    let plan = cfg.plan;
    let spec = cfg.spec;
    if let Some(cg) = cfg.cgroup {
        cg.join_v1_self()?;
    }
    if !fast {
        join_and_unshare(plan, chan)?;
    }
    let (host_pid, bind_sources) = recv_go(chan)?;
    if fast && plan.creates(LinuxNamespaceType::User) {
        become_root_in_userns()?;
    }
    // The cgroup namespace is rooted at the cgroup we are in, so it comes after the
    // parent moved us into the container's cgroup.
    if plan.creates(LinuxNamespaceType::Cgroup) {
        namespaces::unshare(CloneFlags::CLONE_NEWCGROUP)?;
    }
    if plan.creates(LinuxNamespaceType::Time) {
        namespaces::enter_new_time_ns(spec)?;
    }
    nix::unistd::setsid().map_err(sys("setsid"))?;
    if !cfg.no_new_keyring {
        join_session_keyring(cfg.id);
    }
    let opts = rootfs::RootfsOptions {
        no_pivot: cfg.no_pivot,
        bundle: cfg.bundle,
        bind_sources: Some(&bind_sources),
    };
    let mount_ns = plan.has_mount_ns();
    if mount_ns {
        rootfs::prepare(spec, cfg.rootfs, opts)?;
    }
    send(chan, Msg::Hooks)?;
    recv(chan, Msg::HooksDone)?;
    let annotations = spec.annotations().clone().unwrap_or_default();
    let hooks = spec.hooks().clone().unwrap_or_default();
    if hooks.create_container().is_some() {
        let state = hooks::state_json(cfg.id, "creating", host_pid, cfg.bundle, &annotations);
        hooks::run_kind(hooks::HookKind::CreateContainer, Some(&hooks), &state)?;
    }
    if mount_ns {
        rootfs::pivot(cfg.rootfs, opts)?;
    } else {
        nix::unistd::chroot(cfg.rootfs).map_err(sys("chroot into the rootfs"))?;
        nix::unistd::chdir("/").map_err(sys("chdir /"))?;
    }
    // Without `process` (allowed until `start`, runtime-tools creates such
    // containers) the init ends when started.
    let process = spec.process().clone();
    if let Some(process) = &process {
        // Like runc: a missing cwd is created, inside the new root (so `..` cannot
        // leave it), as root and before finish() may make the root read-only.
        let cwd = process.cwd();
        if cwd.is_absolute() {
            std::fs::create_dir_all(cwd).map_err(|source| InitError::Io {
                what: "process.cwd: create",
                path: cwd.clone(),
                source,
            })?;
        }
        if process.terminal().unwrap_or(false) {
            let sock = cfg.console.ok_or(InitError::NoConsoleSocket)?;
            let slave = console::setup_in_child(sock, process.console_size())?;
            // Like runc: programs that open /dev/console reach the terminal.
            if mount_ns {
                rootfs::mount_console(&slave)?;
            }
        }
    }
    if plan.creates(LinuxNamespaceType::Network) {
        super::loopback::bring_up().map_err(sys("bringing up lo in the new network namespace"))?;
    }
    if let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().clone()) {
        sysctl::apply(&map)?;
    }
    let uts =
        plan.creates(LinuxNamespaceType::Uts) || plan.joins(LinuxNamespaceType::Uts).is_some();
    sysctl::set_names(
        spec.hostname().as_deref(),
        spec.domainname().as_deref(),
        uts,
    )?;
    if mount_ns {
        rootfs::finish(spec)?;
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        execve::set_personality(p)?;
    }
    // Before `prepare` drops the capabilities: a real-time policy needs CAP_SYS_NICE.
    if let Some(s) = process.as_ref().and_then(|p| p.scheduler().as_ref()) {
        crate::scheduler::apply(s).map_err(sys("process.scheduler: sched_setattr"))?;
    }
    let ready = match &process {
        Some(p) => {
            let notify = cfg.listener.map(|l| (l, host_pid));
            Some(execve::prepare(p, cfg.seccomp, notify, cfg.preserve_fds)?)
        }
        None => None,
    };
    for w in ready.iter().flat_map(|r| &r.warnings) {
        send(chan, Msg::Warning(w.clone()))?;
    }
    send(chan, Msg::Ready)?;
    // The fifo stays open until execve closes it: `start` waits for that.
    wait_for_start(&fifo)?;
    // From here the runtime that created us is gone and `start` is waiting: a failure
    // goes back to it through the fifo (see `container/start.rs`), so a failing
    // startContainer hook (or execve) fails `start` as the runtime spec asks.
    let res = (|| -> Result<Infallible, InitError> {
        let state = hooks::state_json(cfg.id, "created", host_pid, cfg.bundle, &annotations);
        hooks::run_kind(hooks::HookKind::StartContainer, Some(&hooks), &state)?;
        match ready {
            Some(ready) => Err(ready.exec()),
            // SAFETY: nothing to run; leave without the parent's exit handlers.
            None => unsafe { libc::_exit(0) },
        }
    })();
    if let Err(e) = &res {
        report_to_start(&fifo, &e.to_string());
    }
    res
}

/// Leave `text` in the fifo for `start`, which reads it once our end is closed. The
/// pipe is empty (we consumed `start`'s byte), so a write up to `PIPE_BUF` is atomic
/// and cannot block.
fn report_to_start(fifo: &OwnedFd, text: &str) {
    let mut bytes = format!("{START_ERROR_PREFIX}{text}").into_bytes();
    bytes.truncate(libc::PIPE_BUF);
    // The init is failing already and has no one else to tell: if this write fails
    // too, `start` reports its generic "init exited" error.
    let _ = nix::unistd::write(fifo, &bytes);
}

/// Marks a failure text the init left in the exec fifo for `start`.
pub const START_ERROR_PREFIX: &str = "berth-init-error:";

fn wait_for_start(fifo: &OwnedFd) -> Result<(), InitError> {
    let mut b = [0u8; 1];
    loop {
        let source = match nix::unistd::read(fifo, &mut b) {
            Ok(1) => return Ok(()),
            Err(nix::Error::EINTR) => continue,
            Ok(_) => std::io::ErrorKind::UnexpectedEof.into(),
            Err(e) => e.into(),
        };
        return Err(InitError::Io {
            what: "waiting on the exec fifo",
            path: Path::new("exec.fifo").to_path_buf(),
            source,
        });
    }
}
