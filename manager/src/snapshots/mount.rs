//! The overlay mount of one container rootfs.
//!
//! overlayfs takes its options in one page (4096 bytes), which absolute lowerdirs
//! under a long root exhaust after a few dozen layers. So the mount is made from a
//! short-lived thread that unshares its fs context (`CLONE_FS`: its own cwd) and
//! chdirs to the root, passing every dir *relative* to it (`snapshots/12/fs`): the
//! process-wide cwd of berthd is never touched.

use std::path::{Path, PathBuf};

use super::{io_err, remove_tree, Error, Result};

/// A container's overlay rootfs: lower dirs (top first) + private upper/work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsMount {
    root: PathBuf,
    base: PathBuf,
    /// Lower dirs relative to the berth root, top layer first.
    lowers: Vec<PathBuf>,
}

impl RootfsMount {
    pub(super) fn new(root: &Path, base: &Path, lowers: Vec<PathBuf>) -> RootfsMount {
        RootfsMount {
            root: root.to_path_buf(),
            base: base.to_path_buf(),
            lowers,
        }
    }

    /// Where the rootfs is mounted: `containers/<id>/rootfs`.
    pub fn target(&self) -> PathBuf {
        self.base.join("rootfs")
    }

    /// The container's private writable layer: `containers/<id>/overlay/upper`.
    pub fn upperdir(&self) -> PathBuf {
        self.overlay_dir().join("upper")
    }

    /// overlayfs' work dir (same filesystem as upper).
    pub fn workdir(&self) -> PathBuf {
        self.overlay_dir().join("work")
    }

    /// Everything private to this rootfs but the mount point, in one directory so
    /// removal is one rename.
    fn overlay_dir(&self) -> PathBuf {
        self.base.join("overlay")
    }

    /// Absolute lower dirs, top layer first.
    pub fn lowerdirs(&self) -> Vec<PathBuf> {
        self.lowers.iter().map(|l| self.root.join(l)).collect()
    }

    /// The overlay mount options as passed to mount(2) (paths relative to the root).
    pub fn options(&self) -> String {
        let rel = |p: PathBuf| {
            p.strip_prefix(&self.root)
                .map(Path::to_path_buf)
                .unwrap_or(p)
                .display()
                .to_string()
        };
        let upper = rel(self.upperdir());
        let work = rel(self.workdir());
        if self.lowers.is_empty() {
            // overlay needs a lower dir; an empty image gets an empty one.
            let empty = rel(self.overlay_dir().join("empty"));
            return format!("lowerdir={empty},upperdir={upper},workdir={work},index=off");
        }
        let lowers: Vec<String> = self
            .lowers
            .iter()
            .map(|l| l.display().to_string())
            .collect();
        format!(
            "lowerdir={},upperdir={upper},workdir={work},index=off",
            lowers.join(":")
        )
    }

    pub(super) fn create_dirs(&self, shift: Option<super::IdShift>) -> Result<()> {
        // containers/<id>/ may exist already (the bundle); the rest is new.
        std::fs::create_dir_all(&self.base).map_err(io_err(&self.base))?;
        let mut dirs = vec![
            self.overlay_dir(),
            self.upperdir(),
            self.workdir(),
            self.target(),
        ];
        if self.lowers.is_empty() {
            dirs.push(self.overlay_dir().join("empty"));
        }
        for d in dirs {
            match std::fs::create_dir(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(io_err(&d)(e))
                }
                _ => {}
            }
        }
        // The container's / must be traversable by any user it runs as, whatever
        // berthd's umask.
        let up = self.upperdir();
        std::fs::set_permissions(&up, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io_err(&up))?;
        if let Some(s) = shift {
            // Under a remap the container's root owns its `/` (overlayfs takes
            // the root's owner from the upper dir).
            nix::unistd::chown(
                &up,
                Some(nix::unistd::Uid::from_raw(s.uid)),
                Some(nix::unistd::Gid::from_raw(s.gid)),
            )
            .map_err(|e| io_err(&up)(e.into()))?;
        }
        Ok(())
    }

    /// Removes the mount point now and the overlay dirs in the background: they are
    /// renamed into `snapshots/trash-*` (one metadata operation instead of a walk on
    /// the `rm --rm` path), where a thread deletes them, or start-up gc after a crash.
    pub(super) fn remove_dirs(&self) -> Result<()> {
        let ov = self.overlay_dir();
        if std::fs::symlink_metadata(&ov).is_ok() {
            let trash = self
                .root
                .join("snapshots")
                .join(format!("trash-{:016x}", rand::random::<u64>()));
            match std::fs::rename(&ov, &trash) {
                Ok(()) => {
                    std::thread::spawn(move || {
                        let _ = std::fs::remove_dir_all(&trash);
                    });
                }
                Err(_) => remove_tree(&ov)?,
            }
        }
        match std::fs::remove_dir(self.target()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Not empty: something was written into the unmounted mount point.
            Err(_) => remove_tree(&self.target())?,
            Ok(()) => {}
        }
        // Drop the container dir too when nothing else (bundle, logs) is in it.
        let _ = std::fs::remove_dir(&self.base);
        Ok(())
    }

    /// Whether something is mounted on the target (reads /proc/self/mountinfo).
    pub fn is_mounted(&self) -> bool {
        let target = self.target();
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        info.lines().any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|mp| Path::new(&unescape_mountinfo(mp)) == target)
        })
    }

    /// Mounts the overlay at [`RootfsMount::target`]. Idempotent.
    pub fn mount(&self) -> Result<()> {
        if self.is_mounted() {
            return Ok(());
        }
        let root = self.root.clone();
        let target = self.target();
        let opts = self.options();
        let t2 = target.clone();
        let r = std::thread::spawn(move || -> std::io::Result<()> {
            // Own cwd for this thread only, so the relative paths resolve against the
            // root without racing other threads.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
            nix::unistd::chdir(&root)?;
            nix::mount::mount(
                Some("overlay"),
                &t2,
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(opts.as_str()),
            )?;
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("mount thread panicked")));
        r.map_err(|source| Error::Mount { target, source })
    }

    /// Unmounts the target if mounted (lazily when busy). Idempotent.
    pub fn unmount(&self) -> Result<()> {
        let target = self.target();
        // Several mounts may be stacked on the target; a bound keeps a mount that
        // will not go away from looping forever.
        for _ in 0..16 {
            if !self.is_mounted() {
                return Ok(());
            }
            match nix::mount::umount2(&target, nix::mount::MntFlags::empty()) {
                Ok(()) => {}
                Err(nix::errno::Errno::EBUSY) => {
                    nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).map_err(
                        |e| Error::Unmount {
                            target: target.clone(),
                            source: e.into(),
                        },
                    )?;
                }
                Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
                Err(e) => {
                    return Err(Error::Unmount {
                        target,
                        source: e.into(),
                    })
                }
            }
        }
        if self.is_mounted() {
            return Err(Error::Unmount {
                target,
                source: std::io::Error::other("still mounted after 16 unmounts"),
            });
        }
        Ok(())
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
