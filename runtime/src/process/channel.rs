//! The channel between the runtime (parent) and the process it cloned (child): a
//! SOCK_SEQPACKET socketpair, one message per packet. Both ends are close-on-exec,
//! so the parent sees end-of-stream exactly when the child execs or dies. A message
//! may carry file descriptors (`SCM_RIGHTS`): [`Msg::BindSources`] does.
use nix::errno::Errno;
use nix::sys::socket::{
    self, recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned,
    MsgFlags, SockFlag, SockType,
};
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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
    /// parent → child, before `Go`: bind sources opened on the host side, one fd
    /// attached per `spec.mounts` index listed (at most [`MAX_FDS`] a message).
    BindSources(Vec<u32>),
}

/// Descriptors one message carries at most (the kernel's limit is 253).
pub const MAX_FDS: usize = 64;

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
            Msg::BindSources(indexes) => {
                (10, indexes.iter().flat_map(|i| i.to_le_bytes()).collect())
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
            10 if rest.len() % 4 == 0 => Msg::BindSources(
                rest.chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
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

    /// `msg` with `fds` attached (at most [`MAX_FDS`]).
    pub fn send_with_fds(&self, msg: &Msg, fds: &[RawFd]) -> io::Result<()> {
        let buf = msg.encode();
        let iov = [IoSlice::new(&buf)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                &cmsg,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next message, or `None` when the other side has gone (exec or exit).
    /// Descriptors attached to it are closed: see [`Channel::recv_with_fds`].
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        Ok(self.recv_with_fds()?.map(|(m, _)| m))
    }

    /// The next message and the descriptors attached to it (close-on-exec).
    pub fn recv_with_fds(&self) -> io::Result<Option<(Msg, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX];
        let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let res = recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match res {
                Ok(m) => m,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(list) = c {
                    // SAFETY: the kernel has just installed these descriptors for us.
                    fds.extend(
                        list.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Msg::decode(&buf[..n]).map(|m| Some((m, fds)));
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
            Msg::BindSources(vec![0, 7, 300]),
        ] {
            a.send(&m).expect("send");
            assert_eq!(b.recv().expect("recv"), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().expect("recv"), None);
    }

    #[test]
    fn descriptors_travel_with_their_message() {
        let (a, b) = Channel::pair().expect("pair");
        let file = tempfile::tempfile().expect("file");
        std::io::Write::write_all(&mut &file, b"sent").expect("write");
        a.send_with_fds(&Msg::BindSources(vec![3]), &[file.as_raw_fd()])
            .expect("send");
        let (m, fds) = b.recv_with_fds().expect("recv").expect("message");
        assert_eq!(m, Msg::BindSources(vec![3]));
        assert_eq!(fds.len(), 1);
        let mut got = String::new();
        let mut f = std::fs::File::from(fds.into_iter().next().expect("fd"));
        std::io::Seek::rewind(&mut f).expect("seek");
        std::io::Read::read_to_string(&mut f, &mut got).expect("read");
        assert_eq!(got, "sent");
    }
}
