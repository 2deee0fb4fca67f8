//! The six hook kinds of the runtime spec (`hooks.prestart` (deprecated),
//! `createRuntime`, `createContainer`, `startContainer`, `poststart`, `poststop`):
//! run each hook with the container state on stdin and its optional timeout, and
//! build that state JSON ([`state_json`]).
//!
//! This module only runs hooks; *where* and *when* is the caller's part, per the spec:
//! `prestart`, `createRuntime`, `poststart` and `poststop` run in the runtime's
//! namespaces, `createContainer` and `startContainer` in the container's (called from
//! its init). A failing hook of any kind but `poststop` must stop the container
//! ([`HookKind::failure_is_fatal`]); a failing `poststop` hook is logged as a warning
//! and the operation goes on.
//!
//! A hook gets exactly `args` (with `args[0]` as its argv[0]; the path when absent)
//! and exactly `env` (entries without `=` are skipped) or, when `env` is absent, the
//! runtime's own environment (runc's `exec.Cmd` with a nil `Env` inherits; an empty
//! list is an empty environment there too), the state JSON on stdin, and
//! runs in a process group of its own so a timeout kills everything it started.
//! Stdin and the captured stdout/stderr are memfds, not pipes: no thread is needed to
//! feed or drain them and a hook that ignores stdin or writes a lot cannot block.
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Hooks};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hooks: {field}.path {path:?} must be absolute")]
    RelativePath { field: String, path: PathBuf },
    #[error("hooks: {field}.timeout is {timeout}, it must be greater than zero")]
    BadTimeout { field: String, timeout: i64 },
    #[error("hooks: {field} {path:?} could not be started: {source}")]
    Spawn {
        field: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("hooks: {field} {path:?} failed with {status}{}", output_suffix(.output))]
    Failed {
        field: String,
        path: PathBuf,
        status: String,
        /// The first lines of the hook's stderr (its stdout when stderr is empty).
        output: String,
    },
    #[error("hooks: {field} {path:?} timed out after {secs}s and was killed{}", output_suffix(.output))]
    Timeout {
        field: String,
        path: PathBuf,
        secs: i64,
        output: String,
    },
    #[error("hooks: {field} {path:?}: {what}: {source}")]
    Io {
        field: String,
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

fn output_suffix(output: &str) -> String {
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output}")
    }
}

/// The spec's hook kinds, named as in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    /// The key under `hooks` in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in `hooks` (empty when absent).
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)]
        let list = match self {
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }

    /// The `status` of the state this kind reads on stdin. runc 1.1 is followed
    /// where the runtime-tools validation suite does not check: `creating` for
    /// createRuntime and createContainer (they run inside the create operation),
    /// `created` for startContainer, `stopped` for poststop. Where it checks,
    /// the suite (and the spec's lifecycle) wins over runc 1.1: prestart gets
    /// `created` (runc sends `creating`; runtime-tools' hooks_stdin wants
    /// `created`), poststart `running` (runc 1.1 runs it during create, so it
    /// sends `created`; we run it after the user process has started).
    pub fn state_status(self) -> &'static str {
        match self {
            HookKind::CreateRuntime | HookKind::CreateContainer => "creating",
            HookKind::Prestart | HookKind::StartContainer => "created",
            HookKind::Poststart => "running",
            HookKind::Poststop => "stopped",
        }
    }

    /// Whether a failure must stop the container; a `poststop` failure is only a
    /// warning. The runtime spec only asks a runtime to log a failing `poststart`
    /// hook, but runc and crun kill and delete the container, and the drop-in
    /// contract (engines that count on runc's behaviour) wins over the spec's
    /// looser wording.
    pub fn failure_is_fatal(self) -> bool {
        self != HookKind::Poststop
    }
}

