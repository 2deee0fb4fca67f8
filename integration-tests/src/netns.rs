//! A network namespace of one test's own, so that what the test serves and
//! dials stays inside it: loopback up, plus [`NetNs::ADDR`] on `lo`, an address
//! that is not loopback-range. A registry bound there is, to berth and docker, a
//! remote one (TLS verified, not insecure by default); and nothing but the
//! namespace answers, so a client that wrongly falls back to docker.io finds no
//! route instead of the internet. Drop deletes the namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{io, SupportError};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A named network namespace (`/run/netns/NAME`).
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// TEST-NET-1 (RFC 5737): routed nowhere, so only this namespace has it.
    pub const ADDR: &'static str = "192.0.2.1";

    /// `ip netns add berth-t<pid>-<n>`, `lo` up with [`NetNs::ADDR`] on it.
    pub fn create() -> Result<NetNs, SupportError> {
        let name = format!(
            "berth-t{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/32", NetNs::ADDR),
            "dev",
            "lo",
        ])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `program` to be run inside the namespace: see [`command_in`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        command_in(&self.path(), program)
    }

    /// Runs `f` inside the namespace: see [`run_in`].
    pub fn enter<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SupportError> {
        run_in(&self.path(), f)
    }
}

/// `program` to be run in the namespace at `path`: `nsenter --net=PATH
/// program`. nsenter execs it (no fork for a network namespace): the child's
/// pid is the program's.
pub fn command_in(path: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", path.display()))
        .arg("--")
        .arg(program);
    c
}

/// Runs `f` on a thread of its own that has joined the namespace at `path` (a
/// network namespace is per thread), e.g. to bind a listener there or dial
/// into it. Sockets keep their namespace after the thread ends.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SupportError> {
    let path = path.to_path_buf();
    let file = std::fs::File::open(&path).map_err(io(&path))?;
    let name = path.display().to_string();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io(&path)(std::io::Error::from(e)))?;
        Ok(f())
    })
    .join()
    .map_err(|_| SupportError::Command {
        command: format!("thread in netns {name}"),
        status: "panicked".into(),
        stderr: String::new(),
    })?
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), SupportError> {
    let out = Command::new("ip").args(args).output().map_err(io("ip"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(SupportError::Command {
        command: format!("ip {}", args.join(" ")),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
