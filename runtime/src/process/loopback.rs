//! The loopback interface of a new network namespace. The kernel creates `lo` down
//! in every new network namespace; runc brings it up when the config asks for a
//! network namespace without a `path` (its "loopback" network strategy), and
//! programs in containers expect 127.0.0.1 to work, so the init does the same
//! (issue 12 point 6). A joined namespace (`path`) is left as its owner made it.
//!
//! One `SIOCGIFFLAGS`/`SIOCSIFFLAGS` pair on a datagram socket of the namespace is
//! all it takes: no netlink needed for one flag on one interface.
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const LO: &[u8] = b"lo";

/// Sets `IFF_UP` on `lo` in the calling process's network namespace (it must hold
/// `CAP_NET_ADMIN` there). Already up is fine.
pub(super) fn bring_up() -> Result<(), Errno> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(LO) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifru_flags of a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel has just filled in ifru_flags.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up = libc::IFF_UP as libc::c_short;
    if flags & up != 0 {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: SIOCSIFFLAGS reads a valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::forked;
    use nix::sys::wait::WaitStatus;
    use std::net::UdpSocket;

    /// Whether a datagram to 127.0.0.1 leaves: with `lo` down the kernel has no
    /// route for it (ENETUNREACH).
    fn loopback_works() -> bool {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.send_to(b"x", "127.0.0.1:9"))
            .is_ok()
    }

    /// In a fresh network namespace (a forked child, so the test process keeps its
    /// own) 127.0.0.1 is unreachable until `bring_up`, and a second call is fine.
    #[test]
    fn brings_up_lo_of_a_new_network_namespace() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Root]) {
            return;
        }
        let mut child = forked::spawn(|ch| {
            if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
                return ch.fail(&format!("unshare: {e}"));
            }
            if loopback_works() {
                return ch.fail("127.0.0.1 reachable before lo is up");
            }
            if let Err(e) = bring_up().and_then(|()| bring_up()) {
                return ch.fail(&format!("bring_up: {e}"));
            }
            if !loopback_works() {
                return ch.fail("127.0.0.1 unreachable after bring_up");
            }
            ch.ready();
            0
        });
        child.report(false).expect("child");
        let pid = child.pid;
        assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, 0));
    }
}
