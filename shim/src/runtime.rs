//! Calls to the OCI runtime (runc's command line: berth-runtime, runc).
//! Every call is spawned here and awaited through the [`Reaper`]; none blocks
//! the shim's single thread beyond the fork/exec itself.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tokio::io::AsyncReadExt;

use crate::reaper::{Exit, Reaper};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("running {} {verb}: {source}", runtime.display())]
    Spawn {
        runtime: PathBuf,
        verb: String,
        source: std::io::Error,
    },
    #[error("{} {verb} failed: {message}", runtime.display())]
    Failed {
        runtime: PathBuf,
        verb: String,
        message: String,
    },
}

/// The container's stdio for `create`/`exec`; the runtime passes these
/// through to the process (unless a console socket is used).
pub struct ProcessStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

pub struct Runtime {
    path: PathBuf,
    root: PathBuf,
    /// `--log` file: where the runtime's own errors go when the process's
    /// stdio is the container's.
    log: PathBuf,
    reaper: Reaper,
}

impl Runtime {
    pub fn new(path: PathBuf, root: PathBuf, log: PathBuf, reaper: Reaper) -> Self {
        Runtime {
            path,
            root,
            log,
            reaper,
        }
    }

    /// `create --bundle B [--console-socket S] --pid-file P ID`.
    pub async fn create(
        &self,
        id: &str,
        bundle: &Path,
        console_socket: Option<&Path>,
        pid_file: &Path,
        stdio: ProcessStdio,
    ) -> Result<(), RuntimeError> {
        let mut args: Vec<OsString> = vec!["create".into(), "--bundle".into(), bundle.into()];
        if let Some(s) = console_socket {
            args.extend(["--console-socket".into(), s.into()]);
        }
        args.extend(["--pid-file".into(), pid_file.into(), id.into()]);
        self.run_with_stdio("create", &args, stdio).await
    }

