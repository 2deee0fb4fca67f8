//! A `cgroup`/`cgroup2` entry of `spec.mounts`: the container sees its own cgroup(s)
//! at the destination, never the host's whole tree.
//!
//! - cgroup v2 host (`/sys/fs/cgroup` is cgroup2): with a cgroup namespace, a fresh
//!   cgroup2 mount (rooted at the namespace); without, a bind of the container's own
//!   cgroup directory.
//! - v1 or hybrid host (this machine): a tmpfs (mode 755) at the destination and one
//!   subdirectory per host hierarchy (`cpu`, `memory`, `systemd`, `unified`, …), each
//!   either a fresh cgroupfs mount (cgroup namespace) or a bind of the container's own
//!   cgroup of that hierarchy, read-only when the entry says `ro`; co-mounted
//!   controllers get runc's symlinks (`cpu -> cpu,cpuacct`). The tmpfs itself is made
//!   read-only last.
//!
//! The init process must already be in its cgroups (the parent's `Manager::apply`),
//! since `/proc/self/cgroup` decides what is bound.
use super::mount::{apply_propagation, bind_and_remount, remount_bind, sys_mount, MountCtx};
use super::mountinfo::{self, MountInfo};
use super::options::MountOptions;
use super::safe_join::{create_in_root, Kind};
use super::RootfsError;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// One line of `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnCgroup {
    /// Sorted controller names (`name=systemd` included); empty for cgroup2.
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<OwnCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctrl = it.next()?;
            let path = it.next()?;
            let mut controllers: Vec<String> = ctrl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            controllers.sort();
            Some(OwnCgroup {
                controllers,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// Controllers of a v1 hierarchy from its super options (`rw,cpu,cpuacct`).
fn v1_controllers(super_options: &str) -> Vec<String> {
    const NOT_CONTROLLERS: &[&str] = &[
        "rw",
        "ro",
        "clone_children",
        "noprefix",
        "xattr",
        "cpuset_v2_mode",
        "favordynmods",
        "none",
    ];
    let mut v: Vec<String> = super_options
        .split(',')
        .filter(|o| !o.is_empty() && !NOT_CONTROLLERS.contains(o))
        .filter(|o| !o.contains('=') || o.starts_with("name="))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

const TMPFS_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

pub(crate) fn mount_cgroup(
    ctx: &MountCtx<'_>,
    what: &str,
    destination: &Path,
    opts: &MountOptions,
) -> Result<PathBuf, RootfsError> {
    let read = |name: &str| {
        ctx.sys.read_proc_self(name).map_err(|e| RootfsError::Io {
            what: what.to_string(),
            op: "read",
            path: PathBuf::from("/proc/self").join(name),
            source: e,
        })
    };
    let mounts = mountinfo::parse(&read("mountinfo")?);
    let own = parse_proc_cgroup(&read("cgroup")?);
    let hierarchies: Vec<&MountInfo> = {
        let mut seen: Vec<&MountInfo> = Vec::new();
        for m in mounts
            .iter()
            .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        {
            if m.mount_point.starts_with(ctx.rootfs) {
                continue;
            }
            // A hierarchy mounted twice (or over-mounted) counts once: the first.
            if !seen.iter().any(|s| s.mount_point == m.mount_point) {
                seen.push(m);
            }
        }
        seen
    };
    let dest = create_in_root(ctx.rootfs, destination, Kind::Dir, what)?;
    let flags = opts.flags - MsFlags::MS_BIND - MsFlags::MS_REC;

    let unified = hierarchies
        .iter()
        .find(|h| h.fstype == "cgroup2" && h.mount_point == Path::new("/sys/fs/cgroup"));
    if let Some(h) = unified {
        mount_hierarchy(ctx, what, h, &own, &dest, flags)?;
        apply_propagation(ctx.sys, what, &dest, &opts.propagation)?;
        return Ok(dest);
    }

    // v1 / hybrid: the hierarchies that sit side by side under the first one's parent.
    let parent = hierarchies
        .iter()
        .find(|h| h.fstype == "cgroup")
        .and_then(|h| h.mount_point.parent())
        .ok_or_else(|| RootfsError::Invalid {
            what: what.to_string(),
            reason: "no cgroup hierarchy is mounted on this host".into(),
        })?
        .to_path_buf();
    sys_mount(
        ctx.sys,
        what,
        Some(Path::new("tmpfs")),
        &dest,
        Some("tmpfs"),
        TMPFS_FLAGS,
        Some("mode=755"),
    )?;
    for h in hierarchies
        .iter()
        .filter(|h| h.mount_point.parent() == Some(&parent))
    {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        // A hierarchy this process has no cgroup in (none listed in
        // /proc/self/cgroup) has nothing of the container's to show.
        if !ctx.cgroup_ns && own_cgroup(h, &own).is_none() {
            continue;
        }
        let sub = create_in_root(ctx.rootfs, &destination.join(name), Kind::Dir, what)?;
        mount_hierarchy(ctx, what, h, &own, &sub, flags)?;
        // runc's co-mount symlinks: cpu -> cpu,cpuacct.
        let name = name.to_string_lossy();
        if name.contains(',') {
            for c in name.split(',') {
                let link = dest.join(c);
                if std::fs::symlink_metadata(&link).is_err() {
                    std::os::unix::fs::symlink(name.as_ref(), &link).map_err(|e| {
                        RootfsError::Io {
                            what: what.to_string(),
                            op: "symlink",
                            path: link.clone(),
                            source: e,
                        }
                    })?;
                }
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind(ctx.sys, what, &dest, TMPFS_FLAGS | MsFlags::MS_RDONLY)?;
    }
    apply_propagation(ctx.sys, what, &dest, &opts.propagation)?;
    Ok(dest)
}

/// The line of `/proc/self/cgroup` for hierarchy `h`.
fn own_cgroup<'a>(h: &MountInfo, own: &'a [OwnCgroup]) -> Option<&'a OwnCgroup> {
    let controllers = if h.fstype == "cgroup2" {
        Vec::new()
    } else {
        v1_controllers(&h.super_options)
    };
    own.iter().find(|o| o.controllers == controllers)
}

/// Mount (cgroup namespace) or bind (none) one hierarchy `h` on `target`.
fn mount_hierarchy(
    ctx: &MountCtx<'_>,
    what: &str,
    h: &MountInfo,
    own: &[OwnCgroup],
    target: &Path,
    flags: MsFlags,
) -> Result<(), RootfsError> {
    let controllers = if h.fstype == "cgroup2" {
        Vec::new()
    } else {
        v1_controllers(&h.super_options)
    };
    if ctx.cgroup_ns {
        let data = (!controllers.is_empty()).then(|| controllers.join(","));
        return sys_mount(
            ctx.sys,
            what,
            Some(Path::new(&h.fstype)),
            target,
            Some(&h.fstype),
            flags,
            data.as_deref(),
        );
    }
    let mine = own_cgroup(h, own).ok_or_else(|| RootfsError::Invalid {
        what: what.to_string(),
        reason: format!(
            "this process is in no cgroup of the hierarchy at {} (/proc/self/cgroup)",
            h.mount_point.display()
        ),
    })?;
    let rel = mine
        .path
        .strip_prefix(&h.root)
        .map_err(|_| RootfsError::Invalid {
            what: what.to_string(),
            reason: format!(
                "cgroup {} is outside the host's mount of {} (root {})",
                mine.path.display(),
                h.mount_point.display(),
                h.root.display()
            ),
        })?;
    let source = if rel.as_os_str().is_empty() {
        h.mount_point.clone()
    } else {
        h.mount_point.join(rel)
    };
    bind_and_remount(
        ctx.sys,
        what,
        &source,
        target,
        flags | MsFlags::MS_BIND | MsFlags::MS_REC,
    )
}

#[cfg(test)]
mod tests {
    use super::super::options;
    use super::super::sys_fake::FakeSys;
    use super::*;

    const HYBRID: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
";
    const OWN: &str = "\
12:net_cls,net_prio:/berth/c1
5:memory:/berth/c1
4:cpu:/berth/c1
1:name=systemd:/user.slice
0::/
";

    fn opts(o: &[&str]) -> MountOptions {
        options::parse(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn proc_self_cgroup_parses_sorted_controllers() {
        let own = parse_proc_cgroup(OWN);
        assert_eq!(own[0].controllers, vec!["net_cls", "net_prio"]);
        assert_eq!(own[4].controllers, Vec::<String>::new());
        assert_eq!(own[4].path, PathBuf::from("/"));
        assert_eq!(
            v1_controllers("rw,xattr,name=systemd"),
            vec!["name=systemd"]
        );
        assert_eq!(
            v1_controllers("rw,release_agent=/x,cpuacct,cpu"),
            vec!["cpu", "cpuacct"]
        );
    }

    fn run(cgroup_ns: bool, o: &[&str]) -> (tempfile::TempDir, FakeSys) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let sys = FakeSys::new(&root)
            .with_proc("mountinfo", HYBRID)
            .with_proc("cgroup", OWN);
        let ctx = MountCtx {
            sys: &sys,
            rootfs: &root,
            bundle: &root,
            cgroup_ns,
            sources: None,
        };
        mount_cgroup(&ctx, "w", Path::new("/sys/fs/cgroup"), &opts(o)).unwrap();
        assert!(root.join("sys/fs/cgroup/memory").is_dir());
        (tmp, sys)
    }

    #[test]
    fn hybrid_host_binds_own_cgroups_read_only() {
        let (tmp, sys) = run(false, &["nosuid", "noexec", "nodev", "relatime", "ro"]);
        let c = sys.calls();
        assert_eq!(
            c[0],
            "mount tmpfs $ROOT/sys/fs/cgroup tmpfs nosuid|nodev|noexec mode=755"
        );
        assert_eq!(
            c[1],
            "mount /sys/fs/cgroup/cpu/berth/c1 $ROOT/sys/fs/cgroup/cpu bind bind|rec -"
        );
        assert_eq!(
            c[2],
            "mount - $ROOT/sys/fs/cgroup/cpu - rdonly|nosuid|nodev|noexec|remount|bind|relatime -"
        );
        assert!(c.contains(
            &"mount /sys/fs/cgroup/systemd/user.slice $ROOT/sys/fs/cgroup/systemd bind bind|rec -"
                .to_string()
        ));
        assert!(
            c.contains(
                &"mount /sys/fs/cgroup/unified $ROOT/sys/fs/cgroup/unified bind bind|rec -"
                    .to_string()
            ),
            "{c:#?}"
        );
        assert_eq!(
            c.last().unwrap(),
            "mount - $ROOT/sys/fs/cgroup - rdonly|nosuid|nodev|noexec|remount|bind -"
        );
        // The tmpfs is mounted once, before any hierarchy.
        assert_eq!(sys.calls_of("mount tmpfs").len(), 1);
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        assert_eq!(
            std::fs::read_link(root.join("sys/fs/cgroup/net_cls")).unwrap(),
            PathBuf::from("net_cls,net_prio")
        );
    }

    #[test]
    fn hierarchy_without_own_cgroup_is_left_out() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let info = format!("{HYBRID}43 31 0:40 / /sys/fs/cgroup/misc rw - cgroup cgroup rw,misc\n");
        let sys = FakeSys::new(&root)
            .with_proc("mountinfo", &info)
            .with_proc("cgroup", OWN);
        let ctx = MountCtx {
            sys: &sys,
            rootfs: &root,
            bundle: &root,
            cgroup_ns: false,
            sources: None,
        };
        mount_cgroup(&ctx, "w", Path::new("/sys/fs/cgroup"), &opts(&[])).unwrap();
        assert!(sys.calls_of("mount /sys/fs/cgroup/misc").is_empty());
        assert!(!root.join("sys/fs/cgroup/misc").exists());
        assert_eq!(sys.calls_of("mount /sys/fs/cgroup/memory").len(), 1);
    }

    #[test]
    fn cgroup_namespace_mounts_fresh_hierarchies() {
        let (_tmp, sys) = run(true, &["nosuid", "rw"]);
        let c = sys.calls();
        assert!(
            c.contains(&"mount cgroup $ROOT/sys/fs/cgroup/memory cgroup nosuid memory".to_string()),
            "{c:#?}"
        );
        assert!(c.contains(
            &"mount cgroup $ROOT/sys/fs/cgroup/systemd cgroup nosuid name=systemd".to_string()
        ));
        assert!(
            c.contains(&"mount cgroup2 $ROOT/sys/fs/cgroup/unified cgroup2 nosuid -".to_string())
        );
        assert!(
            sys.calls_of("mount - ").is_empty(),
            "no remounts when rw: {c:#?}"
        );
    }

    #[test]
    fn v2_host_binds_own_cgroup_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let sys = FakeSys::new(&root)
            .with_proc(
                "mountinfo",
                "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            )
            .with_proc("cgroup", "0::/system.slice/c2\n");
        let ctx = MountCtx {
            sys: &sys,
            rootfs: &root,
            bundle: &root,
            cgroup_ns: false,
            sources: None,
        };
        mount_cgroup(&ctx, "w", Path::new("/sys/fs/cgroup"), &opts(&["ro"])).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount /sys/fs/cgroup/system.slice/c2 $ROOT/sys/fs/cgroup bind bind|rec -",
                "mount - $ROOT/sys/fs/cgroup - rdonly|remount|bind -",
            ]
        );
    }
}
