//! Idle memory of one berth-shim next to one containerd-shim-runc-v2, each
//! holding a `sleep` container (issue 3: target ≤ 1/4).
//!
//! Ignored by default: it wants a release shim and a containerd binary.
//! Run it as
//! `BERTH_SHIM=target/release/berth-shim cargo test -p berthd --test tasks_rss -- --ignored --nocapture`
//! (the smallest shim comes from `cargo rustc --release -p berth-shim --bin
//! berth-shim -- -C target-feature=+crt-static`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berthd::tasks::{CreateTask, TaskManager};

fn vm_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn busybox_rootfs(dir: &Path) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for d in ["proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", dir.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("bin/sleep")).unwrap();
}

/// containerd on a private root and socket; killed (by pid) on drop.
struct Containerd {
    child: Child,
    sock: PathBuf,
    id: String,
}

impl Containerd {
    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .arg("-a")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("ctr")
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.ctr(&["task", "kill", "-s", "KILL", &self.id]);
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.ctr(&["task", "delete", "--force", &self.id]);
        let _ = self.ctr(&["container", "delete", &self.id]);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shim_pid_for(sock: &Path) -> Option<u32> {
    let needle = sock.to_string_lossy().into_owned();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("containerd-shim-runc-v2") && cmd.contains(&needle) {
            return Some(pid);
        }
    }
    None
}

#[tokio::test]
#[ignore = "needs a release berth-shim (BERTH_SHIM) and containerd"]
async fn idle_shim_rss_is_a_quarter_of_containerd_shim() {
    let Some(shim) = std::env::var_os("BERTH_SHIM").map(PathBuf::from) else {
        panic!("set BERTH_SHIM to a release berth-shim");
    };
    let tmp = tempfile::Builder::new().prefix("btrss").tempdir().unwrap();
    let id = format!("bt-rss-{}", std::process::id());

    // berth-shim
    let bundle = tmp.path().join("bundle");
    busybox_rootfs(&bundle.join("rootfs"));
    let out = Command::new("/usr/sbin/runc")
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cfg = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    spec["linux"]["cgroupsPath"] = format!("/berth-test-{id}").into();
    std::fs::write(&cfg, serde_json::to_vec(&spec).unwrap()).unwrap();
    let manager = TaskManager::new(tmp.path().join("state"), "/usr/sbin/runc", &shim);
    let task = manager
        .create(CreateTask::new(&id, &bundle))
        .await
        .expect("create");
    task.start().await.expect("start");

    // containerd-shim-runc-v2
    let croot = tmp.path().join("containerd");
    let sock = croot.join("c.sock");
    std::fs::create_dir_all(&croot).unwrap();
    let config = croot.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n[grpc]\n  address = \"{1}\"\n",
            croot.display(),
            sock.display()
        ),
    )
    .unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("containerd");
    let ctd = Containerd {
        child,
        sock: sock.clone(),
        id: id.clone(),
    };
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let crootfs = tmp.path().join("crootfs");
    busybox_rootfs(&crootfs);
    let out = ctd.ctr(&[
        "run",
        "-d",
        "--runtime",
        "io.containerd.runc.v2",
        "--rootfs",
        &crootfs.to_string_lossy(),
        &id,
        "/bin/sleep",
        "1000",
    ]);
    assert!(
        out.status.success(),
        "ctr run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (berth_pid, _) = task.info().await.unwrap();
    let berth = vm_rss_kb(berth_pid);
    let containerd_shim = vm_rss_kb(shim_pid_for(&sock).expect("containerd shim pid"));
    println!("idle RSS: berth-shim {berth} kB, containerd-shim-runc-v2 {containerd_shim} kB");
    drop(ctd);
    task.delete(true).await.expect("delete");
    assert!(berth > 0 && containerd_shim > 0);
    assert!(
        berth * 4 <= containerd_shim,
        "berth-shim {berth} kB is more than 1/4 of {containerd_shim} kB"
    );
}
