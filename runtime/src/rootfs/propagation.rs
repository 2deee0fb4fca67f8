//! Mount propagation of the container's mount namespace.
//!
//! Before anything is mounted, `/` is made recursively slave (or what
//! `linux.rootfsPropagation` says): the namespace is a copy of the host's, and a mount
//! or unmount on a shared copy would propagate back to the host. The mount holding the
//! rootfs is then made private whatever that said: pivot_root refuses a shared parent
//! (EINVAL), and an unbindable one (`rootfsPropagation: unbindable`) could not be
//! bound. Then the rootfs is bound onto itself so it is a mount point, which
//! pivot_root also requires.
use super::mount::sys_mount;
use super::mountinfo;
use super::options::propagation_flag;
use super::sys::Sys;
use super::RootfsError;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// `linux.rootfsPropagation` as mount(2) flags; `None` when unset.
pub(crate) fn rootfs_propagation(value: Option<&str>) -> Result<Option<MsFlags>, RootfsError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) => propagation_flag(v)
            .map(Some)
            .ok_or_else(|| RootfsError::InvalidPropagation(v.to_string())),
    }
}

/// runc's default when the spec says nothing: recursively slave, so host mounts still
/// reach the container but nothing flows back.
pub(crate) const DEFAULT_ROOT_PROPAGATION: MsFlags = MsFlags::MS_SLAVE.union(MsFlags::MS_REC);

pub(crate) fn prepare_root(
    sys: &dyn Sys,
    rootfs: &Path,
    propagation: Option<MsFlags>,
) -> Result<(), RootfsError> {
    let what = "linux.rootfsPropagation";
    let flags = propagation.unwrap_or(DEFAULT_ROOT_PROPAGATION);
    sys_mount(sys, what, None, Path::new("/"), None, flags, None)?;
    make_parent_private(sys, rootfs)?;
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

/// The mount holding the rootfs (possibly the rootfs itself) becomes private.
fn make_parent_private(sys: &dyn Sys, rootfs: &Path) -> Result<(), RootfsError> {
    let text = sys
        .read_proc_self("mountinfo")
        .map_err(|e| RootfsError::Io {
            what: "root.path".into(),
            op: "read",
            path: PathBuf::from("/proc/self/mountinfo"),
            source: e,
        })?;
    let mounts = mountinfo::parse(&text);
    let parent = mountinfo::containing(&mounts, rootfs)
        .map(|m| m.mount_point.as_path())
        .unwrap_or(Path::new("/"));
    sys_mount(
        sys,
        "root.path",
        None,
        parent,
        None,
        MsFlags::MS_PRIVATE,
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

    const INFO: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
50 27 0:40 / /var/lib/x rw,relatime shared:7 - tmpfs tmpfs rw
";

    #[test]
    fn default_is_rslave_then_bind_rootfs_onto_itself() {
        let sys =
            FakeSys::default().with_proc("mountinfo", "27 1 254:0 / / rw - ext4 /dev/vda rw\n");
        prepare_root(&sys, Path::new("/b/rootfs"), None).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount - / - rec|slave -",
                "mount - / - private -",
                "mount /b/rootfs /b/rootfs bind bind|rec -",
            ]
        );
    }

    #[test]
    fn parent_of_rootfs_is_made_private() {
        let sys = FakeSys::default().with_proc("mountinfo", INFO);
        prepare_root(
            &sys,
            Path::new("/var/lib/x/c1/rootfs"),
            Some(MsFlags::MS_SHARED | MsFlags::MS_REC),
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount - / - rec|shared -",
                "mount - /var/lib/x - private -",
                "mount /var/lib/x/c1/rootfs /var/lib/x/c1/rootfs bind bind|rec -",
            ]
        );
    }
}
