//! A real distribution registry for the registry tests: Debian's
//! `docker-registry`, on 127.0.0.1 at a free port, with its own storage dir, and
//! optionally htpasswd basic auth. Drop stops it (by pid) and removes its dir.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io, SupportError};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct LocalRegistry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

/// Whether Debian's registry is installed (`apt-get install docker-registry`).
pub fn available() -> bool {
    Path::new(REGISTRY_BIN).is_file()
}

impl LocalRegistry {
    /// Starts an anonymous registry.
    pub fn start() -> Result<LocalRegistry, SupportError> {
        LocalRegistry::start_with("")
    }

    /// Starts a registry whose `auth:` section is `auth_yaml` (may be empty).
    pub fn start_with(auth_yaml: &str) -> Result<LocalRegistry, SupportError> {
        if !available() {
            return Err(SupportError::MissingBinary {
                binary: REGISTRY_BIN.into(),
                hint: "apt-get install docker-registry".into(),
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("reg.")
            .tempdir_in("/tmp")
            .map_err(io("/tmp"))?;
        let port = free_port()?;
        let cfg = dir.path().join("config.yml");
        let text = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
            dir.path().join("data").display()
        );
        std::fs::write(&cfg, text).map_err(io(&cfg))?;
        let log = dir.path().join("registry.log");
        let logf = std::fs::File::create(&log).map_err(io(&log))?;
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(io(&log))?)
            .stderr(logf)
            .spawn()
            .map_err(io(REGISTRY_BIN))?;
        let mut r = LocalRegistry { child, dir, port };
        if r.wait_ready(Duration::from_secs(10)) {
            return Ok(r);
        }
        Err(SupportError::Command {
            command: format!("{REGISTRY_BIN} serve (127.0.0.1:{port})"),
            status: "not ready after 10s".into(),
            stderr: r.log(),
        })
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if self.get("/v2/").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the registry logged (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// A plain HTTP/1.0 GET; the status line and body, or `None` if unreachable.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, SupportError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(io("127.0.0.1:0"))?.port())
}

/// An htpasswd file with one bcrypt entry (the registry reads only bcrypt).
pub fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<PathBuf, SupportError> {
    let hash = bcrypt::hash(password, 5).map_err(|e| SupportError::Command {
        command: "bcrypt".into(),
        status: "failed".into(),
        stderr: e.to_string(),
    })?;
    std::fs::write(path, format!("{user}:{hash}\n")).map_err(io(path))?;
    Ok(path.to_path_buf())
}
