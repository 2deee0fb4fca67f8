//! COPY and ADD's layer: the sources laid out under the destination as docker does
//! it, as one uncompressed tar, plus the checksums the cache compares (content, mode,
//! owner and link target of every file; never mtimes).
//!
//! Docker's rules: a directory source copies its contents, not itself; a file lands
//! at `dest` unless `dest` ends in `/`, is an existing directory, or several sources
//! are given (then `dest/<name>`); everything copied is owned by 0:0 unless
//! `--chown`; modes are kept unless `--chmod`; symlinks inside a copied directory
//! stay symlinks. Parent directories the image lacks are created (0755, root).
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// One source: where it is on this host, and its name for messages and the cache.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub host: PathBuf,
    pub name: String,
    /// Keep the files' own owners (an unpacked ADD archive) instead of 0:0.
    pub keep_owner: bool,
    /// `COPY --parents`: the directories, relative to `dest`, the source lands in.
    pub under: Option<String>,
}

impl Source {
    pub fn new(host: PathBuf, name: impl Into<String>) -> Source {
        Source {
            host,
            name: name.into(),
            ..Default::default()
        }
    }
}

/// `--exclude` patterns (`.dockerignore`'s rules), matched against a path below a
/// directory source.
pub type Exclude = berth_engine_api::build::ignore::Ignore;

#[derive(Debug, Clone)]
pub struct CopyLayer {
    pub sources: Vec<Source>,
    /// Absolute path in the image (WORKDIR applied).
    pub dest: String,
    /// The destination is a directory: `dest/` given, several sources, or a
    /// directory already in the image.
    pub dest_is_dir: bool,
    pub owner: Option<(u64, u64)>,
    pub chmod: Option<u32>,
    /// Directories on the way to `dest` that the image lacks, top first.
    pub missing_parents: Vec<String>,
    /// Who owns those: root for COPY, the stage's user for WORKDIR.
    pub parents_owner: (u64, u64),
    pub exclude: Exclude,
}

/// Path → checksum of every file the sources hold (a directory's files by their
/// path below it), as the cache compares them.
pub fn checksums(sources: &[Source], exclude: &Exclude) -> io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sources {
        walk(&s.host, &s.name, exclude, &mut |host, name, meta| {
            out.insert(name.to_string(), checksum(host, meta)?);
            Ok(())
        })?;
    }
    Ok(out)
}

fn checksum(host: &Path, meta: &fs::Metadata) -> io::Result<String> {
    let mut h = Sha256::new();
    h.update(format!("{:o} {} {}\n", meta.mode(), meta.uid(), meta.gid()));
    let ft = meta.file_type();
    if ft.is_symlink() {
        h.update(b"link ");
        h.update(fs::read_link(host)?.as_os_str().as_encoded_bytes());
    } else if ft.is_file() {
        let mut f = fs::File::open(host)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if ft.is_dir() {
        h.update(b"dir");
    }
    Ok(hex::encode(h.finalize()))
}

/// `f(host path, name, metadata)` for `host` and, for a directory, everything in
/// it (sorted, symlinks not followed). The top `host` is followed if a symlink.
fn walk(
    host: &Path,
    name: &str,
    exclude: &Exclude,
    f: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let meta = fs::metadata(host)?;
    f(host, name, &meta)?;
    if meta.is_dir() {
        walk_dir(host, name, "", exclude, f)?;
    }
    Ok(())
}

/// Everything below `host`, sorted; `rel` is the path below the source's top,
/// which `exclude` is matched against.
fn walk_dir(
    host: &Path,
    name: &str,
    rel: &str,
    exclude: &Exclude,
    f: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(host)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let child = e.path();
        let file_name = e.file_name().to_string_lossy().into_owned();
        let child_name = join(name, &file_name);
        let child_rel = join(rel, &file_name);
        let meta = fs::symlink_metadata(&child)?;
        let excluded = exclude.excludes(&child_rel);
        if !excluded {
            f(&child, &child_name, &meta)?;
        }
        if meta.is_dir() && (!excluded || exclude.may_reinclude_under(&child_rel)) {
            walk_dir(&child, &child_name, &child_rel, exclude, f)?;
        }
    }
    Ok(())
}

