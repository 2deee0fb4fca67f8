//! The shim's state dir as a contract: what `berth-shim` leaves in
//! `<state>/shims/<id>/` and how berthd reads it back, for the times the gRPC
//! API cannot answer (berthd restarted and must find the shim again; the shim
//! is gone and only its files remain).
//!
//! Both sides use these definitions, so a file name, the exit record's JSON
//! or the long-socket-path rule cannot drift apart:
//! * [`ADDRESS_FILE`] holds the socket address (`unix://<path>`, see
//!   [`address`] / [`socket_path`]), written once the shim listens;
//! * [`PID_FILE`] holds the shim's own pid;
//! * [`EXIT_FILE`] holds the init's [`ExitRecord`], written atomically when
//!   the shim reaps it, so it survives the shim;
//! * [`LOG_FILE`] is the shim's stderr once detached.
//!
//! Unix socket addresses hold at most 107 bytes, and a state dir under a long
//! `--state` root plus a 64-hex container id passes that: [`ShortPath`] binds
//! and connects through `/proc/self/fd/<dir fd>/<name>` then, which the kernel
//! resolves to the same socket whatever the real path's length.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::shim::v1 as pb;

/// The shim's listening socket.
pub const SOCKET_FILE: &str = "shim.sock";
/// The socket's address, `unix://<path>`; present once the shim listens.
pub const ADDRESS_FILE: &str = "address";
/// The shim's own pid (decimal).
pub const PID_FILE: &str = "shim.pid";
/// The init's exit, an [`ExitRecord`] as JSON.
pub const EXIT_FILE: &str = "exit.json";
/// The shim's own log (its stderr once detached).
pub const LOG_FILE: &str = "shim.log";

const UNIX_SCHEME: &str = "unix://";

/// The address the shim announces for its socket at `sock` (on stdout when
/// ready, and in [`ADDRESS_FILE`]).
pub fn address(sock: &Path) -> String {
    format!("{UNIX_SCHEME}{}", sock.display())
}

/// The socket path of an address written by [`address`]; a bare path is
/// taken as is.
pub fn socket_path(address: &str) -> PathBuf {
    let a = address.trim();
    PathBuf::from(a.strip_prefix(UNIX_SCHEME).unwrap_or(a))
}

/// How the init process ended, as [`EXIT_FILE`] holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitRecord {
    pub pid: u32,
    /// Exit code, or 128 + signal number when a signal killed it.
    pub code: i32,
    /// The signal that killed it, 0 if it exited.
    #[serde(default)]
    pub signal: i32,
    pub exited_at_unix_nanos: i64,
    /// The same instant in RFC 3339, for humans reading the file.
    #[serde(default)]
    pub exited_at: String,
    #[serde(default)]
    pub oom_killed: bool,
}

impl ExitRecord {
    /// The record as the shim API reports it, for process `exec_id`.
    pub fn to_pb(&self, exec_id: &str) -> pb::ExitStatus {
        pb::ExitStatus {
            exec_id: exec_id.to_string(),
            pid: self.pid,
            code: self.code,
            exited_at_unix_nanos: self.exited_at_unix_nanos,
            oom_killed: self.oom_killed,
            signal: self.signal,
        }
    }

    /// Writes [`EXIT_FILE`] into `state_dir`, atomically ([`write_atomic`]).
    pub fn write(&self, state_dir: &Path) -> io::Result<()> {
        let data = serde_json::to_vec(self).map_err(io::Error::other)?;
        write_atomic(state_dir, EXIT_FILE, &data)
    }

    /// Reads [`EXIT_FILE`] from `state_dir`; `None` when there is none (the
    /// init has not exited). A file that does not parse is `InvalidData`.
    pub fn read(state_dir: &Path) -> io::Result<Option<ExitRecord>> {
        let path = state_dir.join(EXIT_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&data).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }
}

