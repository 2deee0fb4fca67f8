//! Command-line arguments (clap structs only) and their validation into a
//! [`Config`].

use std::path::PathBuf;

use clap::Parser;

/// berth-shim: keeps one container's stdio, logs and exit status; outlives
/// berthd.
#[derive(Debug, Parser)]
#[command(name = "berth-shim", version)]
pub struct Args {
    /// Container id (also the runtime's id).
    #[arg(long)]
    pub id: String,
    /// OCI bundle directory (config.json + rootfs).
    #[arg(long)]
    pub bundle: PathBuf,
    /// OCI runtime binary with runc's command line (berth-runtime, runc).
    #[arg(long)]
    pub runtime: PathBuf,
    /// This shim's state dir (socket, address, pid, exit.json), removed on shutdown.
    #[arg(long)]
    pub state_dir: PathBuf,
    /// The runtime's --root.
    #[arg(long)]
    pub runtime_root: PathBuf,
    /// json-file log of the container's stdout/stderr; none when absent.
    #[arg(long)]
    pub log_path: Option<PathBuf>,
    /// Rotate the log at this size: bytes or with a k/m/g suffix; -1 never.
    #[arg(long, default_value = "10m", allow_hyphen_values = true)]
    pub log_max_size: String,
    /// Log files kept, the live one included.
    #[arg(long, default_value_t = 3)]
    pub log_max_file: u32,
    /// The container has a pty (process.terminal in config.json).
    #[arg(long)]
    pub tty: bool,
    /// Keep the container's stdin open for attach.
    #[arg(long)]
    pub stdin: bool,
}

/// Validated, absolute configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
    pub log_path: Option<PathBuf>,
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    pub tty: bool,
    pub stdin: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("--log-max-size {0:?}: expected bytes, optionally with a k/m/g suffix, or -1")]
    Size(String),
    #[error("--id {0:?}: expected 1-128 characters of [A-Za-z0-9_.-]")]
    Id(String),
    #[error("{}: {source}", path.display())]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--runtime {}: not an executable file", .0.display())]
    Runtime(PathBuf),
}

impl Args {
    pub fn into_config(self) -> Result<Config, ArgsError> {
        let valid_id = !self.id.is_empty()
            && self.id.len() <= 128
            && !self.id.starts_with('.')
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_id {
            return Err(ArgsError::Id(self.id));
        }
        let abs = |p: PathBuf| {
            std::path::absolute(&p).map_err(|source| ArgsError::Path { path: p, source })
        };
        let runtime = resolve_runtime(self.runtime)?;
        Ok(Config {
            log_max_size: parse_size(&self.log_max_size)?,
            bundle: abs(self.bundle)?,
            state_dir: abs(self.state_dir)?,
            runtime_root: abs(self.runtime_root)?,
            log_path: self.log_path.map(abs).transpose()?,
            runtime,
            id: self.id,
            log_max_file: self.log_max_file.max(1),
            tty: self.tty,
            stdin: self.stdin,
        })
    }
}

/// A bare name is looked up in PATH; the result must be an executable file,
/// checked now because a runtime that cannot be executed is only discovered
/// by the first create otherwise.
fn resolve_runtime(p: PathBuf) -> Result<PathBuf, ArgsError> {
    use std::os::unix::fs::PermissionsExt;
    let candidates: Vec<PathBuf> = if p.components().count() == 1 && !p.is_absolute() {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).map(|d| d.join(&p)).collect())
            .unwrap_or_default()
    } else {
        vec![p.clone()]
    };
    for c in candidates {
        if let Ok(m) = std::fs::metadata(&c) {
            if m.is_file() && m.permissions().mode() & 0o111 != 0 {
                return std::path::absolute(&c)
                    .map_err(|source| ArgsError::Path { path: c, source });
            }
        }
    }
    Err(ArgsError::Runtime(p))
}

/// docker's size syntax (`units.RAMInBytes`: binary multiples); -1 is
/// unlimited.
pub fn parse_size(s: &str) -> Result<Option<u64>, ArgsError> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(None);
    }
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| ArgsError::Size(s.to_string()))?;
    match n.checked_mul(mult) {
        Some(0) | None => Err(ArgsError::Size(s.to_string())),
        Some(v) => Ok(Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("10m").unwrap(), Some(10 << 20));
        assert_eq!(parse_size("1k").unwrap(), Some(1024));
        assert_eq!(parse_size("2KB").unwrap(), Some(2048));
        assert_eq!(parse_size("123").unwrap(), Some(123));
        assert_eq!(parse_size("-1").unwrap(), None);
        assert!(parse_size("0").is_err());
        assert!(parse_size("ten").is_err());
    }
}