    /// `exec --detach --process F --pid-file P [--console-socket S] ID`.
    pub async fn exec(
        &self,
        id: &str,
        process_file: &Path,
        console_socket: Option<&Path>,
        pid_file: &Path,
        stdio: ProcessStdio,
    ) -> Result<(), RuntimeError> {
        let mut args: Vec<OsString> = vec![
            "exec".into(),
            "--detach".into(),
            "--process".into(),
            process_file.into(),
            "--pid-file".into(),
            pid_file.into(),
        ];
        if let Some(s) = console_socket {
            args.extend(["--console-socket".into(), s.into()]);
        }
        args.push(id.into());
        self.run_with_stdio("exec", &args, stdio).await
    }

    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("start", &["start", id]).await.map(drop)
    }

    pub async fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.run("kill", &args).await.map(drop)
    }

    pub async fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.run("delete", &args).await.map(drop)
    }

    pub async fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("pause", &["pause", id]).await.map(drop)
    }

    pub async fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run("resume", &["resume", id]).await.map(drop)
    }

    /// `ps --format json ID`: the pids of the container.
    pub async fn ps(&self, id: &str) -> Result<Vec<u32>, RuntimeError> {
        let out = self.run("ps", &["ps", "--format", "json", id]).await?;
        serde_json::from_slice(&out).map_err(|e| self.failed("ps", format!("bad output: {e}")))
    }

    /// `events --stats ID`: the `data` object, JSON.
    pub async fn stats(&self, id: &str) -> Result<Vec<u8>, RuntimeError> {
        let out = self.run("events", &["events", "--stats", id]).await?;
        let v: serde_json::Value = serde_json::from_slice(&out)
            .map_err(|e| self.failed("events", format!("bad output: {e}")))?;
        let data = v.get("data").cloned().unwrap_or(v);
        serde_json::to_vec(&data).map_err(|e| self.failed("events", e.to_string()))
    }

    /// `update --resources F ID`.
    pub async fn update(&self, id: &str, resources_file: &Path) -> Result<(), RuntimeError> {
        let f = resources_file.to_string_lossy();
        self.run("update", &["update", "--resources", &f, id])
            .await
            .map(drop)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        cmd
    }

    fn failed(&self, verb: &str, message: String) -> RuntimeError {
        RuntimeError::Failed {
            runtime: self.path.clone(),
            verb: verb.to_string(),
            message,
        }
    }

    /// Runs a verb whose stdout/stderr are ours to read; returns stdout.
    async fn run(&self, verb: &str, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let mut cmd = self.command();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let log_start = log_len(&self.log);
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            runtime: self.path.clone(),
            verb: verb.to_string(),
            source,
        })?;
        let exit = self.reaper.wait(child.id() as i32);
        let out = child.stdout.take().map(OwnedFd::from);
        let err = child.stderr.take().map(OwnedFd::from);
        // `child` is never waited on: the reaper owns its status.
        drop(child);
        let (stdout, stderr) = tokio::join!(read_all(out), read_all(err));
        let exit = exit.await.unwrap_or(Exit::Code(-1));
        if exit == Exit::Code(0) {
            return Ok(stdout);
        }
        let mut message = String::from_utf8_lossy(&stderr).trim().to_string();
        if message.is_empty() {
            message = last_log_error(&self.log, log_start).unwrap_or_default();
        }
        if message.is_empty() {
            message = format!("exit {exit:?}");
        }
        Err(self.failed(verb, message))
    }

    /// Runs `create`/`exec`, whose stdio is the container's: errors are read
    /// back from the `--log` file instead.
    async fn run_with_stdio(
        &self,
        verb: &str,
        args: &[OsString],
        stdio: ProcessStdio,
    ) -> Result<(), RuntimeError> {
        let mut cmd = self.command();
        cmd.args(args);
        let pick = |fd: Option<OwnedFd>| fd.map(Stdio::from).unwrap_or_else(Stdio::null);
        cmd.stdin(pick(stdio.stdin))
            .stdout(pick(stdio.stdout))
            .stderr(pick(stdio.stderr));
        let log_start = log_len(&self.log);
        let child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            runtime: self.path.clone(),
            verb: verb.to_string(),
            source,
        })?;
        // Our copies of the container's pipe ends close here, so EOF on them
        // means the container's processes closed theirs.
        drop(cmd);
        let exit = self.reaper.wait(child.id() as i32);
        drop(child);
        let exit = exit.await.unwrap_or(Exit::Code(-1));
        if exit == Exit::Code(0) {
            return Ok(());
        }
        let message = last_log_error(&self.log, log_start)
            .unwrap_or_else(|| format!("exit {exit:?} (no error in {})", self.log.display()));
        Err(self.failed(verb, message))
    }
}

fn log_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The last `"level":"error"` (or fatal) message the runtime logged since
/// `from`; plain text lines are taken as they are.
fn last_log_error(log: &Path, from: u64) -> Option<String> {
    let data = std::fs::read(log).ok()?;
    let start = usize::try_from(from)
        .ok()
        .filter(|&s| s <= data.len())
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&data[start..]);
    let mut last = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => {
                let level = v.get("level").and_then(|l| l.as_str()).unwrap_or("");
                if matches!(level, "error" | "fatal" | "panic") {
                    if let Some(m) = v.get("msg").and_then(|m| m.as_str()) {
                        last = Some(m.to_string());
                    }
                }
            }
            Err(_) => last = Some(line.trim().to_string()),
        }
    }
    last
}

async fn read_all(fd: Option<OwnedFd>) -> Vec<u8> {
    let mut buf = Vec::new();
    let Some(fd) = fd else { return buf };
    if let Ok(mut rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        let _ = rx.read_to_end(&mut buf).await;
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_is_taken_from_the_json_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        std::fs::write(&log, "{\"level\":\"error\",\"msg\":\"old\"}\n").unwrap();
        let from = log_len(&log);
        let mut more = std::fs::read(&log).unwrap();
        more.extend_from_slice(
            b"{\"level\":\"info\",\"msg\":\"x\"}\n{\"level\":\"error\",\"msg\":\"exec: no such file\"}\n",
        );
        std::fs::write(&log, more).unwrap();
        assert_eq!(
            last_log_error(&log, from).as_deref(),
            Some("exec: no such file")
        );
    }
}
