//! The `spec.mounts` entries, in order, under the rootfs (before pivot_root).
//!
//! Each entry: parse its options (`options.rs`), resolve and create its destination
//! inside the rootfs (`safe_join.rs`: a directory, or an empty file when a bind
//! mount's source is not a directory), mount, then apply what one mount(2) call
//! cannot: per-mount flags of a bind mount need a second `MS_BIND|MS_REMOUNT` call,
//! and every propagation keyword is its own call. `cgroup` entries are delegated to
//! `cgroup_mount.rs`.
use super::bind_sources::BindSources;
use super::cgroup_mount;
use super::options::{self, MountOptions};
use super::safe_join::{create_in_root, resolve_in_root, Kind};
use super::sys::Sys;
use super::RootfsError;
use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// What the mounts need besides the entries themselves.
pub(crate) struct MountCtx<'a> {
    pub sys: &'a dyn Sys,
    /// Absolute, canonical host path of the rootfs.
    pub rootfs: &'a Path,
    /// Relative bind-mount sources are relative to the bundle (runc runs in it).
    pub bundle: &'a Path,
    /// The container has its own cgroup namespace: mount cgroupfs instead of binding
    /// the host's hierarchies.
    pub cgroup_ns: bool,
    /// Bind sources the runtime opened on the host side (`bind_sources.rs`).
    pub sources: Option<&'a BindSources>,
}

/// Flags a bind remount may have to keep because the kernel locks them on mounts
/// inherited from a more privileged mount namespace.
const LOCKABLE: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);
const ATIME: MsFlags = MsFlags::MS_NOATIME
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

pub(crate) fn mount_all(ctx: &MountCtx<'_>, mounts: &[Mount]) -> Result<(), RootfsError> {
    for (i, m) in mounts.iter().enumerate() {
        mount_one(ctx, i, m)?;
    }
    Ok(())
}

/// `mount[3] destination /proc`: how every error names its entry.
pub(crate) fn describe(index: usize, m: &Mount) -> String {
    format!("mount[{index}] destination {}", m.destination().display())
}

/// Parsed options of one entry, errors naming the entry.
pub(crate) fn parse_options(index: usize, m: &Mount) -> Result<MountOptions, RootfsError> {
    let empty = Vec::new();
    options::parse(m.options().as_ref().unwrap_or(&empty)).map_err(|(option, reason)| {
        RootfsError::InvalidOption {
            what: describe(index, m),
            option,
            reason,
        }
    })
}

/// `/dev` is read-only only after the devices are in it: `prepare` mounts it rw and
/// `finish` remounts it (runc does the same).
pub(crate) fn is_dev(m: &Mount) -> bool {
    clean(m.destination()) == Path::new("/dev")
}

fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn is_bind(m: &Mount, opts: &MountOptions) -> bool {
    opts.flags.contains(MsFlags::MS_BIND) || m.typ().as_deref() == Some("bind")
}

fn mount_one(ctx: &MountCtx<'_>, index: usize, m: &Mount) -> Result<(), RootfsError> {
    let what = describe(index, m);
    let mut opts = parse_options(index, m)?;
    let typ = m.typ().as_deref().unwrap_or("");
    if is_dev(m) && !is_bind(m, &opts) {
        opts.flags.remove(MsFlags::MS_RDONLY);
    }
    let dest = if is_bind(m, &opts) {
        opts.flags.insert(MsFlags::MS_BIND);
        match ctx.sources.and_then(|s| s.get(index)) {
            Some(fd) => bind_opened(ctx, &what, m, fd, &opts)?,
            None => bind(ctx, &what, m, &opts)?,
        }
    } else {
        match typ {
            "cgroup" | "cgroup2" => cgroup_mount::mount_cgroup(ctx, &what, m.destination(), &opts)?,
            "tmpfs" => tmpfs(ctx, &what, m, &opts)?,
            "" | "none" => {
                return Err(RootfsError::Invalid {
                    what,
                    reason: "no type and not a bind mount; set \"type\" or add \"bind\" to options"
                        .into(),
                })
            }
            _ => {
                if typ == "proc" || typ == "sysfs" {
                    ordinary_dir(ctx.rootfs, &what, m.destination(), typ)?;
                }
                let dest = destination(ctx, &what, m.destination(), Kind::Dir, typ == "proc")?;
                let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
                let res = ctx
                    .sys
                    .mount(Some(&source), &dest, Some(typ), opts.flags, data(&opts));
                match (res, host_fallback(typ)) {
                    (Ok(()), _) => {}
                    // In a user namespace without its own network (sysfs) or IPC
                    // (mqueue) namespace the kernel refuses a fresh instance; the
                    // host's, bound with the same flags, is what runc gives too.
                    (Err(Errno::EPERM), Some(host)) => {
                        let flags = opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC;
                        bind_and_remount(ctx.sys, &what, Path::new(host), &dest, flags)?;
                    }
                    (Err(errno), _) => {
                        return Err(RootfsError::Sys {
                            what,
                            op: "mount",
                            path: dest,
                            errno,
                        })
                    }
                }
                dest
            }
        }
    };
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        ctx.sys
            .mount_setattr(&dest, opts.rec_set, opts.rec_clr)
            .map_err(|errno| RootfsError::Sys {
                what: what.clone(),
                op: "mount_setattr",
                path: dest.clone(),
                errno,
            })?;
    }
    apply_propagation(ctx.sys, &what, &dest, &opts.propagation)
}

