//! berth-init as PID 1 of a real PID namespace (`unshare --pid --fork
//! --mount-proc`, util-linux): zombies reaped, signals forwarded, exit status
//! passed through. Needs root. The namespaces are watched from the host's
//! /proc, so what is checked is the kernel's view, not berth-init's word.
//!
//! Every namespace runs under `unshare --kill-child`: killing the unshare
//! process (by pid, in `Drop`) SIGKILLs the namespace's init, and with it
//! every process of the namespace, even when an assertion failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = env!("CARGO_BIN_EXE_berth-init");

/// Long enough for a loaded 2-core CI machine, short enough to fail fast.
const PATIENCE: Duration = Duration::from_secs(15);

/// One PID namespace whose PID 1 runs `argv`; torn down on drop.
struct Namespace {
    unshare: Child,
}

impl Namespace {
    fn start(argv: &[&str]) -> Namespace {
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare (util-linux)");
        Namespace { unshare }
    }

    /// Host pid of the namespace's PID 1 (unshare's only child).
    fn init_pid(&self) -> i32 {
        let pid = self.unshare.id() as i32;
        wait_for("unshare to fork PID 1", || children(pid).first().copied())
    }

    /// The exit status of PID 1, which `unshare` passes on.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.unshare.try_wait().expect("wait unshare") {
                return status;
            }
            assert!(Instant::now() < deadline, "PID 1 did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut e) = self.unshare.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of our own child, not yet reaped (its
        // pid cannot have been reused).
        if self.unshare.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(self.unshare.id() as i32, libc::SIGKILL) };
        }
        let _ = self.unshare.wait();
    }
}

/// A process as the host's /proc shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    state: char,
    cmdline: Vec<String>,
}

/// Direct children of `pid`, over all its threads.
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    out
}

fn proc_info(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the state is the
    // first field after the last ')'.
    let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(Proc {
        pid,
        state,
        cmdline,
    })
}

/// Every process below `pid`, depth first.
fn descendants(pid: i32) -> Vec<Proc> {
    let mut out = Vec::new();
    for child in children(pid) {
        if let Some(p) = proc_info(child) {
            out.push(p);
        }
        out.extend(descendants(child));
    }
    out
}

/// Polls `f` until it returns something, or panics after `PATIENCE`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; `pid` is PID 1 of a namespace
    // this test owns, alive until its unshare parent is reaped.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill {pid}: {}", std::io::Error::last_os_error());
}

/// Three orphans that exit after 0.1 s, then the shell becomes `sleep 30`.
/// The orphans are reparented to PID 1; only a reaping PID 1 clears them.
const ORPHANS: &str = "(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &); exec sleep 30";

fn is_long_sleep(p: &Proc) -> bool {
    p.cmdline == ["sleep", "30"]
}

