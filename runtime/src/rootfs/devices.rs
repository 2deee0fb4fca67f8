//! Device nodes under the rootfs's `/dev`: the six every container gets (null, zero,
//! full, random, urandom, tty) plus `linux.devices` (which win on the same path).
//!
//! A node is made with mknod, then chmod (the spec's mode, independent of the umask)
//! and chown. Where mknod is not permitted (a user namespace) the host's node at the
//! same path is bind-mounted instead, like runc. An existing node is kept.
use super::mount::sys_mount;
use super::safe_join::{create_in_root, resolve_in_root, Kind};
use super::sys::Sys;
use super::RootfsError;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::{Path, PathBuf};

/// One node to create, from the defaults or the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's allowed default devices (`/dev/ptmx` is a symlink, see `symlinks.rs`).
fn defaults() -> Vec<Node> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| Node {
        path: PathBuf::from(p),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn what(path: &Path) -> String {
    format!("linux.devices {}", path.display())
}

/// Validate one `linux.devices` entry.
pub(crate) fn from_spec(d: &LinuxDevice) -> Result<Node, RootfsError> {
    let invalid = |reason: String| RootfsError::Invalid {
        what: what(d.path()),
        reason,
    };
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(invalid(
                "type \"a\" is for cgroup rules only; a device needs c, u, b or p".into(),
            ))
        }
    };
    if !d.path().is_absolute() {
        return Err(invalid("path must be absolute".into()));
    }
    let num = |n: i64, field: &str| {
        u64::try_from(n).map_err(|_| invalid(format!("{field} {n} is negative")))
    };
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: num(d.major(), "major")?,
        minor: num(d.minor(), "minor")?,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Defaults, then the spec's devices replacing a default of the same path.
pub(crate) fn plan(spec_devices: &[LinuxDevice]) -> Result<Vec<Node>, RootfsError> {
    let mut nodes = defaults();
    for d in spec_devices {
        let n = from_spec(d)?;
        match nodes.iter_mut().find(|x| x.path == n.path) {
            Some(slot) => *slot = n,
            None => nodes.push(n),
        }
    }
    Ok(nodes)
}

pub(crate) fn create_all(sys: &dyn Sys, rootfs: &Path, nodes: &[Node]) -> Result<(), RootfsError> {
    for n in nodes {
        create(sys, rootfs, n)?;
    }
    Ok(())
}

fn create(sys: &dyn Sys, rootfs: &Path, n: &Node) -> Result<(), RootfsError> {
    let what = what(&n.path);
    let dest = resolve_in_root(rootfs, &n.path, &what)?;
    if let Some(parent) = dest.parent() {
        let rel = parent.strip_prefix(rootfs).unwrap_or(Path::new(""));
        create_in_root(rootfs, rel, Kind::Dir, &what)?;
    }
    let sys_err = |op: &'static str, errno: Errno| RootfsError::Sys {
        what: what.clone(),
        op,
        path: dest.clone(),
        errno,
    };
    // A FIFO has no device number; whatever the spec says is dropped.
    let dev = if n.kind == SFlag::S_IFIFO {
        0
    } else {
        nix::sys::stat::makedev(n.major, n.minor)
    };
    match sys.mknod(&dest, n.kind, Mode::from_bits_truncate(n.mode), dev) {
        Ok(()) => {
            sys.chmod(&dest, Mode::from_bits_truncate(n.mode))
                .map_err(|e| sys_err("chmod", e))?;
            sys.chown(&dest, n.uid, n.gid)
                .map_err(|e| sys_err("chown", e))
        }
        Err(Errno::EEXIST) => Ok(()),
        Err(Errno::EPERM) => {
            // The host's node of the same path: mknod is denied in user namespaces.
            let dest = create_in_root(rootfs, &n.path, Kind::File, &what)?;
            sys_mount(
                sys,
                &what,
                Some(&n.path),
                &dest,
                Some("bind"),
                MsFlags::MS_BIND,
                None,
            )
        }
        Err(e) => Err(sys_err("mknod", e)),
    }
}

