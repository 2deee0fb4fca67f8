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
#[derive(Debug, Clone)]
pub struct Source {
    pub host: PathBuf,
    pub name: String,
}

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
}

/// Path → checksum of every file the sources hold (a directory's files by their
/// path below it), as the cache compares them.
pub fn checksums(sources: &[Source]) -> io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in sources {
        walk(&s.host, &s.name, &mut |host, name, meta| {
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
    f: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let meta = fs::metadata(host)?;
    f(host, name, &meta)?;
    if meta.is_dir() {
        walk_dir(host, name, f)?;
    }
    Ok(())
}

fn walk_dir(
    host: &Path,
    name: &str,
    f: &mut dyn FnMut(&Path, &str, &fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(host)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let child = e.path();
        let child_name = if name.is_empty() {
            e.file_name().to_string_lossy().into_owned()
        } else {
            format!("{name}/{}", e.file_name().to_string_lossy())
        };
        let meta = fs::symlink_metadata(&child)?;
        f(&child, &child_name, &meta)?;
        if meta.is_dir() {
            walk_dir(&child, &child_name, f)?;
        }
    }
    Ok(())
}

impl CopyLayer {
    /// Write the layer tar.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        let dest = self
            .dest
            .trim_end_matches('/')
            .trim_start_matches('/')
            .to_string();
        for p in &self.missing_parents {
            let mut h = header(tar::EntryType::Directory, 0o755, (0, 0), 0);
            tar.append_data(
                &mut h,
                format!("{}/", p.trim_start_matches('/')),
                io::empty(),
            )?;
        }
        for s in &self.sources {
            let meta = fs::metadata(&s.host)?;
            let top = if meta.is_dir() {
                // The directory's contents go into dest, which becomes a directory.
                if !dest.is_empty() {
                    self.entry(&mut tar, &s.host, &meta, &dest)?;
                }
                let mut res = Ok(());
                walk_dir(&s.host, "", &mut |host, rel, m| {
                    let at = if dest.is_empty() {
                        rel.to_string()
                    } else {
                        format!("{dest}/{rel}")
                    };
                    if res.is_ok() {
                        res = self.entry(&mut tar, host, m, &at);
                    }
                    Ok(())
                })?;
                res?;
                continue;
            } else if self.dest_is_dir {
                let base = Path::new(&s.name)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| s.name.clone());
                if dest.is_empty() {
                    base
                } else {
                    format!("{dest}/{base}")
                }
            } else {
                dest.clone()
            };
            self.entry(&mut tar, &s.host, &meta, &top)?;
        }
        tar.finish()
    }

    fn entry(
        &self,
        tar: &mut tar::Builder<&mut dyn Write>,
        host: &Path,
        meta: &fs::Metadata,
        at: &str,
    ) -> io::Result<()> {
        let owner = self.owner.unwrap_or((0, 0));
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
            sources: vec![Source {
                host: src.clone(),
                name: "src".into(),
            }],
            dest: "/app".into(),
            dest_is_dir: true,
            owner: Some((1000, 1000)),
            chmod: None,
            missing_parents: vec![],
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
            sources: vec![Source {
                host: src.join("a.txt"),
                name: "src/a.txt".into(),
            }],
            dest: "/opt/x/renamed".into(),
            dest_is_dir: false,
            owner: None,
            chmod: Some(0o755),
            missing_parents: vec!["/opt".into(), "/opt/x".into()],
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
    }

    #[test]
    fn checksums_follow_content_and_mode_not_mtime() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        fs::write(&f, "one").unwrap();
        let src = vec![Source {
            host: d.path().to_path_buf(),
            name: "ctx".into(),
        }];
        let a = checksums(&src).unwrap();
        assert!(a.contains_key("ctx/f"));
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(
            checksums(&src).unwrap()["ctx/f"],
            a["ctx/f"],
            "mtime is not content"
        );
        fs::write(&f, "two").unwrap();
        let b = checksums(&src).unwrap();
        assert_ne!(b["ctx/f"], a["ctx/f"]);
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).unwrap();
        assert_ne!(checksums(&src).unwrap()["ctx/f"], b["ctx/f"]);
    }
}
