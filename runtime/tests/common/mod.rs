//! Shared helpers of the berth-runtime binary tests: a busybox bundle in a temp dir,
//! a private `--root`, guards that delete containers even when a test fails, and the
//! requirement check (`require_root!`).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// The crate's one requirement check, shared with the unit tests.
#[path = "../../src/requirements.rs"]
pub mod requirements;

/// Root and busybox, which every lifecycle test needs: a missing one fails the test
/// naming what to install, unless `BERTH_TEST_SKIP_MISSING=1` (then it is skipped
/// with a printed reason; see `requirements`).
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::requirements::met(&[
            common::requirements::Requirement::Root,
            common::requirements::Requirement::Busybox,
        ]) {
            return;
        }
    };
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    ids: std::sync::Mutex<Vec<String>>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("state");
        Env {
            dir,
            root,
            ids: Default::default(),
        }
    }

    /// A unique container id for this test (also used as the cgroup name).
    pub fn id(&self, name: &str) -> String {
        let id = format!("rtt-{name}-{}", std::process::id());
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// A bundle with a busybox rootfs and runc's default config, adjusted by `edit`.
    pub fn bundle(&self, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
        let b = self.dir.path().join(name);
        let bin = b.join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        for d in ["proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(b.join("rootfs").join(d)).expect("mkdir");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            b.join("rootfs/tmp"),
            std::fs::Permissions::from_mode(0o1777),
        )
        .expect("chmod");
        std::fs::copy("/usr/bin/busybox", bin.join("busybox")).expect("copy busybox");
        for applet in [
            "sh", "ls", "cat", "echo", "sleep", "true", "false", "ps", "id", "hostname", "mount",
            "readlink", "stat", "grep",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("symlink");
        }
        let out = self.cmd(&["spec", "--bundle", b.to_str().expect("utf8")]);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = b.join("config.json");
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        config["process"]["terminal"] = Value::Bool(false);
        config["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write");
        b
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Run to completion. stdout/stderr go through files, not pipes: a created
    /// container inherits them and would keep pipes open long after we exit.
    pub fn cmd(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().expect("tempfile");
        let err = tempfile::tempfile().expect("tempfile");
        let status = self
            .command(args)
            .stdout(out.try_clone().expect("dup"))
            .stderr(err.try_clone().expect("dup"))
            .status()
            .expect("run berth-runtime");
        Output {
            status,
            stdout: read_all(out),
            stderr: read_all(err),
        }
    }

    /// Run and insist on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state json")
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap_or_default() as i32
    }

    pub fn create(&self, id: &str, bundle: &Path) {
        self.ok(&["create", "--bundle", bundle.to_str().expect("utf8"), id]);
    }

    /// Poll until `status` (containers exit asynchronously).
    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..500 {
            if self.status(id) == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{id} never reached {want}: {}", self.status(id));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = self.cmd(&["delete", "--force", id]);
        }
    }
}

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut v = Vec::new();
    let _ = f.seek(std::io::SeekFrom::Start(0));
    let _ = f.read_to_end(&mut v);
    v
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn ns_link(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Every v1/v2 directory a container named `id` could have under the default path.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    ["pids", "memory", "cpu", "freezer", "unified", ""]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join(id))
        .collect()
}

pub fn no_cgroup_left(id: &str) -> bool {
    cgroup_dirs(id).iter().all(|d| !d.exists())
}
