//! Bind-mount sources opened by the runtime on the host side, for an init that sets
//! up its mounts inside a user namespace (issue 12 point 6).
//!
//! In a user namespace the init is an unprivileged user on the host: a bind source
//! under a directory it cannot search (mode 000, another user's home) is out of its
//! reach, although the runtime (host root) could open it. As runc 1.1 does, the
//! runtime opens each bind source with `O_PATH` *in the init's mount namespace* and
//! passes the descriptors over the channel before the init starts its mounts
//! (`process::Init::send_bind_sources`); the init binds from `/proc/self/fd/N`,
//! which reaches the file without searching the directories above it.
//!
//! Opened in the init's mount namespace, not in ours: the kernel binds only from
//! mounts of the caller's own namespace, and the mounts of that namespace carry the
//! flags the kernel locked when it was copied for the user namespace (a read-only
//! host mount stays read-only for the container's root). A detached `open_tree`
//! copy made in our namespace would bind anywhere but would lose those locks.
//!
//! Best effort by design: a source that cannot be opened (missing yet, to be made by
//! a hook) gets no descriptor, and the init binds it by path as before, with the
//! same errors as before.
use super::mount::{is_bind, parse_options};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Descriptors of bind-mount sources, by the index of their entry in `spec.mounts`.
#[derive(Debug, Default)]
pub struct BindSources {
    by_index: HashMap<usize, OwnedFd>,
}

impl BindSources {
    /// Whether the init sets up its mounts as a user other than host root: a user
    /// namespace (new or joined) together with a mount namespace of its own.
    pub fn needed(spec: &Spec) -> bool {
        let ns = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        let has = |t| ns.is_some_and(|ns| ns.iter().any(|n| n.typ() == t));
        has(LinuxNamespaceType::User) && has(LinuxNamespaceType::Mount)
    }

    /// The bind entries of `spec` and their sources (relative ones joined to
    /// `bundle`, as the init resolves them).
    pub fn wanted(spec: &Spec, bundle: &Path) -> Vec<(usize, PathBuf)> {
        let mut out = Vec::new();
        for (i, m) in spec.mounts().iter().flatten().enumerate() {
            let (Ok(opts), Some(source)) = (parse_options(i, m), m.source().as_deref()) else {
                continue;
            };
            if is_bind(m, &opts) {
                out.push((i, bundle.join(source)));
            }
        }
        out
    }

    /// Opens each of `wanted` with `O_PATH | O_CLOEXEC` in the calling process's
    /// mount namespace; those that cannot be opened are left out.
    pub fn open_paths(wanted: &[(usize, PathBuf)]) -> Vec<(usize, OwnedFd)> {
        wanted
            .iter()
            .filter_map(|(i, path)| {
                nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                    .ok()
                    .map(|fd| (*i, fd))
            })
            .collect()
    }

    /// What the init received: entry indexes and their descriptors.
    pub fn from_fds(fds: impl IntoIterator<Item = (usize, OwnedFd)>) -> BindSources {
        BindSources {
            by_index: fds.into_iter().collect(),
        }
    }

    /// The descriptor of the source of `spec.mounts[index]`, if one was passed.
    pub(crate) fn get(&self, index: usize) -> Option<BorrowedFd<'_>> {
        self.by_index.get(&index).map(|fd| fd.as_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).expect("spec")
    }

    #[test]
    fn needed_only_with_user_and_mount_namespaces() {
        let with = |ns: &[&str]| {
            let list: Vec<_> = ns.iter().map(|t| serde_json::json!({"type": t})).collect();
            BindSources::needed(&spec(serde_json::json!({"ociVersion": "1.0.2",
                "linux": {"namespaces": list}})))
        };
        assert!(with(&["mount", "user"]));
        assert!(!with(&["mount", "pid"]));
        assert!(!with(&["user"]));
    }

    /// Only bind entries are wanted, relative sources are taken from the bundle,
    /// and a missing source is left to the init.
    #[test]
    fn wants_and_opens_bind_sources_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        let abs = dir.path().join("src");
        let s = spec(serde_json::json!({"ociVersion": "1.0.2", "mounts": [
            {"destination": "/a", "type": "bind", "source": "src"},
            {"destination": "/b", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/c", "source": "/no/such/dir", "options": ["rbind"]},
            {"destination": "/d", "source": abs, "options": ["rbind", "ro"]},
        ]}));
        let wanted = BindSources::wanted(&s, dir.path());
        assert_eq!(
            wanted,
            [
                (0, abs.clone()),
                (2, PathBuf::from("/no/such/dir")),
                (3, abs.clone())
            ]
        );
        let opened = BindSources::open_paths(&wanted);
        let got: Vec<usize> = opened.iter().map(|(i, _)| *i).collect();
        assert_eq!(got, [0, 3]);
        let sources = BindSources::from_fds(opened);
        let st = nix::sys::stat::fstat(sources.get(3).expect("fd")).expect("fstat");
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
        assert!(sources.get(2).is_none());
    }
}
