//! `cp`: paths of a container's filesystem to and from tar streams. Paths are
//! resolved inside the container's root, following its symlinks as the
//! container would (an absolute link target restarts at the container's root,
//! `..` stops at it), so no path can name a host file. Unpacking goes through
//! tar's `unpack_in`, which refuses entries that would land outside the target.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use super::{Containers, Error, Result};

/// Resolves `path` inside `root` like a chroot lookup.
pub(super) fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, String> {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let candidate = cur
            .iter()
            .chain(std::iter::once(&comp))
            .fold(root.to_path_buf(), |p, c| p.join(c));
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(format!("too many levels of symbolic links in {path}"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    cur.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => pending.push(n.to_string_lossy().to_string()),
                        Component::ParentDir => pending.push("..".to_string()),
                        _ => {}
                    }
                }
            }
            _ => cur.push(comp),
        }
    }
    Ok(cur.iter().fold(root.to_path_buf(), |p, c| p.join(c)))
}

impl Containers {
    /// (ID, name, mounted rootfs).
    fn copy_root(&self, reference: &str) -> Result<(String, String, PathBuf)> {
        let c = self.lookup(reference)?;
        self.inner
            .images
            .mount_rootfs(&c.id)
            .map_err(|e| Error::Image {
                reference: c.spec.image.clone(),
                message: e.to_string(),
            })?;
        Ok((c.id.clone(), c.name.clone(), c.rootfs()))
    }

    /// Writes a tar of `path` (named by its base name) to `out`. Blocks.
    pub fn copy_from_blocking(&self, reference: &str, path: &str, out: impl Write) -> Result<()> {
        let (id, name, root) = self.copy_root(reference)?;
        let src =
            resolve_in_root(&root, path).map_err(|message| Error::InvalidArgument { message })?;
        let meta = std::fs::symlink_metadata(&src).map_err(|_| Error::PathNotFound {
            path: path.to_string(),
            container: name.clone(),
        })?;
        let top = Path::new(path)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| ".".into());
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        let r = if meta.is_dir() {
            b.append_dir_all(&top, &src)
        } else {
            b.append_path_with_name(&src, &top)
        };
        r.and_then(|()| b.finish())
            .map_err(super::io_err(&id, &src))?;
        Ok(())
    }

    /// Unpacks the tar from `input` at `path`: into it when it is a directory,
    /// else as that name (the archive must then hold one top-level entry). Blocks.
    pub fn copy_to_blocking(&self, reference: &str, path: &str, input: impl Read) -> Result<()> {
        let (id, name, root) = self.copy_root(reference)?;
        let dst =
            resolve_in_root(&root, path).map_err(|message| Error::InvalidArgument { message })?;
        let unpack = |dir: &Path, input: &mut dyn Read| -> Result<()> {
            let mut a = tar::Archive::new(input);
            a.set_preserve_permissions(true);
            a.set_overwrite(true);
            for entry in a.entries().map_err(super::io_err(&id, dir))? {
                let mut entry = entry.map_err(super::io_err(&id, dir))?;
                // unpack_in refuses `..` and paths escaping through symlinks.
                let ok = entry.unpack_in(dir).map_err(super::io_err(&id, dir))?;
                if !ok {
                    return Err(Error::InvalidArgument {
                        message: format!(
                            "archive entry {:?} points outside the destination",
                            entry.path().map(|p| p.to_path_buf()).unwrap_or_default()
                        ),
                    });
                }
            }
            Ok(())
        };
        let mut input = input;
        if dst.is_dir() {
            return unpack(&dst, &mut input);
        }
        let parent = dst
            .parent()
            .filter(|p| p.is_dir())
            .ok_or_else(|| Error::PathNotFound {
                path: path.to_string(),
                container: name.clone(),
            })?;
        let staging = parent.join(format!(
            ".berth-cp-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir(&staging).map_err(super::io_err(&id, &staging))?;
        let r = (|| {
            unpack(&staging, &mut input)?;
            let tops: Vec<_> = std::fs::read_dir(&staging)
                .map_err(super::io_err(&id, &staging))?
                .flatten()
                .collect();
            let [top] = tops.as_slice() else {
                return Err(Error::InvalidArgument {
                    message: format!("{path} does not exist: copy a single file or directory to a new name, or into an existing directory"),
                });
            };
            std::fs::rename(top.path(), &dst).map_err(super::io_err(&id, &dst))
        })();
        let _ = std::fs::remove_dir_all(&staging);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/shadow", root.join("etc/up")).unwrap();
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/abs/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/up").unwrap(),
            root.join("etc/shadow")
        );
        assert_eq!(resolve_in_root(root, "../../x").unwrap(), root.join("x"));
        assert!(resolve_in_root(root, "/loop1/x").is_err());
        assert_eq!(resolve_in_root(root, "/").unwrap(), root.to_path_buf());
    }
}
