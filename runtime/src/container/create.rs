//! `create`: bundle in, an init process blocked on the exec fifo out.
//!
//! All checks that need no kernel happen before anything is made. From the state
//! directory on, a [`Rollback`] records what exists (dir, init, cgroup) and undoes it
//! on any failure, so a failed create leaves nothing behind.
use super::config::{load_spec, rootfs_path, validate};
use super::state::{pid_start_time, write_atomic, State, EXEC_FIFO};
use super::{validate_id, Container, Error};
use crate::cgroups::Manager;
use crate::console;
use crate::hooks::HookKind;
use crate::namespaces::Plan;
use crate::process::{self, Init, InitConfig};
use crate::rootfs::BindSources;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
}

/// `create` verb.
pub fn create(opts: &CreateOptions) -> Result<Container, Error> {
    create_init(opts, None).map(|(c, _)| c)
}

struct Rollback {
    dir: Option<PathBuf>,
    init: Option<Init>,
    cgroup: Option<Manager>,
}

impl Rollback {
    fn undo(&mut self, error: Error) -> Error {
        let mut failures = Vec::new();
        if let Some(mut init) = self.init.take() {
            if let Err(e) = init.kill() {
                failures.push(format!("killing the init (pid {}): {e}", init.pid));
            }
        }
        if let Some(cg) = self.cgroup.take() {
            // The killed init may take a moment to leave the cgroup.
            let mut res = cg.remove();
            for _ in 0..50 {
                if res.is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                res = cg.remove();
            }
            if let Err(e) = res {
                failures.push(e.to_string());
            }
        }
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                failures.push(format!("{}: {e}", dir.display()));
            }
        }
        if failures.is_empty() {
            error
        } else {
            Error::Cleanup {
                error: Box::new(error),
                cleanup: failures.join("; "),
            }
        }
    }
}

/// Checks the console flags against `process.terminal` the way runc does.
fn check_console(terminal: bool, socket: bool, own_console: bool) -> Result<(), Error> {
    if terminal && !socket && !own_console {
        return Err(Error::Usage(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        ));
    }
    if !terminal && socket {
        return Err(Error::Usage(
            "cannot use console socket if runc will not detach or allocate tty".into(),
        ));
    }
    Ok(())
}

/// `create`, keeping the handle on the init (for `run`). `own_console` is the
/// runtime's own end for the pty master when `run` holds the terminal itself.
pub(super) fn create_init(
    opts: &CreateOptions,
    own_console: Option<OwnedFd>,
) -> Result<(Container, Init), Error> {
    validate_id(&opts.id)?;
    let bundle = std::fs::canonicalize(&opts.bundle).map_err(|e| Error::io(&opts.bundle, e))?;
    let config_path = bundle.join("config.json");
    let spec = load_spec(&config_path)?;
    validate(&spec, &config_path)?;
    let rootfs = rootfs_path(&spec, &bundle)?;
    let plan = Plan::from_spec(&spec)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    check_console(
        terminal,
        opts.console_socket.is_some(),
        own_console.is_some(),
    )?;
    let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(super::compile_seccomp(s)?),
        None => None,
    };
    let console = match (&opts.console_socket, own_console) {
        (Some(path), _) => Some(console::connect(path)?),
        (None, own) => own,
    };

    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&opts.root)
        .map_err(|e| Error::io(&opts.root, e))?;
    let dir = opts.root.join(&opts.id);
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(opts.id.clone()))
        }
        Err(e) => return Err(Error::io(&dir, e)),
    }
    let mut rb = Rollback {
        dir: Some(dir.clone()),
        init: None,
        cgroup: None,
    };
    let fifo = dir.join(EXEC_FIFO);
    let res = (|| -> Result<State, Error> {
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
            .map_err(|e| Error::io(&fifo, e.into()))?;
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let cg = rb
            .cgroup
            .insert(Manager::new(cgroups_path.as_deref(), &opts.id)?);
        cg.create()?;
        let join = super::cgroup_join(cg)?;
        let listener = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(s) => {
                let annotations = spec.annotations().clone().unwrap_or_default();
                let state = super::listener_state(&opts.id, "creating", &bundle, &annotations);
                crate::seccomp::Listener::connect(s, state)?
            }
            None => None,
        };
        let cfg = InitConfig {
            spec: &spec,
            plan: &plan,
            id: &opts.id,
            bundle: &bundle,
            rootfs: &rootfs,
            fifo: &fifo,
            console: console.as_ref(),
            preserve_fds: opts.preserve_fds,
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            seccomp: filter.as_ref(),
            listener: listener.as_ref(),
            cgroup: Some(&join),
        };
        let init = rb.init.insert(process::spawn_init(&cfg)?);
        let pid = init.pid;
        crate::logging::debug(&format!(
            "{}: init pid {pid}, cgroups {:?}, namespaces new {:?} joined {:?}",
            opts.id,
            cg.paths(),
            plan.new,
            plan.join
        ));
        let cg = rb.cgroup.as_ref().ok_or(Error::InitGone {
            pid,
            reason: "lost track of the cgroup".into(),
        })?;
        if init.needs_apply {
            cg.apply(pid)?;
        }
        if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            cg.set(res)?;
        }
        if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
            init.set_oom_score_adj(adj)?;
        }
        if let Some(limits) = spec.process().as_ref().and_then(|p| p.rlimits().as_ref()) {
            init.set_rlimits(limits)?;
        }
        // As host root, before the init, an unprivileged user in its user namespace,
        // mounts them (issue 12 point 6: a bind source under a mode-000 directory).
        if BindSources::needed(&spec) {
            init.send_bind_sources(&spec, &bundle);
        }
        init.go()?;
        init.wait_hooks()?;
        let annotations = spec.annotations().clone().unwrap_or_default();
        if let Some(hooks) = spec.hooks() {
            for kind in [HookKind::Prestart, HookKind::CreateRuntime] {
                let status = kind.state_status();
                let state = crate::hooks::state_json(&opts.id, status, pid, &bundle, &annotations);
                crate::hooks::run_kind(kind, Some(hooks), &state)?;
            }
        }
        init.hooks_done()?;
        init.wait_ready()?;
        let (start_time, _) = pid_start_time(pid).ok_or(Error::InitGone {
            pid,
            reason: "exited right after create".into(),
        })?;
        let state = State {
            id: opts.id.clone(),
            init_pid: pid,
            init_start_time: start_time,
            bundle: bundle.clone(),
            rootfs: rootfs.clone(),
            created: chrono::Utc::now(),
            owner: String::new(),
            annotations,
            cgroups_path,
            cgroup: Some(cg.state()),
            paused: false,
            no_pivot: opts.no_pivot,
            config: spec.clone(),
        };
        state.save(&dir)?;
        crate::logging::debug(&format!("{}: created, waiting for start", opts.id));
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, pid)?;
        }
        Ok(state)
    })();
    match res {
        Ok(state) => {
            let init = rb.init.take().ok_or(Error::InitGone {
                pid: state.init_pid,
                reason: "lost track of the init".into(),
            })?;
            Ok((Container { dir, state }, init))
        }
        Err(e) => Err(rb.undo(e)),
    }
}

/// runc writes the bare number, atomically.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io(path, e))?
            .join(path)
    };
    write_atomic(&abs, pid.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_rules() {
        assert!(check_console(true, false, false).is_err());
        assert!(check_console(false, true, false).is_err());
        assert!(check_console(true, true, false).is_ok());
        assert!(check_console(true, false, true).is_ok());
        assert!(check_console(false, false, false).is_ok());
    }
}
