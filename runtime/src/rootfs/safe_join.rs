//! Resolving a container path to a host path inside the rootfs, as if the rootfs were
//! already `/`: symlinks in the image are followed, but `..` and absolute link targets
//! are clamped at the rootfs, so a hostile image (`/evil -> ../../../etc`) can never
//! make a mount, a device node or a symlink land outside it.
//!
//! The walk is done by hand (lstat + readlink per component) and the result is checked
//! once more after the missing components are created. Nothing else runs in the
//! container yet, so the tree cannot change between the walk and its use.
use super::RootfsError;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Linux's own limit on symlinks followed in one lookup (MAXSYMLINKS is 40; we are
/// a bit more generous for deep images but still finite).
const MAX_SYMLINKS: usize = 255;

/// The host path of container path `unsafe_path` under `root`. Components that do not
/// exist yet are appended as they are; existing ones are never symlinks.
pub(crate) fn resolve_in_root(
    root: &Path,
    unsafe_path: &Path,
    what: &str,
) -> Result<PathBuf, RootfsError> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut todo: VecDeque<OsString> = components(unsafe_path);
    let mut links = 0usize;
    // Once a component is missing, nothing below it can be a symlink.
    let mut missing = false;
    while let Some(comp) = todo.pop_front() {
        if comp == ".." {
            resolved.pop();
            continue;
        }
        let candidate = join(root, &resolved).join(&comp);
        if missing {
            resolved.push(comp);
            continue;
        }
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(RootfsError::SymlinkLoop {
                        what: what.to_string(),
                        path: unsafe_path.to_path_buf(),
                    });
                }
                let target = std::fs::read_link(&candidate).map_err(|e| RootfsError::Io {
                    what: what.to_string(),
                    op: "readlink",
                    path: candidate.clone(),
                    source: e,
                })?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut rest = components(&target);
                rest.extend(todo);
                todo = rest;
            }
            Ok(_) => resolved.push(comp),
            Err(e)
                if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                missing = true;
                resolved.push(comp);
            }
            Err(e) => {
                return Err(RootfsError::Io {
                    what: what.to_string(),
                    op: "lstat",
                    path: candidate,
                    source: e,
                })
            }
        }
    }
    Ok(join(root, &resolved))
}

/// What to create at a destination that does not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
}

/// Resolve `unsafe_path` inside `root` and create it (with its parents, 0755) if it is
/// missing. Returns the host path, checked to still be inside `root`.
pub(crate) fn create_in_root(
    root: &Path,
    unsafe_path: &Path,
    kind: Kind,
    what: &str,
) -> Result<PathBuf, RootfsError> {
    let path = resolve_in_root(root, unsafe_path, what)?;
    let io = |op: &'static str, p: &Path, e: std::io::Error| RootfsError::Io {
        what: what.to_string(),
        op,
        path: p.to_path_buf(),
        source: e,
    };
    match kind {
        Kind::Dir => mkdir_all(&path).map_err(|e| io("mkdir", &path, e))?,
        Kind::File => {
            if let Some(parent) = path.parent() {
                mkdir_all(parent).map_err(|e| io("mkdir", parent, e))?;
            }
            // An existing entry is left alone (even on a read-only image, where
            // trying to create it would say EROFS).
            let exists = std::fs::symlink_metadata(&path).is_ok();
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                _ if exists => {}
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create", &path, e)),
            }
        }
    }
    ensure_inside(root, &path, what)?;
    Ok(path)
}

/// Fails unless `path` (which must exist) really is under `root` once every symlink is
/// followed by the kernel.
pub(crate) fn ensure_inside(root: &Path, path: &Path, what: &str) -> Result<(), RootfsError> {
    let real = std::fs::canonicalize(path).map_err(|e| RootfsError::Io {
        what: what.to_string(),
        op: "canonicalize",
        path: path.to_path_buf(),
        source: e,
    })?;
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(RootfsError::Escape {
            what: what.to_string(),
            path: real,
            rootfs: root.to_path_buf(),
        })
    }
}

