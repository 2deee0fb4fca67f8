//! What the builder suites (`engine_build`, `engine_build_inputs`) share: a
//! context dir under the engine's temp dir, `berth build` with no network, and
//! the check that a build left no container and no mount behind.
use std::path::PathBuf;

use anyhow::{ensure, Context as _, Result};

use crate::engine::Engine;
use crate::runtime::Outcome;

/// A context dir `name` under the engine's temp dir with these files.
pub fn context<D: AsRef<[u8]>>(e: &Engine, name: &str, files: &[(&str, D)]) -> Result<PathBuf> {
    let dir = e.dir().join(name);
    std::fs::create_dir_all(&dir)?;
    for (path, data) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().context("a parent")?)?;
        std::fs::write(&p, data)?;
    }
    Ok(dir)
}

/// `berth build --network none ARGS`; the outcome with the progress on stderr.
pub fn build(e: &Engine, args: &[&str]) -> Result<Outcome> {
    let mut v = vec!["build", "--network", "none"];
    v.extend(args);
    Ok(e.cli(&v)?)
}

/// Nothing a build made may stay behind: no container, no mount under the root.
pub fn nothing_left(e: &Engine) -> Result<()> {
    let ps = e.ok(&["ps", "-aq"])?;
    ensure!(ps.trim().is_empty(), "containers left by a build: {ps}");
    let root = e.root().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mounts")?;
    let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
    ensure!(left.is_empty(), "mounts left by a build: {left:?}");
    Ok(())
}