/// The runtime-spec "State" JSON a hook reads on stdin. `status` is the spec's word
/// for the step (`creating`, `created`, ...); `pid` is left out when it is not
/// positive, as the spec asks once the container has stopped. Built here rather than
/// from `container::State` because `createContainer`/`startContainer` hooks run in
/// the init, which has no state file to read.
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": id,
        "status": status,
        "bundle": bundle,
        "annotations": annotations,
    });
    if pid > 0 {
        v["pid"] = serde_json::json!(pid);
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Run `hooks` in order, writing `state_json` (the container's state, runtime-spec
/// "State" JSON) to each one's stdin. Stops at the first failure.
pub fn run(hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    run_listed("hooks", hooks, state_json)
}

/// Run the hooks of `kind` from `config.json`'s `hooks` (nothing when absent); errors
/// name the hook as `hooks.createRuntime[1]`.
pub fn run_kind(kind: HookKind, hooks: Option<&Hooks>, state_json: &[u8]) -> Result<(), HookError> {
    match hooks {
        Some(h) => run_listed(&format!("hooks.{}", kind.name()), kind.of(h), state_json),
        None => Ok(()),
    }
}

/// For the kinds whose failure is only a warning (`poststart`, `poststop`): run every
/// hook of `kind` even after one failed, and return the failures (named like
/// [`run_kind`]'s) for the caller to log.
pub fn run_kind_all(kind: HookKind, hooks: Option<&Hooks>, state_json: &[u8]) -> Vec<HookError> {
    let Some(h) = hooks else {
        return Vec::new();
    };
    kind.of(h)
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_one(hook, state_json, &format!("hooks.{}[{i}]", kind.name())).err()
        })
        .collect()
}

fn run_listed(prefix: &str, hooks: &[Hook], state_json: &[u8]) -> Result<(), HookError> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, state_json, &format!("{prefix}[{i}]"))?;
    }
    Ok(())
}

/// At most this much of a failed hook's output goes into the error.
const OUTPUT_LINES: usize = 10;
const OUTPUT_CHARS: usize = 2000;

fn run_one(hook: &Hook, state_json: &[u8], field: &str) -> Result<(), HookError> {
    let path = hook.path();
    let io_err = |what: &'static str| {
        move |source: std::io::Error| HookError::Io {
            field: field.to_string(),
            path: path.clone(),
            what,
            source,
        }
    };
    if !path.is_absolute() {
        return Err(HookError::RelativePath {
            field: field.to_string(),
            path: path.clone(),
        });
    }
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(HookError::BadTimeout {
                field: field.to_string(),
                timeout: t,
            })
        }
        Some(t) => Some(t),
        None => None,
    };

    let mut stdin = memfd("berth-hook-state").map_err(io_err("creating its stdin"))?;
    stdin
        .write_all(state_json)
        .and_then(|_| stdin.seek(SeekFrom::Start(0)))
        .map_err(io_err("writing the state to its stdin"))?;
    let stdout = memfd("berth-hook-stdout").map_err(io_err("creating its stdout"))?;
    let stderr = memfd("berth-hook-stderr").map_err(io_err("creating its stderr"))?;

    let mut cmd = command(path, hook);
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(
            stdout.try_clone().map_err(io_err("dup stdout"))?,
        ))
        .stderr(Stdio::from(
            stderr.try_clone().map_err(io_err("dup stderr"))?,
        ))
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        field: field.to_string(),
        path: path.clone(),
        source,
    })?;
    // The parent's copies are closed by `cmd` going away; the memfds stay readable.
    drop(cmd);

    let limit = timeout.map(|t| Duration::from_secs(t as u64));
    let status = wait_with_timeout(&mut child, limit).map_err(io_err("waiting for it"))?;
    let output = || {
        first_lines(&stderr)
            .or_else(|| first_lines(&stdout))
            .unwrap_or_default()
    };
    match status {
        None => Err(HookError::Timeout {
            field: field.to_string(),
            path: path.clone(),
            secs: timeout.unwrap_or_default(),
            output: output(),
        }),
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(HookError::Failed {
            field: field.to_string(),
            path: path.clone(),
            status: describe(s),
            output: output(),
        }),
    }
}

