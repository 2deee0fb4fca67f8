//! Unix socket addresses hold at most 107 bytes. A shim's state dir under a long
//! `--state` root plus a 64-hex container id passes that, so binding or connecting
//! goes through `/proc/self/fd/<dir fd>/<name>` when the real path is long: the
//! kernel follows the magic link to the directory, and the address stays short
//! whatever the real path's length.
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Longest path used as is; `sun_path` has 108 bytes including the NUL.
const MAX_DIRECT: usize = 100;

/// Calls `f` with an address for `path` that fits a `sockaddr_un`.
pub fn with_short_path<T>(path: &Path, f: impl FnOnce(&Path) -> io::Result<T>) -> io::Result<T> {
    if path.as_os_str().len() <= MAX_DIRECT {
        return f(path);
    }
    let (dir, short) = short_path(path)?;
    let out = f(&short);
    drop(dir);
    out
}

/// The open directory (keep it until the bind/connect is done) and the short address.
fn short_path(path: &Path) -> io::Result<(File, PathBuf)> {
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
    let short = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    Ok((dir, short))
}

/// An address for `path` that another process (the runtime connecting to a console
/// socket) can use: `/proc/<our pid>/fd/<dir fd>/<name>` while this value lives.
pub struct Address {
    path: PathBuf,
    _dir: Option<File>,
}

impl Address {
    pub fn for_other_processes(path: &Path) -> io::Result<Address> {
        if path.as_os_str().len() <= MAX_DIRECT {
            return Ok(Address {
                path: path.to_path_buf(),
                _dir: None,
            });
        }
        let (dir, short) = short_path(path)?;
        let pid = std::process::id().to_string();
        let short = Path::new("/proc")
            .join(pid)
            .join(short.strip_prefix("/proc/self").unwrap_or(&short));
        Ok(Address {
            path: short,
            _dir: Some(dir),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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
        let sock = dir.join("shim.sock");
        assert!(
            UnixListener::bind(&sock).is_err(),
            "the plain path should be too long"
        );
        let listener = with_short_path(&sock, |p| UnixListener::bind(p)).unwrap();
        assert!(sock.exists(), "the socket file is at the real path");
        let _client = with_short_path(&sock, |p| UnixStream::connect(p)).unwrap();
        listener.accept().unwrap();
        let other = Address::for_other_processes(&sock).unwrap();
        assert!(
            other.path().as_os_str().len() < 60,
            "{}",
            other.path().display()
        );
        let _c2 = UnixStream::connect(other.path()).unwrap();
        listener.accept().unwrap();
    }
}
