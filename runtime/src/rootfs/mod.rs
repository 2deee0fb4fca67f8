//! The container's root filesystem, set up inside its new mount namespace.
//!
//! Call order (from `process/` init, in the child, as root, before the uid switch, and
//! after the parent has moved the child into its cgroups — `cgroup` mounts bind the
//! cgroups `/proc/self/cgroup` names):
//! 1. [`prepare`] — before pivot_root: `/` rslave, bind the rootfs onto itself,
//!    every `spec.mounts` entry (all options and propagation flags), default devices and
//!    `linux.devices`, /dev symlinks (fd, stdin, stdout, stderr, core, ptmx).
//! 2. createContainer hooks run here (by the caller).
//! 3. [`pivot`] — pivot_root into the rootfs (or chroot/MS_MOVE when `no_pivot`).
//!    With `process.terminal`, [`mount_console`] binds the pty slave on /dev/console.
//! 4. [`finish`] — after pivot_root: read-only `/dev` and root, readonly paths, masked
//!    paths, `rootfsPropagation`.
//!
//! Every path from the spec is resolved inside the rootfs without following symlinks
//! out of it (`safe_join.rs`). Every privileged call goes through the `Sys` seam
//! (`sys.rs`), so the whole sequence is unit-tested against a recording fake; the
//! tests in `ns_tests.rs` run it for real in a throwaway mount namespace.
//!
//! Files: `mount.rs` (spec.mounts), `options.rs` (option → flag table),
//! `bind_sources.rs` (bind sources opened by the runtime, for a user namespace),
//! `cgroup_mount.rs`, `devices.rs`, `symlinks.rs` (/dev links, ptmx),
//! `propagation.rs` (root propagation, rootfs self-bind), `pivot.rs`, `paths.rs`
//! (masked/readonly paths, read-only remounts), `mountinfo.rs`, `safe_join.rs`.
use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

mod bind_sources;
mod cgroup_mount;
mod devices;
mod mount;
mod mountinfo;
mod options;
mod paths;
mod pivot;
mod propagation;
mod safe_join;
mod symlinks;
mod sys;

#[cfg(test)]
mod ns_tests;
#[cfg(test)]
mod sys_fake;

pub use bind_sources::BindSources;
use sys::{LinuxSys, Sys};

/// Every variant names the spec field or entry (`what`: `mount[3] destination /proc`,
/// `linux.devices /dev/fuse`, `linux.maskedPaths /proc/kcore`, …) and the host path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("{what}: {op} {}: {errno}", path.display())]
    Sys {
        what: String,
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{what}: {op} {}: {source}", path.display())]
    Io {
        what: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: option {option:?}: {reason}")]
    InvalidOption {
        what: String,
        option: String,
        reason: &'static str,
    },
    #[error(
        "linux.rootfsPropagation {0:?}: expected shared, slave, private or unbindable, \
         optionally with an r prefix (rslave)"
    )]
    InvalidPropagation(String),
    #[error("{what}: {} resolves outside the rootfs {}", path.display(), rootfs.display())]
    Escape {
        what: String,
        path: PathBuf,
        rootfs: PathBuf,
    },
    #[error("{what}: too many levels of symlinks resolving {} in the rootfs", path.display())]
    SymlinkLoop { what: String, path: PathBuf },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

/// Options that come from the command line rather than from config.json.
#[derive(Debug, Clone, Copy)]
pub struct RootfsOptions<'a> {
    /// runc's `--no-pivot`: use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The bundle directory: relative bind-mount sources are resolved against it
    /// (runc runs in the bundle). Empty means the current directory.
    pub bundle: &'a Path,
    /// Bind sources the runtime opened before the init entered its user namespace.
    pub bind_sources: Option<&'a BindSources>,
}

impl Default for RootfsOptions<'_> {
    fn default() -> Self {
        RootfsOptions {
            no_pivot: false,
            bundle: Path::new(""),
            bind_sources: None,
        }
    }
}

/// Step 1: mounts, devices and symlinks under `rootfs` (the host path of the rootfs).
pub fn prepare(spec: &Spec, rootfs: &Path, opts: RootfsOptions<'_>) -> Result<(), RootfsError> {
    let with_kcore = Path::new("/proc/kcore").exists();
    prepare_with(&LinuxSys, spec, &canonical(rootfs)?, &opts, with_kcore)
}

/// Step 3: make `rootfs` the process's `/`.
pub fn pivot(rootfs: &Path, opts: RootfsOptions<'_>) -> Result<(), RootfsError> {
    pivot_with(&LinuxSys, &canonical(rootfs)?, &opts)
}

/// Step 4: masked/readonly paths, rootfs propagation, readonly root.
pub fn finish(spec: &Spec) -> Result<(), RootfsError> {
    finish_with(&LinuxSys, spec)
}

