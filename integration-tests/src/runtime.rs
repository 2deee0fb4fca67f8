//! Drives one OCI runtime binary, runc or berth-runtime, through its runc
//! command line, with `--root` in a temp dir and a timeout on every call (a
//! hung runtime fails the test instead of hanging the suite).
//!
//! [`Container`] is the cleanup guard: dropping it runs `delete --force`, also
//! when the test panics. The container's stdout and stderr go to files, so
//! `create` returns as soon as the runtime does, and the checker's report is
//! read from the stdout file after the process has stopped.

use crate::bundle::Bundle;
use crate::checker::workspace_root;
use crate::error::{io, SupportError};
use crate::report::Report;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Default time limit of one runtime call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The runtime under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// Debian's runc 1.1.5, the oracle that checks the suite itself.
    Runc,
    /// berth-runtime from this workspace.
    Berth,
}

impl Runtime {
    pub fn short(self) -> &'static str {
        match self {
            Runtime::Runc => "runc",
            Runtime::Berth => "berth",
        }
    }

    /// The binary: `/usr/sbin/runc`, or for berth `$BERTH_RUNTIME`, else
    /// `target/release/berth-runtime`, else `target/debug/berth-runtime`.
    /// A missing berth-runtime is an error (its tests fail, never pass).
    pub fn binary(self) -> Result<PathBuf, SupportError> {
        match self {
            Runtime::Runc => {
                let p = PathBuf::from(std::env::var_os("RUNC").unwrap_or("/usr/sbin/runc".into()));
                if p.exists() {
                    Ok(p)
                } else {
                    Err(SupportError::MissingBinary {
                        binary: p,
                        hint: "apt-get install runc".into(),
                    })
                }
            }
            Runtime::Berth => berth_binary(),
        }
    }
}

pub fn berth_binary() -> Result<PathBuf, SupportError> {
    if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
        let p = PathBuf::from(p);
        return if p.exists() {
            Ok(p)
        } else {
            Err(SupportError::MissingBinary {
                binary: p,
                hint: "BERTH_RUNTIME names a file that does not exist".into(),
            })
        };
    }
    let target = workspace_root().join("target");
    for profile in ["release", "debug"] {
        let p = target.join(profile).join("berth-runtime");
        if p.exists() {
            return Ok(p);
        }
    }
    Err(SupportError::MissingBinary {
        binary: target.join("release/berth-runtime"),
        hint: "run `cargo build --release -p berth-runtime` or set BERTH_RUNTIME".into(),
    })
}

/// What one runtime call did.
#[derive(Debug)]
pub struct Outcome {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Turns a failed call into an error carrying its stderr.
    pub fn check(self) -> Result<Self, SupportError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(SupportError::Command {
                command: self.command,
                status: self.status.to_string(),
                stderr: self.stderr,
            })
        }
    }
}

