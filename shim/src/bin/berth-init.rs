//! berth-init: the init that `berth run --init` puts at PID 1 of a container
//! (bind-mounted read-only at `/sbin/berth-init`, prepended to the process
//! args as `berth-init -- CMD ARG...`).
//!
//! Why it exists: the kernel never applies a signal's default action to the
//! init of a PID namespace, and orphans of the namespace are reparented to
//! it. A program that was not written to be PID 1 therefore ignores `berth
//! stop`'s SIGTERM and leaves zombies behind. berth-init spawns the command,
//! forwards every catchable signal to it (or to its whole process group with
//! `-g`), reaps every child it inherits, and exits with the command's status:
//! its exit code, or 128 + the signal that killed it (docker-init/tini's
//! convention, so `--init` changes no exit code a user sees). Not PID 1 (run
//! by hand, or in a test), it makes itself the child subreaper so it still
//! reaps orphans.
//!
//! It runs in any image, including ones without a libc, so it is linked
//! statically (`scripts/build-init.sh`) and uses only std and libc: no
//! tokio, no threads, no allocation between fork and exec. Signals are
//! blocked and taken with `sigwaitinfo` instead of handlers, so none is lost
//! between two waits (real-time ones included) and no code runs in signal
//! context. Blocked signals are queued even for a PID namespace's init
//! (kernel/signal.c `sig_ignored`), which is what lets SIGTERM reach it.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

/// Signals raised by a fault in this process itself: left unblocked, so a
/// bug crashes berth-init instead of hanging it.
const SYNCHRONOUS: [libc::c_int; 7] = [
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// Exit status for bad usage (before any command ran).
const USAGE_EXIT: u8 = 2;

const USAGE: &str = "Usage: berth-init [-g] [--] COMMAND [ARG...]

Runs COMMAND as the child of an init: forwards signals to it, reaps zombies,
and exits with its exit code (128 + signal when a signal killed it).

  -g         forward signals to COMMAND's whole process group
  -h, --help print this help
  --version  print the version
";

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    /// Forward to the child's process group, not only the child.
    group: bool,
    /// The command, ready for `execvp`.
    argv: Vec<CString>,
}

/// What to do after parsing the arguments.
#[derive(Debug)]
enum Parsed {
    Run(Options),
    Help,
    Version,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut group = false;
    let mut args = args.into_iter().skip(1).peekable();
    while let Some(arg) = args.peek() {
        match arg.as_bytes() {
            b"--" => {
                args.next();
                break;
            }
            b"-g" => group = true,
            b"-h" | b"--help" => return Ok(Parsed::Help),
            b"--version" => return Ok(Parsed::Version),
            a if a.starts_with(b"-") && a.len() > 1 => {
                return Err(format!("unknown option {}", arg.to_string_lossy()))
            }
            _ => break,
        }
        args.next();
    }
    let argv = args
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| format!("argument {} contains a NUL byte", a.to_string_lossy()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if argv.is_empty() {
        return Err("no command given".to_string());
    }
    Ok(Parsed::Run(Options { group, argv }))
}

/// Writes one line to stderr; there is nowhere to report a failure of that.
fn say(msg: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr(), "berth-init: {msg}");
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// The signals berth-init takes with `sigwaitinfo`: all but the synchronous
/// ones (SIGKILL and SIGSTOP cannot be blocked anyway).
fn waited_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset/sigdelset initialize it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in SYNCHRONOUS {
            libc::sigdelset(&mut set, sig);
        }
        set
    }
}

/// Sets the disposition of `sig`, returning the previous one.
fn set_action(sig: libc::c_int, handler: libc::sighandler_t) -> libc::sigaction {
    // SAFETY: both structs are fully initialized before the call; SIG_IGN and
    // SIG_DFL run no code of ours.
    unsafe {
        let mut new: libc::sigaction = std::mem::zeroed();
        new.sa_sigaction = handler;
        libc::sigemptyset(&mut new.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &new, &mut old);
        old
    }
}

/// In the forked child: undo the parent's signal setup, take the terminal's
/// foreground, and exec the command. Never returns.
///
/// Only async-signal-safe calls here: the argv was built before the fork.
fn exec_child(
    argv: &[*const libc::c_char],
    old_mask: &libc::sigset_t,
    old_ttin: &libc::sigaction,
    old_ttou: &libc::sigaction,
) -> ! {
    // SAFETY: plain syscalls on our own process; argv is NULL-terminated and
    // points into CStrings the parent keeps alive across the fork.
    unsafe {
        // Its own process group, so `-g` reaches the command and whatever it
        // spawns but never berth-init, and so a terminal's ^C/^Z go to the
        // command (the foreground group) rather than to PID 1. SIGTTOU is
        // still ignored here, so tcsetpgrp from a background group works.
        libc::setpgid(0, 0);
        if libc::isatty(libc::STDIN_FILENO) == 1 {
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
        }
        libc::sigaction(libc::SIGTTIN, old_ttin, std::ptr::null_mut());
        libc::sigaction(libc::SIGTTOU, old_ttou, std::ptr::null_mut());
        libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut());
        libc::execvp(argv[0], argv.as_ptr());
        let err = *libc::__errno_location();
        // No formatting (it may allocate): fixed pieces written with write(2).
        let name = std::ffi::CStr::from_ptr(argv[0]).to_bytes();
        let reason: &[u8] = match err {
            libc::ENOENT => b": no such file or directory\n",
            libc::EACCES => b": permission denied\n",
            libc::ENOEXEC => b": exec format error\n",
            _ => b": cannot execute\n",
        };
        for part in [&b"berth-init: exec "[..], name, reason] {
            libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len());
        }
        // The shell's codes: 127 not found, 126 found but not runnable.
        libc::_exit(if err == libc::ENOENT { 127 } else { 126 })
    }
}

