//! Root-only tests that run `prepare` → `pivot` → `finish` for real.
//!
//! The parent test builds a bundle (busybox rootfs with hostile symlinks, a
//! config.json) and re-runs this test binary, filtered to [`child`], in a new mount
//! namespace (unshare in `pre_exec`, then `/` made rslave before anything else runs,
//! so even a broken `prepare` cannot mount into the host). The child sets up the
//! rootfs, inspects what it got from the inside (mountinfo, masked and read-only
//! paths, devices, links) and fails by panicking; the parent asserts its exit status
//! and that the host's mount table and `/etc` are untouched.
//!
//! Without root the parent tests print why and pass.
use super::mountinfo::{self, MountInfo};
use super::{finish, pivot, prepare, RootfsOptions};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::requirements::{self, Requirement};

const ENV_BUNDLE: &str = "BERTH_ROOTFS_NS_BUNDLE";
const ENV_MODE: &str = "BERTH_ROOTFS_NS_MODE";

/// A bundle in a temp dir; removed on drop (nothing is mounted on the host side).
struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
    rootfs: PathBuf,
}

/// How the child sets up its root; each mode is one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// pivot_root, no rootfsPropagation: the `rshared` /shared mount stays shared.
    Pivot,
    /// MS_MOVE + chroot with "rprivate", which finish() applies after /shared was made
    /// shared, so it must be private again.
    NoPivot,
    /// "unbindable": the parent of the rootfs must still be bindable for prepare().
    Unbindable,
    /// "rshared": everything shared, including /.
    Shared,
    /// pivot_root inside a user namespace (root mapped to root, nothing else): mknod
    /// is refused so devices are host binds, a fresh sysfs is refused (no network
    /// namespace of its own) so it is the host's, and inherited mount flags are locked.
    UserNs,
    /// pivot_root with a cgroup namespace: the cgroup mount is fresh cgroupfs mounts
    /// rooted at the namespace, not binds of host directories.
    CgroupNs,
    /// A user namespace with root mapped to host uid/gid 100000 (65536 ids), joined
    /// like a runtime does (setns + setresuid 0): the rootfs is chowned to the range
    /// as docker's userns-remap does, host files are unmapped (overflow id) inside.
    UserNsMapped,
    /// "slave" with the rootfs a shared mount "on the host": the host is emulated by
    /// an outer mount namespace, so the test mounts nothing in the real host's.
    Slave,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Pivot => "pivot",
            Mode::NoPivot => "no-pivot",
            Mode::Unbindable => "unbindable",
            Mode::Shared => "shared",
            Mode::UserNs => "userns",
            Mode::UserNsMapped => "userns-mapped",
            Mode::CgroupNs => "cgroupns",
            Mode::Slave => "slave",
        }
    }

    fn in_userns(self) -> bool {
        matches!(self, Mode::UserNs | Mode::UserNsMapped)
    }

    fn from_name(s: &str) -> Mode {
        match s {
            "no-pivot" => Mode::NoPivot,
            "unbindable" => Mode::Unbindable,
            "shared" => Mode::Shared,
            "userns" => Mode::UserNs,
            "userns-mapped" => Mode::UserNsMapped,
            "cgroupns" => Mode::CgroupNs,
            "slave" => Mode::Slave,
            _ => Mode::Pivot,
        }
    }
}

