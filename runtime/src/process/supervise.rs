//! Foreground `run` / `exec`: wait for the container's process while forwarding the
//! signals we get to it (like runc), and, with a terminal, copying bytes between our
//! stdio and the pty master. One thread: a signalfd and poll.
use crate::console;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGPIPE,
];

fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Reap every child that has exited (we may be a subreaper); the code of `pid` if it
/// was among them.
fn reap(pid: i32) -> Option<i32> {
    let mut found = None;
    loop {
        let mut status = 0;
        // Not nix's waitpid: see `wait_exit_code`.
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return found;
        }
        if r == pid {
            found = Some(exit_code(status));
        }
    }
}

fn signal_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    set.add(Signal::SIGWINCH);
    for s in FORWARDED {
        set.add(*s);
    }
    set
}

/// Hold the signals [`supervise`] forwards from now on (call it before the process
/// can run user code, so none is lost; the child resets its mask before exec).
pub fn hold_signals() {
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signal_set()), None);
}

/// Returns `pid`'s exit code as a shell reports it (128 + signal when killed).
pub fn supervise(pid: i32, master: Option<&OwnedFd>) -> i32 {
    let set = signal_set();
    let mut old = SigSet::empty();
    if nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_err()
    {
        return super::wait_exit_code(pid);
    }
    let sfd = match SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => fd,
        Err(_) => return super::wait_exit_code(pid),
    };
    let _raw = master.map(|m| {
        console::copy_winsize(m.as_raw_fd());
        console::RawMode::enter()
    });
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 8192];
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    let code = 'outer: loop {
        if let Some(code) = reap(pid) {
            break code;
        }
        // Only the open ends are polled: the signalfd first, then the master, stdin.
        let first = PollFd::new(sfd.as_fd(), PollFlags::POLLIN);
        let mut fds = [first.clone(), first.clone(), first];
        let mut n = 1;
        let master_slot = match master {
            Some(mf) if master_open => {
                fds[n] = PollFd::new(mf.as_fd(), PollFlags::POLLIN);
                n += 1;
                Some(n - 1)
            }
            _ => None,
        };
        let stdin_slot = if stdin_open {
            fds[n] = PollFd::new(stdin.as_fd(), PollFlags::POLLIN);
            n += 1;
            Some(n - 1)
        } else {
            None
        };
        match poll(&mut fds[..n], PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => break super::wait_exit_code(pid),
        }
        let ready = |slot: Option<usize>| {
            slot.is_some_and(|i| fds[i].revents().is_some_and(|r| !r.is_empty()))
        };
        let (signalled, from_master, from_stdin) =
            (ready(Some(0)), ready(master_slot), ready(stdin_slot));
        if signalled {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGWINCH {
                    if let (true, Some(mf)) = (master_open, master) {
                        console::copy_winsize(mf.as_raw_fd());
                    }
                } else if sig != libc::SIGCHLD {
                    // Only the FORWARDED signals reach the signalfd; one the process
                    // has already left (ESRCH) is what reap finds next.
                    if let Ok(s) = Signal::try_from(sig) {
                        let _ = signal::kill(Pid::from_raw(pid), s);
                    }
                }
                if let Some(code) = reap(pid) {
                    break 'outer code;
                }
            }
        }
        if let (true, true, Some(mf)) = (master_open, from_master, master) {
            match nix::unistd::read(mf, &mut buf) {
                Ok(r) if r > 0 => console::write_all(stdout.as_fd(), &buf[..r]),
                _ => {
                    master_open = false;
                    stdin_open = false;
                }
            }
        }
        if let (true, true, Some(mf)) = (stdin_open, from_stdin, master) {
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(r) if r > 0 => console::write_all(mf.as_fd(), &buf[..r]),
                _ => {
                    stdin_open = false;
                    // End of our input becomes the terminal's EOF character.
                    console::write_all(mf.as_fd(), &[4]);
                }
            }
        }
    };
    // Output the process wrote just before exiting is still in the pty; without
    // O_NONBLOCK the drain would wait for more, so no drain then.
    if let (true, Some(mf)) = (master_open, master) {
        if fcntl(mf, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_ok() {
            while let Ok(r @ 1..) = nix::unistd::read(mf, &mut buf) {
                console::write_all(stdout.as_fd(), &buf[..r]);
            }
        }
    }
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    code
}
