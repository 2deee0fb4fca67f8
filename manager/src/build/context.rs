//! The build context on berthd's side: the client's tar unpacked into a private
//! directory (an entry that would land outside it is an error, not skipped), and the
//! lookups COPY and ADD make in it. Sources resolve inside the context only: globs
//! match context-relative paths, a symlink on the way is followed within the context
//! and an error when it points out, and what `.dockerignore` excludes is not there.
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use berth_engine_api::build::{path_matches, Ignore};

use super::BuildError;

/// An unpacked context; removed on drop.
#[derive(Debug)]
pub struct Context {
    dir: PathBuf,
    ignore: Ignore,
}

impl Context {
    /// Unpack the tar `r` into `dir` (created; must not exist).
    pub fn unpack(r: impl Read, dir: &Path) -> Result<Context, BuildError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Context {
                path: path.display().to_string(),
                source,
            }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut ctx = Context {
            dir: dir.to_path_buf(),
            ignore: Ignore::default(),
        };
        let mut archive = tar::Archive::new(r);
        archive.set_preserve_permissions(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        for entry in archive.entries().map_err(io(dir))? {
            let mut entry = entry.map_err(io(dir))?;
            let path = entry.path().map_err(io(dir))?.into_owned();
            let escapes = path.components().any(|c| {
                matches!(
                    c,
                    Component::ParentDir | Component::RootDir | Component::Prefix(_)
                )
            });
            if escapes {
                return Err(BuildError::ContextEscape(path.display().to_string()));
            }
            if !entry.unpack_in(dir).map_err(io(&path))? {
                return Err(BuildError::ContextEscape(path.display().to_string()));
            }
        }
        if let Ok(text) = fs::read_to_string(dir.join(".dockerignore")) {
            ctx.ignore = Ignore::parse(&text).map_err(|e| BuildError::Invalid(e.to_string()))?;
        }
        Ok(ctx)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Dockerfile at `name` (context-relative), read through [`Self::resolve_one`].
    pub fn read_file(&self, name: &str) -> Result<String, BuildError> {
        let p = self.resolve_path(name, true)?;
        fs::read_to_string(&p).map_err(|source| BuildError::Context {
            path: name.to_string(),
            source,
        })
    }

    /// The context-relative paths a COPY source names: a glob matched against every
    /// path, or one path. Excluded paths are not there. None found is an error.
    pub fn sources(&self, pattern: &str) -> Result<Vec<PathBuf>, BuildError> {
        let clean = pattern.trim_start_matches("./");
        if clean.is_empty() || clean == "." {
            return Ok(vec![PathBuf::new()]);
        }
        if !clean.contains(['*', '?', '[']) {
            let p = self.resolve_path(clean, false)?;
            let rel = p.strip_prefix(&self.dir).unwrap_or(&p).to_path_buf();
            if self.excluded(&rel) || fs::symlink_metadata(&p).is_err() {
                return Err(BuildError::MissingSource(pattern.to_string()));
            }
            return Ok(vec![rel]);
        }
        let mut found = Vec::new();
        self.walk(Path::new(""), &mut |rel| {
            if path_matches(clean, &rel.to_string_lossy()) {
                found.push(rel.to_path_buf());
            }
        })?;
        found.retain(|p| !self.excluded(p));
        if found.is_empty() {
            return Err(BuildError::MissingSource(pattern.to_string()));
        }
        Ok(found)
    }

    fn excluded(&self, rel: &Path) -> bool {
        let s = rel.to_string_lossy();
        !s.is_empty() && self.ignore.excludes(&s)
    }

    /// Whether a context-relative path is left out by `.dockerignore`.
    pub fn is_excluded(&self, rel: &Path) -> bool {
        self.excluded(rel)
    }

    fn walk(&self, rel: &Path, f: &mut dyn FnMut(&Path)) -> Result<(), BuildError> {
        let dir = self.dir.join(rel);
        let rd = fs::read_dir(&dir).map_err(|source| BuildError::Context {
            path: rel.display().to_string(),
            source,
        })?;
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let child = rel.join(&n);
            f(&child);
            if fs::symlink_metadata(self.dir.join(&child)).is_ok_and(|m| m.is_dir()) {
                self.walk(&child, f)?;
            }
        }
        Ok(())
    }

