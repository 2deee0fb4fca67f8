//! config: berthd's settings, from the command line and `daemon.json`.
//!
//! The file is optional (a missing default path means defaults); a file that exists
//! but does not parse is an error naming the file, line and column, so a typo never
//! silently falls back to defaults. Unknown keys are rejected for the same reason.
//! Command-line flags win over the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Default data root (images, containers, volumes, `meta.redb`).
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default state dir (sockets, shim state, runtime state).
pub const DEFAULT_STATE: &str = "/run/berth";
/// Default daemon.json.
pub const DEFAULT_CONFIG: &str = "/etc/berth/daemon.json";

/// Errors reading `daemon.json`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read daemon config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed daemon config {path}: {source} (fix the JSON or pass another file with --config)")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("invalid daemon config {path}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

/// The keys of `daemon.json` berthd understands (docker's names where they exist).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Data root (docker's `data-root`).
    pub data_root: Option<PathBuf>,
    /// State dir (sockets, shim state).
    pub exec_root: Option<PathBuf>,
    /// Path of the OCI runtime binary (default: `berth-runtime` next to berthd).
    pub runtime: Option<PathBuf>,
    /// Path of the shim binary (default: `berth-shim` next to berthd).
    pub shim: Option<PathBuf>,
    pub debug: Option<bool>,
    /// json-file log options: `max-size` (e.g. "10m"), `max-file` (e.g. "3").
    pub log_opts: Option<HashMap<String, String>>,
    /// Default network mode for containers: "none" or "host".
    pub default_network: Option<String>,
    /// Accepted for docker compatibility; live-restore is always on in berth.
    pub live_restore: Option<bool>,
    /// Static init binary for `--init` (default: `berth-init` next to berthd,
    /// else Debian's `/usr/bin/docker-init`).
    pub init_path: Option<PathBuf>,
    /// The seccomp profile of containers that name none: "builtin" (the
    /// default), "unconfined", or the path of a profile in docker's format.
    pub seccomp_profile: Option<String>,
    /// docker's `userns-remap`: `default` or `USER[:GROUP]` with ranges in
    /// /etc/subuid and /etc/subgid.
    pub userns_remap: Option<String>,
    /// Registries reached over plain HTTP (hosts or CIDRs); loopback always is.
    pub insecure_registries: Option<Vec<String>>,
    /// Mirrors of docker.io, tried in order before it.
    pub registry_mirrors: Option<Vec<String>>,
    /// berth's extension: mirrors of any registry, by its host[:port].
    pub mirrors: Option<HashMap<String, Vec<String>>>,
    /// Where per-registry TLS files live (`HOST:PORT/ca.crt`, `*.cert`, `*.key`);
    /// default `/etc/berth/certs.d`.
    pub certs_dir: Option<PathBuf>,
    pub max_concurrent_downloads: Option<usize>,
    pub max_concurrent_uploads: Option<usize>,
    /// berth's extension: the largest uncompressed size of one pulled layer, in
    /// bytes (a gzip bomb stops here); default max(compressed * 200, 4 GiB).
    pub max_layer_size: Option<u64>,
}

/// Effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub state: PathBuf,
    pub runtime: PathBuf,
    pub shim: PathBuf,
    pub debug: bool,
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub default_network: String,
    pub init_path: Option<PathBuf>,
    pub confinement: crate::security::Defaults,
    pub registry: crate::registry::RegistryConfig,
}

impl Config {
    /// Settings with every default, binaries looked up next to the running berthd.
    pub fn defaults() -> Config {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        Config {
            root: PathBuf::from(DEFAULT_ROOT),
            state: PathBuf::from(DEFAULT_STATE),
            runtime: dir.join("berth-runtime"),
            shim: dir.join("berth-shim"),
            debug: false,
            log_max_size: 10 * 1024 * 1024,
            log_max_file: 3,
            default_network: "none".to_string(),
            init_path: [
                dir.join("berth-init"),
                PathBuf::from("/usr/bin/docker-init"),
            ]
            .into_iter()
            .find(|p| p.is_file()),
            confinement: Default::default(),
            registry: Default::default(),
        }
    }

