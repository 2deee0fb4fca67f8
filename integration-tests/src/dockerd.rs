//! A private dockerd (Debian's docker.io): own data root, exec root, pid file
//! and socket, no iptables, no bridge, its own cgroup parent; optionally with
//! berth-runtime added as a runtime. The oracle and peer of the drop-in and
//! registry suites. Drop removes its containers, stops it by pid, unmounts what
//! it left under its dirs and removes its cgroups.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::ensure;
use nix::mount::{umount2, MntFlags};

use crate::cgroup;
use crate::runtime::{run_with_timeout, Outcome};

/// A private dockerd; stopped and cleaned up on drop.
pub struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts dockerd, or says why it cannot run here (`Ok(Err(reason))`).
    pub fn start(berth: Option<&Path>) -> anyhow::Result<Result<Self, String>> {
        if Command::new("docker").arg("--version").output().is_err() {
            return Ok(Err(
                "the docker CLI is not installed (apt-get install docker.io)".into(),
            ));
        }
        let dir = tempfile::Builder::new().prefix("berth-dk-").tempdir()?;
        let name = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cgroup_parent = format!("/{name}");
        let log = std::fs::File::create(dir.path().join("dockerd.log"))?;
        let mut cmd = Command::new("dockerd");
        cmd.arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("d.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--cgroup-parent", &cgroup_parent]);
        if let Some(b) = berth {
            cmd.arg("--add-runtime")
                .arg(format!("berth={}", b.display()));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(format!(
                    "cannot run dockerd (apt-get install docker.io): {e}"
                )))
            }
        };
        let mut d = Dockerd {
            dir,
            child,
            cgroup_parent,
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(40) {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Ok(Err(format!(
                    "dockerd exited with {status}: {}",
                    d.log_tail()
                )));
            }
            if d.docker(&["version"]).map(|o| o.success()).unwrap_or(false) {
                return Ok(Ok(d));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(Err(format!(
            "dockerd did not answer in 40s: {}",
            d.log_tail()
        )))
    }

    /// Its temp dir (data, exec root, socket, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    pub fn sock(&self) -> String {
        format!("unix://{}", self.dir.path().join("d.sock").display())
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .arg("-H")
            .arg(self.sock())
            .args(args);
        c
    }

    pub fn docker(&self, args: &[&str]) -> anyhow::Result<Outcome> {
        let out = self.dir.path().join("cmd.out");
        let err = self.dir.path().join("cmd.err");
        Ok(run_with_timeout(
            self.docker_cmd(args),
            &out,
            &err,
            Duration::from_secs(60),
        )?)
    }

    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let o = self.docker(args)?;
        ensure!(
            o.success(),
            "docker {}: {}",
            args.join(" "),
            o.stderr.trim()
        );
        Ok(o.stdout.trim().to_string())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(ids) = self.ok(&["ps", "-aq"]) {
            for id in ids.lines() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever dockerd left mounted under its roots (overlays, shm).
        let prefix = self.dir.path().display().to_string();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = umount2(p, MntFlags::MNT_DETACH);
        }
        cgroup::remove_all(&self.cgroup_parent);
    }
}