fn spec_json(mode: Mode) -> String {
    // A fresh proc needs a PID namespace owned by the user namespace; the test
    // process cannot enter one, so under a user namespace /proc is the host's.
    let proc = if mode.in_userns() {
        r#"{"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}"#
    } else {
        r#"{"destination": "/proc", "type": "proc", "source": "proc"}"#
    };
    let propagation = match mode {
        Mode::Pivot | Mode::UserNs | Mode::UserNsMapped => "",
        Mode::CgroupNs => r#""namespaces": [{"type": "mount"}, {"type": "cgroup"}],"#,
        Mode::NoPivot => r#""rootfsPropagation": "rprivate","#,
        Mode::Unbindable => r#""rootfsPropagation": "unbindable","#,
        Mode::Shared => r#""rootfsPropagation": "rshared","#,
        Mode::Slave => r#""rootfsPropagation": "slave","#,
    };
    format!(
        r#"{{
  "ociVersion": "1.0.2",
  "root": {{"path": "rootfs", "readonly": true}},
  "mounts": [
    {proc},
    {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
    {{"destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}},
    {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
    {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": ["nosuid", "noexec", "nodev"]}},
    {{"destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": ["nosuid", "noexec", "nodev", "ro"]}},
    {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}},
    {{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "nodev", "noexec", "mode=1770"]}},
    {{"destination": "/data", "type": "bind", "source": "data",
      "options": ["rbind", "ro", "nosuid"]}},
    {{"destination": "/hello.txt", "type": "bind", "source": "data/hello.txt",
      "options": ["bind"]}},
    {{"destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}},
    {{"destination": "/rtree", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/rtree/sub", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/rtree-ro", "type": "bind", "source": "rootfs/rtree",
      "options": ["rbind", "rro", "rnosuid"]}},
    {{"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/abs/y", "type": "tmpfs", "source": "tmpfs"}},
    {{"destination": "/etc/copy", "type": "tmpfs", "source": "tmpfs",
      "options": ["tmpcopyup", "ro", "mode=755"]}}
  ],
  "linux": {{
    {propagation}
    "devices": [{{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                 "fileMode": 384, "uid": 1000, "gid": 1001}}],
    "maskedPaths": ["/proc/kcore", "/etc/secret.txt", "/secretdir", "/does/not/exist"],
    "readonlyPaths": ["/proc/sys", "/rodir", "/not/there"]
  }}
}}"#
    )
}

fn make_bundle(mode: Mode) -> Bundle {
    let dir = tempfile::Builder::new()
        .prefix("berth-rootfs-ns-")
        .tempdir()
        .expect("tempdir");
    let path = std::fs::canonicalize(dir.path()).expect("canonicalize");
    let rootfs = path.join("rootfs");
    for d in ["bin", "etc/copy", "secretdir", "rodir", "data"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
    }
    std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).expect("copy busybox");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).expect("symlink");
    std::fs::write(rootfs.join("etc/secret.txt"), "secret").expect("write");
    std::fs::write(rootfs.join("secretdir/key"), "key").expect("write");
    std::fs::write(rootfs.join("rodir/f"), "f").expect("write");
    std::fs::write(rootfs.join("etc/copy/keep.txt"), "keep").expect("write");
    // Hostile image: relative and absolute links that point at the host's /etc.
    std::os::unix::fs::symlink("../../../../../../../../etc", rootfs.join("evil"))
        .expect("symlink");
    std::os::unix::fs::symlink("/etc", rootfs.join("abs")).expect("symlink");
    std::fs::create_dir(path.join("data")).expect("mkdir");
    std::fs::write(path.join("data/hello.txt"), "hello").expect("write");
    std::fs::write(path.join("config.json"), spec_json(mode)).expect("write");
    if mode == Mode::UserNsMapped {
        use std::os::unix::fs::PermissionsExt;
        // The child runs as host uid 100000: it must reach the bundle and own the
        // rootfs, as with docker's userns-remap.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod bundle");
        chown_tree(&rootfs, MAPPED_BASE);
    }
    Bundle {
        _dir: dir,
        path,
        rootfs,
    }
}

/// Host uid/gid that root of the mapped user namespace is.
const MAPPED_BASE: u32 = 100_000;

fn chown_tree(p: &Path, id: u32) {
    std::os::unix::fs::lchown(p, Some(id), Some(id)).expect("lchown");
    if std::fs::symlink_metadata(p).expect("lstat").is_dir() {
        for e in std::fs::read_dir(p).expect("readdir") {
            chown_tree(&e.expect("entry").path(), id);
        }
    }
}

/// A process parked in a new user namespace whose id maps we (real root) write: the
/// namespace a `UserNsMapped` child joins. Killed and reaped on drop.
struct UserNsHolder {
    child: std::process::Child,
    ns: std::fs::File,
}

impl UserNsHolder {
    fn new() -> Self {
        let mut cmd = Command::new("/usr/bin/busybox");
        cmd.args(["sleep", "120"]);
        // SAFETY: one async-signal-safe syscall between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn user namespace holder");
        let pid = child.id();
        let map = format!("0 {MAPPED_BASE} 65536\n");
        let holder = |ns: std::fs::File| UserNsHolder { child, ns };
        // Build the guard first so the holder is killed even if a write fails.
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/user")).expect("open userns");
        let h = holder(ns);
        std::fs::write(format!("/proc/{pid}/uid_map"), &map).expect("uid_map");
        std::fs::write(format!("/proc/{pid}/gid_map"), &map).expect("gid_map");
        h
    }
}

impl Drop for UserNsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Host mounts that mention `needle` (our bundle) or sit on the host paths a broken
/// path join would have used.
fn host_mounts_touching(needle: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo::parse(&text)
        .into_iter()
        .filter(|m| {
            m.mount_point.starts_with(needle)
                || m.mount_point == Path::new("/etc/x")
                || m.mount_point == Path::new("/etc/y")
                || m.mount_point == Path::new("/etc/copy")
        })
        .map(|m| m.mount_point.display().to_string())
        .collect()
}

/// The host's `/` mount as the kernel shows it (options and propagation): a
/// propagation change that leaked out of the child would show here. Other tests may
/// add mounts of their own meanwhile, so the whole table is not compared.
fn host_root_mount() -> String {
    let text = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    mountinfo::parse(&text)
        .into_iter()
        .filter(|m| m.mount_point == Path::new("/"))
        .map(|m| format!("{} {:?} {}", m.mount_options, m.optional, m.fstype))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_in_new_mount_ns(mode: Mode) {
    // Root for the mount namespace; busybox is the rootfs's shell.
    if !requirements::met(&[Requirement::Root, Requirement::Busybox]) {
        return;
    }
    let bundle = make_bundle(mode);
    assert!(host_mounts_touching(&bundle.path).is_empty());
    let root_before = host_root_mount();
    let exe = std::env::current_exe().expect("current_exe");
    let holder = (mode == Mode::UserNsMapped).then(UserNsHolder::new);
    let userns_fd = holder
        .as_ref()
        .map(|h| std::os::fd::AsRawFd::as_raw_fd(&h.ns))
        .unwrap_or(-1);
    let rootfs_c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(
        bundle.rootfs.as_os_str(),
    ))
    .expect("rootfs path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "rootfs::ns_tests::child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ENV_BUNDLE, &bundle.path)
    .env(ENV_MODE, mode.name());
    // SAFETY: only async-signal-safe libc calls with static C strings between fork
    // and exec.
    unsafe {
        cmd.pre_exec(move || {
            let userns = mode == Mode::UserNs;
            let mut flags = libc::CLONE_NEWNS;
            if userns_fd >= 0 {
                // Join the holder's namespace and become its root (host 100000),
                // dropping the host's supplementary groups first.
                if libc::setns(userns_fd, libc::CLONE_NEWUSER) != 0
                    || libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(0, 0, 0) != 0
                    || libc::setresuid(0, 0, 0) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                flags |= libc::CLONE_NEWIPC;
            }
            if mode == Mode::CgroupNs {
                flags |= libc::CLONE_NEWCGROUP;
            }
            if userns {
                // IPC too: this host has no /dev/mqueue to fall back to.
                flags |= libc::CLONE_NEWUSER | libc::CLONE_NEWIPC;
            }
            if libc::unshare(flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if userns {
                // Our own maps: without CAP_SETUID in the parent namespace only our
                // own ids may be mapped, and setgroups must be denied first.
                for (path, text) in [
                    (c"/proc/self/setgroups", &b"deny"[..]),
                    (c"/proc/self/uid_map", &b"0 0 1\n"[..]),
                    (c"/proc/self/gid_map", &b"0 0 1\n"[..]),
                ] {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let n = libc::write(fd, text.as_ptr().cast(), text.len());
                    libc::close(fd);
                    if n < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
            }
            // Belt and braces: nothing the child mounts may reach the host, even if
            // prepare() forgot to change the propagation first.
            if libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_SLAVE,
                std::ptr::null(),
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if mode == Mode::Slave {
                // The outer namespace plays the host: the rootfs is a shared mount
                // there, and the container's namespace is made from it.
                // An fd on it (inherited, closed when the child exits) keeps the outer
                // namespace, and so the shared peer, alive once we leave it.
                let r = rootfs_c.as_ptr();
                if libc::mount(r, r, std::ptr::null(), libc::MS_BIND, std::ptr::null()) != 0
                    || libc::mount(
                        std::ptr::null(),
                        r,
                        std::ptr::null(),
                        libc::MS_SHARED,
                        std::ptr::null(),
                    ) != 0
                    || libc::open(c"/proc/self/ns/mnt".as_ptr(), libc::O_RDONLY) < 0
                    || libc::unshare(libc::CLONE_NEWNS) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("test rootfs::ns_tests::child ... ok"),
        "child did not run:\n{stdout}\n{stderr}"
    );
    // The hostile links were followed inside the rootfs, not on the host.
    assert!(bundle.rootfs.join("etc/x").is_dir());
    assert!(bundle.rootfs.join("etc/y").is_dir());
    assert!(!Path::new("/etc/x").exists(), "escaped to host /etc/x");
    assert!(!Path::new("/etc/y").exists(), "escaped to host /etc/y");
    // Nothing the child mounted is visible on the host.
    assert_eq!(host_mounts_touching(&bundle.path), Vec::<String>::new());
    assert_eq!(host_root_mount(), root_before, "host / changed");
}

#[test]
fn pivot_root_in_new_mount_namespace() {
    run_in_new_mount_ns(Mode::Pivot);
}

#[test]
fn no_pivot_in_new_mount_namespace() {
    run_in_new_mount_ns(Mode::NoPivot);
}

#[test]
fn rootfs_propagation_unbindable() {
    run_in_new_mount_ns(Mode::Unbindable);
}

#[test]
fn rootfs_propagation_rshared() {
    run_in_new_mount_ns(Mode::Shared);
}

#[test]
fn pivot_root_in_user_namespace() {
    run_in_new_mount_ns(Mode::UserNs);
}

#[test]
fn rootfs_propagation_slave_of_shared_host_mount() {
    run_in_new_mount_ns(Mode::Slave);
}

#[test]
fn pivot_root_in_mapped_user_namespace() {
    run_in_new_mount_ns(Mode::UserNsMapped);
}

#[test]
fn cgroup_mount_in_cgroup_namespace() {
    run_in_new_mount_ns(Mode::CgroupNs);
}

/// The child half; does nothing unless started by [`run_in_new_mount_ns`].
#[test]
#[ignore = "runs inside the mount namespace made by the ns tests"]
fn child() {
    let Some(bundle) = std::env::var_os(ENV_BUNDLE).map(PathBuf::from) else {
        return;
    };
    let mode = Mode::from_name(&std::env::var(ENV_MODE).unwrap_or_default());
    let no_pivot = mode == Mode::NoPivot;
    let text = std::fs::read_to_string(bundle.join("config.json")).expect("config.json");
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&text).expect("spec");
    let rootfs = bundle.join("rootfs");
    let opts = RootfsOptions {
        no_pivot,
        bundle: &bundle,
        bind_sources: None,
    };
    prepare(&spec, &rootfs, opts).expect("prepare");
    pivot(&rootfs, opts).expect("pivot");
    // What console.rs does for process.terminal: a pty of the container's own devpts.
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).expect("openpt");
    nix::pty::grantpt(&master).expect("grantpt");
    nix::pty::unlockpt(&master).expect("unlockpt");
    let slave = nix::pty::ptsname_r(&master).expect("ptsname");
    super::mount_console(Path::new(&slave)).expect("mount_console");
    finish(&spec).expect("finish");
    let console = std::fs::metadata("/dev/console").expect("/dev/console");
    let pts = std::fs::metadata(&slave).expect("pty slave");
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), pts.rdev(), "/dev/console is not {slave}");
    check_inside(mode);
}

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

fn mount_at<'a>(mounts: &'a [MountInfo], p: &str) -> &'a MountInfo {
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == Path::new(p))
        .unwrap_or_else(|| panic!("no mount at {p}: {mounts:#?}"))
}

