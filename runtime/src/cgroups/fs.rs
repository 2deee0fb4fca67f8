//! The filesystem seam: every read and write of a cgroup file goes through
//! [`CgroupFs`], so the limit-writing logic of each controller is tested against an
//! in-memory fake (`fake::FakeFs`, test builds only) without root, and against the
//! kernel through [`RealFs`].
//!
//! The helpers at the bottom turn I/O errors into [`CgroupError`]s that name the file
//! and the value, so no controller has to.
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::v2::devices::Insn;
use super::CgroupError;

/// The operations the cgroup code needs from a filesystem.
pub trait CgroupFs: Debug + Send + Sync {
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Write to an existing file (cgroupfs files are never created by writing).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Create one directory level; `AlreadyExists` when it is there.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// Entries of a directory as `(name, is_dir)`.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<(String, bool)>>;
    /// Make `prog` the v2 device filter of the cgroup `dir` (replacing older ones).
    fn attach_device_filter(&self, dir: &Path, prog: &[Insn]) -> io::Result<()>;
}

/// The kernel's cgroupfs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl CgroupFs for RealFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        use std::io::Write;
        // One write(2) call: cgroupfs parses each write on its own.
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.write_all(value.as_bytes())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<(String, bool)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let is_dir = entry.file_type()?.is_dir();
            out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
        }
        Ok(out)
    }
    fn attach_device_filter(&self, dir: &Path, prog: &[Insn]) -> io::Result<()> {
        super::v2::devices::load_and_attach(dir, prog)
    }
}

pub(crate) fn read(fs: &dyn CgroupFs, dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    fs.read(&path)
        .map_err(|source| CgroupError::Read { path, source })
}

/// Like [`read`], but a missing file is `None` (optional kernel features).
pub(crate) fn read_opt(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match fs.read(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

pub(crate) fn write(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
    value: &str,
) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs.write(&path, value).map_err(|source| CgroupError::Write {
        path,
        value: value.to_string(),
        source,
    })
}

/// Parse a number file; `max` (v2) reads as `u64::MAX`.
pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64, CgroupError> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        value: t.to_string(),
    })
}

pub(crate) fn read_u64(fs: &dyn CgroupFs, dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = read(fs, dir, file)?;
    parse_u64(&dir.join(file), &text)
}

/// A missing file reads as 0: stats are best effort across kernel versions.
pub(crate) fn read_u64_or_zero(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
) -> Result<u64, CgroupError> {
    match read_opt(fs, dir, file)? {
        Some(text) => parse_u64(&dir.join(file), &text),
        None => Ok(0),
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events ...). A missing file is an
/// empty map; lines that do not parse are skipped (new kernels add odd ones).
pub(crate) fn read_keyed(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
) -> Result<BTreeMap<String, u64>, CgroupError> {
    let mut map = BTreeMap::new();
    if let Some(text) = read_opt(fs, dir, file)? {
        for line in text.lines() {
            let mut it = line.split_whitespace();
            if let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) {
                if let Ok(v) = v.parse() {
                    map.insert(k.to_string(), v);
                }
            }
        }
    }
    Ok(map)
}

/// Create `dir` and any missing parents, appending each directory it creates to
/// `created` (outermost first) as it goes, so a failure halfway still says what to
/// clean up. `hook` runs on every level from `from` (exclusive) down, created or not
/// (cpuset v1 must initialise each level before the next is usable).
pub(crate) fn create_dir_all(
    fs: &dyn CgroupFs,
    from: &Path,
    dir: &Path,
    created: &mut Vec<PathBuf>,
    mut hook: impl FnMut(&Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let rel = dir
        .strip_prefix(from)
        .map_err(|_| CgroupError::InvalidPath {
            path: dir.display().to_string(),
            reason: "not below its hierarchy's mount point",
        })?;
    let mut cur = from.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        match fs.create_dir(&cur) {
            Ok(()) => created.push(cur.clone()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CgroupError::CreateDir {
                    path: cur.clone(),
                    source,
                })
            }
        }
        hook(&cur)?;
    }
    Ok(())
}