fn command(path: &Path, hook: &Hook) -> Command {
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0);
            cmd.args(rest);
        }
    }
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for entry in env {
            if let Some((k, v)) = entry.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd
}

fn memfd(name: &str) -> std::io::Result<File> {
    let fd: OwnedFd = memfd_create(name, MFdFlags::MFD_CLOEXEC).map_err(std::io::Error::from)?;
    Ok(File::from(fd))
}

/// `Ok(None)` on timeout, after killing the hook's process group and reaping it.
fn wait_with_timeout(
    child: &mut Child,
    limit: Option<Duration>,
) -> std::io::Result<Option<ExitStatus>> {
    let Some(limit) = limit else {
        return child.wait().map(Some);
    };
    let deadline = Instant::now() + limit;
    let pidfd = pidfd_open(child.id());
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // The group id is the hook's pid (process_group(0)). ESRCH: the whole
            // group has exited meanwhile, which the wait below collects.
            let group = Pid::from_raw(child.id() as libc::pid_t);
            match killpg(group, Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e.into()),
            }
            child.wait()?;
            return Ok(None);
        }
        let left = deadline - now;
        match &pidfd {
            // A pidfd polls readable when the process exits: no busy loop.
            Some(fd) => {
                let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
                let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
                // Readiness, a timeout and EINTR alike send us round to try_wait.
                let _ = poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], timeout);
            }
            None => std::thread::sleep(left.min(Duration::from_millis(10))),
        }
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative return is a fresh descriptor that we own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
            Ok(s) => format!("signal {sig} ({s})"),
            Err(_) => format!("signal {sig}"),
        },
        _ => status.to_string(),
    }
}

