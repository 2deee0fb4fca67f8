//! A real distribution registry for the registry tests: Debian's
//! `docker-registry`, on 127.0.0.1 at a free port, with its own storage dir, and
//! optionally an `auth:` section (htpasswd, token) and TLS, optionally inside a
//! test's network namespace. Drop stops it (by pid) and removes its dir.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{io, SupportError};
use crate::netns::NetNs;

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct LocalRegistry {
    child: Child,
    dir: tempfile::TempDir,
    ip: &'static str,
    port: u16,
    /// `/run/netns/NAME` it runs in, if any.
    netns: Option<PathBuf>,
    tls: bool,
}

/// Whether Debian's registry is installed (`apt-get install docker-registry`).
pub fn available() -> bool {
    Path::new(REGISTRY_BIN).is_file()
}

/// How to run a [`LocalRegistry`].
#[derive(Default)]
pub struct Options<'a> {
    /// The `auth:` section of its config (YAML at top level), or empty.
    pub auth_yaml: String,
    /// HTTPS with these files instead of plain HTTP.
    pub tls: Option<Tls>,
    /// Run it inside this namespace, on [`NetNs::ADDR`], instead of 127.0.0.1.
    pub netns: Option<&'a NetNs>,
}

/// The registry's TLS files (PEM).
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs whose client certificates it requires (none: no client certificate).
    pub client_cas: Vec<PathBuf>,
}

impl LocalRegistry {
    /// Starts an anonymous registry.
    pub fn start() -> Result<LocalRegistry, SupportError> {
        LocalRegistry::start_with("")
    }

    /// Starts a registry whose `auth:` section is `auth_yaml` (may be empty).
    pub fn start_with(auth_yaml: &str) -> Result<LocalRegistry, SupportError> {
        LocalRegistry::start_opts(Options {
            auth_yaml: auth_yaml.to_string(),
            ..Options::default()
        })
    }

    /// Starts a registry with htpasswd basic auth and one user (the file goes
    /// in `dir`).
    pub fn start_htpasswd(
        dir: &Path,
        user: &str,
        password: &str,
    ) -> Result<LocalRegistry, SupportError> {
        let htpasswd = write_htpasswd(&dir.join("htpasswd"), user, password)?;
        LocalRegistry::start_with(&format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            htpasswd.display()
        ))
    }

    /// Starts a registry as `opts` say.
    pub fn start_opts(opts: Options<'_>) -> Result<LocalRegistry, SupportError> {
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
        let (ip, netns) = match opts.netns {
            Some(ns) => (NetNs::ADDR, Some(ns.path())),
            None => ("127.0.0.1", None),
        };
        let port = match opts.netns {
            Some(ns) => ns.enter(free_port)??,
            None => free_port()?,
        };
        let mut tls = String::new();
        if let Some(t) = &opts.tls {
            tls = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.cert.display(),
                t.key.display()
            );
            if !t.client_cas.is_empty() {
                tls.push_str("    clientcas:\n");
                for ca in &t.client_cas {
                    tls.push_str(&format!("      - {}\n", ca.display()));
                }
            }
        }
        let cfg = dir.path().join("config.yml");
        let text = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n{tls}{}",
            dir.path().join("data").display(),
            opts.auth_yaml
        );
        std::fs::write(&cfg, text).map_err(io(&cfg))?;
        let log = dir.path().join("registry.log");
        let logf = std::fs::File::create(&log).map_err(io(&log))?;
        let mut cmd = match opts.netns {
            Some(ns) => ns.command(REGISTRY_BIN),
            None => Command::new(REGISTRY_BIN),
        };
        let child = cmd
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(io(&log))?)
            .stderr(logf)
            .spawn()
            .map_err(io(REGISTRY_BIN))?;
        let mut r = LocalRegistry {
            child,
            dir,
            ip,
            port,
            netns,
            tls: opts.tls.is_some(),
        };
        if r.wait_ready(Duration::from_secs(10)) {
            return Ok(r);
        }
        Err(SupportError::Command {
            command: format!("{REGISTRY_BIN} serve ({ip}:{port})"),
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
            // Over TLS an open port is the sign (its handshake is the client's
            // business); over HTTP the API answers.
            let up = if self.tls {
                self.in_netns(|addr| TcpStream::connect(addr).is_ok())
                    .unwrap_or(false)
            } else {
                self.get("/v2/").is_some()
            };
            if up {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Runs `f` with the registry's address where that address is reachable.
    fn in_netns<T: Send + 'static>(
        &self,
        f: impl FnOnce((&'static str, u16)) -> T + Send + 'static,
    ) -> Option<T> {
        let addr = (self.ip, self.port);
        match &self.netns {
            None => Some(f(addr)),
            Some(path) => crate::netns::run_in(path, move || f(addr)).ok(),
        }
    }

    /// `IP:PORT` (127.0.0.1, or [`NetNs::ADDR`] in a namespace).
    pub fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
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
        let path = path.to_string();
        self.in_netns(move |addr| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.0).ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            Some(out)
        })?
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