impl CopyLayer {
    /// Write the layer tar.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        let root_dest = self
            .dest
            .trim_end_matches('/')
            .trim_start_matches('/')
            .to_string();
        for p in &self.missing_parents {
            let mut h = header(tar::EntryType::Directory, 0o755, self.parents_owner, 0);
            tar.append_data(
                &mut h,
                format!("{}/", p.trim_start_matches('/')),
                io::empty(),
            )?;
        }
        let mut made = std::collections::BTreeSet::new();
        for s in &self.sources {
            let mut dest = root_dest.clone();
            if let Some(under) = s.under.as_deref().filter(|u| !u.is_empty()) {
                // --parents: the source's own directories, made as they are met.
                for c in under.split('/').filter(|c| !c.is_empty()) {
                    dest = join(&dest, c);
                    if made.insert(dest.clone()) {
                        let owner = self.owner.unwrap_or((0, 0));
                        let mut h = header(tar::EntryType::Directory, 0o755, owner, 0);
                        tar.append_data(&mut h, format!("{dest}/"), io::empty())?;
                    }
                }
            }
            let meta = fs::metadata(&s.host)?;
            let top = if meta.is_dir() {
                // The directory's contents go into dest, which becomes a directory.
                if !dest.is_empty() && made.insert(dest.clone()) {
                    self.entry(&mut tar, s, &s.host, &meta, &dest)?;
                }
                let mut res = Ok(());
                walk_dir(&s.host, "", "", &self.exclude, &mut |host, rel, m| {
                    if res.is_ok() {
                        res = self.entry(&mut tar, s, host, m, &join(&dest, rel));
                    }
                    Ok(())
                })?;
                res?;
                continue;
            } else if self.dest_is_dir || s.under.is_some() {
                // `from:` marks another stage's path in the name, not in the file's.
                let base = Path::new(s.name.strip_prefix("from:").unwrap_or(&s.name))
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| s.name.clone());
                join(&dest, &base)
            } else {
                dest.clone()
            };
            self.entry(&mut tar, s, &s.host, &meta, &top)?;
        }
        tar.finish()
    }

    fn entry(
        &self,
        tar: &mut tar::Builder<&mut dyn Write>,
        source: &Source,
        host: &Path,
        meta: &fs::Metadata,
        at: &str,
    ) -> io::Result<()> {
        let owner = match self.owner {
            Some(o) => o,
            None if source.keep_owner => (meta.uid() as u64, meta.gid() as u64),
            None => (0, 0),
        };
        let mode = |m: &fs::Metadata| self.chmod.unwrap_or(m.permissions().mode() & 0o7777);
        let ft = meta.file_type();
        if ft.is_symlink() {
            let mut h = header(tar::EntryType::Symlink, 0o777, owner, 0);
            tar.append_link(&mut h, at, fs::read_link(host)?)
        } else if ft.is_dir() {
            let mut h = header(tar::EntryType::Directory, mode(meta), owner, meta.mtime());
            tar.append_data(&mut h, format!("{at}/"), io::empty())
        } else if ft.is_file() {
            let mut h = header(tar::EntryType::Regular, mode(meta), owner, meta.mtime());
            h.set_size(meta.len());
            tar.append_data(&mut h, at, fs::File::open(host)?)
        } else {
            // Sockets, fifos, devices: not content a COPY carries.
            Ok(())
        }
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

fn header(kind: tar::EntryType, mode: u32, owner: (u64, u64), mtime: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(bytes: &[u8]) -> Vec<(String, u32, u64, Vec<u8>)> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().display().to_string();
                let mode = e.header().mode().unwrap();
                let uid = e.header().uid().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (p, mode, uid, data)
            })
            .collect()
    }

    #[test]
    fn files_dirs_owners_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("a.txt"), "A").unwrap();
        fs::write(src.join("sub/b"), "B").unwrap();
        fs::set_permissions(src.join("a.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("ln")).unwrap();
        let layer = CopyLayer {
            sources: vec![Source::new(src.clone(), "src")],
            dest: "/app".into(),
            dest_is_dir: true,
            owner: Some((1000, 1000)),
            chmod: None,
            missing_parents: vec![],
            parents_owner: (0, 0),
            exclude: Exclude::default(),
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        let e = entries(&out);
        let names: Vec<&str> = e.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            ["app/", "app/a.txt", "app/ln", "app/sub/", "app/sub/b"]
        );
        assert_eq!(e[1].1, 0o640);
        assert_eq!(e[1].2, 1000);
        assert_eq!(e[1].3, b"A");

        // One file to a file path, with --chmod, under a parent the image lacks.
        let layer = CopyLayer {
            sources: vec![Source::new(src.join("a.txt"), "src/a.txt")],
            dest: "/opt/x/renamed".into(),
            dest_is_dir: false,
            owner: None,
            chmod: Some(0o755),
            missing_parents: vec!["/opt".into(), "/opt/x".into()],
            parents_owner: (0, 0),
            exclude: Exclude::default(),
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        let e = entries(&out);
        let got: Vec<(&str, u32, u64)> = e.iter().map(|x| (x.0.as_str(), x.1, x.2)).collect();
        assert_eq!(
            got,
            [
                ("opt/", 0o755, 0),
                ("opt/x/", 0o755, 0),
                ("opt/x/renamed", 0o755, 0)
            ]
        );

        // A file into a directory keeps its name.
        let layer = CopyLayer {
            dest: "/etc/".into(),
            dest_is_dir: true,
            missing_parents: vec![],
            ..layer
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        assert_eq!(entries(&out)[0].0, "etc/a.txt");

        // COPY --from=stage /x/a.txt /etc/: named a.txt, not by its cache name.
        let layer = CopyLayer {
            sources: vec![Source::new(src.join("a.txt"), "from:x/a.txt")],
            ..layer
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        assert_eq!(entries(&out)[0].0, "etc/a.txt");
    }

    #[test]
    fn exclude_and_parents() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path();
        fs::create_dir_all(ctx.join("x/deep")).unwrap();
        fs::write(ctx.join("x/a.txt"), "A").unwrap();
        fs::write(ctx.join("x/a.log"), "L").unwrap();
        fs::write(ctx.join("x/deep/b.log"), "B").unwrap();
        let exclude = Exclude::parse("*.log\n**/*.log").unwrap();
        let dir = Source::new(ctx.join("x"), "x");
        let layer = CopyLayer {
            sources: vec![dir.clone()],
            dest: "/d/".into(),
            dest_is_dir: true,
            owner: None,
            chmod: None,
            missing_parents: vec![],
            parents_owner: (0, 0),
            exclude,
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        let names: Vec<String> = entries(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["d/", "d/a.txt", "d/deep/"]);
        let sums = checksums(&layer.sources, &layer.exclude).unwrap();
        assert!(sums.contains_key("x/a.txt") && !sums.contains_key("x/a.log"));

        // --parents: x/deep/b.log lands at d/x/deep/b.log, the directory x at d/x.
        let file = Source {
            under: Some("x/deep".into()),
            ..Source::new(ctx.join("x/deep/b.log"), "x/deep/b.log")
        };
        let layer = CopyLayer {
            sources: vec![file],
            exclude: Exclude::default(),
            ..layer
        };
        let mut out = Vec::new();
        layer.write(&mut out).unwrap();
        let names: Vec<String> = entries(&out).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["d/x/", "d/x/deep/", "d/x/deep/b.log"]);
    }

    #[test]
    fn checksums_follow_content_and_mode_not_mtime() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "one").unwrap();
        let src = vec![Source::new(d.path().to_path_buf(), "ctx")];
        let a = checksums(&src, &Exclude::default()).unwrap();
        assert!(a.contains_key("ctx/f"));
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(
            checksums(&src, &Exclude::default()).unwrap()["ctx/f"],
            a["ctx/f"],
            "mtime is not content"
        );
        fs::write(&f, "two").unwrap();
        let b = checksums(&src, &Exclude::default()).unwrap();
        assert_ne!(b["ctx/f"], a["ctx/f"]);
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(
            checksums(&src, &Exclude::default()).unwrap()["ctx/f"],
            b["ctx/f"]
        );
    }
}