/// The host mount a refused `sysfs`/`mqueue` instance falls back to.
fn host_fallback(typ: &str) -> Option<&'static str> {
    match typ {
        "sysfs" => Some("/sys"),
        "mqueue" => Some("/dev/mqueue"),
        _ => None,
    }
}

/// Resolve and create a destination, refusing places under the container's `/proc`:
/// a symlink in the image (`/etc/hostname -> /proc/sys/kernel/hostname`) must not let
/// a bind mount write through to the kernel. Allowed there: a procfs on `/proc` itself
/// (`is_proc`) and the files lxcfs emulates, like runc.
pub(crate) fn destination(
    ctx: &MountCtx<'_>,
    what: &str,
    unsafe_dest: &Path,
    kind: Kind,
    is_proc: bool,
) -> Result<PathBuf, RootfsError> {
    const LXCFS: &[&str] = &[
        "cpuinfo",
        "diskstats",
        "meminfo",
        "stat",
        "swaps",
        "uptime",
        "loadavg",
        "slabinfo",
        "net/dev",
        "sys/kernel/ns_last_pid",
    ];
    let resolved = resolve_in_root(ctx.rootfs, unsafe_dest, what)?;
    if let Ok(rel) = resolved.strip_prefix(ctx.rootfs.join("proc")) {
        let allowed = if rel.as_os_str().is_empty() {
            is_proc
        } else {
            LXCFS.iter().any(|p| rel == Path::new(p))
        };
        if !allowed {
            return Err(RootfsError::Invalid {
                what: what.to_string(),
                reason: format!(
                    "resolves to {} inside /proc, where only procfs and the lxcfs files may be mounted",
                    Path::new("/proc").join(rel).display()
                ),
            });
        }
    }
    create_in_root(ctx.rootfs, unsafe_dest, kind, what)
}

/// procfs and sysfs go on a real directory, never through a symlink (runc's rule:
/// a `/proc -> /` link in an image would otherwise put procfs on the root).
fn ordinary_dir(rootfs: &Path, what: &str, dest: &Path, typ: &str) -> Result<(), RootfsError> {
    let lexical = rootfs.join(clean(dest).strip_prefix("/").unwrap_or(Path::new("")));
    match std::fs::symlink_metadata(&lexical) {
        Ok(meta) if !meta.is_dir() => Err(RootfsError::Invalid {
            what: what.to_string(),
            reason: format!(
                "{typ} must be mounted on an ordinary directory, not a symlink or file"
            ),
        }),
        _ => Ok(()),
    }
}

/// Whether `path` is on a procfs (a bind of the host's /proc onto /proc is allowed).
fn is_procfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

fn data(opts: &MountOptions) -> Option<&str> {
    (!opts.data.is_empty()).then_some(opts.data.as_str())
}

pub(crate) fn apply_propagation(
    sys: &dyn Sys,
    what: &str,
    dest: &Path,
    propagation: &[MsFlags],
) -> Result<(), RootfsError> {
    for p in propagation {
        sys_mount(sys, what, None, dest, None, *p, None)?;
    }
    Ok(())
}

