//! Shared by the `engine_*` tests: a real berthd on a temp root/state/socket
//! (killed and cleaned up on drop, even when the test fails), the busybox
//! image imported from `scripts/make-busybox-rootfs.sh`, and checks against
//! the kernel and the disk. The OCI runtime is Debian's runc unless
//! `BERTH_TEST_RUNTIME` names another (e.g. target/debug/berth-runtime).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_engine_api::{Client, ContainerSpec, Output, OutputKind};

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn runtime() -> PathBuf {
    std::env::var_os("BERTH_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"))
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// berth-shim next to the test binaries (built on demand).
pub fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM") {
        return PathBuf::from(p);
    }
    let shim = target_dir().join("berth-shim");
    if !shim.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "berth-shim"])
            .status()
            .expect("cargo build -p berth-shim");
        assert!(status.success(), "building berth-shim failed");
    }
    shim
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A running berthd on its own temp dirs.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// Starts berthd and waits until it answers.
    pub async fn start(test: &str) -> Daemon {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        // Short: a shim's socket path (<state>/shims/<64 hex>/shim.sock) must
        // fit in sun_path (108 bytes).
        let _ = (test, n);
        let dir = tempfile::Builder::new()
            .prefix("b")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let root = dir.path().join("root");
        let state = dir.path().join("state");
        let config = dir.path().join("daemon.json");
        std::fs::write(
            &config,
            serde_json::json!({
                "runtime": runtime(),
                "shim": shim_binary(),
            })
            .to_string(),
        )
        .expect("write daemon.json");
        let mut d = Daemon {
            dir,
            root,
            state,
            config,
            child: None,
        };
        d.spawn().await;
        d
    }

    pub fn socket(&self) -> PathBuf {
        self.state.join("berthd.sock")
    }

    /// (Re)starts the berthd process on the same dirs.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("--root")
            .arg(&self.root)
            .arg("--state")
            .arg(&self.state)
            .arg("--config")
            .arg(&self.config)
            .arg("--debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(c) = Client::connect(self.socket()).await {
                if c.system().version().await.is_ok() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not answer; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.socket()).await.expect("connect")
    }

    /// Imports the busybox rootfs as image `busybox`.
    pub async fn busybox(&self) -> Client {
        let c = self.client().await;
        let tar = self.dir.path().join("busybox.tar");
        let status = Command::new(repo_root().join("scripts/make-busybox-rootfs.sh"))
            .arg(&tar)
            .status()
            .expect("make-busybox-rootfs.sh");
        assert!(status.success());
        c.images()
            .import_file(&tar, "busybox", &[])
            .await
            .expect("import busybox");
        c
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers outlive berthd by design: remove them through a fresh
        // daemon if needed, then stop it.
        if self.child.is_none() {
            return;
        }
        let sock = self.socket();
        // A runtime of its own, on its own thread: drop may run inside the
        // test's runtime, where blocking is not allowed.
        std::thread::scope(|s| {
            s.spawn(|| {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(c) = Client::connect(&sock).await {
                        if let Ok(list) = c.containers().list(true, &[], 0).await {
                            for ct in list {
                                let _ = c.containers().remove(&ct.id, true, true).await;
                            }
                        }
                    }
                });
            });
        });
        self.kill9();
        // Whatever is still mounted under the temp root goes before the dir.
        let root = self.root.display().to_string();
        if let Ok(m) = std::fs::read_to_string("/proc/self/mounts") {
            let mut targets: Vec<&str> = m
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|t| t.starts_with(&root))
                .collect();
            targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
            for t in targets {
                let _ = nix::mount::umount2(t, nix::mount::MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Collected output of an attach.
#[derive(Default, Debug)]
pub struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Captured {
    pub fn push(&mut self, o: Output) {
        match o.kind {
            OutputKind::Stdout => self.stdout.extend(o.data),
            OutputKind::Stderr => self.stderr.extend(o.data),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).to_string()
    }
}

/// `berth run` without -d: create, attach, start, collect, wait. Returns the
/// ID, the output and the exit code.
pub async fn run(c: &Client, spec: ContainerSpec) -> (String, Captured, i32) {
    let id = c.containers().create(&spec).await.expect("create").id;
    let mut a = c
        .containers()
        .attach(&id, false, true, true)
        .await
        .expect("attach");
    c.containers().start(&id).await.expect("start");
    let mut out = Captured::default();
    while let Some(o) = a.next().await {
        out.push(o.expect("output"));
    }
    let cond = if spec.auto_remove {
        "removed"
    } else {
        "not-running"
    };
    let w = c.containers().wait(&id, cond).await.expect("wait");
    (id, out, w.exit_code)
}

pub fn spec(args: &[&str]) -> ContainerSpec {
    ContainerSpec {
        image: "busybox".into(),
        cmd: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// Mount points whose path starts with `prefix`.
pub fn mounts_under(prefix: &Path) -> Vec<String> {
    let p = prefix.display().to_string();
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|t| t.starts_with(&p))
        .collect()
}

/// cgroup directories named after the container (any v1 controller or v2).
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    for c in ctrls.flatten() {
        for p in [c.path().join("berth").join(id), c.path().join(id)] {
            if p.exists() {
                found.push(p);
            }
        }
    }
    let v2 = Path::new("/sys/fs/cgroup/berth").join(id);
    if v2.exists() {
        found.push(v2);
    }
    found
}

/// Waits for `cond`, polling, up to `secs`.
pub async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

/// Whether a process with this pid is alive.
pub fn alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}