/// For `process.terminal`: bind the container's pty slave (`/dev/pts/N`, as
/// `ptsname` reports it inside the container) onto `/dev/console`. Call after
/// [`pivot`] and before [`finish`] (which may make `/dev` read-only).
pub fn mount_console(pty_slave: &Path) -> Result<(), RootfsError> {
    devices::mount_console(&LinuxSys, Path::new("/"), pty_slave)
}

/// Mount-table lookups and the escape check compare real paths.
fn canonical(rootfs: &Path) -> Result<PathBuf, RootfsError> {
    std::fs::canonicalize(rootfs).map_err(|e| RootfsError::Io {
        what: "root.path".into(),
        op: "canonicalize",
        path: rootfs.to_path_buf(),
        source: e,
    })
}

fn prepare_with(
    sys: &dyn Sys,
    spec: &Spec,
    rootfs: &Path,
    opts: &RootfsOptions<'_>,
    with_kcore: bool,
) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    // Validated here so a bad value fails before anything is mounted; applied by finish.
    let _ = propagation::rootfs_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    // Checked up front so a bad entry fails before anything is mounted.
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for (i, m) in mounts.iter().enumerate() {
        mount::parse_options(i, m)?;
    }
    let nodes = devices::plan(linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]))?;
    paths::check_absolute(
        "linux.maskedPaths",
        linux
            .and_then(|l| l.masked_paths().as_deref())
            .unwrap_or(&[]),
    )?;
    paths::check_absolute(
        "linux.readonlyPaths",
        linux
            .and_then(|l| l.readonly_paths().as_deref())
            .unwrap_or(&[]),
    )?;
    let cgroup_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));

    // Relative sources must not depend on where the init process happens to be. The
    // bundle itself is not looked up: in a user namespace it may not be searchable,
    // and only relative bind sources need it.
    let bundle = if opts.bundle.is_absolute() {
        opts.bundle.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|e| RootfsError::Io {
            what: "bundle".into(),
            op: "getcwd",
            path: opts.bundle.to_path_buf(),
            source: e,
        })?;
        cwd.join(opts.bundle)
    };
    propagation::prepare_root(sys, rootfs)?;
    let ctx = mount::MountCtx {
        sys,
        rootfs,
        bundle: &bundle,
        cgroup_ns,
        sources: opts.bind_sources,
    };
    mount::mount_all(&ctx, mounts)?;

    // A /dev bound from the host already has its nodes and links (runc skips too).
    let dev_is_bind = mounts.iter().enumerate().any(|(i, m)| {
        mount::is_dev(m) && mount::parse_options(i, m).is_ok_and(|o| mount::is_bind(m, &o))
    });
    if !dev_is_bind {
        devices::create_all(sys, rootfs, &nodes)?;
        symlinks::create_ptmx(rootfs)?;
        symlinks::create_dev_symlinks(rootfs, with_kcore)?;
    }
    Ok(())
}

fn pivot_with(sys: &dyn Sys, rootfs: &Path, opts: &RootfsOptions<'_>) -> Result<(), RootfsError> {
    if opts.no_pivot {
        pivot::move_root(sys, rootfs)
    } else {
        pivot::pivot_root(sys, rootfs)
    }
}

