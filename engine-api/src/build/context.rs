//! The build context as docker sends it: the directory as a tar stream, without what
//! `.dockerignore` (or `<Dockerfile>.dockerignore`, beside the Dockerfile) leaves out.
//! The Dockerfile and the ignore file themselves always go (the builder reads them;
//! COPY still cannot reach an ignored one). Symlinks are sent as links, never
//! followed; sockets, fifos and devices are skipped. Entries are sorted, so the same
//! directory gives the same tar.
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::ignore::{Ignore, IgnoreError};

/// A failure reading the context, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("build context {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
}

/// The ignore rules for a build of `dockerfile` (relative to `root`, or outside it):
/// `<dockerfile>.dockerignore` beside it wins over the context's `.dockerignore`.
pub fn ignore_rules(root: &Path, dockerfile: &Path) -> Result<Ignore, ContextError> {
    let specific = PathBuf::from(format!("{}.dockerignore", dockerfile.display()));
    for candidate in [specific, root.join(".dockerignore")] {
        match fs::read_to_string(&candidate) {
            Ok(text) => return Ok(Ignore::parse(&text)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ContextError::Io {
                    path: candidate,
                    source,
                })
            }
        }
    }
    Ok(Ignore::default())
}

/// Write `root` as a tar to `out`; `keep` are context-relative paths sent whatever
/// the rules say (the Dockerfile, the ignore file).
pub fn write_tar<W: Write>(
    root: &Path,
    ignore: &Ignore,
    keep: &[String],
    out: W,
) -> Result<W, ContextError> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    walk(root, "", ignore, keep, &mut tar)?;
    tar.into_inner().map_err(|source| ContextError::Io {
        path: root.to_path_buf(),
        source,
    })
}

fn walk<W: Write>(
    root: &Path,
    rel: &str,
    ignore: &Ignore,
    keep: &[String],
    tar: &mut tar::Builder<W>,
) -> Result<(), ContextError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ContextError::Io { path, source }
    };
    let mut entries: Vec<_> = fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            // Tar paths travel as UTF-8 here; docker refuses such names too.
            return Err(ContextError::Io {
                path: e.path(),
                source: io::Error::new(io::ErrorKind::InvalidData, "file name is not UTF-8"),
            });
        };
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let path = e.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        let ft = meta.file_type();
        let excluded = ignore.excludes(&child) && !keep.contains(&child);
        if ft.is_dir() {
            let needed = keep.iter().any(|k| k.starts_with(&format!("{child}/")));
            if excluded && !needed && !ignore.may_reinclude_under(&child) {
                continue;
            }
            if !excluded {
                append(tar, &path, &child, &meta)?;
            }
            walk(root, &child, ignore, keep, tar)?;
        } else if !excluded && (ft.is_file() || ft.is_symlink()) {
            append(tar, &path, &child, &meta)?;
        } else if ft.is_socket() || ft.is_fifo() || ft.is_block_device() || ft.is_char_device() {
            // Not content: docker skips them as well.
        }
    }
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    meta: &fs::Metadata,
) -> Result<(), ContextError> {
    let io_err = |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_uid(u64::from(meta.uid()));
    header.set_gid(u64::from(meta.gid()));
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(io_err)?;
        header.set_size(0);
        tar.append_link(&mut header, name, target).map_err(io_err)
    } else if meta.is_dir() {
        header.set_size(0);
        tar.append_data(&mut header, format!("{name}/"), io::empty())
            .map_err(io_err)
    } else {
        let f = fs::File::open(path).map_err(io_err)?;
        tar.append_data(&mut header, name, f).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn ignored_paths_stay_home_and_links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "Dockerfile",
            "a.txt",
            "b.md",
            "README.md",
            "sub/x",
            "sub/y.md",
            "vendor/drop",
            "vendor/keep/k",
        ] {
            let p = r.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        fs::write(
            r.join(".dockerignore"),
            "*.md\n!README.md\nvendor\n!vendor/keep\nDockerfile\n",
        )
        .unwrap();
        symlink("/etc/passwd", r.join("link")).unwrap();
        let ignore = ignore_rules(r, &r.join("Dockerfile")).unwrap();
        let keep = vec!["Dockerfile".to_string(), ".dockerignore".to_string()];
        let bytes = write_tar(r, &ignore, &keep, Vec::new()).unwrap();
        let got = names(&bytes);
        let paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            // `*.md` is anchored at the root, as in docker: sub/y.md stays.
            [
                ".dockerignore",
                "Dockerfile",
                "README.md",
                "a.txt",
                "link",
                "sub/",
                "sub/x",
                "sub/y.md",
                "vendor/keep/",
                "vendor/keep/k"
            ]
        );
        let link = got.iter().find(|(p, _)| p == "link").unwrap();
        assert_eq!(link.1, tar::EntryType::Symlink);
    }

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::write(r.join(".dockerignore"), "a\n").unwrap();
        fs::write(r.join("app.Dockerfile.dockerignore"), "b\n").unwrap();
        let i = ignore_rules(r, &r.join("app.Dockerfile")).unwrap();
        assert!(i.excludes("b") && !i.excludes("a"));
        let i = ignore_rules(r, &r.join("Dockerfile")).unwrap();
        assert!(i.excludes("a") && !i.excludes("b"));
    }
}