/// mount(2) with the error naming the entry and the host path.
pub(crate) fn sys_mount(
    sys: &dyn Sys,
    what: &str,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    sys.mount(source, target, fstype, flags, data)
        .map_err(|errno| RootfsError::Sys {
            what: what.to_string(),
            op: "mount",
            path: target.to_path_buf(),
            errno,
        })
}

fn bind(
    ctx: &MountCtx<'_>,
    what: &str,
    m: &Mount,
    opts: &MountOptions,
) -> Result<PathBuf, RootfsError> {
    let source = m.source().as_ref().ok_or_else(|| RootfsError::Invalid {
        what: what.to_string(),
        reason: "bind mount without \"source\"".into(),
    })?;
    let source = if source.is_absolute() {
        source.clone()
    } else {
        ctx.bundle.join(source)
    };
    let meta = std::fs::metadata(&source).map_err(|e| RootfsError::Io {
        what: what.to_string(),
        op: "stat source",
        path: source.clone(),
        source: e,
    })?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let dest = destination(ctx, what, m.destination(), kind, is_procfs(&source))?;
    bind_and_remount(ctx.sys, what, &source, &dest, opts.flags)?;
    Ok(dest)
}

/// A bind whose source the runtime opened on the host side (`bind_sources.rs`):
/// the kind of destination comes from the descriptor and the bind goes through
/// `/proc/self/fd/N`, so no directory on the source's path is searched by us.
fn bind_opened(
    ctx: &MountCtx<'_>,
    what: &str,
    m: &Mount,
    source: BorrowedFd<'_>,
    opts: &MountOptions,
) -> Result<PathBuf, RootfsError> {
    let shown = m.source().clone().unwrap_or_default();
    let st = nix::sys::stat::fstat(source).map_err(|errno| RootfsError::Sys {
        what: what.to_string(),
        op: "stat source",
        path: shown,
        errno,
    })?;
    let kind = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        Kind::Dir
    } else {
        Kind::File
    };
    let procfs = nix::sys::statfs::fstatfs(source)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC);
    let dest = destination(ctx, what, m.destination(), kind, procfs)?;
    let via = PathBuf::from(format!("/proc/self/fd/{}", source.as_raw_fd()));
    bind_and_remount(ctx.sys, what, &via, &dest, opts.flags)?;
    Ok(dest)
}

/// Bind `source` on `dest`, then remount with the per-mount flags a bind ignores.
pub(crate) fn bind_and_remount(
    sys: &dyn Sys,
    what: &str,
    source: &Path,
    dest: &Path,
    flags: MsFlags,
) -> Result<(), RootfsError> {
    let bind_flags = MsFlags::MS_BIND | (flags & MsFlags::MS_REC);
    sys_mount(
        sys,
        what,
        Some(source),
        dest,
        Some("bind"),
        bind_flags,
        None,
    )?;
    if flags
        .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
        .is_empty()
    {
        return Ok(());
    }
    remount_bind(sys, what, dest, flags)
}

/// `MS_BIND|MS_REMOUNT` with `flags`; when the kernel refuses (EPERM: flags locked by
/// a more privileged namespace, e.g. nodev on the source), retry keeping the locked
/// flags of the mount as it is now.
pub(crate) fn remount_bind(
    sys: &dyn Sys,
    what: &str,
    dest: &Path,
    flags: MsFlags,
) -> Result<(), RootfsError> {
    let remount = (flags - MsFlags::MS_REC) | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match sys.mount(None, dest, None, remount, None) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let current = sys.mount_flags(dest).map_err(|errno| RootfsError::Sys {
                what: what.to_string(),
                op: "statvfs",
                path: dest.to_path_buf(),
                errno,
            })?;
            let mut retry = remount | (current & LOCKABLE);
            if !remount.intersects(ATIME) {
                retry |= current & ATIME;
            }
            sys_mount(sys, what, None, dest, None, retry, None)
        }
        Err(errno) => Err(RootfsError::Sys {
            what: what.to_string(),
            op: "mount",
            path: dest.to_path_buf(),
            errno,
        }),
    }
}

