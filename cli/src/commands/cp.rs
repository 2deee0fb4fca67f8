//! `berth cp CONTAINER:SRC DEST` and `berth cp SRC CONTAINER:DEST` (`-` for a
//! tar on stdin/stdout). Archives travel as tar; locally they are unpacked
//! with `unpack_in` (no entry lands outside the destination) through a
//! staging dir, so a failed copy leaves nothing half-written.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use berth_engine_api::Client;
use tokio_stream::StreamExt;

use crate::args::CpArgs;

/// `CONTAINER:PATH` → Some((container, path)); a local path → None.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => Some((c, p)),
        _ => None,
    }
}

fn staging_in(dir: &Path) -> PathBuf {
    dir.join(format!(".berth-cp-{}", std::process::id()))
}

fn unpack_into(tar_path: &Path, dir: &Path) -> Result<()> {
    let f =
        std::fs::File::open(tar_path).with_context(|| format!("open {}", tar_path.display()))?;
    let mut a = tar::Archive::new(f);
    a.set_preserve_permissions(true);
    a.set_overwrite(true);
    for e in a.entries().context("reading the archive")? {
        let mut e = e.context("reading the archive")?;
        if !e
            .unpack_in(dir)
            .with_context(|| format!("unpacking into {}", dir.display()))?
        {
            bail!("archive entry points outside {}", dir.display());
        }
    }
    Ok(())
}

async fn from_container(c: &Client, ctr: &str, path: &str, dest: &str) -> Result<()> {
    let mut s = Box::pin(c.containers().copy_from(ctr, path).await?);
    if dest == "-" {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = s.next().await {
            out.write_all(&chunk?).context("write to stdout")?;
        }
        return Ok(());
    }
    let dest = PathBuf::from(dest);
    let (dir, rename) = if dest.is_dir() {
        (dest.clone(), None)
    } else {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("destination directory {} does not exist", parent.display());
        }
        (parent.to_path_buf(), Some(dest.clone()))
    };
    let staging = staging_in(&dir);
    std::fs::create_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
    let r: Result<()> = async {
        let tar_path = staging.join("archive.tar");
        let mut f = std::fs::File::create(&tar_path).context("create temp archive")?;
        while let Some(chunk) = s.next().await {
            f.write_all(&chunk?).context("write temp archive")?;
        }
        drop(f);
        let out = staging.join("out");
        std::fs::create_dir(&out)?;
        unpack_into(&tar_path, &out)?;
        for top in std::fs::read_dir(&out)?.flatten() {
            let target = match &rename {
                Some(d) => d.clone(),
                None => dir.join(top.file_name()),
            };
            if target.is_dir() && top.path().is_dir() {
                // Merge into an existing directory, like docker.
                let t = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(format!("{}/.", top.path().display()))
                    .arg(&target)
                    .status()?;
                if !t.success() {
                    bail!("copying into {} failed", target.display());
                }
            } else {
                std::fs::rename(top.path(), &target)
                    .with_context(|| format!("move into {}", target.display()))?;
            }
        }
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    r
}

async fn to_container(c: &Client, src: &str, ctr: &str, path: &str) -> Result<()> {
    if src == "-" {
        c.containers()
            .copy_to(ctr, path, tokio::io::stdin())
            .await?;
        return Ok(());
    }
    let src = PathBuf::from(src);
    let meta = std::fs::symlink_metadata(&src)
        .with_context(|| format!("could not find the file {}", src.display()))?;
    let name = src
        .file_name()
        .ok_or_else(|| anyhow!("cannot copy {}: name a file or directory", src.display()))?
        .to_os_string();
    let tmp = std::env::temp_dir().join(format!("berth-cp-{}.tar", std::process::id()));
    let built: Result<()> = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut b = tar::Builder::new(f);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        if meta.is_dir() {
            b.append_dir_all(&name, &src)?;
        } else {
            b.append_path_with_name(&src, &name)?;
        }
        b.finish()?;
        Ok(())
    })();
    let r = match built {
        Ok(()) => {
            let f = tokio::fs::File::open(&tmp)
                .await
                .context("open temp archive")?;
            c.containers()
                .copy_to(ctr, path, f)
                .await
                .map_err(anyhow::Error::from)
        }
        Err(e) => Err(e.context(format!("archiving {}", src.display()))),
    };
    let _ = std::fs::remove_file(&tmp);
    r
}

pub async fn cp(c: &Client, a: CpArgs) -> Result<i32> {
    match (split(&a.src), split(&a.dest)) {
        (Some((ctr, path)), None) => from_container(c, ctr, path, &a.dest).await?,
        (None, Some((ctr, path))) => to_container(c, &a.src, ctr, path).await?,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source (CONTAINER:PATH)"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(split("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("./x"), None);
        assert_eq!(split("file"), None);
    }
}
