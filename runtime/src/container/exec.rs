//! `exec`: a new process in a running (or created) container, from `--process` JSON
//! or from the container's process spec plus runc's flags.
use super::config::parse_with_process;
use super::create::write_pid_file;
use super::{Container, Error, Status};
use crate::console;
use crate::process::{self, ExecConfig};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub process: Option<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

fn parse_cap(name: &str) -> Result<Capability, Error> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| Error::Usage(format!("unknown capability {name:?}")))
}

/// The process spec `exec` runs.
pub fn build_process(base: Option<&Process>, opts: &ExecOptions) -> Result<Process, Error> {
    if let Some(path) = &opts.process {
        let data = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        return parse_with_process::<Process>(path, &data, "");
    }
    if opts.args.is_empty() {
        return Err(Error::Usage(
            "exec: no command given (args or --process)".into(),
        ));
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    p.set_terminal(Some(opts.tty));
    p.set_console_size(None);
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        // A given variable replaces the container's (getenv takes the first match).
        let key = kv.split('=').next().unwrap_or(kv);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    if let Some(u) = &opts.user {
        let bad = || Error::Usage(format!("invalid --user {u:?} (use UID[:GID])"));
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
            None => (u.parse().map_err(|_| bad())?, 0),
        };
        let user = p.user_mut();
        user.set_uid(uid);
        user.set_gid(gid);
    }
    if !opts.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(opts.additional_gids.clone()));
    }
    if !opts.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_else(empty_caps);
        for name in &opts.caps {
            let cap = parse_cap(name)?;
            let mut b = caps.bounding().clone().unwrap_or_default();
            b.insert(cap);
            caps.set_bounding(Some(b));
            let mut e = caps.effective().clone().unwrap_or_default();
            e.insert(cap);
            caps.set_effective(Some(e));
            let mut pm = caps.permitted().clone().unwrap_or_default();
            pm.insert(cap);
            caps.set_permitted(Some(pm));
        }
        p.set_capabilities(Some(caps));
    }
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

fn empty_caps() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(None);
    c.set_effective(None);
    c.set_permitted(None);
    c.set_inheritable(None);
    c.set_ambient(None);
    c
}

/// Returns the exit code to exit with (0 when detached).
pub fn exec(root: &Path, id: &str, opts: &ExecOptions) -> Result<i32, Error> {
    let c = Container::load(root, id)?;
    match c.status() {
        Status::Stopped => return Err(Error::ExecStopped(id.to_string())),
        Status::Paused if !opts.ignore_paused => return Err(Error::ExecPaused(id.to_string())),
        _ => {}
    }
    let process = build_process(c.state.config.process().as_ref(), opts)?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::Usage(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(Error::Usage(
            "cannot use console socket if runc will not detach or allocate tty".into(),
        ));
    }
    let filter = match c
        .state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(super::compile_seccomp(s)?),
        None => None,
    };
    let (console_fd, own_end): (Option<OwnedFd>, Option<UnixStream>) =
        match (&opts.console_socket, terminal) {
            (Some(path), _) => (Some(console::connect(path)?), None),
            (None, true) => {
                let (a, b) =
                    UnixStream::pair().map_err(|e| Error::io(Path::new("socketpair"), e))?;
                (Some(b.into()), Some(a))
            }
            (None, false) => (None, None),
        };
    let listener = match c
        .state
        .config
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => {
            let state = super::listener_state(
                &c.state.id,
                "running",
                &c.state.bundle,
                &c.state.annotations,
            );
            crate::seccomp::Listener::connect(s, state)?
        }
        None => None,
    };
    let cgroup = c.cgroup()?;
    let join = super::cgroup_join(&cgroup)?;
    let cfg = ExecConfig {
        init_pid: c.state.init_pid,
        process: &process,
        seccomp: filter.as_ref(),
        listener: listener.as_ref(),
        console: console_fd.as_ref(),
        preserve_fds: opts.preserve_fds,
        cgroup: Some(&join),
    };
    if !opts.detach {
        process::hold_signals();
    }
    let pid = process::spawn_exec(&cfg, |pid| cgroup.apply(pid))?;
    drop(console_fd);
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    let master = match own_end {
        Some(sock) => Some(console::recv_fd(sock.as_raw_fd())?),
        None => None,
    };
    Ok(process::supervise(pid, master.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_on_the_container_process() {
        let base: Process = serde_json::from_value(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["init"],
            "env": ["PATH=/bin"], "terminal": true
        }))
        .expect("base");
        let opts = ExecOptions {
            args: vec!["sh".into()],
            env: vec!["A=1".into(), "PATH=/usr/bin".into()],
            user: Some("1000:100".into()),
            cwd: Some("/tmp".into()),
            caps: vec!["net_admin".into()],
            ..Default::default()
        };
        let p = build_process(Some(&base), &opts).expect("process");
        assert_eq!(p.args().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(
            p.env().as_deref(),
            Some(&["A=1".to_string(), "PATH=/usr/bin".to_string()][..])
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.terminal(), Some(false));
        assert!(p
            .capabilities()
            .as_ref()
            .and_then(|c| c.bounding().clone())
            .is_some_and(|b| b.contains(&Capability::NetAdmin)));
        assert!(build_process(Some(&base), &ExecOptions::default()).is_err());
    }
}