fn mkdir_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let canon = std::fs::canonicalize(dir.path()).expect("canonicalize");
        let root = canon.join("rootfs");
        std::fs::create_dir(&root).expect("mkdir rootfs");
        (dir, root)
    }

    #[test]
    fn plain_paths_join_under_root() {
        let (_t, r) = root();
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        assert_eq!(
            resolve_in_root(&r, Path::new("/usr/lib/x"), "t").unwrap(),
            r.join("usr/lib/x")
        );
        assert_eq!(
            resolve_in_root(&r, Path::new("relative/./y"), "t").unwrap(),
            r.join("relative/y")
        );
    }

    #[test]
    fn dotdot_is_clamped_at_root() {
        let (_t, r) = root();
        assert_eq!(
            resolve_in_root(&r, Path::new("/../../../etc/passwd"), "t").unwrap(),
            r.join("etc/passwd")
        );
    }

    #[test]
    fn relative_symlink_escape_stays_inside() {
        let (_t, r) = root();
        symlink("../../../../../etc", r.join("evil")).unwrap();
        assert_eq!(
            resolve_in_root(&r, Path::new("/evil/x"), "t").unwrap(),
            r.join("etc/x")
        );
    }

    #[test]
    fn absolute_symlink_is_relative_to_root() {
        let (_t, r) = root();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        symlink("/etc", r.join("a/b/abs")).unwrap();
        assert_eq!(
            resolve_in_root(&r, Path::new("/a/b/abs/shadow"), "t").unwrap(),
            r.join("etc/shadow")
        );
    }

    #[test]
    fn chained_symlinks_and_dotdot_after_link() {
        let (_t, r) = root();
        std::fs::create_dir_all(r.join("real/dir")).unwrap();
        symlink("real/dir", r.join("l1")).unwrap();
        symlink("/l1/..", r.join("l2")).unwrap();
        // /l2 -> /l1/.. -> /real/dir/.. -> /real
        assert_eq!(
            resolve_in_root(&r, Path::new("/l2/f"), "t").unwrap(),
            r.join("real/f")
        );
    }

    #[test]
    fn final_symlink_is_followed_too() {
        let (_t, r) = root();
        symlink("/../../tmp/target", r.join("last")).unwrap();
        assert_eq!(
            resolve_in_root(&r, Path::new("/last"), "t").unwrap(),
            r.join("tmp/target")
        );
    }

    #[test]
    fn symlink_loop_is_an_error_naming_the_path() {
        let (_t, r) = root();
        symlink("b", r.join("a")).unwrap();
        symlink("a", r.join("b")).unwrap();
        let err = resolve_in_root(&r, Path::new("/a/x"), "mount[2] destination /a/x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mount[2] destination /a/x"), "{err}");
        assert!(err.contains("symlinks"), "{err}");
    }

    #[test]
    fn create_makes_dirs_and_files_inside_only() {
        let (t, r) = root();
        symlink("../../..", r.join("up")).unwrap();
        let d = create_in_root(&r, Path::new("/up/up/new/dir"), Kind::Dir, "t").unwrap();
        assert_eq!(d, r.join("new/dir"));
        assert!(d.is_dir());
        let f = create_in_root(&r, Path::new("/up/etc/file"), Kind::File, "t").unwrap();
        assert_eq!(f, r.join("etc/file"));
        assert!(f.is_file());
        // Nothing was created next to the rootfs.
        let outside: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(outside, vec![OsString::from("rootfs")]);
    }

    #[test]
    fn ensure_inside_rejects_outside_path() {
        let (t, r) = root();
        let err = ensure_inside(&r, t.path(), "t").unwrap_err();
        assert!(matches!(err, RootfsError::Escape { .. }), "{err}");
    }
}
