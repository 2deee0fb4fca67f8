//! docker-archive interoperability, checked against a real implementation: a private
//! containerd (Debian's `containerd` package, the engine under docker) on a temp root
//! and socket imports what `berth save` writes and exports it back, and berth loads
//! that export with the same image ID. Needs root, and containerd/ctr (and dockerd
//! for the docker check): a missing one fails the test (see `requirements`).

mod requirements;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use berthd::images::{ImageFilters, ImageService, ImportOptions};
use berthd::metadata::Store;

struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Containerd {
    fn sock(&self) -> PathBuf {
        self.dir.path().join("c.sock")
    }

    fn ctr(&self, args: &[&str]) -> String {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(self.sock())
            .args(["-n", "berth-test"])
            .args(args)
            .output()
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // containerd may leave its snapshot mounts; none are made with --no-unpack.
        let _ = fs::remove_dir_all(self.dir.path());
    }
}

fn start_containerd() -> Option<Containerd> {
    if !requirements::on_path("containerd") || !requirements::on_path("ctr") {
        requirements::host_lacks("containerd and ctr on PATH (apt-get install containerd)");
        return None;
    }
    // Short path: unix socket names are limited to 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("bctd")
        .tempdir_in("/tmp")
        .unwrap();
    let d = dir.path().display();
    let cfg = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
    );
    fs::write(dir.path().join("config.toml"), cfg).unwrap();
    let log = fs::File::create(dir.path().join("log")).unwrap();
    let child = Command::new("containerd")
        .arg("--config")
        .arg(dir.path().join("config.toml"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn containerd");
    let c = Containerd { child, dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.sock().exists() {
        assert!(Instant::now() < deadline, "containerd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(c)
}

fn busybox_tar() -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-rootfs.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn containerd_imports_berth_save_and_berth_loads_containerd_export() {
    let Some(ctd) = start_containerd() else {
        return;
    };
    let a_dir = tempfile::tempdir().unwrap();
    let a = ImageService::new(a_dir.path(), Store::open(a_dir.path()).unwrap()).unwrap();
    let opts = ImportOptions {
        changes: vec![r#"CMD ["sh"]"#.into()],
        message: None,
    };
    let id = a
        .import(&busybox_tar()[..], Some("busybox"), &opts)
        .unwrap()
        .id;
    let archive = ctd.dir.path().join("berth-save.tar");
    a.save(&["busybox".into()], fs::File::create(&archive).unwrap())
        .unwrap();

    ctd.ctr(&["images", "import", "--no-unpack", archive.to_str().unwrap()]);
    let ls = ctd.ctr(&["images", "ls"]);
    assert!(ls.contains("docker.io/library/busybox:latest"), "{ls}");
    let manifest = a.inspect("busybox").unwrap().manifest_digest;
    assert!(
        ls.contains(manifest.as_str()),
        "manifest {manifest} not in {ls}"
    );

    let export = ctd.dir.path().join("ctr-export.tar");
    ctd.ctr(&[
        "images",
        "export",
        export.to_str().unwrap(),
        "docker.io/library/busybox:latest",
    ]);
    let b_dir = tempfile::tempdir().unwrap();
    let b = ImageService::new(b_dir.path(), Store::open(b_dir.path()).unwrap()).unwrap();
    let loaded = b.load(fs::File::open(&export).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].repo_tags, vec!["busybox:latest"]);
    assert_eq!(b.list(&ImageFilters::default()).unwrap().len(), 1);
    let res = b.resolve("busybox").unwrap();
    let snap = b.snapshots().get(res.top().unwrap()).unwrap().unwrap();
    assert!(b.snapshots().fs_dir(&snap).join("bin/busybox").is_file());
}

/// A private dockerd (Debian's docker.io) on a temp root, no bridge, no iptables.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn docker(&self, args: &[&str]) -> String {
        let host = format!("unix://{}", self.dir.path().join("d.sock").display());
        let out = Command::new("docker")
            .args(["-H", &host])
            .args(args)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd unmount its overlay2 layers and stop its containerd.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let root = self.dir.path().join("root");
        if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
            let mut mps: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| Path::new(m).starts_with(&root))
                .collect();
            mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mps {
                let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = fs::remove_dir_all(self.dir.path());
    }
}

fn start_dockerd() -> Option<Dockerd> {
    if !requirements::on_path("dockerd") || !requirements::on_path("docker") {
        requirements::host_lacks("dockerd and docker on PATH (apt-get install docker.io)");
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("bdkd")
        .tempdir_in("/tmp")
        .unwrap();
    let p = |s: &str| dir.path().join(s);
    fs::write(p("daemon.json"), "{}").unwrap();
    let log = fs::File::create(p("log")).unwrap();
    let child = Command::new("dockerd")
        .arg("--config-file")
        .arg(p("daemon.json"))
        .arg("--data-root")
        .arg(p("root"))
        .arg("--exec-root")
        .arg(p("exec"))
        .arg("--pidfile")
        .arg(p("pid"))
        .arg("-H")
        .arg(format!("unix://{}", p("d.sock").display()))
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--userland-proxy=false",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn dockerd");
    let d = Dockerd { child, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let host = format!("unix://{}", d.dir.path().join("d.sock").display());
        let ok = Command::new("docker")
            .args(["-H", &host, "version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "dockerd did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(d)
}

#[test]
fn docker_loads_berth_save_and_berth_loads_docker_save() {
    let Some(dk) = start_dockerd() else {
        return;
    };
    let a_dir = tempfile::tempdir().unwrap();
    let a = ImageService::new(a_dir.path(), Store::open(a_dir.path()).unwrap()).unwrap();
    let opts = ImportOptions {
        changes: vec![
            r#"CMD ["sh"]"#.into(),
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ],
        message: None,
    };
    let id = a
        .import(&busybox_tar()[..], Some("bbtest"), &opts)
        .unwrap()
        .id;
    let archive = dk.dir.path().join("berth-save.tar");
    a.save(&["bbtest".into()], fs::File::create(&archive).unwrap())
        .unwrap();

    let out = dk.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("bbtest:latest"), "{out}");
    let docker_id = dk.docker(&["image", "inspect", "-f", "{{.Id}}", "bbtest"]);
    assert_eq!(docker_id.trim(), id.as_str());
    // docker runs it: the layer and config are real to docker.
    let hello = dk.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "bbtest",
        "echo",
        "hello",
    ]);
    assert_eq!(hello.trim(), "hello");

    // And back: docker's (legacy-format) save loads into berth with the same ID.
    let back = dk.dir.path().join("docker-save.tar");
    dk.docker(&["save", "-o", back.to_str().unwrap(), "bbtest:latest"]);
    let b_dir = tempfile::tempdir().unwrap();
    let b = ImageService::new(b_dir.path(), Store::open(b_dir.path()).unwrap()).unwrap();
    let loaded = b.load(fs::File::open(&back).unwrap()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].repo_tags, vec!["bbtest:latest"]);
}
