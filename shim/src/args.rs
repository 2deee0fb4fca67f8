//! Command-line arguments and their validation into a [`Config`].
//!
//! The argv holds only where things are: the container id, its bundle, the
//! runtime and the dirs. How the container's stdio is wired (tty, stdin, the
//! log) comes with the Create request, so it is typed and travels with the
//! one call that uses it.
//!
//! Parsed by hand rather than with clap: the shim is one process per
//! container, and every page of code it carries counts in its RSS.

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "usage: berth-shim --id ID --bundle DIR --runtime PATH --state-dir DIR \
--runtime-root DIR

Keeps one container's stdio, logs and exit status, and outlives berthd.
Prints the shim's socket address (unix://...) once it is ready.";

/// What the command line said, unvalidated.
#[derive(Debug, Default)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
}

/// The result of parsing: run, or print help/version and exit.
pub enum Parsed {
    Run(Args),
    Help,
    Version,
}

impl Args {
    /// Parses `--flag value` and `--flag=value` forms.
    pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Parsed, ArgsError> {
        let mut a = Args::default();
        let mut seen = std::collections::HashSet::new();
        let mut it = argv.into_iter();
        while let Some(arg) = it.next() {
            let arg = arg
                .into_string()
                .map_err(|a| ArgsError::Usage(format!("argument {a:?} is not UTF-8")))?;
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(Parsed::Help),
                "-V" | "--version" => return Ok(Parsed::Version),
                "--id" | "--bundle" | "--runtime" | "--state-dir" | "--runtime-root" => {
                    let value = match inline {
                        Some(v) => v,
                        None => it
                            .next()
                            .and_then(|v| v.into_string().ok())
                            .ok_or_else(|| ArgsError::Usage(format!("{flag} needs a value")))?,
                    };
                    match flag.as_str() {
                        "--id" => a.id = value,
                        "--bundle" => a.bundle = value.into(),
                        "--runtime" => a.runtime = value.into(),
                        "--state-dir" => a.state_dir = value.into(),
                        _ => a.runtime_root = value.into(),
                    }
                    seen.insert(flag);
                }
                other => return Err(ArgsError::Usage(format!("unknown argument {other:?}"))),
            }
        }
        for required in [
            "--id",
            "--bundle",
            "--runtime",
            "--state-dir",
            "--runtime-root",
        ] {
            if !seen.contains(required) {
                return Err(ArgsError::Usage(format!("{required} is required")));
            }
        }
        Ok(Parsed::Run(a))
    }
}

/// Validated, absolute configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub runtime: PathBuf,
    pub state_dir: PathBuf,
    pub runtime_root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
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
            bundle: abs(self.bundle)?,
            state_dir: abs(self.state_dir)?,
            runtime_root: abs(self.runtime_root)?,
            runtime,
            id: self.id,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, ArgsError> {
        Args::parse(args.iter().map(OsString::from))
    }

    #[test]
    fn flags_parse_in_both_forms_and_required_ones_are_checked() {
        let Ok(Parsed::Run(a)) = parse(&[
            "--id",
            "c1",
            "--bundle=/b",
            "--runtime",
            "runc",
            "--state-dir",
            "/s",
            "--runtime-root",
            "/r",
        ]) else {
            panic!("parse failed");
        };
        assert_eq!(a.id, "c1");
        assert_eq!(a.bundle, PathBuf::from("/b"));
        assert_eq!(a.runtime_root, PathBuf::from("/r"));
        assert!(parse(&["--id", "c1"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        // The stdio options come with the Create request now.
        assert!(parse(&["--tty"]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
    }
}