fn tmpfs(
    ctx: &MountCtx<'_>,
    what: &str,
    m: &Mount,
    opts: &MountOptions,
) -> Result<PathBuf, RootfsError> {
    // Read before `destination` creates a missing mountpoint.
    let before = existing_dir_mode(ctx.rootfs, m.destination(), what);
    let dest = destination(ctx, what, m.destination(), Kind::Dir, false)?;
    let opts = &keep_mountpoint_mode(opts, before);
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from("tmpfs"));
    if !opts.copy_up {
        sys_mount(
            ctx.sys,
            what,
            Some(&source),
            &dest,
            Some("tmpfs"),
            opts.flags,
            data(opts),
        )?;
        return Ok(dest);
    }
    // tmpcopyup: keep a handle on the directory the tmpfs is about to hide, mount, copy
    // the old content in, and only then make it read-only if asked.
    let below = std::fs::File::open(&dest).map_err(|e| RootfsError::Io {
        what: what.to_string(),
        op: "open",
        path: dest.clone(),
        source: e,
    })?;
    let rw = opts.flags - MsFlags::MS_RDONLY;
    sys_mount(
        ctx.sys,
        what,
        Some(&source),
        &dest,
        Some("tmpfs"),
        rw,
        data(opts),
    )?;
    let from = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&below)
    ));
    copy_tree(&from, &dest).map_err(|(path, e)| RootfsError::Io {
        what: what.to_string(),
        op: "tmpcopyup",
        path,
        source: e,
    })?;
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        let flags = opts.flags | MsFlags::MS_REMOUNT;
        sys_mount(ctx.sys, what, None, &dest, None, flags, data(opts))?;
    }
    Ok(dest)
}

/// The permission bits of `dest` in the rootfs when it is an existing directory.
fn existing_dir_mode(rootfs: &Path, dest: &Path, what: &str) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let path = resolve_in_root(rootfs, dest, what).ok()?;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_dir().then(|| meta.permissions().mode() & 0o7777)
}

/// A tmpfs without `mode=` takes the mode its existing mountpoint had, not the
/// kernel's 1777 (issue 12 point 6); a given `mode=` is kept. As runc 1.2 does, a
/// mountpoint the runtime had to create gets the kernel's default.
fn keep_mountpoint_mode(opts: &MountOptions, before: Option<u32>) -> MountOptions {
    let mut opts = opts.clone();
    let has_mode = opts.data.split(',').any(|o| o.starts_with("mode="));
    if let (Some(mode), false) = (before, has_mode) {
        opts.data = if opts.data.is_empty() {
            format!("mode={mode:04o}")
        } else {
            format!("mode={mode:04o},{}", opts.data)
        };
    }
    opts
}

