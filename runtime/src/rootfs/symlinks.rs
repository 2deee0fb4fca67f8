//! The `/dev` symlinks every container has: `fd`, `stdin`, `stdout`, `stderr` into
//! `/proc/self/fd`, `core` to `/proc/kcore` (when the host has it), and `ptmx` to
//! `pts/ptmx` so each container uses the ptmx of its own devpts instance.
use super::safe_join::{create_in_root, Kind};
use super::RootfsError;
use std::io::ErrorKind;
use std::path::Path;

const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
];

/// Creates the links under `rootfs`; an existing entry of the same name is kept.
/// `with_kcore`: whether `/dev/core` should point at `/proc/kcore`.
pub(crate) fn create_dev_symlinks(rootfs: &Path, with_kcore: bool) -> Result<(), RootfsError> {
    let kcore = [("/proc/kcore", "/dev/core")];
    let extra: &[(&str, &str)] = if with_kcore { &kcore } else { &[] };
    for (target, link) in LINKS.iter().chain(extra) {
        let what = format!("/dev symlink {link}");
        let path = link_path(rootfs, link, &what)?;
        match std::os::unix::fs::symlink(target, &path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&what, "symlink", &path, e)),
        }
    }
    Ok(())
}

/// `/dev/ptmx -> pts/ptmx`, replacing whatever the image or a device entry put there.
pub(crate) fn create_ptmx(rootfs: &Path) -> Result<(), RootfsError> {
    let what = "/dev/ptmx";
    let path = link_path(rootfs, "/dev/ptmx", what)?;
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(what, "remove", &path, e)),
    }
    std::os::unix::fs::symlink("pts/ptmx", &path).map_err(|e| io(what, "symlink", &path, e))
}

/// The link's own path: its directory resolved inside the rootfs, its last component
/// kept as is (a symlink there is replaced or kept, never followed).
fn link_path(rootfs: &Path, link: &str, what: &str) -> Result<std::path::PathBuf, RootfsError> {
    let link = Path::new(link);
    let parent = link.parent().unwrap_or(Path::new("/"));
    let name = link.file_name().ok_or_else(|| RootfsError::Invalid {
        what: what.to_string(),
        reason: "no file name".into(),
    })?;
    let dir = create_in_root(rootfs, parent, Kind::Dir, what)?;
    Ok(dir.join(name))
}

fn io(what: &str, op: &'static str, path: &Path, e: std::io::Error) -> RootfsError {
    RootfsError::Io {
        what: what.to_string(),
        op,
        path: path.to_path_buf(),
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let r = std::fs::canonicalize(t.path()).unwrap().join("rootfs");
        std::fs::create_dir(&r).unwrap();
        (t, r)
    }

    #[test]
    fn links_point_into_proc_self() {
        let (_t, r) = root();
        create_dev_symlinks(&r, true).unwrap();
        let l = |n: &str| std::fs::read_link(r.join("dev").join(n)).unwrap();
        assert_eq!(l("fd"), PathBuf::from("/proc/self/fd"));
        assert_eq!(l("stdin"), PathBuf::from("/proc/self/fd/0"));
        assert_eq!(l("stdout"), PathBuf::from("/proc/self/fd/1"));
        assert_eq!(l("stderr"), PathBuf::from("/proc/self/fd/2"));
        assert_eq!(l("core"), PathBuf::from("/proc/kcore"));
        // Idempotent: existing links are kept.
        create_dev_symlinks(&r, false).unwrap();
    }

    #[test]
    fn no_kcore_link_without_kcore() {
        let (_t, r) = root();
        create_dev_symlinks(&r, false).unwrap();
        assert!(std::fs::symlink_metadata(r.join("dev/core")).is_err());
    }

    #[test]
    fn ptmx_replaces_a_node_or_file() {
        let (_t, r) = root();
        std::fs::create_dir(r.join("dev")).unwrap();
        std::fs::write(r.join("dev/ptmx"), "").unwrap();
        create_ptmx(&r).unwrap();
        assert_eq!(
            std::fs::read_link(r.join("dev/ptmx")).unwrap(),
            PathBuf::from("pts/ptmx")
        );
    }

    #[test]
    fn hostile_dev_symlink_keeps_links_inside() {
        let (t, r) = root();
        std::os::unix::fs::symlink("../../../..", r.join("dev")).unwrap();
        create_dev_symlinks(&r, false).unwrap();
        create_ptmx(&r).unwrap();
        // rootfs/dev -> (clamped) / == the rootfs itself, so the links land in it.
        assert!(std::fs::symlink_metadata(r.join("fd")).is_ok());
        assert!(std::fs::symlink_metadata(r.join("ptmx")).is_ok());
        assert!(std::fs::symlink_metadata(t.path().join("fd")).is_err());
    }
}
