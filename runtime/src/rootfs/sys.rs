//! The syscall seam of the rootfs setup: every privileged side effect (mount, umount,
//! pivot_root, chroot, mknod, chown) and every read of host state that decides what to
//! mount (statvfs flags, `/proc/self/*`) goes through [`Sys`].
//!
//! Unprivileged file creation inside the rootfs (mkdir, empty files, symlinks) is done
//! for real by the callers, so unit tests run the whole setup against a temp dir with
//! the recording fake (`sys_fake.rs`) and check both the mount sequence and the tree.
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::sys::statvfs::FsFlags;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

pub(crate) trait Sys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    /// mount_setattr(2) with AT_RECURSIVE on the mount at `target`: `MOUNT_ATTR_*`
    /// bits to set and to clear on the whole tree.
    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> Result<(), Errno>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    fn chroot(&self, path: &Path) -> Result<(), Errno>;
    fn chdir(&self, path: &Path) -> Result<(), Errno>;
    /// An `O_DIRECTORY` fd for [`Sys::fchdir`]: the only way to name the old root once
    /// pivot_root has stacked it on top of the new one.
    fn open_dir(&self, path: &Path) -> Result<OwnedFd, Errno>;
    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno>;
    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<(), Errno>;
    fn chmod(&self, path: &Path, perm: Mode) -> Result<(), Errno>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno>;
    /// The per-mount flags (ro, nosuid, nodev, noexec, atime) of the mount holding
    /// `path`, as `MsFlags`, so a remount can keep the ones it does not change.
    fn mount_flags(&self, path: &Path) -> Result<MsFlags, Errno>;
    /// `/proc/self/<name>` of the calling process (mountinfo, cgroup).
    fn read_proc_self(&self, name: &str) -> std::io::Result<String>;
}

/// The kernel.
pub(crate) struct LinuxSys;

impl Sys for LinuxSys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> Result<(), Errno> {
        use std::os::unix::ffi::OsStrExt;
        // struct mount_attr, MOUNT_ATTR_SIZE_VER0.
        #[repr(C)]
        struct MountAttr {
            attr_set: u64,
            attr_clr: u64,
            propagation: u64,
            userns_fd: u64,
        }
        const AT_RECURSIVE: libc::c_int = 0x8000;
        let path =
            std::ffi::CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let attr = MountAttr {
            attr_set: set,
            attr_clr: clr,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: path is NUL-terminated and attr lives across the call; the size
        // passed is the size of the struct.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                path.as_ptr(),
                AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        Errno::result(rc).map(drop)
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(path)
    }

    fn open_dir(&self, path: &Path) -> Result<OwnedFd, Errno> {
        use nix::fcntl::{open, OFlag};
        open(
            path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno> {
        nix::unistd::fchdir(dir)
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<(), Errno> {
        nix::sys::stat::mknod(path, kind, perm, dev)
    }

    fn chmod(&self, path: &Path, perm: Mode) -> Result<(), Errno> {
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            perm,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
    }

    fn mount_flags(&self, path: &Path) -> Result<MsFlags, Errno> {
        let st = nix::sys::statvfs::statvfs(path)?;
        Ok(fs_to_ms_flags(st.flags()))
    }

    fn read_proc_self(&self, name: &str) -> std::io::Result<String> {
        std::fs::read_to_string(Path::new("/proc/self").join(name))
    }
}

/// statvfs reports per-mount flags as `ST_*`; mount(2) wants the matching `MS_*`.
pub(crate) fn fs_to_ms_flags(fs: FsFlags) -> MsFlags {
    const MAP: [(FsFlags, MsFlags); 9] = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_SYNCHRONOUS, MsFlags::MS_SYNCHRONOUS),
        (FsFlags::ST_MANDLOCK, MsFlags::MS_MANDLOCK),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    MAP.iter()
        .filter(|(st, _)| fs.contains(*st))
        .fold(MsFlags::empty(), |acc, (_, ms)| acc | *ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statvfs_flags_map_to_mount_flags() {
        let got = fs_to_ms_flags(FsFlags::ST_RDONLY | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC);
        assert_eq!(
            got,
            MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
        );
        assert_eq!(fs_to_ms_flags(FsFlags::empty()), MsFlags::empty());
    }

    #[test]
    fn real_mount_flags_reads_proc() {
        // /proc is mounted on every host this runs on; its flags are whatever the host
        // chose, but statvfs must succeed and never report a flag we do not map.
        let flags = LinuxSys.mount_flags(Path::new("/proc"));
        assert!(flags.is_ok(), "{flags:?}");
    }
}