    /// The host path of context-relative `rel`, symlinks followed within the context
    /// (the last one too when `follow_last`); leaving the context is an error.
    pub fn resolve_path(&self, rel: &str, follow_last: bool) -> Result<PathBuf, BuildError> {
        resolve_in(&self.dir, rel, follow_last)
    }
}

/// `rel` under `root` with symlinks followed inside `root` (the last component's too
/// when `follow_last`): an absolute link target, or `..` past the top, is an error,
/// never a way out.
pub fn resolve_in(root: &Path, rel: &str, follow_last: bool) -> Result<PathBuf, BuildError> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
    let mut hops = 0;
    while let Some(seg) = todo.pop() {
        match seg.as_str() {
            "" | "." => continue,
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::OutsideContext(rel.to_string()));
                }
                continue;
            }
            _ => {}
        }
        let here = root.join(parts.join("/")).join(&seg);
        let last = todo.iter().all(|s| s.is_empty() || s == ".");
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !last) => {
                hops += 1;
                if hops > 40 {
                    return Err(BuildError::OutsideContext(format!(
                        "{rel}: too many symlinks"
                    )));
                }
                let target = fs::read_link(&here).map_err(|source| BuildError::Context {
                    path: rel.to_string(),
                    source,
                })?;
                if target.is_absolute() {
                    return Err(BuildError::OutsideContext(format!(
                        "{rel} (a symlink to {})",
                        target.display()
                    )));
                }
                let t = target.to_string_lossy().into_owned();
                for s in t.split('/').rev() {
                    todo.push(s.to_string());
                }
            }
            _ => parts.push(seg),
        }
    }
    Ok(root.join(parts.join("/")))
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // Written raw: the tar crate refuses `..` in set_path.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn escaping_entries_are_errors() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["../evil", "a/../../evil"] {
            let t = tar_of(&[("ok", b"1"), (bad, b"x")]);
            let e = Context::unpack(&t[..], &root.path().join("ctx")).unwrap_err();
            assert!(matches!(e, BuildError::ContextEscape(_)), "{bad}: {e}");
            assert!(!root.path().join("evil").exists());
            assert!(
                !root.path().join("ctx").exists(),
                "a failed unpack is removed"
            );
        }
    }

    #[test]
    fn sources_globs_ignores_and_symlinks() {
        let root = tempfile::tempdir().unwrap();
        let t = tar_of(&[
            ("a.txt", b"a"),
            ("b.txt", b"b"),
            ("src/main.rs", b"m"),
            ("src/lib.rs", b"l"),
            ("secret.key", b"s"),
            (".dockerignore", b"*.key\n"),
        ]);
        let dir = root.path().join("ctx");
        let ctx = Context::unpack(&t[..], &dir).unwrap();
        std::os::unix::fs::symlink("src/main.rs", dir.join("inside")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../etc", dir.join("up")).unwrap();
        let names = |v: Vec<PathBuf>| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(ctx.sources("*.txt").unwrap()), ["a.txt", "b.txt"]);
        assert_eq!(
            names(ctx.sources("src/*.rs").unwrap()),
            ["src/lib.rs", "src/main.rs"]
        );
        assert_eq!(names(ctx.sources("./src").unwrap()), ["src"]);
        assert!(matches!(
            ctx.sources("secret.key"),
            Err(BuildError::MissingSource(_))
        ));
        assert!(matches!(
            ctx.sources("*.key"),
            Err(BuildError::MissingSource(_))
        ));
        assert!(matches!(
            ctx.sources("nope"),
            Err(BuildError::MissingSource(_))
        ));
        assert_eq!(
            ctx.resolve_path("inside", true).unwrap(),
            dir.join("src/main.rs")
        );
        assert!(matches!(
            ctx.resolve_path("abs", true),
            Err(BuildError::OutsideContext(_))
        ));
        assert!(matches!(
            ctx.resolve_path("up/passwd", true),
            Err(BuildError::OutsideContext(_))
        ));
        assert!(matches!(
            ctx.resolve_path("../x", true),
            Err(BuildError::OutsideContext(_))
        ));
        drop(ctx);
        assert!(!dir.exists());
    }
}
