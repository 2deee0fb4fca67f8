//! daemon.json `userns-remap`: every container (but those run with
//! `--userns=host`) gets a user namespace whose root is an unprivileged host
//! uid, the first of the remap user's range in /etc/subuid (gids from
//! /etc/subgid). `default` uses, and on first use creates, the user
//! `berth-remap` with a free 65536-id range, as docker does with `dockremap`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::snapshots::IdShift;

/// The user `default` stands for.
pub const DEFAULT_USER: &str = "berth-remap";
const RANGE: u32 = 65536;
const FIRST_ID: u32 = 100_000;

/// Container ids 0..size map to host ids uid.. and gid...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remap {
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
}

impl Remap {
    /// How the image's layers are shifted for it.
    pub fn shift(&self) -> IdShift {
        IdShift {
            uid: self.uid,
            gid: self.gid,
        }
    }

    /// daemon.json's value: `default`, `USER` or `USER:GROUP` (names or ids
    /// as /etc/subuid and /etc/subgid list them).
    pub fn load(value: &str) -> Result<Remap, String> {
        let (user, group) = match value.split_once(':') {
            Some((u, g)) => (u, g),
            None => (value, value),
        };
        if user == "default" {
            ensure_default_user()?;
            return Remap::load(DEFAULT_USER);
        }
        let (uid, usize) = range(Path::new("/etc/subuid"), user)?;
        let (gid, gsize) = range(Path::new("/etc/subgid"), group)?;
        Ok(Remap {
            uid,
            gid,
            size: usize.min(gsize),
        })
    }
}

/// Under a remap the container's root (an unprivileged host uid) must be
/// able to walk down to its rootfs: berthd's own `root` and `root/containers`
/// get o+x; an ancestor without it is an error naming it.
pub fn open_path_to(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    for dir in [root.to_path_buf(), root.join("containers")] {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mode = std::fs::metadata(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(
                &dir,
                std::fs::Permissions::from_mode((mode & 0o7777) | 0o011),
            )
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    for a in root.ancestors().skip(1) {
        let mode = std::fs::metadata(a)
            .map_err(|e| format!("{}: {e}", a.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!(
                "the containers' remapped root cannot reach {}: {} is not searchable by others (chmod o+x {}, or pick another data-root)",
                root.display(),
                a.display(),
                a.display()
            ));
        }
    }
    Ok(())
}

/// `name`'s first range in a subordinate-id file.
fn range(file: &Path, name: &str) -> Result<(u32, u32), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .filter_map(|l| {
            let mut it = l.trim().split(':');
            Some((
                it.next()?,
                it.next()?.parse().ok()?,
                it.next()?.parse().ok()?,
            ))
        })
        .find(|(n, _, _)| *n == name)
        .map(|(_, start, size)| (start, size))
        .ok_or_else(|| {
            format!(
                "no subordinate ids for {name:?} in {}: add a line \"{name}:START:COUNT\"",
                file.display()
            )
        })
}

/// Creates `berth-remap` (a system user with no login) and its ranges in
/// /etc/subuid and /etc/subgid unless they exist.
fn ensure_default_user() -> Result<(), String> {
    let exists = std::process::Command::new("getent")
        .args(["passwd", DEFAULT_USER])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !exists {
        let status = std::process::Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(DEFAULT_USER)
            .status()
            .map_err(|e| format!("useradd {DEFAULT_USER}: {e}"))?;
        if !status.success() {
            return Err(format!("useradd {DEFAULT_USER} failed ({status})"));
        }
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        add_range(Path::new(file))?;
    }
    Ok(())
}

/// Appends `berth-remap:START:65536` after every range the file holds.
fn add_range(file: &Path) -> Result<(), String> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let mut next = FIRST_ID;
    for l in text.lines() {
        let mut it = l.trim().split(':');
        let (Some(name), Some(start), Some(size)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if name == DEFAULT_USER {
            return Ok(());
        }
        if let (Ok(start), Ok(size)) = (start.parse::<u32>(), size.parse::<u32>()) {
            next = next.max(start.saturating_add(size));
        }
    }
    let mut out = text;
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{DEFAULT_USER}:{next}:{RANGE}\n"));
    // Atomic: a half-written subuid file would break every user namespace.
    let tmp = file.with_extension("berth-tmp");
    std::fs::write(&tmp, out).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_and_added_after_the_last() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("subuid");
        std::fs::write(&f, "alice:100000:65536\nbob:165536:65536\n").unwrap();
        assert_eq!(range(&f, "bob").unwrap(), (165536, 65536));
        assert!(range(&f, "carol").unwrap_err().contains("carol"));
        add_range(&f).unwrap();
        add_range(&f).unwrap();
        assert_eq!(range(&f, DEFAULT_USER).unwrap(), (231072, 65536));
        assert_eq!(std::fs::read_to_string(&f).unwrap().lines().count(), 3);
    }
}