    /// Reads `path`; a missing file is fine only when `required` is false.
    pub fn load(path: &Path, required: bool) -> Result<Config, Error> {
        let mut cfg = Config::defaults();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(cfg),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_json::from_str(&text).map_err(|source| Error::Parse {
                path: path.to_path_buf(),
                source,
            })?
        };
        cfg.apply(path, file)?;
        Ok(cfg)
    }

    fn apply(&mut self, path: &Path, f: FileConfig) -> Result<(), Error> {
        let invalid = |field, reason: String| Error::Invalid {
            path: path.to_path_buf(),
            field,
            reason,
        };
        if let Some(r) = f.data_root {
            self.root = r;
        }
        if let Some(s) = f.exec_root {
            self.state = s;
        }
        if let Some(r) = f.runtime {
            self.runtime = r;
        }
        if let Some(s) = f.shim {
            self.shim = s;
        }
        if let Some(p) = f.init_path {
            if !p.is_file() {
                return Err(invalid(
                    "init-path",
                    format!("{} is not a file", p.display()),
                ));
            }
            self.init_path = Some(p);
        }
        if let Some(d) = f.debug {
            self.debug = d;
        }
        if let Some(opts) = f.log_opts {
            for (k, v) in opts {
                match k.as_str() {
                    "max-size" => {
                        self.log_max_size =
                            parse_size(&v).ok_or_else(|| invalid("log-opts.max-size", v.clone()))?
                    }
                    "max-file" => {
                        self.log_max_file = v
                            .parse()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| invalid("log-opts.max-file", v.clone()))?
                    }
                    other => {
                        return Err(invalid(
                            "log-opts",
                            format!("unknown option {other:?} (known: max-size, max-file)"),
                        ))
                    }
                }
            }
        }
        if let Some(p) = f.seccomp_profile {
            self.confinement.seccomp = crate::security::DefaultSeccomp::load(&p)
                .map_err(|reason| invalid("seccomp-profile", reason))?;
        }
        if let Some(r) = f.userns_remap.filter(|r| !r.is_empty()) {
            self.confinement.remap = Some(
                crate::security::Remap::load(&r)
                    .map_err(|reason| invalid("userns-remap", reason))?,
            );
        }
        if let Some(v) = f.insecure_registries {
            self.registry.insecure = v;
        }
        for m in f.registry_mirrors.iter().flatten() {
            if !(m.starts_with("https://") || m.starts_with("http://")) {
                return Err(invalid(
                    "registry-mirrors",
                    format!("{m:?}: a mirror is an http:// or https:// URL"),
                ));
            }
        }
        if let Some(v) = f.registry_mirrors {
            self.registry.mirrors = v;
        }
        if let Some(v) = f.mirrors {
            self.registry.registry_mirrors = v;
        }
        if let Some(d) = f.certs_dir {
            self.registry.certs_dir = d;
        }
        for (field, v, slot) in [
            (
                "max-concurrent-downloads",
                f.max_concurrent_downloads,
                &mut self.registry.max_downloads,
            ),
            (
                "max-concurrent-uploads",
                f.max_concurrent_uploads,
                &mut self.registry.max_uploads,
            ),
        ] {
            if let Some(n) = v {
                if n == 0 {
                    return Err(invalid(field, "must be at least 1".into()));
                }
                *slot = n;
            }
        }
        if let Some(n) = f.max_layer_size {
            if n == 0 {
                return Err(invalid("max-layer-size", "must be at least 1".into()));
            }
            self.registry.max_layer_size = Some(n);
        }
        if let Some(n) = f.default_network {
            if n != "none" && n != "host" {
                return Err(invalid(
                    "default-network",
                    format!("{n:?} is not supported (use \"none\" or \"host\")"),
                ));
            }
            self.default_network = n;
        }
        Ok(())
    }

    /// `<state>/berthd.sock`.
    pub fn socket(&self) -> PathBuf {
        self.state.join("berthd.sock")
    }
}

/// Whether an ELF binary needs no dynamic loader (it runs in any image).
/// The loader's path lives in `.interp`, within the first page of the file.
pub fn is_static(path: &Path) -> bool {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(n) = f.read(&mut head) else {
        return false;
    };
    let head = &head[..n];
    head.starts_with(b"\x7fELF")
        && !head
            .windows(8)
            .any(|w| w == b"/ld-linu" || w == b"/ld-musl")
}

/// Parses docker's sizes: "10m", "1g", "512k", "100" (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !(n.is_finite() && n >= 0.0) {
        return None;
    }
    Some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_file_names_path_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, "{\"debug\": tru").unwrap();
        let e = Config::load(&p, true).unwrap_err().to_string();
        assert!(e.contains("malformed daemon config"), "{e}");
        assert!(e.contains("daemon.json"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, r#"{"runtim": "/x"}"#).unwrap();
        assert!(Config::load(&p, true).is_err());
    }

    #[test]
    fn missing_optional_file_gives_defaults_and_values_apply() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.json");
        let c = Config::load(&p, false).unwrap();
        assert_eq!(c.root, PathBuf::from(DEFAULT_ROOT));
        assert!(Config::load(&p, true).is_err());
        std::fs::write(
            &p,
            r#"{"runtime": "/usr/sbin/runc", "log-opts": {"max-size": "1m", "max-file": "2"}}"#,
        )
        .unwrap();
        let c = Config::load(&p, true).unwrap();
        assert_eq!(c.runtime, PathBuf::from("/usr/sbin/runc"));
        assert_eq!(c.log_max_size, 1 << 20);
        assert_eq!(c.log_max_file, 2);
    }

    #[test]
    fn static_binaries_are_told_apart() {
        // busybox-static and docker-init are static; /bin/ls is not.
        if Path::new("/usr/bin/busybox").exists() {
            assert!(is_static(Path::new("/usr/bin/busybox")));
        }
        assert!(!is_static(Path::new("/bin/ls")));
        assert!(!is_static(Path::new("/etc/hostname")));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
    }
}