/// Runs `cmd` with stdout/stderr into files and a time limit.
pub fn run_with_timeout(
    mut cmd: Command,
    out: &Path,
    err: &Path,
    limit: Duration,
) -> Result<Outcome, SupportError> {
    let command = format!("{cmd:?}");
    let stdout = File::create(out).map_err(io(out))?;
    let stderr = File::create(err).map_err(io(err))?;
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    let mut child = cmd.spawn().map_err(io(cmd.get_program()))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait().map_err(io(cmd.get_program()))? {
            Some(s) => break s,
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SupportError::Timeout {
                    command,
                    secs: limit.as_secs(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Ok(Outcome {
        command,
        status,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    })
}

/// One runtime with its own `--root`.
pub struct Driver {
    rt: Runtime,
    bin: PathBuf,
    work: tempfile::TempDir,
}

impl Driver {
    pub fn new(rt: Runtime) -> Result<Self, SupportError> {
        let bin = rt.binary()?;
        let work = tempfile::Builder::new()
            .prefix(&format!("berth-conf-{}-", rt.short()))
            .tempdir()
            .map_err(io("/tmp"))?;
        let root = work.path().join("root");
        std::fs::create_dir(&root).map_err(io(&root))?;
        Ok(Self { rt, bin, work })
    }

    pub fn runtime(&self) -> Runtime {
        self.rt
    }

    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// The `--root` state directory.
    pub fn root(&self) -> PathBuf {
        self.work.path().join("root")
    }

    /// A scratch path unique within this driver.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        self.work.path().join(format!("{n}-{name}"))
    }

    /// `runtime --root R args...`, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    /// Runs the runtime with `args`, whatever its exit status.
    pub fn exec(&self, args: &[&str]) -> Result<Outcome, SupportError> {
        self.exec_cmd(self.command(args))
    }

    pub fn exec_cmd(&self, cmd: Command) -> Result<Outcome, SupportError> {
        let out = self.scratch("stdout");
        let err = self.scratch("stderr");
        run_with_timeout(cmd, &out, &err, CALL_TIMEOUT)
    }

    /// Runs the runtime with `args`; a non-zero exit is an error.
    pub fn ok(&self, args: &[&str]) -> Result<Outcome, SupportError> {
        self.exec(args)?.check()
    }

    /// `create --bundle B ID` plus `extra` flags; the container's stdout and
    /// stderr go to files read by [`Container::stdout`].
    pub fn create<'a>(
        &'a self,
        bundle: &Bundle,
        extra: &[&str],
    ) -> Result<Container<'a>, SupportError> {
        bundle.write()?;
        let id = bundle.id().to_string();
        let stdout = self.scratch(&format!("{id}.out"));
        let stderr = self.scratch(&format!("{id}.err"));
        let bundle_dir = bundle.path().to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", bundle_dir.as_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let container = Container {
            driver: self,
            id: id.clone(),
            stdout,
            stderr,
        };
        let outcome = run_with_timeout(
            self.command(&args),
            &container.stdout,
            &container.stderr,
            CALL_TIMEOUT,
        )?;
        outcome.check()?;
        Ok(container)
    }

    /// `state ID` parsed.
    pub fn state(&self, id: &str) -> Result<Value, SupportError> {
        let out = self.ok(&["state", id])?;
        serde_json::from_str(&out.stdout).map_err(|source| SupportError::Json {
            from: format!("{} state {id}", self.rt.short()),
            text: out.stdout.clone(),
            source,
        })
    }

    /// Proves the runtime can run a plain container at all. Negative tests
    /// call it first, so a runtime that fails everything cannot pass them.
    pub fn assert_functional(&self, bundle_for: &Bundle) -> Result<(), SupportError> {
        let mut b = Bundle::new(self.rt, "sanity", &["/checker", "exit", "0"])?;
        b.config["linux"]["namespaces"] = bundle_for.config["linux"]["namespaces"].clone();
        self.run_checker_exit(&b)
    }

    fn run_checker_exit(&self, bundle: &Bundle) -> Result<(), SupportError> {
        let c = self.create(bundle, &[])?;
        c.start()?;
        c.wait_status("stopped", CALL_TIMEOUT)?;
        c.delete()?;
        Ok(())
    }

    /// Create, start, wait for the process to stop, read its report, delete.
    pub fn run_checker(&self, bundle: &Bundle) -> Result<Report, SupportError> {
        let c = self.create(bundle, &[])?;
        c.start()?;
        c.wait_status("stopped", CALL_TIMEOUT)?;
        let report = c.report()?;
        c.delete()?;
        Ok(report)
    }
}

/// A container that exists in a [`Driver`]'s root; `delete --force` on drop.
pub struct Container<'a> {
    driver: &'a Driver,
    id: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Container<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn start(&self) -> Result<Outcome, SupportError> {
        self.driver.ok(&["start", &self.id])
    }

    pub fn state(&self) -> Result<Value, SupportError> {
        self.driver.state(&self.id)
    }

    pub fn status(&self) -> Result<String, SupportError> {
        Ok(self.state()?["status"].as_str().unwrap_or("").to_string())
    }

    pub fn pid(&self) -> Result<i64, SupportError> {
        Ok(self.state()?["pid"].as_i64().unwrap_or(0))
    }

    /// Polls `state` until the status is `want`.
    pub fn wait_status(&self, want: &str, limit: Duration) -> Result<(), SupportError> {
        let start = Instant::now();
        loop {
            let st = self.status()?;
            if st == want {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(SupportError::Container {
                    id: self.id.clone(),
                    what: format!("still {st:?} after {limit:?}, wanted {want:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn kill(&self, signal: &str) -> Result<Outcome, SupportError> {
        self.driver.ok(&["kill", &self.id, signal])
    }

    pub fn delete(&self) -> Result<Outcome, SupportError> {
        self.driver.ok(&["delete", &self.id])
    }

    /// What the container process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The runtime's and the container's stderr.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The checker's report (its last stdout line).
    pub fn report(&self) -> Result<Report, SupportError> {
        let text = self.stdout();
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(line)
            .map(Report)
            .map_err(|source| SupportError::Json {
                from: format!("checker in {} (stderr: {})", self.id, self.stderr()),
                text: text.clone(),
                source,
            })
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.driver.exec(&["delete", "--force", &self.id]);
    }
}