/// Remove `dir` and every cgroup below it, innermost first. A missing `dir` is fine.
/// `EBUSY` (the kernel has not finished tearing down exited tasks) is retried for a
/// short while.
pub(crate) fn remove_tree(fs: &dyn CgroupFs, dir: &Path) -> Result<(), CgroupError> {
    let entries = match fs.list_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    for (name, is_dir) in entries {
        if is_dir {
            remove_tree(fs, &dir.join(name))?;
        }
    }
    let mut delay = Duration::from_millis(5);
    let mut attempts = 0;
    loop {
        match fs.remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempts < 8 => {
                attempts += 1;
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(source) => {
                return Err(CgroupError::RemoveDir {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Pids in `dir`'s `cgroup.procs` and in every cgroup below it.
pub(crate) fn procs_recursive(
    fs: &dyn CgroupFs,
    dir: &Path,
    out: &mut Vec<i32>,
) -> Result<(), CgroupError> {
    let text = read(fs, dir, "cgroup.procs")?;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let pid = t.parse().map_err(|_| CgroupError::Parse {
            path: dir.join("cgroup.procs"),
            value: t.to_string(),
        })?;
        out.push(pid);
    }
    let entries = fs.list_dir(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for (name, is_dir) in entries {
        if is_dir {
            procs_recursive(fs, &dir.join(name), out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fake {
    //! An in-memory cgroupfs: directories, files, a log of every write, and errors
    //! injected per file. Creating a directory below a registered mount fills it with
    //! that mount's control files, as the kernel does.
    use super::*;
    use std::collections::{BTreeSet, HashMap};
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    pub struct FakeFs {
        inner: Mutex<Inner>,
    }

    #[derive(Debug, Default)]
    struct Inner {
        dirs: BTreeSet<PathBuf>,
        files: BTreeMap<PathBuf, String>,
        writes: Vec<(PathBuf, String)>,
        /// (errno, times): the next `times` writes to the file fail.
        fail_write: HashMap<PathBuf, (i32, usize)>,
        /// mount point → files (with their initial content) of every cgroup below it.
        templates: Vec<(PathBuf, Vec<(String, String)>)>,
        device_filters: Vec<(PathBuf, Vec<Insn>)>,
    }

    impl FakeFs {
        pub fn new() -> Self {
            Self::default()
        }
        fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
            self.inner.lock().unwrap_or_else(|p| p.into_inner())
        }
        /// A mount point whose new cgroups get `files`.
        pub fn mount(&self, point: &str, files: &[(&str, &str)]) {
            let mut g = self.lock();
            let point = PathBuf::from(point);
            let mut p = point.clone();
            loop {
                g.dirs.insert(p.clone());
                if !p.pop() {
                    break;
                }
            }
            for (f, v) in files {
                g.files
                    .entry(point.join(f))
                    .or_insert_with(|| v.to_string());
            }
            g.templates.push((
                point,
                files
                    .iter()
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect(),
            ));
        }
        pub fn set(&self, path: impl AsRef<Path>, content: &str) {
            let mut g = self.lock();
            let path = path.as_ref().to_path_buf();
            if let Some(parent) = path.parent() {
                let mut p = parent.to_path_buf();
                loop {
                    g.dirs.insert(p.clone());
                    if !p.pop() {
                        break;
                    }
                }
            }
            g.files.insert(path, content.to_string());
        }
        pub fn get(&self, path: impl AsRef<Path>) -> Option<String> {
            self.lock().files.get(path.as_ref()).cloned()
        }
        pub fn remove_file(&self, path: impl AsRef<Path>) {
            self.lock().files.remove(path.as_ref());
        }
        pub fn is_dir(&self, path: impl AsRef<Path>) -> bool {
            self.lock().dirs.contains(path.as_ref())
        }
        pub fn fail_write(&self, path: impl AsRef<Path>, errno: i32, times: usize) {
            self.lock()
                .fail_write
                .insert(path.as_ref().to_path_buf(), (errno, times));
        }
        /// Every successful write, in order, as `(path, value)`.
        pub fn writes(&self) -> Vec<(String, String)> {
            self.lock()
                .writes
                .iter()
                .map(|(p, v)| (p.display().to_string(), v.clone()))
                .collect()
        }
        /// Writes to files named `file` in `dir` only.
        pub fn writes_in(&self, dir: &str) -> Vec<(String, String)> {
            let prefix = format!("{dir}/");
            self.writes()
                .into_iter()
                .filter_map(|(p, v)| {
                    let rest = p.strip_prefix(&prefix)?;
                    (!rest.contains('/')).then(|| (rest.to_string(), v))
                })
                .collect()
        }
        /// Every device program attached, as `(dir, program)`.
        pub fn device_filters(&self) -> Vec<(String, Vec<Insn>)> {
            self.lock()
                .device_filters
                .iter()
                .map(|(d, p)| (d.display().to_string(), p.clone()))
                .collect()
        }
        pub fn clear_writes(&self) {
            self.lock().writes.clear();
        }
    }

    fn enoent() -> io::Error {
        io::Error::from_raw_os_error(libc::ENOENT)
    }

    impl CgroupFs for FakeFs {
        fn read(&self, path: &Path) -> io::Result<String> {
            self.lock().files.get(path).cloned().ok_or_else(enoent)
        }
        fn write(&self, path: &Path, value: &str) -> io::Result<()> {
            let mut g = self.lock();
            if let Some((errno, times)) = g.fail_write.get_mut(path) {
                if *times > 0 {
                    *times -= 1;
                    return Err(io::Error::from_raw_os_error(*errno));
                }
            }
            if !g.files.contains_key(path) {
                return Err(enoent());
            }
            g.files.insert(path.to_path_buf(), value.to_string());
            g.writes.push((path.to_path_buf(), value.to_string()));
            Ok(())
        }
        fn exists(&self, path: &Path) -> bool {
            let g = self.lock();
            g.dirs.contains(path) || g.files.contains_key(path)
        }
        fn create_dir(&self, path: &Path) -> io::Result<()> {
            let mut g = self.lock();
            if g.dirs.contains(path) {
                return Err(io::Error::from_raw_os_error(libc::EEXIST));
            }
            match path.parent() {
                Some(parent) if g.dirs.contains(parent) => {}
                _ => return Err(enoent()),
            }
            g.dirs.insert(path.to_path_buf());
            let template = g
                .templates
                .iter()
                .filter(|(point, _)| path.starts_with(point))
                .max_by_key(|(point, _)| point.as_os_str().len())
                .map(|(_, files)| files.clone());
            for (f, v) in template.unwrap_or_default() {
                g.files.insert(path.join(f), v);
            }
            Ok(())
        }
        fn remove_dir(&self, path: &Path) -> io::Result<()> {
            let mut g = self.lock();
            if !g.dirs.contains(path) {
                return Err(enoent());
            }
            if g.dirs.iter().any(|d| d != path && d.starts_with(path)) {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
            g.dirs.remove(path);
            g.files.retain(|f, _| !f.starts_with(path));
            Ok(())
        }
        fn list_dir(&self, path: &Path) -> io::Result<Vec<(String, bool)>> {
            let g = self.lock();
            if !g.dirs.contains(path) {
                return Err(enoent());
            }
            let child = |p: &PathBuf| {
                (p.parent() == Some(path))
                    .then(|| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .flatten()
            };
            let mut out: Vec<(String, bool)> = g
                .dirs
                .iter()
                .filter_map(|d| child(d).map(|n| (n, true)))
                .collect();
            out.extend(g.files.keys().filter_map(|f| child(f).map(|n| (n, false))));
            Ok(out)
        }
        fn attach_device_filter(&self, dir: &Path, prog: &[Insn]) -> io::Result<()> {
            let mut g = self.lock();
            if !g.dirs.contains(dir) {
                return Err(enoent());
            }
            g.device_filters.push((dir.to_path_buf(), prog.to_vec()));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeFs;
    use super::*;

    #[test]
    fn create_dir_all_reports_created_levels_and_runs_hook_on_each() {
        let fs = FakeFs::new();
        fs.mount("/cg/memory", &[("memory.limit_in_bytes", "0")]);
        fs.create_dir(Path::new("/cg/memory/a")).unwrap();
        let mut seen = Vec::new();
        let mut created = Vec::new();
        create_dir_all(
            &fs,
            Path::new("/cg/memory"),
            Path::new("/cg/memory/a/b/c"),
            &mut created,
            |p| {
                seen.push(p.display().to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            created,
            vec![
                PathBuf::from("/cg/memory/a/b"),
                PathBuf::from("/cg/memory/a/b/c")
            ]
        );
        assert_eq!(seen, ["/cg/memory/a", "/cg/memory/a/b", "/cg/memory/a/b/c"]);
        assert!(fs.exists(Path::new("/cg/memory/a/b/c/memory.limit_in_bytes")));
    }

    #[test]
    fn remove_tree_removes_children_first_and_ignores_missing() {
        let fs = FakeFs::new();
        fs.mount("/cg/pids", &[("cgroup.procs", "")]);
        create_dir_all(
            &fs,
            Path::new("/cg/pids"),
            Path::new("/cg/pids/x/y/z"),
            &mut Vec::new(),
            |_| Ok(()),
        )
        .unwrap();
        remove_tree(&fs, Path::new("/cg/pids/x")).unwrap();
        assert!(!fs.is_dir("/cg/pids/x"));
        assert!(fs.is_dir("/cg/pids"));
        remove_tree(&fs, Path::new("/cg/pids/x")).unwrap();
    }

    #[test]
    fn write_error_names_file_and_value() {
        let fs = FakeFs::new();
        fs.mount("/cg/pids", &[("pids.max", "max")]);
        fs.fail_write("/cg/pids/pids.max", libc::EINVAL, 1);
        let err = write(&fs, Path::new("/cg/pids"), "pids.max", "12").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/cg/pids/pids.max"), "{msg}");
        assert!(msg.contains("12"), "{msg}");
    }

    #[test]
    fn keyed_and_number_parsing() {
        let fs = FakeFs::new();
        fs.set("/d/cpu.stat", "usage_usec 10\nnr_periods 2\nbogus\n");
        fs.set("/d/pids.max", "max\n");
        let m = read_keyed(&fs, Path::new("/d"), "cpu.stat").unwrap();
        assert_eq!(m.get("usage_usec"), Some(&10));
        assert_eq!(m.len(), 2);
        assert_eq!(
            read_u64(&fs, Path::new("/d"), "pids.max").unwrap(),
            u64::MAX
        );
        assert_eq!(read_u64_or_zero(&fs, Path::new("/d"), "nope").unwrap(), 0);
    }
}