/// temp file in the same dir, fsync, rename, fsync the dir: after a crash the
/// file is either the old one or the whole new one, never a torn one that a
/// restarting berthd would misread.
pub fn write_atomic(dir: &Path, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Longest path used as is; `sun_path` has 108 bytes including the NUL.
const MAX_DIRECT: usize = 100;

/// An address for a unix socket path that fits a `sockaddr_un`, valid while
/// this value lives (it may hold the socket's directory open).
pub struct ShortPath {
    path: PathBuf,
    _dir: Option<File>,
}

impl ShortPath {
    /// For binding or connecting from this process.
    pub fn new(path: &Path) -> io::Result<ShortPath> {
        if path.as_os_str().len() <= MAX_DIRECT {
            return Ok(ShortPath {
                path: path.to_path_buf(),
                _dir: None,
            });
        }
        let (dir, fd_path) = open_parent(path)?;
        Ok(ShortPath {
            path: Path::new("/proc/self").join(fd_path),
            _dir: Some(dir),
        })
    }

    /// For another process to connect to (the runtime, to a console socket):
    /// `/proc/<our pid>/fd/<dir fd>/<name>`, since `/proc/self` would be theirs.
    pub fn for_other_processes(path: &Path) -> io::Result<ShortPath> {
        if path.as_os_str().len() <= MAX_DIRECT {
            return ShortPath::new(path);
        }
        let (dir, fd_path) = open_parent(path)?;
        Ok(ShortPath {
            path: Path::new("/proc")
                .join(std::process::id().to_string())
                .join(fd_path),
            _dir: Some(dir),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Calls `f` with an address for `path` that fits a `sockaddr_un`.
pub fn with_short_path<T>(path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    let short = ShortPath::new(path)?;
    f(short.path())
}

/// The socket's directory, opened `O_PATH` (keep it until the bind/connect is
/// done), and `fd/<n>/<name>` relative to a `/proc/<pid>` dir.
fn open_parent(path: &Path) -> io::Result<(File, PathBuf)> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("socket path {} has no directory", path.display()),
        ));
    };
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(parent)?;
    let rel = PathBuf::from(format!("fd/{}", dir.as_raw_fd())).join(name);
    Ok((dir, rel))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn binds_and_connects_under_a_directory_too_long_for_sun_path() {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = tmp.path().to_path_buf();
        while dir.as_os_str().len() < 150 {
            dir.push("a-rather-long-directory-name");
        }
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join(SOCKET_FILE);
        assert!(
            UnixListener::bind(&sock).is_err(),
            "the plain path should be too long"
        );
        let listener = with_short_path(&sock, |p| UnixListener::bind(p)).unwrap();
        assert!(sock.exists(), "the socket file is at the real path");
        let _client = with_short_path(&sock, |p| UnixStream::connect(p)).unwrap();
        listener.accept().unwrap();
        let other = ShortPath::for_other_processes(&sock).unwrap();
        assert!(
            other.path().as_os_str().len() < 60,
            "{}",
            other.path().display()
        );
        assert!(other
            .path()
            .starts_with(format!("/proc/{}", std::process::id())));
        let _c2 = UnixStream::connect(other.path()).unwrap();
        listener.accept().unwrap();
    }

    #[test]
    fn short_paths_are_used_as_they_are() {
        let p = Path::new("/run/berth/shims/abc/shim.sock");
        assert_eq!(ShortPath::new(p).unwrap().path(), p);
        assert_eq!(ShortPath::for_other_processes(p).unwrap().path(), p);
    }

    #[test]
    fn addresses_round_trip() {
        let sock = Path::new("/run/berth/shims/abc/shim.sock");
        assert_eq!(address(sock), "unix:///run/berth/shims/abc/shim.sock");
        assert_eq!(socket_path(&address(sock)), sock);
        assert_eq!(socket_path(" /x/shim.sock\n"), Path::new("/x/shim.sock"));
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), EXIT_FILE, b"{\"a\":1}").unwrap();
        write_atomic(dir.path(), EXIT_FILE, b"{\"a\":2}").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(EXIT_FILE)).unwrap(),
            "{\"a\":2}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn exit_records_round_trip_and_older_files_still_read() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ExitRecord::read(dir.path()).unwrap(), None);
        let rec = ExitRecord {
            pid: 42,
            code: 137,
            signal: 9,
            exited_at_unix_nanos: 1_700_000_000_000_000_000,
            exited_at: "2023-11-14T22:13:20Z".into(),
            oom_killed: true,
        };
        rec.write(dir.path()).unwrap();
        assert_eq!(ExitRecord::read(dir.path()).unwrap(), Some(rec.clone()));
        let pb = rec.to_pb("e1");
        assert_eq!(
            (
                pb.exec_id.as_str(),
                pb.pid,
                pb.code,
                pb.signal,
                pb.oom_killed
            ),
            ("e1", 42, 137, 9, true)
        );
        // Written before `signal`, `exited_at` and `oom_killed` existed.
        std::fs::write(
            dir.path().join(EXIT_FILE),
            r#"{"pid":7,"code":3,"exited_at_unix_nanos":5}"#,
        )
        .unwrap();
        let old = ExitRecord::read(dir.path()).unwrap().unwrap();
        assert_eq!(
            (old.pid, old.code, old.signal, old.oom_killed),
            (7, 3, 0, false)
        );
        std::fs::write(dir.path().join(EXIT_FILE), "{not json").unwrap();
        let err = ExitRecord::read(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