fn first_lines(file: &File) -> Option<String> {
    let mut f = file.try_clone().ok()?;
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = Vec::new();
    f.take(64 * 1024).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut out: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(OUTPUT_LINES)
        .collect::<Vec<_>>()
        .join("; ");
    if out.len() > OUTPUT_CHARS {
        let mut cut = OUTPUT_CHARS;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{HookBuilder, HooksBuilder};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn state_json_leaves_out_the_pid_of_a_stopped_container() {
        let ann = HashMap::from([("k".to_string(), "v".to_string())]);
        let live: serde_json::Value =
            serde_json::from_slice(&state_json("c1", "created", 42, Path::new("/b"), &ann))
                .unwrap();
        assert_eq!(
            live,
            serde_json::json!({"ociVersion": crate::OCI_VERSION, "id": "c1", "status": "created",
                "pid": 42, "bundle": "/b", "annotations": {"k": "v"}})
        );
        let stopped: serde_json::Value =
            serde_json::from_slice(&state_json("c1", "stopped", 0, Path::new("/b"), &ann)).unwrap();
        assert!(stopped.get("pid").is_none(), "{stopped}");
    }

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn hook(path: &Path, args: &[&str], env: &[&str], timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path(path)
            .args(args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .env(env.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    const STATE: &str =
        r#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;

    #[test]
    fn hook_gets_state_on_stdin_its_args_and_only_its_env() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Busybox]) {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = out.to_str().unwrap();
        // busybox picks its applet by argv[0]: "sh" only works if args[0] is argv[0].
        let body = r#"cat > "$1.state"; echo "$0 $2" > "$1.args"; env > "$1.env""#;
        let h = hook(
            Path::new("/usr/bin/busybox"),
            &["sh", "-c", body, "my-argv0", o, "second"],
            &["FOO=bar", "NOEQUALS"],
            Some(5),
        );
        run(&[h], STATE.as_bytes()).unwrap();
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{o}.state")).unwrap()).unwrap();
        assert_eq!(state["id"], "c1");
        assert_eq!(state["pid"], 42);
        assert_eq!(
            std::fs::read_to_string(format!("{o}.args")).unwrap(),
            "my-argv0 second\n"
        );
        let env = std::fs::read_to_string(format!("{o}.env")).unwrap();
        assert!(env.lines().any(|l| l == "FOO=bar"), "{env}");
        assert!(!env.contains("CARGO"), "host env leaked: {env}");
        assert!(!env.contains("NOEQUALS"), "{env}");
    }

    #[test]
    fn hook_without_env_inherits_the_runtimes_environment() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let sh = script(dir.path(), "h", r#"env > "$1""#);
        let mut h = hook(&sh, &["h", out.to_str().unwrap()], &[], None);
        h.set_env(None);
        run(&[h], STATE.as_bytes()).unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        let ours = format!("CARGO_PKG_NAME={}", env!("CARGO_PKG_NAME"));
        assert!(env.lines().any(|l| l == ours), "{ours} missing: {env}");
        // An empty list is an empty environment, as in runc.
        let h = hook(&sh, &["h", out.to_str().unwrap()], &[], None);
        run(&[h], STATE.as_bytes()).unwrap();
        let env = std::fs::read_to_string(&out).unwrap();
        assert!(!env.contains("CARGO_PKG_NAME"), "{env}");
    }

    #[test]
    fn failing_hook_names_path_status_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let ok = script(dir.path(), "ok", "exit 0");
        let bad = script(
            dir.path(),
            "bad",
            "echo first problem >&2; echo second >&2; exit 3",
        );
        let hooks = HooksBuilder::default()
            .create_runtime(vec![hook(&ok, &[], &[], None), hook(&bad, &[], &[], None)])
            .build()
            .unwrap();
        let e = run_kind(HookKind::CreateRuntime, Some(&hooks), STATE.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("hooks: hooks.createRuntime[1] {bad:?} failed with exit status 3: first problem; second")
        );
        assert!(run_kind(HookKind::Poststop, Some(&hooks), b"{}").is_ok());
        assert!(run_kind(HookKind::Poststop, None, b"{}").is_ok());
    }

    #[test]
    fn hook_over_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let p = script(
            dir.path(),
            "slow",
            &format!(
                "sleep 30 & echo $! > {}; echo waiting >&2; wait",
                pidfile.display()
            ),
        );
        let start = Instant::now();
        let e = run(&[hook(&p, &[], &[], Some(1))], b"{}").unwrap_err();
        let took = start.elapsed();
        assert!(matches!(e, HookError::Timeout { secs: 1, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("hooks: hooks[0] {p:?} timed out after 1s and was killed: waiting")
        );
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(5),
            "{took:?}"
        );
        // The grandchild (`sleep 30`) died with the group.
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "sleep still running: {stat}"
        );
    }

    #[test]
    fn bad_hooks_are_clear_errors() {
        let e = run(&[hook(Path::new("bin/true"), &[], &[], None)], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "hooks: hooks[0].path \"bin/true\" must be absolute"
        );
        let e = run(&[hook(Path::new("/bin/true"), &[], &[], Some(0))], b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "hooks: hooks[0].timeout is 0, it must be greater than zero"
        );
        let e = run(
            &[hook(Path::new("/nonexistent/hook"), &[], &[], None)],
            b"{}",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("hooks: hooks[0] \"/nonexistent/hook\" could not be started"),
            "{e}"
        );
    }

    #[test]
    fn signalled_hook_reports_the_signal() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "k", "kill -TERM $$");
        let e = run(&[hook(&p, &[], &[], Some(10))], b"{}").unwrap_err();
        assert!(
            e.to_string().ends_with("failed with signal 15 (SIGTERM)"),
            "{e}"
        );
    }

    #[test]
    fn kinds_and_fatality() {
        let names: Vec<&str> = HookKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(
            names,
            [
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ]
        );
        assert!(HookKind::CreateContainer.failure_is_fatal());
        assert!(HookKind::Poststart.failure_is_fatal());
        assert!(!HookKind::Poststop.failure_is_fatal());
        let statuses: Vec<&str> = HookKind::ALL.iter().map(|k| k.state_status()).collect();
        assert_eq!(
            statuses,
            ["created", "creating", "creating", "created", "running", "stopped"]
        );
    }
}
