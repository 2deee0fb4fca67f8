//! After pivot_root: what the container must not see or change.
//!
//! Order (`finish` in mod.rs): read-only `/dev` (when its mount said `ro`; it had to
//! stay writable for the devices), read-only root, `readonlyPaths`, `maskedPaths`,
//! then `rootfsPropagation` on `/`. Paths are container paths; `/` is the container's root by now, so
//! no symlink can lead out of it.
//!
//! - masked: `/dev/null` bound over a file, an empty read-only tmpfs over a directory
//!   (mount(2) says ENOTDIR when a file is bound over a directory); missing paths are
//!   skipped.
//! - read-only: bound onto itself, then remounted read-only keeping its nosuid, nodev
//!   and noexec (dropping a flag the kernel locked would be refused).
use super::mount::sys_mount;
use super::sys::Sys;
use super::RootfsError;
use nix::errno::Errno;
use nix::mount::MsFlags;
use std::path::Path;

const KEEP: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

fn flags_of(sys: &dyn Sys, what: &str, path: &Path) -> Result<MsFlags, RootfsError> {
    sys.mount_flags(path).map_err(|errno| RootfsError::Sys {
        what: what.to_string(),
        op: "statvfs",
        path: path.to_path_buf(),
        errno,
    })
}

pub(crate) fn mask(sys: &dyn Sys, path: &str) -> Result<(), RootfsError> {
    let what = format!("linux.maskedPaths {path}");
    let p = Path::new(path);
    match sys.mount(
        Some(Path::new("/dev/null")),
        p,
        None,
        MsFlags::MS_BIND,
        None,
    ) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => {
            match sys.mount(
                Some(Path::new("tmpfs")),
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            ) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(errno) => Err(RootfsError::Sys {
                    what,
                    op: "mount",
                    path: p.to_path_buf(),
                    errno,
                }),
            }
        }
        Err(errno) => Err(RootfsError::Sys {
            what,
            op: "mount",
            path: p.to_path_buf(),
            errno,
        }),
    }
}

pub(crate) fn make_readonly(sys: &dyn Sys, path: &str) -> Result<(), RootfsError> {
    let what = format!("linux.readonlyPaths {path}");
    let p = Path::new(path);
    match sys.mount(Some(p), p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => {
            return Err(RootfsError::Sys {
                what,
                op: "mount",
                path: p.to_path_buf(),
                errno,
            })
        }
    }
    let keep = flags_of(sys, &what, p)? & KEEP;
    sys_mount(
        sys,
        &what,
        Some(p),
        p,
        None,
        keep | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
    )
}

/// Remount the mount at `path` read-only, keeping every per-mount flag it has.
pub(crate) fn remount_readonly(sys: &dyn Sys, what: &str, path: &Path) -> Result<(), RootfsError> {
    let current = flags_of(sys, what, path)?;
    sys_mount(
        sys,
        what,
        Some(path),
        path,
        Some("bind"),
        current | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None,
    )
}

/// The spec requires container paths; a relative one would be resolved against
/// whatever the working directory is.
pub(crate) fn check_absolute(field: &str, paths: &[String]) -> Result<(), RootfsError> {
    match paths.iter().find(|p| !p.starts_with('/')) {
        Some(p) => Err(RootfsError::Invalid {
            what: format!("{field} {p}"),
            reason: "must be an absolute path in the container (start with /)".into(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::sys_fake::FakeSys;
    use super::*;

    #[test]
    fn relative_paths_are_refused_by_field() {
        check_absolute("linux.maskedPaths", &["/a".into(), "/b/c".into()]).unwrap();
        let err = check_absolute("linux.maskedPaths", &["/a".into(), "masked-relpath".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("linux.maskedPaths masked-relpath: must be an absolute"),
            "{err}"
        );
    }

    #[test]
    fn mask_binds_dev_null_over_files() {
        let sys = FakeSys::default();
        mask(&sys, "/proc/kcore").unwrap();
        assert_eq!(sys.calls(), vec!["mount /dev/null /proc/kcore - bind -"]);
    }

    #[test]
    fn mask_uses_readonly_tmpfs_for_directories() {
        let sys = FakeSys::default().fail("mount", "/proc/acpi", Errno::ENOTDIR);
        // The fake fails both calls on the path; make the second one succeed by
        // checking the sequence with a once-only failure.
        let sys2 = FakeSys::default().fail_once("mount", "/proc/acpi", Errno::ENOTDIR);
        mask(&sys2, "/proc/acpi").unwrap();
        assert_eq!(
            sys2.calls(),
            vec![
                "mount /dev/null /proc/acpi - bind -",
                "mount tmpfs /proc/acpi tmpfs rdonly -",
            ]
        );
        let err = mask(&sys, "/proc/acpi").unwrap_err().to_string();
        assert!(
            err.starts_with("linux.maskedPaths /proc/acpi: mount /proc/acpi"),
            "{err}"
        );
    }

    #[test]
    fn missing_paths_are_skipped() {
        let sys = FakeSys::default()
            .fail("mount", "/proc/nope", Errno::ENOENT)
            .fail("mount", "/sys/nope", Errno::ENOENT);
        mask(&sys, "/proc/nope").unwrap();
        make_readonly(&sys, "/sys/nope").unwrap();
        assert_eq!(sys.calls().len(), 2);
    }

    #[test]
    fn readonly_path_keeps_nosuid_nodev_noexec() {
        let sys = FakeSys::default().with_flags(
            "/proc/sys",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME,
        );
        make_readonly(&sys, "/proc/sys").unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount /proc/sys /proc/sys - bind|rec -",
                "mount /proc/sys /proc/sys - rdonly|nosuid|nodev|noexec|remount|bind -",
            ]
        );
    }

    #[test]
    fn readonly_root_keeps_all_current_flags() {
        let sys = FakeSys::default().with_flags("/", MsFlags::MS_NODEV | MsFlags::MS_RELATIME);
        remount_readonly(&sys, "root.readonly", Path::new("/")).unwrap();
        assert_eq!(
            sys.calls(),
            vec!["mount / / bind rdonly|nodev|remount|bind|relatime -"]
        );
    }
}