fn has_opt(m: &MountInfo, o: &str) -> bool {
    m.mount_options.split(',').any(|x| x == o)
}

fn check_inside(mode: Mode) {
    if mode == Mode::UserNsMapped {
        let map = std::fs::read_to_string("/proc/self/uid_map").expect("uid_map");
        let map: Vec<&str> = map.split_whitespace().collect();
        assert_eq!(map, ["0", "100000", "65536"]);
    }
    let no_pivot = mode == Mode::NoPivot;
    assert_eq!(std::env::current_dir().expect("cwd"), PathBuf::from("/"));
    // The image is what we see: busybox runs, the host's tree is gone.
    assert!(Path::new("/bin/busybox").is_file());
    assert!(!Path::new("/usr/bin").exists(), "host /usr visible");
    let st = Command::new("/bin/busybox")
        .arg("true")
        .status()
        .expect("busybox");
    assert!(st.success());

    let mounts = mountinfo::parse(&std::fs::read_to_string("/proc/self/mountinfo").expect("mi"));
    if !no_pivot {
        // The old root is detached: one mount at "/", and only the container's own.
        let roots = mounts
            .iter()
            .filter(|m| m.mount_point == Path::new("/"))
            .count();
        assert_eq!(roots, 1, "{mounts:#?}");
    }
    // root.readonly
    let root = mount_at(&mounts, "/");
    assert!(has_opt(root, "ro"), "{root:?}");
    assert_eq!(errno_of(std::fs::write("/newfile", "x")), Some(libc::EROFS));

    // Flags of spec mounts, read back from the kernel.
    let tmp = mount_at(&mounts, "/tmp");
    assert_eq!(tmp.fstype, "tmpfs");
    for o in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(has_opt(tmp, o), "/tmp lacks {o}: {tmp:?}");
    }
    assert!(tmp.super_options.contains("mode=1770"), "{tmp:?}");
    std::fs::write("/tmp/ok", "x").expect("/tmp is writable");
    let sys = mount_at(&mounts, "/sys");
    assert!(has_opt(sys, "ro") && has_opt(sys, "nosuid"), "{sys:?}");
    let dev = mount_at(&mounts, "/dev");
    assert!(
        has_opt(dev, "strictatime") || !has_opt(dev, "relatime"),
        "{dev:?}"
    );
    assert_eq!(mount_at(&mounts, "/dev/pts").fstype, "devpts");
    assert_eq!(mount_at(&mounts, "/dev/mqueue").fstype, "mqueue");
    assert_eq!(mount_at(&mounts, "/dev/shm").fstype, "tmpfs");

    // Bind of a bundle-relative source, read-only by remount.
    let data = mount_at(&mounts, "/data");
    assert!(has_opt(data, "ro") && has_opt(data, "nosuid"), "{data:?}");
    assert_eq!(
        std::fs::read_to_string("/data/hello.txt").expect("read"),
        "hello"
    );
    assert_eq!(
        errno_of(std::fs::write("/data/new", "x")),
        Some(libc::EROFS)
    );
    // rro/rnosuid reach the submount of a recursive bind; the original stays rw.
    for p in ["/rtree-ro", "/rtree-ro/sub"] {
        let m = mount_at(&mounts, p);
        assert!(has_opt(m, "ro") && has_opt(m, "nosuid"), "{m:?}");
    }
    assert_eq!(
        errno_of(std::fs::write("/rtree-ro/sub/f", "x")),
        Some(libc::EROFS)
    );
    std::fs::write("/rtree/sub/f", "x").expect("/rtree/sub stays writable");
    // A file bind onto a file destination.
    assert_eq!(
        std::fs::read_to_string("/hello.txt").expect("read"),
        "hello"
    );

    // Propagation flag of its own call; rootfsPropagation applied after it.
    let shared = mount_at(&mounts, "/shared");
    assert_eq!(shared.is_shared(), mode != Mode::NoPivot, "{shared:?}");
    match mode {
        Mode::Shared => assert!(root.is_shared(), "{root:?}"),
        Mode::Unbindable => assert!(root.optional.iter().any(|o| o == "unbindable"), "{root:?}"),
        Mode::Slave => assert!(
            root.optional.iter().any(|o| o.starts_with("master:")) && !root.is_shared(),
            "{root:?}"
        ),
        Mode::Pivot | Mode::NoPivot | Mode::UserNs | Mode::UserNsMapped | Mode::CgroupNs => {
            assert!(!root.is_shared(), "{root:?}")
        }
    }

    // Hostile symlink destinations landed inside the rootfs.
    assert_eq!(mount_at(&mounts, "/etc/x").fstype, "tmpfs");
    assert_eq!(mount_at(&mounts, "/etc/y").fstype, "tmpfs");

    // tmpcopyup: old content copied into a read-only tmpfs.
    let copy = mount_at(&mounts, "/etc/copy");
    assert_eq!(copy.fstype, "tmpfs");
    assert!(has_opt(copy, "ro"), "{copy:?}");
    assert_eq!(
        std::fs::read_to_string("/etc/copy/keep.txt").expect("read"),
        "keep"
    );

    // cgroup: tmpfs with the host hierarchies bound read-only.
    let cg = mount_at(&mounts, "/sys/fs/cgroup");
    assert_eq!(cg.fstype, "tmpfs");
    assert!(has_opt(cg, "ro"), "{cg:?}");
    let subs: Vec<&MountInfo> = mounts
        .iter()
        .filter(|m| m.mount_point.parent() == Some(Path::new("/sys/fs/cgroup")))
        .collect();
    assert!(!subs.is_empty(), "no cgroup hierarchy mounted: {mounts:#?}");
    for m in &subs {
        // Under a user namespace /sys is the host's (rbind), so its own cgroup
        // mounts are listed too, hidden below ours: check the top one only.
        let m = mount_at(&mounts, &m.mount_point.to_string_lossy());
        assert!(m.fstype == "cgroup" || m.fstype == "cgroup2", "{m:?}");
        // A fresh mount in a cgroup namespace is rooted at the namespace ("/").
        if mode == Mode::CgroupNs {
            assert_eq!(m.root, Path::new("/"), "{m:?}");
        }
        assert!(has_opt(m, "ro"), "{m:?}");
    }

    // Masked paths read empty; a masked directory is an empty read-only tmpfs.
    assert_eq!(
        std::fs::read_to_string("/etc/secret.txt").expect("read"),
        ""
    );
    assert_eq!(std::fs::read_dir("/secretdir").expect("readdir").count(), 0);
    assert_eq!(mount_at(&mounts, "/secretdir").fstype, "tmpfs");
    // Some kernels have no /proc/kcore; then the entry is skipped, not an error.
    if Path::new("/proc/kcore").exists() {
        let mut kcore = Vec::new();
        use std::io::Read;
        std::fs::File::open("/proc/kcore")
            .and_then(|mut f| f.read_to_end(&mut kcore))
            .expect("read /proc/kcore");
        assert!(kcore.is_empty());
        assert_eq!(
            std::fs::read_link("/dev/core").expect("/dev/core"),
            PathBuf::from("/proc/kcore")
        );
    }

    // Read-only paths refuse writes (opening for write is enough: never write to
    // /proc/sys, which would change the host if the test were broken).
    assert_eq!(errno_of(std::fs::write("/rodir/g", "x")), Some(libc::EROFS));
    assert_eq!(std::fs::read_to_string("/rodir/f").expect("read"), "f");
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/kernel/hostname");
    // Mapped root is not host root to sysctl's own permission check, which comes
    // first (EACCES); the read-only mount is what matters and is checked below.
    let want = if mode == Mode::UserNsMapped {
        libc::EACCES
    } else {
        libc::EROFS
    };
    assert_eq!(errno_of(w), Some(want));
    assert!(has_opt(mount_at(&mounts, "/proc/sys"), "ro"));

    // Devices, default and from linux.devices, with mode and owner.
    let null = std::fs::metadata("/dev/null").expect("/dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (
            nix::sys::stat::major(null.rdev()),
            nix::sys::stat::minor(null.rdev())
        ),
        (1, 3)
    );
    assert_eq!(null.permissions().mode() & 0o777, 0o666);
    std::fs::write("/dev/null", "discarded").expect("write /dev/null");
    for d in [
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
    ] {
        assert!(
            std::fs::metadata(d).expect(d).file_type().is_char_device(),
            "{d}"
        );
    }
    let fuse = std::fs::metadata("/dev/fuse").expect("/dev/fuse");
    assert!(fuse.file_type().is_char_device());
    assert_eq!(
        (
            nix::sys::stat::major(fuse.rdev()),
            nix::sys::stat::minor(fuse.rdev())
        ),
        (10, 229)
    );
    if mode.in_userns() {
        // No mknod in a user namespace: the host's nodes, bound.
        for d in ["/dev/null", "/dev/fuse"] {
            assert_eq!(mount_at(&mounts, d).fstype, "devtmpfs", "{d}");
        }
        assert_eq!(mount_at(&mounts, "/sys").fstype, "sysfs");
    } else {
        assert_eq!(fuse.permissions().mode() & 0o777, 0o600);
        assert_eq!((fuse.uid(), fuse.gid()), (1000, 1001));
    }
    let link = |p: &str| std::fs::read_link(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(link("/dev/ptmx"), PathBuf::from("pts/ptmx"));
    assert_eq!(link("/dev/fd"), PathBuf::from("/proc/self/fd"));
    assert_eq!(link("/dev/stdin"), PathBuf::from("/proc/self/fd/0"));
    assert_eq!(link("/dev/stdout"), PathBuf::from("/proc/self/fd/1"));
    assert_eq!(link("/dev/stderr"), PathBuf::from("/proc/self/fd/2"));
    // The ptmx of the container's own devpts instance works.
    assert!(std::fs::metadata("/dev/ptmx").is_ok());
}
