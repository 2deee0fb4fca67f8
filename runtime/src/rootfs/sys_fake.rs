//! Recording fake of [`Sys`] for unit tests: every call is kept as one readable line
//! (paths under the test's temp rootfs shown as `$ROOT`), chosen calls can be made to
//! fail with an errno, and host state (`/proc/self/*`, mount flags) is scripted.
use super::sys::Sys;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Default)]
pub(crate) struct FakeSys {
    root: Option<PathBuf>,
    calls: RefCell<Vec<String>>,
    /// (operation, path shown as in the call log) -> (errno, only once?).
    failures: RefCell<HashMap<(String, String), (Errno, bool)>>,
    proc_self: HashMap<String, String>,
    flags: HashMap<String, MsFlags>,
    dirs: RefCell<HashMap<i32, String>>,
}

impl FakeSys {
    pub(crate) fn new(root: &Path) -> Self {
        FakeSys {
            root: Some(root.to_path_buf()),
            ..Default::default()
        }
    }

    /// Make `op` (`mount`, `mknod`, `umount2`, …) on `path` (as shown in the log) fail.
    pub(crate) fn fail(self, op: &str, path: &str, errno: Errno) -> Self {
        self.failures
            .borrow_mut()
            .insert((op.to_string(), path.to_string()), (errno, false));
        self
    }

    /// Like [`FakeSys::fail`], but only the first matching call fails.
    pub(crate) fn fail_once(self, op: &str, path: &str, errno: Errno) -> Self {
        self.failures
            .borrow_mut()
            .insert((op.to_string(), path.to_string()), (errno, true));
        self
    }

    pub(crate) fn with_proc(mut self, name: &str, text: &str) -> Self {
        self.proc_self.insert(name.to_string(), text.to_string());
        self
    }

    pub(crate) fn with_flags(mut self, path: &str, flags: MsFlags) -> Self {
        self.flags.insert(path.to_string(), flags);
        self
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// Only the calls whose line starts with `prefix`.
    pub(crate) fn calls_of(&self, prefix: &str) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect()
    }

    fn show(&self, p: &Path) -> String {
        let s = p.display().to_string();
        match &self.root {
            Some(root) => {
                let r = root.display().to_string();
                match s.strip_prefix(&r) {
                    Some(rest) => format!("$ROOT{rest}"),
                    None => s,
                }
            }
            None => s,
        }
    }

    fn record(&self, op: &str, path: &str, line: String) -> Result<(), Errno> {
        self.calls.borrow_mut().push(line);
        let key = (op.to_string(), path.to_string());
        let mut failures = self.failures.borrow_mut();
        match failures.get(&key).copied() {
            Some((e, once)) => {
                if once {
                    failures.remove(&key);
                }
                Err(e)
            }
            None => Ok(()),
        }
    }
}

pub(crate) fn flag_names(flags: MsFlags) -> String {
    if flags.is_empty() {
        return "0".to_string();
    }
    let mut names: Vec<String> = flags
        .iter_names()
        .map(|(n, _)| n.trim_start_matches("MS_").to_lowercase())
        .collect();
    let unnamed = flags.bits() & !MsFlags::all().bits();
    if unnamed != 0 {
        names.push(format!("{unnamed:#x}"));
    }
    names.join("|")
}

impl Sys for FakeSys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        let t = self.show(target);
        let line = format!(
            "mount {} {} {} {} {}",
            source.map(|s| self.show(s)).unwrap_or_else(|| "-".into()),
            t,
            fstype.unwrap_or("-"),
            flag_names(flags),
            data.filter(|d| !d.is_empty()).unwrap_or("-"),
        );
        self.record("mount", &t, line)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        let t = self.show(target);
        self.record("umount2", &t, format!("umount2 {t} {:?}", flags.bits()))
    }

    fn mount_setattr(&self, target: &Path, set: u64, clr: u64) -> Result<(), Errno> {
        let t = self.show(target);
        let line = format!("mount_setattr {t} set={set:#x} clr={clr:#x}");
        self.record("mount_setattr", &t, line)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        let n = self.show(new_root);
        let line = format!("pivot_root {n} {}", self.show(put_old));
        self.record("pivot_root", &n, line)
    }

    fn chroot(&self, path: &Path) -> Result<(), Errno> {
        let p = self.show(path);
        self.record("chroot", &p, format!("chroot {p}"))
    }

    fn chdir(&self, path: &Path) -> Result<(), Errno> {
        let p = self.show(path);
        self.record("chdir", &p, format!("chdir {p}"))
    }

    fn open_dir(&self, path: &Path) -> Result<OwnedFd, Errno> {
        // A real, harmless fd so callers can hold and borrow it like the real one.
        let fd = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        self.dirs
            .borrow_mut()
            .insert(fd.as_raw_fd(), self.show(path));
        Ok(fd)
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<(), Errno> {
        let p = self
            .dirs
            .borrow()
            .get(&dir.as_raw_fd())
            .cloned()
            .unwrap_or_else(|| "?".into());
        self.record("fchdir", &p, format!("fchdir {p}"))
    }

    fn mknod(&self, path: &Path, kind: SFlag, perm: Mode, dev: u64) -> Result<(), Errno> {
        let p = self.show(path);
        let k = if kind == SFlag::S_IFCHR {
            "c"
        } else if kind == SFlag::S_IFBLK {
            "b"
        } else {
            "p"
        };
        let line = format!(
            "mknod {p} {k} {}:{} {:o}",
            nix::sys::stat::major(dev),
            nix::sys::stat::minor(dev),
            perm.bits()
        );
        self.record("mknod", &p, line)
    }

    fn chmod(&self, path: &Path, perm: Mode) -> Result<(), Errno> {
        let p = self.show(path);
        self.record("chmod", &p, format!("chmod {p} {:o}", perm.bits()))
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        let p = self.show(path);
        self.record("chown", &p, format!("chown {p} {uid}:{gid}"))
    }

    fn mount_flags(&self, path: &Path) -> Result<MsFlags, Errno> {
        Ok(self
            .flags
            .get(&self.show(path))
            .copied()
            .unwrap_or(MsFlags::empty()))
    }

    fn read_proc_self(&self, name: &str) -> std::io::Result<String> {
        self.proc_self.get(name).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("fake /proc/self/{name}"),
            )
        })
    }
}
