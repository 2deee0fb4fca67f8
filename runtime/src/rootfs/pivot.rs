//! Making the rootfs the process's `/`.
//!
//! pivot_root the runc way, without a put_old directory: `pivot_root(".", ".")` stacks
//! the old root on top of the new one; it is made recursively slave (so its unmount
//! cannot propagate to the host even if the root was shared) and lazily detached.
//! `--no-pivot` (no mount namespace of its own to pivot in, e.g. a ramfs root): hide
//! the host's full proc and sysfs mounts, move the rootfs onto `/` and chroot.
use super::mountinfo;
use super::sys::Sys;
use super::RootfsError;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

fn sys_err(op: &'static str, path: &Path, errno: Errno) -> RootfsError {
    RootfsError::Sys {
        what: "pivot".into(),
        op,
        path: path.to_path_buf(),
        errno,
    }
}

pub(crate) fn pivot_root(sys: &dyn Sys, rootfs: &Path) -> Result<(), RootfsError> {
    let slash = Path::new("/");
    let dot = Path::new(".");
    let old_root = sys.open_dir(slash).map_err(|e| sys_err("open", slash, e))?;
    let new_root = sys
        .open_dir(rootfs)
        .map_err(|e| sys_err("open", rootfs, e))?;
    sys.fchdir(new_root.as_fd())
        .map_err(|e| sys_err("fchdir", rootfs, e))?;
    sys.pivot_root(dot, dot).map_err(|errno| RootfsError::Sys {
        // The usual cause: the host's / is the initramfs, which cannot be pivoted.
        what: if errno == Errno::EINVAL {
            "pivot (if the host root is a ramfs, run with --no-pivot)".into()
        } else {
            "pivot".into()
        },
        op: "pivot_root",
        path: rootfs.to_path_buf(),
        errno,
    })?;
    // "." must name the old root, which only an fd opened before the pivot still does.
    sys.fchdir(old_root.as_fd())
        .map_err(|e| sys_err("fchdir", slash, e))?;
    sys.mount(None, dot, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .map_err(|e| sys_err("mount", Path::new("(old root)"), e))?;
    sys.umount2(dot, MntFlags::MNT_DETACH)
        .map_err(|e| sys_err("umount2", Path::new("(old root)"), e))?;
    sys.chdir(slash).map_err(|e| sys_err("chdir", slash, e))
}

pub(crate) fn move_root(sys: &dyn Sys, rootfs: &Path) -> Result<(), RootfsError> {
    let text = sys
        .read_proc_self("mountinfo")
        .map_err(|e| RootfsError::Io {
            what: "pivot".into(),
            op: "read",
            path: PathBuf::from("/proc/self/mountinfo"),
            source: e,
        })?;
    // Full proc/sysfs mounts of the host would let the container see (and, for
    // /proc/sys, change) host state once chrooted; runc hides them the same way.
    let mut hide: Vec<PathBuf> = mountinfo::parse(&text)
        .into_iter()
        .filter(|m| m.root == Path::new("/"))
        .filter(|m| m.fstype == "proc" || m.fstype == "sysfs")
        .filter(|m| !m.mount_point.starts_with(rootfs))
        .map(|m| m.mount_point)
        .collect();
    // Deepest first, so a parent is never detached before its children.
    hide.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    hide.dedup();
    for p in &hide {
        sys.mount(None, p, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
            .map_err(|e| sys_err("mount", p, e))?;
        match sys.umount2(p, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Locked by a more privileged namespace: cover it instead.
            Err(Errno::EINVAL) | Err(Errno::EPERM) => sys
                .mount(
                    Some(Path::new("tmpfs")),
                    p,
                    Some("tmpfs"),
                    MsFlags::empty(),
                    None,
                )
                .map_err(|e| sys_err("mount", p, e))?,
            Err(e) => return Err(sys_err("umount2", p, e)),
        }
    }
    sys.chdir(rootfs).map_err(|e| sys_err("chdir", rootfs, e))?;
    sys.mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
        .map_err(|e| sys_err("mount", rootfs, e))?;
    sys.chroot(Path::new("."))
        .map_err(|e| sys_err("chroot", rootfs, e))?;
    sys.chdir(Path::new("/"))
        .map_err(|e| sys_err("chdir", Path::new("/"), e))
}

#[cfg(test)]
mod tests {
    use super::super::sys_fake::FakeSys;
    use super::*;

    #[test]
    fn pivot_detaches_old_root_after_making_it_slave() {
        let sys = FakeSys::default();
        pivot_root(&sys, Path::new("/b/rootfs")).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "fchdir /b/rootfs",
                "pivot_root . .",
                "fchdir /",
                "mount - . - rec|slave -",
                "umount2 . 2",
                "chdir /",
            ]
        );
    }

    #[test]
    fn pivot_error_names_the_rootfs() {
        let sys = FakeSys::default().fail("pivot_root", ".", Errno::EINVAL);
        let err = pivot_root(&sys, Path::new("/b/rootfs"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("pivot_root /b/rootfs"), "{err}");
        assert!(err.contains("EINVAL"), "{err}");
        assert!(err.contains("--no-pivot"), "{err}");
    }

    #[test]
    fn no_pivot_hides_host_proc_sys_then_moves_and_chroots() {
        let info = "\
22 27 0:21 / /proc rw - proc proc rw
23 27 0:22 / /sys rw - sysfs sysfs rw
24 23 0:40 / /sys/kernel/security rw - securityfs securityfs rw
25 23 0:41 / /sys/fs/x rw - sysfs sysfs rw
26 27 0:42 / /b/rootfs/proc rw - proc proc rw
28 27 0:43 /sub /bindproc rw - proc proc rw
";
        let sys =
            FakeSys::default()
                .with_proc("mountinfo", info)
                .fail("umount2", "/proc", Errno::EINVAL);
        move_root(&sys, Path::new("/b/rootfs")).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount - /sys/fs/x - rec|slave -",
                "umount2 /sys/fs/x 2",
                "mount - /proc - rec|slave -",
                "umount2 /proc 2",
                "mount tmpfs /proc tmpfs 0 -",
                "mount - /sys - rec|slave -",
                "umount2 /sys 2",
                "chdir /b/rootfs",
                "mount /b/rootfs / - move -",
                "chroot .",
                "chdir /",
            ]
        );
    }
}
