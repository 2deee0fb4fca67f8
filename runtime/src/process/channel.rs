//! The channel between the runtime (parent) and the process it cloned (child): a
//! SOCK_SEQPACKET socketpair, one message per packet. Both ends are close-on-exec,
//! so the parent sees end-of-stream exactly when the child execs or dies.
use nix::errno::Errno;
use nix::sys::socket::{self, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// parent → child: uid/gid maps and cgroups are in place; carries the host pid.
    Go(i32),
    /// child → parent: entered its new user namespace, write the maps now.
    UsernsReady,
    /// parent → child: maps written.
    MapsDone,
    /// child → parent: the host pid of the init (the child forked it into the new pid
    /// namespace and exits).
    InitPid(i32),
    /// child → parent: mounts are done, run prestart/createRuntime hooks.
    Hooks,
    /// parent → child: those hooks succeeded.
    HooksDone,
    /// child → parent: waiting for `start`.
    Ready,
    /// child → parent: the step that failed.
    Error(String),
    /// child → parent: something the spec asked for was skipped (a capability the
    /// kernel lacks); the parent logs it at level warning and goes on.
    Warning(String),
}

const MAX: usize = 64 * 1024;

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Msg::Go(pid) => (1, pid.to_le_bytes().to_vec()),
            Msg::UsernsReady => (2, vec![]),
            Msg::MapsDone => (3, vec![]),
            Msg::InitPid(pid) => (4, pid.to_le_bytes().to_vec()),
            Msg::Hooks => (5, vec![]),
            Msg::HooksDone => (6, vec![]),
            Msg::Ready => (7, vec![]),
            Msg::Error(s) => {
                let mut b = s.as_bytes().to_vec();
                b.truncate(MAX - 1);
                (8, b)
            }
            Msg::Warning(s) => {
                let mut b = s.as_bytes().to_vec();
                b.truncate(MAX - 1);
                (9, b)
            }
        };
        let mut out = Vec::with_capacity(1 + payload.len());
        out.push(tag);
        out.extend_from_slice(&payload);
        out
    }

    fn decode(buf: &[u8]) -> io::Result<Msg> {
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad channel message");
        let (&tag, rest) = buf.split_first().ok_or_else(bad)?;
        let pid = || -> io::Result<i32> {
            let b: [u8; 4] = rest.try_into().map_err(|_| bad())?;
            Ok(i32::from_le_bytes(b))
        };
        Ok(match tag {
            1 => Msg::Go(pid()?),
            2 => Msg::UsernsReady,
            3 => Msg::MapsDone,
            4 => Msg::InitPid(pid()?),
            5 => Msg::Hooks,
            6 => Msg::HooksDone,
            7 => Msg::Ready,
            8 => Msg::Error(String::from_utf8_lossy(rest).into_owned()),
            9 => Msg::Warning(String::from_utf8_lossy(rest).into_owned()),
            _ => return Err(bad()),
        })
    }
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let buf = msg.encode();
        loop {
            // MSG_NOSIGNAL: a peer that has exec'd or died is an EPIPE, not a SIGPIPE.
            match socket::send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next message, or `None` when the other side has gone (exec or exit).
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        let mut buf = vec![0u8; MAX];
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => return Msg::decode(&buf[..n]).map(Some),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = Channel::pair().expect("pair");
        for m in [
            Msg::Go(42),
            Msg::UsernsReady,
            Msg::MapsDone,
            Msg::InitPid(-1),
            Msg::Hooks,
            Msg::HooksDone,
            Msg::Ready,
            Msg::Error("rootfs: no such file".into()),
        ] {
            a.send(&m).expect("send");
            assert_eq!(b.recv().expect("recv"), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().expect("recv"), None);
    }
}
