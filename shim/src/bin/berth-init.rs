//! berth-init: the small init `berth run --init` puts in a container as PID 1
//! (like docker's tini). It runs the given command as its one child, passes
//! on the signals it receives, reaps every orphan (the kernel reparents them
//! to PID 1, and a program that is not an init leaves them as zombies), and
//! exits with the child's status (128 + signal when a signal killed it).
//!
//! Why it exists: the kernel ignores a signal sent to a PID namespace's init
//! unless the init has a handler, so `berth stop` cannot end a program
//! without one when it runs as PID 1; under berth-init it is PID 2 and gets
//! default dispositions.
//!
//! The child gets its own process group, made the terminal's foreground group
//! when stdin is a tty, so ^C from the terminal reaches it once, directly.
//! Not PID 1 (e.g. a test), berth-init makes itself the child subreaper so it
//! still reaps orphans.
//!
//! It is bind-mounted into images that may have no libc: build it statically,
//! `cargo rustc --release -p berth-shim --bin berth-init -- -C
//! target-feature=+crt-static`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, getpid, setpgid, tcsetpgrp, ForkResult, Pid};

/// Signals that belong to the init itself (faults), or to job control that
/// only makes sense for the terminal's own group.
const NOT_FORWARDED: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

fn main() -> ExitCode {
    let mut args: Vec<CString> = std::env::args_os()
        .skip(1)
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    if args.first().is_some_and(|a| a.as_bytes() == b"--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("usage: berth-init [--] COMMAND [ARG]...");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("berth-init: {e}");
            ExitCode::from(127)
        }
    }
}

fn run(args: &[CString]) -> Result<u8, nix::Error> {
    // Everything is blocked here and taken with sigwait below: no handler can
    // run between a fork and the wait, so no exit is missed.
    let forwarded = forwarded_set();
    let mut all = forwarded;
    all.add(Signal::SIGCHLD);
    for s in NOT_FORWARDED.iter().filter(|s| job_control(**s)) {
        all.add(*s);
    }
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old))?;
    if getpid().as_raw() != 1 {
        // SAFETY: plain prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }

    // SAFETY: single-threaded; the child only calls async-signal-safe
    // functions before exec.
    let child = match unsafe { fork() }? {
        ForkResult::Child => {
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            // SAFETY: isatty on fd 0.
            if unsafe { libc::isatty(0) } == 1 {
                // SIGTTOU is blocked, so a background group may take the tty.
                let _ = tcsetpgrp(std::io::stdin(), getpid());
            }
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            let err = execvp(&args[0], args).unwrap_err();
            eprintln!("berth-init: exec {}: {err}", args[0].to_string_lossy());
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(if err == nix::Error::ENOENT { 127 } else { 126 }) };
        }
        ForkResult::Parent { child } => child,
    };

    loop {
        let sig = all.wait()?;
        if sig != Signal::SIGCHLD {
            if forwarded.contains(sig) {
                // The child may be gone already: nothing to do then.
                let _ = kill(child, sig);
            }
            continue;
        }
        if let Some(code) = reap(child) {
            return Ok(code);
        }
    }
}

/// Reaps every exited child; returns the main child's status once it exited.
fn reap(child: Pid) -> Option<u8> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                result = Some(u8::try_from(code).unwrap_or(255))
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                result = Some(128u8.saturating_add(sig as i32 as u8))
            }
            Ok(WaitStatus::StillAlive) => break,
            Ok(_) => {}
            Err(nix::Error::EINTR) => {}
            Err(_) => break, // ECHILD
        }
    }
    result
}

fn job_control(s: Signal) -> bool {
    matches!(s, Signal::SIGTTIN | Signal::SIGTTOU)
}

fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in Signal::iterator() {
        let special = matches!(s, Signal::SIGKILL | Signal::SIGSTOP | Signal::SIGCHLD);
        if !special && !NOT_FORWARDED.contains(&s) {
            set.add(s);
        }
    }
    set
}
