//! Foreground `run` / `exec`: wait for the container's process while forwarding the
//! signals we get to it (like runc), and, with a terminal, copying bytes between our
//! stdio and the pty master. One thread: a signalfd and poll.
use crate::console;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsRawFd, OwnedFd};

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
    let code = 'outer: loop {
        if let Some(code) = reap(pid) {
            break code;
        }
        let m = master.map_or(-1, |m| m.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if master_open { m } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of three pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 {
            if nix::Error::last() == nix::Error::EINTR {
                continue;
            }
            break super::wait_exit_code(pid);
        }
        if fds[0].revents != 0 {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGWINCH {
                    if master_open {
                        console::copy_winsize(m);
                    }
                } else if sig != libc::SIGCHLD {
                    // SAFETY: kill(2) of the process we supervise.
                    unsafe { libc::kill(pid, sig) };
                }
                if let Some(code) = reap(pid) {
                    break 'outer code;
                }
            }
        }
        if master_open && fds[1].revents != 0 {
            // SAFETY: reading into a buffer we own.
            let r = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                master_open = false;
                stdin_open = false;
            } else {
                console::write_all(1, &buf[..r as usize]);
            }
        }
        if stdin_open && fds[2].revents != 0 {
            // SAFETY: reading into a buffer we own.
            let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                stdin_open = false;
                // End of our input becomes the terminal's EOF character.
                console::write_all(m, &[4]);
            } else {
                console::write_all(m, &buf[..r as usize]);
            }
        }
    };
    // Output the process wrote just before exiting is still in the pty.
    if let (true, Some(mf)) = (master_open, master) {
        let m = mf.as_raw_fd();
        // SAFETY: non-blocking drain of a buffer we own.
        unsafe { libc::fcntl(m, libc::F_SETFL, libc::O_NONBLOCK) };
        loop {
            // SAFETY: reading into a buffer we own.
            let r = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
            if r <= 0 {
                break;
            }
            console::write_all(1, &buf[..r as usize]);
        }
    }
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    code
}