fn finish_with(sys: &dyn Sys, spec: &Spec) -> Result<(), RootfsError> {
    let linux = spec.linux().as_ref();
    let slash = Path::new("/");
    let propagation =
        propagation::rootfs_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let dev_ro = mounts.iter().enumerate().any(|(i, m)| {
        mount::is_dev(m)
            && mount::parse_options(i, m).is_ok_and(|o| {
                !mount::is_bind(m, &o) && o.flags.contains(nix::mount::MsFlags::MS_RDONLY)
            })
    });
    if dev_ro {
        paths::remount_readonly(sys, "mount destination /dev", Path::new("/dev"))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        paths::remount_readonly(sys, "root.readonly", slash)?;
    }
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        paths::make_readonly(sys, p)?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        paths::mask(sys, p)?;
    }
    // Last: on an `unbindable` root the self-binds of readonly paths would fail
    // (EINVAL). Only now, on the new root, does it mean what the spec says.
    if let Some(flags) = propagation {
        mount::sys_mount(
            sys,
            "linux.rootfsPropagation",
            None,
            slash,
            None,
            flags,
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sys_fake::FakeSys;
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).expect("spec json")
    }

    const MINIMAL_INFO: &str = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";

    #[test]
    fn prepare_orders_propagation_bind_mounts_devices_links() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = std::fs::canonicalize(tmp.path()).unwrap();
        let rootfs = bundle.join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                      {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}],
            "linux":{"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}}"#,
        );
        let sys = FakeSys::new(&bundle).with_proc("mountinfo", MINIMAL_INFO);
        let opts = RootfsOptions {
            no_pivot: false,
            bundle: &bundle,
            bind_sources: None,
        };
        prepare_with(&sys, &s, &rootfs, &opts, true).unwrap();
        let c = sys.calls();
        assert_eq!(c[0], "mount - / - rec|slave -");
        assert_eq!(c[1], "mount $ROOT/rootfs $ROOT/rootfs bind bind|rec -");
        assert_eq!(c[2], "mount proc $ROOT/rootfs/proc proc 0 -");
        assert_eq!(c[3], "mount tmpfs $ROOT/rootfs/dev tmpfs nosuid mode=755");
        assert_eq!(c[4], "mknod $ROOT/rootfs/dev/null c 1:3 666");
        assert!(c.contains(&"mknod $ROOT/rootfs/dev/fuse c 10:229 666".to_string()));
        assert_eq!(
            std::fs::read_link(rootfs.join("dev/ptmx")).unwrap(),
            PathBuf::from("pts/ptmx")
        );
        assert!(std::fs::symlink_metadata(rootfs.join("dev/core")).is_ok());
    }

    #[test]
    fn bad_entries_fail_before_anything_is_mounted() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = std::fs::canonicalize(tmp.path()).unwrap();
        for (json, want) in [
            (
                r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/a","type":"tmpfs"},{"destination":"/b","type":"tmpfs","options":["idmap"]}]}"#,
                "mount[1] destination /b: option \"idmap\"",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"readonlyPaths":["/ok","rel"]}}"#,
                "linux.readonlyPaths rel: must be an absolute path",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"rootfsPropagation":"sideways"}}"#,
                "linux.rootfsPropagation \"sideways\"",
            ),
            (
                r#"{"ociVersion":"1.0.2","linux":{"devices":[{"path":"/dev/x","type":"c","major":-3,"minor":0}]}}"#,
                "linux.devices /dev/x: major -3",
            ),
        ] {
            let sys = FakeSys::new(&rootfs).with_proc("mountinfo", MINIMAL_INFO);
            let err = prepare_with(&sys, &spec(json), &rootfs, &RootfsOptions::default(), false)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{err}");
            assert!(sys.calls().is_empty(), "{:?}", sys.calls());
        }
    }

    #[test]
    fn host_dev_bind_skips_devices_and_links() {
        let tmp = tempfile::tempdir().unwrap();
        let rootfs = std::fs::canonicalize(tmp.path()).unwrap();
        let s = spec(
            r#"{"ociVersion":"1.0.2","mounts":[{"destination":"/dev","type":"bind","source":"/dev","options":["rbind"]}]}"#,
        );
        let sys = FakeSys::new(&rootfs).with_proc("mountinfo", MINIMAL_INFO);
        prepare_with(&sys, &s, &rootfs, &RootfsOptions::default(), true).unwrap();
        assert!(sys.calls_of("mknod").is_empty());
        assert!(std::fs::symlink_metadata(rootfs.join("dev/fd")).is_err());
    }

    #[test]
    fn finish_order_dev_root_readonly_masked_then_propagation() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
            "mounts":[{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["ro"]}],
            "linux":{"rootfsPropagation":"rshared",
                     "readonlyPaths":["/proc/sys"],"maskedPaths":["/proc/kcore"]}}"#,
        );
        let sys = FakeSys::default();
        finish_with(&sys, &s).unwrap();
        assert_eq!(
            sys.calls(),
            vec![
                "mount /dev /dev bind rdonly|remount|bind -",
                "mount / / bind rdonly|remount|bind -",
                "mount /proc/sys /proc/sys - bind|rec -",
                "mount /proc/sys /proc/sys - rdonly|remount|bind -",
                "mount /dev/null /proc/kcore - bind -",
                "mount - / - rec|shared -",
            ]
        );
    }

    #[test]
    fn finish_with_defaults_does_nothing() {
        let sys = FakeSys::default();
        finish_with(&sys, &spec(r#"{"ociVersion":"1.0.2"}"#)).unwrap();
        assert!(sys.calls().is_empty());
    }

    #[test]
    fn pivot_picks_move_root_for_no_pivot() {
        let sys = FakeSys::default().with_proc("mountinfo", "");
        let opts = RootfsOptions {
            no_pivot: true,
            ..Default::default()
        };
        pivot_with(&sys, Path::new("/r"), &opts).unwrap();
        assert!(sys.calls().contains(&"chroot .".to_string()));
        assert!(sys.calls_of("pivot_root").is_empty());
    }

    #[test]
    fn error_display_names_field_and_path() {
        let e = RootfsError::Sys {
            what: "mount[3] destination /proc".into(),
            op: "mount",
            path: PathBuf::from("/b/rootfs/proc"),
            errno: Errno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "mount[3] destination /proc: mount /b/rootfs/proc: EPERM: Operation not permitted"
        );
    }
}
