//! Mount propagation of the container's mount namespace.
//!
//! Before anything is mounted, `/` is made recursively slave: the namespace is a copy
//! of the host's, and a mount or unmount on a copy that is still a peer of a shared
//! host mount would propagate back to the host. After that nothing in the namespace
//! is shared, which pivot_root also needs (it refuses a shared new root or parent).
//! Then the rootfs is bound onto itself so it is a mount point, which pivot_root
//! requires too; the bind keeps the rootfs's own relation to the host (a slave of a
//! shared host mount stays one).
//!
//! `linux.rootfsPropagation` is applied only to the new `/`, by `finish` after
//! pivot_root: applied before (as runc 1.1 does) it only changes the old root, and
//! `unbindable` there would even refuse the rootfs bind.
use super::mount::sys_mount;
use super::options::propagation_flag;
use super::sys::Sys;
use super::RootfsError;
use nix::mount::MsFlags;
use std::path::Path;

/// `linux.rootfsPropagation` as mount(2) flags; `None` when unset.
pub(crate) fn rootfs_propagation(value: Option<&str>) -> Result<Option<MsFlags>, RootfsError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => propagation_flag(v)
            .map(Some)
            .ok_or_else(|| RootfsError::InvalidPropagation(v.to_string())),
    }
}

/// Host mounts still reach the container but nothing flows back (runc's default).
const ROOT_PROPAGATION: MsFlags = MsFlags::MS_SLAVE.union(MsFlags::MS_REC);

pub(crate) fn prepare_root(sys: &dyn Sys, rootfs: &Path) -> Result<(), RootfsError> {
    sys_mount(
        sys,
        "mount namespace",
        None,
        Path::new("/"),
        None,
        ROOT_PROPAGATION,
        None,
    )?;
    sys_mount(
        sys,
        "root.path",
        Some(rootfs),
        rootfs,
        Some("bind"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::super::sys_fake::FakeSys;
    use super::*;

    #[test]
    fn values_map_to_flags() {
        assert_eq!(rootfs_propagation(None).unwrap(), None);
        assert_eq!(
            rootfs_propagation(Some("rshared")).unwrap(),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC)
        );
        assert_eq!(
            rootfs_propagation(Some("private")).unwrap(),
            Some(MsFlags::MS_PRIVATE)
        );
        let err = rootfs_propagation(Some("bogus")).unwrap_err().to_string();
        assert!(err.contains("linux.rootfsPropagation \"bogus\""), "{err}");
    }

    #[test]
    fn rslave_first_then_bind_rootfs_onto_itself() {
        let sys = FakeSys::default();
        prepare_root(&sys, Path::new("/b/rootfs")).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount - / - rec|slave -",
                "mount /b/rootfs /b/rootfs bind bind|rec -",
            ]
        );
    }
}