/// Waits until the only process left below `init` is the shell turned into
/// `sleep 30`: its orphans were created before the exec, and have exited and
/// been reaped. A zombie left behind keeps this from ever holding.
fn assert_orphans_reaped(init: i32) {
    let last = std::cell::RefCell::new(Vec::new());
    let deadline = Instant::now() + PATIENCE;
    loop {
        let procs = descendants(init);
        if procs.len() == 1 && is_long_sleep(&procs[0]) && procs[0].state != 'Z' {
            return;
        }
        *last.borrow_mut() = procs;
        assert!(
            Instant::now() < deadline,
            "processes left below PID 1 {init}: {:?}",
            last.borrow()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn pid1_reaps_orphaned_zombies() {
    let ns = Namespace::start(&[INIT, "--", "sh", "-c", ORPHANS]);
    let init = ns.init_pid();
    assert_orphans_reaped(init);
    let me = proc_info(init).expect("PID 1 alive");
    assert_eq!(me.cmdline[0], INIT);
    assert_ne!(me.state, 'Z');
}

/// The same orphans with the shell itself as PID 1: they stay zombies. Shows
/// the check above can fail, and why `--init` exists.
#[test]
fn without_init_orphans_stay_zombies() {
    let ns = Namespace::start(&["sh", "-c", ORPHANS]);
    let init = ns.init_pid();
    let zombies = wait_for("three zombies under a non-reaping PID 1", || {
        let z: Vec<Proc> = descendants(init)
            .into_iter()
            .filter(|p| p.state == 'Z')
            .collect();
        (z.len() == 3).then_some(z)
    });
    for z in zombies {
        assert!(children(init).contains(&z.pid), "{z:?} is PID 1's child");
    }
}

/// Not PID 1 (run by hand): it makes itself a subreaper and reaps anyway.
#[test]
fn subreaper_reaps_when_not_pid1() {
    let mut child = Command::new(INIT)
        .args(["--", "sh", "-c", ORPHANS])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn berth-init");
    let pid = child.id() as i32;
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            // Our child, not yet reaped. Its own child (`sleep 30`) dies with
            // it only if signalled too: kill it first, by pid.
            for p in children(self.0.id() as i32) {
                // SAFETY: kill(2) on a pid read from our child's children list.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Reap(&mut child);
    assert_orphans_reaped(pid);
}

#[test]
fn exit_code_passes_through() {
    let mut ns = Namespace::start(&[INIT, "--", "sh", "-c", "exit 7"]);
    assert_eq!(ns.wait().code(), Some(7));
}

#[test]
fn command_not_found_exits_127() {
    let mut ns = Namespace::start(&[INIT, "--", "berth-init-test-no-such-command"]);
    assert_eq!(ns.wait().code(), Some(127));
    let err = ns.stderr();
    assert!(
        err.contains("berth-init-test-no-such-command"),
        "stderr: {err}"
    );
}

#[test]
fn usage_error_exits_2() {
    let mut ns = Namespace::start(&[INIT, "--"]);
    assert_eq!(ns.wait().code(), Some(2));
    assert!(ns.stderr().contains("no command"));
}

#[test]
fn sigterm_reaches_the_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("seen");
    let ready = dir.path().join("ready");
    let script = format!(
        r#"trap 'echo seen > {seen}; exit 3' TERM; touch {ready}; while :; do sleep 0.05; done"#,
        seen = seen.display(),
        ready = ready.display()
    );
    let mut ns = Namespace::start(&[INIT, "--", "sh", "-c", &script]);
    let init = ns.init_pid();
    wait_for("the trap to be set", || ready.exists().then_some(()));
    signal(init, libc::SIGTERM);
    assert_eq!(ns.wait().code(), Some(3));
    assert_eq!(read(&seen), "seen\n");
}

#[test]
fn killed_by_forwarded_signal_exits_128_plus_signal() {
    let mut ns = Namespace::start(&[INIT, "--", "sleep", "30"]);
    let init = ns.init_pid();
    // Once the child has exec'd sleep, berth-init's signal mask is set.
    wait_for("sleep to run under PID 1", || {
        descendants(init).iter().any(is_long_sleep).then_some(())
    });
    signal(init, libc::SIGTERM);
    assert_eq!(ns.wait().code(), Some(143));
}

/// A shell whose background `sleep 30` reports how it ended once the shell
/// gets SIGTERM: `143` in `out` if the signal reached the sleep too.
fn group_script(dir: &Path) -> (String, PathBuf, PathBuf) {
    let out = dir.join("out");
    let ready = dir.join("ready");
    let script = format!(
        r#"sleep 30 & p=$!; trap 'wait $p; echo $? > {out}; exit 0' TERM; touch {ready}; wait $p"#,
        out = out.display(),
        ready = ready.display()
    );
    (script, out, ready)
}

#[test]
fn dash_g_forwards_to_the_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (script, out, ready) = group_script(dir.path());
    let mut ns = Namespace::start(&[INIT, "-g", "--", "sh", "-c", &script]);
    let init = ns.init_pid();
    wait_for("the trap to be set", || ready.exists().then_some(()));
    signal(init, libc::SIGTERM);
    assert_eq!(ns.wait().code(), Some(0));
    assert_eq!(read(&out), "143\n");
}

#[test]
fn without_dash_g_only_the_command_gets_the_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (script, out, ready) = group_script(dir.path());
    let ns = Namespace::start(&[INIT, "--", "sh", "-c", &script]);
    let init = ns.init_pid();
    wait_for("the trap to be set", || ready.exists().then_some(()));
    signal(init, libc::SIGTERM);
    // The shell's trap now waits for a sleep that was not signalled.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!out.exists(), "the background sleep was signalled");
    assert!(
        descendants(init).iter().any(is_long_sleep),
        "sleep 30 still runs"
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