/// `/dev/console` under `root` as a bind of the container's pty slave `slave`, so
/// programs that open the console get the terminal (runc does the same).
pub(crate) fn mount_console(sys: &dyn Sys, root: &Path, slave: &Path) -> Result<(), RootfsError> {
    let what = "process.terminal /dev/console";
    let console = create_in_root(root, Path::new("/dev/console"), Kind::File, what)?;
    sys_mount(
        sys,
        what,
        Some(slave),
        &console,
        Some("bind"),
        MsFlags::MS_BIND,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::super::sys_fake::FakeSys;
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    fn dev(path: &str, typ: LinuxDeviceType, major: i64, minor: i64) -> LinuxDevice {
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(major)
            .minor(minor)
            .build()
            .unwrap()
    }

    fn root() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let r = std::fs::canonicalize(t.path()).unwrap();
        (t, r)
    }

    #[test]
    fn defaults_are_made_with_mode_and_owner() {
        let (_t, r) = root();
        let sys = FakeSys::new(&r);
        create_all(&sys, &r, &plan(&[]).unwrap()).unwrap();
        assert_eq!(
            sys.calls_of("mknod"),
            vec![
                "mknod $ROOT/dev/null c 1:3 666",
                "mknod $ROOT/dev/zero c 1:5 666",
                "mknod $ROOT/dev/full c 1:7 666",
                "mknod $ROOT/dev/random c 1:8 666",
                "mknod $ROOT/dev/urandom c 1:9 666",
                "mknod $ROOT/dev/tty c 5:0 666",
            ]
        );
        assert_eq!(sys.calls()[1], "chmod $ROOT/dev/null 666");
        assert_eq!(sys.calls()[2], "chown $ROOT/dev/null 0:0");
    }

    #[test]
    fn spec_devices_override_and_extend() {
        let mut null = dev("/dev/null", LinuxDeviceType::C, 1, 3);
        null.set_file_mode(Some(0o600));
        null.set_uid(Some(1000));
        null.set_gid(Some(1001));
        let fuse = dev("/dev/sub/fuse", LinuxDeviceType::C, 10, 229);
        let loop0 = dev("/dev/loop0", LinuxDeviceType::B, 7, 0);
        let fifo = dev("/dev/myfifo", LinuxDeviceType::P, 8, 666);
        let nodes = plan(&[null, fuse, loop0, fifo]).unwrap();
        assert_eq!(nodes.len(), 9);
        let (_t, r) = root();
        let sys = FakeSys::new(&r);
        create_all(&sys, &r, &nodes).unwrap();
        let c = sys.calls();
        assert_eq!(c[0], "mknod $ROOT/dev/null c 1:3 600");
        assert_eq!(c[2], "chown $ROOT/dev/null 1000:1001");
        assert!(c.contains(&"mknod $ROOT/dev/sub/fuse c 10:229 666".to_string()));
        assert!(c.contains(&"mknod $ROOT/dev/loop0 b 7:0 666".to_string()));
        assert!(c.contains(&"mknod $ROOT/dev/myfifo p 0:0 666".to_string()));
        assert!(r.join("dev/sub").is_dir());
    }

    #[test]
    fn eperm_falls_back_to_binding_the_host_node() {
        let (_t, r) = root();
        let sys = FakeSys::new(&r).fail("mknod", "$ROOT/dev/zero", Errno::EPERM);
        create_all(&sys, &r, &plan(&[]).unwrap()).unwrap();
        assert!(sys
            .calls()
            .contains(&"mount /dev/zero $ROOT/dev/zero bind bind -".to_string()));
        assert!(r.join("dev/zero").is_file(), "bind target file created");
        assert!(sys.calls_of("chown $ROOT/dev/zero").is_empty());
    }

    #[test]
    fn existing_node_is_kept_other_errors_name_the_device() {
        let (_t, r) = root();
        let sys = FakeSys::new(&r).fail("mknod", "$ROOT/dev/null", Errno::EEXIST);
        create_all(&sys, &r, &plan(&[]).unwrap()).unwrap();
        assert!(sys.calls_of("chown $ROOT/dev/null").is_empty());

        let sys = FakeSys::new(&r).fail("mknod", "$ROOT/dev/tty", Errno::EINVAL);
        let err = create_all(&sys, &r, &plan(&[]).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("linux.devices /dev/tty: mknod "), "{err}");
    }

    #[test]
    fn console_is_a_bind_of_the_pty_slave() {
        let (_t, r) = root();
        let sys = FakeSys::new(&r);
        mount_console(&sys, &r, Path::new("/dev/pts/3")).unwrap();
        assert_eq!(
            sys.calls(),
            vec!["mount /dev/pts/3 $ROOT/dev/console bind bind -"]
        );
        assert!(r.join("dev/console").is_file());
    }

    #[test]
    fn invalid_entries_are_refused_by_field() {
        let err = plan(&[dev("/dev/x", LinuxDeviceType::A, 1, 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux.devices /dev/x"), "{err}");
        let err = plan(&[dev("/dev/x", LinuxDeviceType::C, -1, 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("major -1"), "{err}");
        let err = plan(&[dev("dev/x", LinuxDeviceType::C, 1, 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("absolute"), "{err}");
    }

    #[test]
    fn device_path_through_symlink_stays_inside() {
        let (_t, r) = root();
        std::os::unix::fs::symlink("../../../../../../../tmp/devx", r.join("dev")).unwrap();
        let sys = FakeSys::new(&r);
        create_all(&sys, &r, &plan(&[]).unwrap()).unwrap();
        assert_eq!(
            sys.calls_of("mknod")[0],
            "mknod $ROOT/tmp/devx/null c 1:3 666"
        );
        assert!(r.join("tmp/devx").is_dir());
    }
}