/// docker's convention: the exit code, or 128 + the signal.
fn exit_code(status: libc::c_int) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status)) as u8
    } else {
        1
    }
}

/// Reaps every exited child (the command and any orphan we inherited);
/// returns the command's exit code once it has been reaped.
fn reap(child: libc::pid_t) -> Option<u8> {
    let mut code = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            // 0: children left but none exited; -1: ECHILD (none left) or
            // EINTR, which the next SIGCHLD retries.
            return code;
        }
        if pid == child {
            code = Some(exit_code(status));
        }
    }
}

fn run(opts: &Options) -> Result<u8, String> {
    // SAFETY: getpid and prctl(PR_SET_CHILD_SUBREAPER) have no memory effects.
    if unsafe { libc::getpid() } != 1
        && unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0
    {
        // Orphans then go to the real init, which reaps them; the command
        // still runs.
        say(format_args!("cannot become a subreaper: {}", errno()));
    }

    let waited = waited_signals();
    // SAFETY: sigset_t is plain data, filled by sigprocmask.
    let mut old_mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are initialized.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &waited, &mut old_mask) } != 0 {
        return Err(format!("blocking signals: {}", errno()));
    }
    // As the session leader owning a terminal, PID 1 would be stopped by
    // these when the command takes the foreground; ignoring them also keeps
    // a terminal's job-control stops from being forwarded.
    let old_ttin = set_action(libc::SIGTTIN, libc::SIG_IGN);
    let old_ttou = set_action(libc::SIGTTOU, libc::SIG_IGN);

    let mut argv: Vec<*const libc::c_char> = opts.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());

    // SAFETY: single-threaded; the child only makes async-signal-safe calls
    // before exec (exec_child).
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(format!("fork: {}", errno()));
    }
    if child == 0 {
        exec_child(&argv, &old_mask, &old_ttin, &old_ttou);
    }
    // Also from this side, so the group exists before the first signal is
    // forwarded; EACCES once the child has exec'd is fine (it did it itself).
    // SAFETY: plain syscall.
    unsafe { libc::setpgid(child, child) };
    let target = if opts.group { -child } else { child };

    loop {
        // SAFETY: siginfo_t is plain data, filled by sigwaitinfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `waited` is initialized, `info` is writable.
        let sig = unsafe { libc::sigwaitinfo(&waited, &mut info) };
        if sig < 0 {
            // EINTR (e.g. after SIGCONT): nothing was taken, wait again.
            continue;
        }
        if sig == libc::SIGCHLD {
            if let Some(code) = reap(child) {
                // Orphans still running are killed by the kernel when PID 1
                // exits, like any container's processes when its init ends.
                return Ok(code);
            }
            continue;
        }
        // SAFETY: plain syscall. ESRCH (the command just exited and its
        // SIGCHLD is pending) is not an error: the next wait reaps it.
        unsafe { libc::kill(target, sig) };
    }
}

fn main() -> ExitCode {
    match parse(std::env::args_os()) {
        Ok(Parsed::Run(opts)) => match run(&opts) {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                say(format_args!("{e}"));
                ExitCode::from(1)
            }
        },
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Parsed::Version) => {
            println!("berth-init {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(format_args!("{e}"));
            let _ = std::io::stderr().write_all(USAGE.as_bytes());
            ExitCode::from(USAGE_EXIT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("berth-init")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn run_opts(list: &[&str]) -> Options {
        match parse(args(list)) {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn command_after_double_dash() {
        let o = run_opts(&["--", "sh", "-c", "exit 7"]);
        assert!(!o.group);
        assert_eq!(o.argv.len(), 3);
        assert_eq!(o.argv[1].as_bytes(), b"-c");
    }

    #[test]
    fn options_end_at_the_command() {
        let o = run_opts(&["-g", "ls", "-g"]);
        assert!(o.group);
        assert_eq!(o.argv[0].as_bytes(), b"ls");
        assert_eq!(o.argv[1].as_bytes(), b"-g");
    }

    #[test]
    fn bad_usage_is_refused() {
        assert!(parse(args(&[])).is_err());
        assert!(parse(args(&["--"])).is_err());
        let unknown = parse(args(&["-x", "--", "true"])).map(|_| ());
        assert_eq!(unknown, Err("unknown option -x".to_string()));
        assert!(matches!(parse(args(&["--help"])), Ok(Parsed::Help)));
    }

    #[test]
    fn exit_codes_follow_docker() {
        // Wait statuses as the kernel encodes them.
        assert_eq!(exit_code(7 << 8), 7);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