/// Copy the content of directory `from` into `to`: directories, regular files and
/// symlinks with their mode and owner. Entries already present in `to` are kept.
fn copy_tree(from: &Path, to: &Path) -> Result<(), (PathBuf, std::io::Error)> {
    use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
    let entries = std::fs::read_dir(from).map_err(|e| (from.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (from.to_path_buf(), e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&src).map_err(|e| (src.clone(), e))?;
        if std::fs::symlink_metadata(&dst).is_ok() {
            continue;
        }
        let ft = meta.file_type();
        let res = if ft.is_dir() {
            std::fs::create_dir(&dst)
                .and_then(|_| std::fs::set_permissions(&dst, meta.permissions()))
                .map_err(|e| (dst.clone(), e))
                .and_then(|_| copy_tree(&src, &dst))
        } else if ft.is_symlink() {
            std::fs::read_link(&src)
                .and_then(|t| symlink(t, &dst))
                .map_err(|e| (dst.clone(), e))
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)
                .and_then(|_| {
                    std::fs::set_permissions(
                        &dst,
                        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
                    )
                })
                .map(|_| ())
                .map_err(|e| (dst.clone(), e))
        } else {
            // Device nodes, fifos and sockets are not content; runc skips them too.
            continue;
        };
        res?;
        lchown(&dst, Some(meta.uid()), Some(meta.gid())).map_err(|e| (dst.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::sys_fake::FakeSys;
    use super::*;
    use oci_spec::runtime::MountBuilder;

    struct T {
        _tmp: tempfile::TempDir,
        rootfs: PathBuf,
        bundle: PathBuf,
    }

    fn setup() -> T {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bundle = std::fs::canonicalize(tmp.path()).expect("canon");
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir(&rootfs).expect("mkdir");
        T {
            _tmp: tmp,
            rootfs,
            bundle,
        }
    }

    fn mnt(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Mount {
        let mut b = MountBuilder::default()
            .destination(dest)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if !typ.is_empty() {
            b = b.typ(typ);
        }
        if !src.is_empty() {
            b = b.source(src);
        }
        b.build().expect("mount")
    }

    fn run(t: &T, sys: &FakeSys, mounts: &[Mount]) -> Result<(), RootfsError> {
        let ctx = MountCtx {
            sys,
            rootfs: &t.rootfs,
            bundle: &t.bundle,
            cgroup_ns: false,
            sources: None,
        };
        mount_all(&ctx, mounts)
    }

    #[test]
    fn default_runc_mounts_in_order_with_flags_and_data() {
        let t = setup();
        let sys = FakeSys::new(&t.rootfs);
        run(
            &t,
            &sys,
            &[
                mnt("/proc", "proc", "proc", &[]),
                mnt(
                    "/dev",
                    "tmpfs",
                    "tmpfs",
                    &["nosuid", "strictatime", "mode=755", "size=65536k"],
                ),
                mnt(
                    "/dev/pts",
                    "devpts",
                    "devpts",
                    &[
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620",
                        "gid=5",
                    ],
                ),
                mnt(
                    "/dev/shm",
                    "tmpfs",
                    "shm",
                    &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
                ),
                mnt(
                    "/dev/mqueue",
                    "mqueue",
                    "mqueue",
                    &["nosuid", "noexec", "nodev"],
                ),
                mnt(
                    "/sys",
                    "sysfs",
                    "sysfs",
                    &["nosuid", "noexec", "nodev", "ro"],
                ),
            ],
        )
        .expect("mount_all");
        assert_eq!(
            sys.calls(),
            vec![
                "mount proc $ROOT/proc proc 0 -",
                "mount tmpfs $ROOT/dev tmpfs nosuid|strictatime mode=755,size=65536k",
                "mount devpts $ROOT/dev/pts devpts nosuid|noexec newinstance,ptmxmode=0666,mode=0620,gid=5",
                "mount shm $ROOT/dev/shm tmpfs nosuid|nodev|noexec mode=1777,size=65536k",
                "mount mqueue $ROOT/dev/mqueue mqueue nosuid|nodev|noexec -",
                "mount sysfs $ROOT/sys sysfs rdonly|nosuid|nodev|noexec -",
            ]
        );
        for d in ["proc", "dev/pts", "dev/shm", "dev/mqueue", "sys"] {
            assert!(t.rootfs.join(d).is_dir(), "{d}");
        }
    }

    #[test]
    fn readonly_bind_is_remounted_and_propagation_is_separate() {
        let t = setup();
        std::fs::create_dir(t.bundle.join("data")).unwrap();
        std::fs::write(t.bundle.join("file.txt"), "x").unwrap();
        let sys = FakeSys::new(&t.bundle);
        run(
            &t,
            &sys,
            &[
                mnt(
                    "/mnt/data",
                    "bind",
                    "data",
                    &["rbind", "ro", "nosuid", "rprivate"],
                ),
                mnt("/etc/file.txt", "", "file.txt", &["bind"]),
                mnt(
                    "/shared",
                    "none",
                    "data",
                    &["bind", "shared", "runbindable"],
                ),
            ],
        )
        .expect("mount_all");
        assert_eq!(
            sys.calls(),
            vec![
                "mount $ROOT/data $ROOT/rootfs/mnt/data bind bind|rec -",
                "mount - $ROOT/rootfs/mnt/data - rdonly|nosuid|remount|bind -",
                "mount - $ROOT/rootfs/mnt/data - rec|private -",
                // Plain bind: no remount needed.
                "mount $ROOT/file.txt $ROOT/rootfs/etc/file.txt bind bind -",
                "mount $ROOT/data $ROOT/rootfs/shared bind bind -",
                "mount - $ROOT/rootfs/shared - shared -",
                "mount - $ROOT/rootfs/shared - rec|unbindable -",
            ]
        );
        // A file source gets a file destination, a directory source a directory.
        assert!(t.rootfs.join("etc/file.txt").is_file());
        assert!(t.rootfs.join("mnt/data").is_dir());
    }

    /// A source the runtime opened: bound through `/proc/self/fd/N`, without a
    /// stat of the source's path (which the init may not be able to reach), then
    /// remounted with the flags; its kind (file or directory) comes from the
    /// descriptor. Entries without a descriptor are bound by path, as before.
    #[test]
    fn opened_sources_are_bound_through_their_descriptor() {
        use std::os::fd::AsRawFd;
        let t = setup();
        std::fs::write(t.bundle.join("f"), "x").unwrap();
        std::fs::create_dir(t.bundle.join("data")).unwrap();
        // The sources' paths do not exist: a stat or bind by path would fail.
        let dir: std::os::fd::OwnedFd = std::fs::File::open(&t.bundle).unwrap().into();
        let file: std::os::fd::OwnedFd = std::fs::File::open(t.bundle.join("f")).unwrap().into();
        let (dfd, ffd) = (dir.as_raw_fd(), file.as_raw_fd());
        let sources = BindSources::from_fds([(0, dir), (1, file)]);
        let sys = FakeSys::new(&t.bundle);
        let ctx = MountCtx {
            sys: &sys,
            rootfs: &t.rootfs,
            bundle: &t.bundle,
            cgroup_ns: false,
            sources: Some(&sources),
        };
        mount_all(
            &ctx,
            &[
                mnt("/mnt/d", "bind", "/no/such/dir", &["rbind", "ro"]),
                mnt("/etc/f", "", "/no/such/file", &["bind"]),
                mnt("/mnt/p", "bind", "data", &["bind"]),
            ],
        )
        .expect("mount_all");
        assert_eq!(
            sys.calls(),
            [
                format!("mount /proc/self/fd/{dfd} $ROOT/rootfs/mnt/d bind bind|rec -"),
                "mount - $ROOT/rootfs/mnt/d - rdonly|remount|bind -".to_string(),
                format!("mount /proc/self/fd/{ffd} $ROOT/rootfs/etc/f bind bind -"),
                "mount $ROOT/data $ROOT/rootfs/mnt/p bind bind -".to_string(),
            ]
        );
        assert!(t.rootfs.join("mnt/d").is_dir());
        assert!(t.rootfs.join("etc/f").is_file());
    }

    #[test]
    fn locked_flags_are_kept_when_remount_is_refused() {
        let t = setup();
        let dest = t.rootfs.join("d");
        let sys = FakeSys::new(&t.rootfs)
            .with_flags("$ROOT/d", MsFlags::MS_NODEV | MsFlags::MS_NOATIME)
            .fail_once("mount", "$ROOT/d", Errno::EPERM);
        remount_bind(
            &sys,
            "w",
            &dest,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY,
        )
        .expect("retry succeeds");
        assert_eq!(
            sys.calls(),
            vec![
                "mount - $ROOT/d - rdonly|remount|bind -",
                "mount - $ROOT/d - rdonly|nodev|remount|noatime|bind -",
            ]
        );
        // Asked-for atime flags win over the current ones.
        let sys = FakeSys::new(&t.rootfs)
            .with_flags("$ROOT/d", MsFlags::MS_NOATIME)
            .fail_once("mount", "$ROOT/d", Errno::EPERM);
        remount_bind(&sys, "w", &dest, MsFlags::MS_RELATIME).unwrap();
        assert_eq!(sys.calls()[1], "mount - $ROOT/d - remount|bind|relatime -");
        // Other errors are not retried.
        let sys = FakeSys::new(&t.rootfs).fail("mount", "$ROOT/d", Errno::EINVAL);
        let err = remount_bind(&sys, "mount[0] destination /d", &dest, MsFlags::MS_RDONLY)
            .unwrap_err()
            .to_string();
        assert_eq!(sys.calls().len(), 1);
        assert!(err.starts_with("mount[0] destination /d: mount "), "{err}");
    }

    #[test]
    fn recursive_attributes_after_mount_before_propagation() {
        let t = setup();
        std::fs::create_dir(t.bundle.join("data")).unwrap();
        let sys = FakeSys::new(&t.bundle);
        run(
            &t,
            &sys,
            &[mnt(
                "/d",
                "bind",
                "data",
                &["rbind", "rro", "rnosuid", "rprivate"],
            )],
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount $ROOT/data $ROOT/rootfs/d bind bind|rec -",
                "mount_setattr $ROOT/rootfs/d set=0x3 clr=0x0",
                "mount - $ROOT/rootfs/d - rec|private -",
            ]
        );
    }

    #[test]
    fn dev_is_mounted_rw_so_devices_can_be_made() {
        let t = setup();
        let sys = FakeSys::new(&t.rootfs);
        run(
            &t,
            &sys,
            &[mnt("/dev", "tmpfs", "tmpfs", &["ro", "nosuid"])],
        )
        .unwrap();
        assert_eq!(sys.calls(), vec!["mount tmpfs $ROOT/dev tmpfs nosuid -"]);
    }

    #[test]
    fn hostile_symlink_destination_stays_in_rootfs() {
        let t = setup();
        std::os::unix::fs::symlink("../../../../../../etc", t.rootfs.join("evil")).unwrap();
        std::os::unix::fs::symlink("/etc", t.rootfs.join("abs")).unwrap();
        let sys = FakeSys::new(&t.rootfs);
        run(
            &t,
            &sys,
            &[
                mnt("/evil/x", "tmpfs", "tmpfs", &[]),
                mnt("/abs/y", "tmpfs", "tmpfs", &[]),
            ],
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount tmpfs $ROOT/etc/x tmpfs 0 -",
                "mount tmpfs $ROOT/etc/y tmpfs 0 -",
            ]
        );
        assert!(t.rootfs.join("etc/x").is_dir());
    }

    #[test]
    fn nothing_is_mounted_through_a_symlink_into_proc() {
        let t = setup();
        std::fs::create_dir_all(t.rootfs.join("etc")).unwrap();
        std::os::unix::fs::symlink("/proc/sys/kernel/hostname", t.rootfs.join("etc/hostname"))
            .unwrap();
        std::fs::write(t.bundle.join("hostname"), "c1").unwrap();
        let sys = FakeSys::new(&t.rootfs);
        let err = run(
            &t,
            &sys,
            &[mnt("/etc/hostname", "bind", "hostname", &["rbind"])],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mount[0] destination /etc/hostname: resolves to /proc/sys/kernel/hostname inside /proc"),
            "{err}"
        );
        // tmpfs over /proc/sys, proc on a symlink: refused too.
        assert!(run(&t, &sys, &[mnt("/proc/sys", "tmpfs", "tmpfs", &[])]).is_err());
        std::os::unix::fs::symlink("/", t.rootfs.join("proc")).unwrap();
        let err = run(&t, &sys, &[mnt("/proc", "proc", "proc", &[])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ordinary directory"), "{err}");
        assert!(sys.calls().is_empty(), "{:?}", sys.calls());
    }

    #[test]
    fn proc_itself_and_lxcfs_files_are_allowed() {
        let t = setup();
        std::fs::write(t.bundle.join("cpuinfo"), "x").unwrap();
        let sys = FakeSys::new(&t.bundle);
        run(
            &t,
            &sys,
            &[
                mnt("/proc", "proc", "proc", &[]),
                mnt("/proc/cpuinfo", "bind", "cpuinfo", &["bind"]),
                mnt("/proc2", "bind", "/proc", &["rbind"]),
            ],
        )
        .unwrap();
        assert_eq!(sys.calls().len(), 3, "{:?}", sys.calls());
        // A bind of the host's procfs onto /proc is a proc mount too.
        std::fs::remove_dir(t.rootfs.join("proc/cpuinfo")).ok();
        let sys = FakeSys::new(&t.bundle);
        run(&t, &sys, &[mnt("/proc", "bind", "/proc", &["rbind"])]).unwrap();
        let err = run(&t, &sys, &[mnt("/proc", "bind", "cpuinfo", &["bind"])]).unwrap_err();
        assert!(err.to_string().contains("inside /proc"), "{err}");
    }

    #[test]
    fn errors_name_the_entry() {
        let t = setup();
        let sys = FakeSys::new(&t.rootfs).fail("mount", "$ROOT/proc", Errno::EPERM);
        let err = run(
            &t,
            &sys,
            &[
                mnt("/tmp", "tmpfs", "", &[]),
                mnt("/proc", "proc", "proc", &[]),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("mount[1] destination /proc: mount "),
            "{err}"
        );
        assert!(err.contains("EPERM"), "{err}");

        let err = run(&t, &sys, &[mnt("/x", "bind", "missing-src", &["bind"])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mount[0] destination /x: stat source"),
            "{err}"
        );
        assert!(err.contains("missing-src"), "{err}");

        let err = run(&t, &sys, &[mnt("/x", "", "", &["ro"])])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no type"), "{err}");

        let err = run(&t, &sys, &[mnt("/x", "tmpfs", "", &["idmap"])])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mount[0] destination /x: option \"idmap\""),
            "{err}"
        );
    }

    #[test]
    fn sysfs_and_mqueue_fall_back_to_host_binds_on_eperm() {
        let t = setup();
        let sys = FakeSys::new(&t.rootfs)
            .fail_once("mount", "$ROOT/sys", Errno::EPERM)
            .fail_once("mount", "$ROOT/dev/mqueue", Errno::EPERM)
            .fail("mount", "$ROOT/proc", Errno::EPERM);
        run(
            &t,
            &sys,
            &[
                mnt("/sys", "sysfs", "sysfs", &["nosuid", "ro"]),
                mnt("/dev/mqueue", "mqueue", "mqueue", &[]),
            ],
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount sysfs $ROOT/sys sysfs rdonly|nosuid -",
                "mount /sys $ROOT/sys bind bind|rec -",
                "mount - $ROOT/sys - rdonly|nosuid|remount|bind -",
                "mount mqueue $ROOT/dev/mqueue mqueue 0 -",
                "mount /dev/mqueue $ROOT/dev/mqueue bind bind|rec -",
            ]
        );
        // proc has no fallback: the error stands.
        let err = run(&t, &sys, &[mnt("/proc", "proc", "proc", &[])]).unwrap_err();
        assert!(err.to_string().contains("EPERM"), "{err}");
    }

    #[test]
    fn copy_tree_keeps_dirs_files_links_and_modes() {
        use std::os::unix::fs::PermissionsExt;
        let t = setup();
        let from = t.bundle.join("from");
        let to = t.bundle.join("to");
        std::fs::create_dir_all(from.join("d/e")).unwrap();
        std::fs::create_dir(&to).unwrap();
        std::fs::write(from.join("d/e/f"), "content").unwrap();
        std::fs::set_permissions(from.join("d/e/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::fs::set_permissions(from.join("d"), std::fs::Permissions::from_mode(0o711)).unwrap();
        std::os::unix::fs::symlink("d/e/f", from.join("link")).unwrap();
        std::fs::write(to.join("link"), "kept").unwrap();
        copy_tree(&from, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("d/e/f")).unwrap(),
            "content"
        );
        let mode = |p: &str| std::fs::metadata(to.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("d/e/f"), 0o640);
        assert_eq!(mode("d"), 0o711);
        // An entry already in the destination wins.
        assert_eq!(std::fs::read_to_string(to.join("link")).unwrap(), "kept");
    }

    #[test]
    fn tmpcopyup_mounts_rw_then_remounts_ro() {
        let t = setup();
        std::fs::create_dir_all(t.rootfs.join("etc")).unwrap();
        std::fs::write(t.rootfs.join("etc/keep"), "k").unwrap();
        let sys = FakeSys::new(&t.rootfs);
        run(
            &t,
            &sys,
            &[mnt(
                "/etc",
                "tmpfs",
                "tmpfs",
                &["tmpcopyup", "ro", "mode=755"],
            )],
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount tmpfs $ROOT/etc tmpfs 0 mode=755",
                "mount - $ROOT/etc - rdonly|remount mode=755",
            ]
        );
    }

    #[test]
    fn tmpfs_without_mode_keeps_the_mountpoints_mode() {
        use std::os::unix::fs::PermissionsExt;
        let t = setup();
        for dir in ["kept", "given"] {
            let p = t.rootfs.join(dir);
            std::fs::create_dir(&p).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750)).unwrap();
        }
        let sys = FakeSys::new(&t.rootfs);
        run(
            &t,
            &sys,
            &[
                mnt("/kept", "tmpfs", "tmpfs", &["nosuid"]),
                mnt("/kept2", "tmpfs", "tmpfs", &[]),
                mnt("/given", "tmpfs", "tmpfs", &["size=1m", "mode=711"]),
            ],
        )
        .unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount tmpfs $ROOT/kept tmpfs nosuid mode=0750",
                // Created by the runtime: the kernel's default, as runc.
                "mount tmpfs $ROOT/kept2 tmpfs 0 -",
                "mount tmpfs $ROOT/given tmpfs 0 size=1m,mode=711",
            ]
        );
    }
}
