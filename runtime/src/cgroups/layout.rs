//! Where the cgroup hierarchies are (detected once from `/proc/self/mountinfo`) and
//! where a container's cgroup goes in each (`linux.cgroupsPath` resolved against them,
//! as runc does).
//!
//! Host kinds: v1 (one hierarchy per controller, or a few co-mounted), v2 (one
//! `cgroup2` at the cgroup root) and hybrid (v1 controllers plus a `cgroup2` usually at
//! `/sys/fs/cgroup/unified`, holding whatever controllers v1 did not claim).
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::CgroupError;

/// A mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub point: PathBuf,
    /// The hierarchy path mounted at `point` (`/` unless the mount is a sub-tree, as
    /// inside a container).
    pub root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// controller (`memory`, `cpu`, `name=systemd`, ...) → its hierarchy.
    pub v1: BTreeMap<String, V1Mount>,
    /// The cgroup2 mount, if any (v2 host, or the unified part of a hybrid host).
    pub v2: Option<V1Mount>,
}

impl Layout {
    pub fn parse_mountinfo(text: &str) -> Layout {
        let mut layout = Layout::default();
        for line in text.lines() {
            // id parent maj:min root point opts [optional...] - fstype source superopts
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            let mount = V1Mount {
                point: PathBuf::from(unescape(l[4])),
                root: PathBuf::from(unescape(l[3])),
            };
            match r[0] {
                // Several cgroup2 mounts (bind mounts): keep the first.
                "cgroup2" if layout.v2.is_none() => layout.v2 = Some(mount),
                "cgroup" => {
                    for opt in r[2].split(',') {
                        if is_mount_option(opt) {
                            continue;
                        }
                        layout
                            .v1
                            .entry(opt.to_string())
                            .or_insert_with(|| mount.clone());
                    }
                }
                _ => {}
            }
        }
        layout
    }

    /// A pure v2 host: no v1 controller mounted.
    pub fn is_unified(&self) -> bool {
        self.v1.is_empty() && self.v2.is_some()
    }
}

fn is_mount_option(opt: &str) -> bool {
    matches!(
        opt,
        "rw" | "ro" | "clone_children" | "noprefix" | "xattr" | "cpuset_v2_mode" | "favordynmods"
    ) || opt.starts_with("release_agent=")
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if let Some(oct) = b.get(i + 1..i + 4) {
                if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                    if let Ok(v) = u8::try_from(v) {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/self/cgroup`: controller → path, and the v2 (`0::`) path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnCgroups {
    pub v1: BTreeMap<String, PathBuf>,
    pub v2: Option<PathBuf>,
}

impl OwnCgroups {
    pub fn parse(text: &str) -> OwnCgroups {
        let mut own = OwnCgroups::default();
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                own.v2 = Some(PathBuf::from(path));
            } else {
                for c in ctrls.split(',') {
                    own.v1.insert(c.to_string(), PathBuf::from(path));
                }
            }
        }
        own
    }
}

/// `linux.cgroupsPath` after validation: absolute paths are below each hierarchy's
/// root, relative ones below the runtime's own cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupPath {
    Absolute(PathBuf),
    Relative(PathBuf),
}

impl CgroupPath {
    /// runc's rules: no path → `<id>` relative; `/a/b` absolute; `a/b` relative;
    /// systemd's `slice:prefix:name` (what docker passes with `--systemd-cgroup`) →
    /// `/<expanded slice>/<prefix>-<name>.scope`, without talking to systemd. `..`
    /// never climbs above the starting point.
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<CgroupPath, CgroupError> {
        let raw = cgroups_path.map(str::trim).unwrap_or("");
        if raw.is_empty() {
            if id.is_empty() || id.contains('/') || id == "." || id == ".." {
                return Err(CgroupError::InvalidPath {
                    path: id.to_string(),
                    reason: "container id is not usable as a cgroup name",
                });
            }
            return Ok(CgroupPath::Relative(PathBuf::from(id)));
        }
        if !raw.starts_with('/') && raw.matches(':').count() == 2 {
            return systemd_path(raw).map(CgroupPath::Absolute);
        }
        let cleaned = clean(raw);
        if cleaned.as_os_str().is_empty() {
            return Err(CgroupError::InvalidPath {
                path: raw.to_string(),
                reason: "names the cgroup root itself",
            });
        }
        if raw.starts_with('/') {
            Ok(CgroupPath::Absolute(cleaned))
        } else {
            Ok(CgroupPath::Relative(cleaned))
        }
    }

    /// The directory for a hierarchy mounted at `mount` when the runtime itself is in
    /// `own` (hierarchy path from `/proc/self/cgroup`).
    pub fn resolve(&self, mount: &V1Mount, own: Option<&Path>) -> PathBuf {
        match self {
            CgroupPath::Absolute(p) => mount.point.join(p),
            CgroupPath::Relative(p) => {
                let own = own.unwrap_or(Path::new("/"));
                // The mount may show only a sub-tree (inside a container).
                let own = own.strip_prefix(&mount.root).unwrap_or(own);
                mount.point.join(clean(&own.to_string_lossy())).join(p)
            }
        }
    }
}

/// Lexically clean `p` as if rooted at `/`, then drop the root: `a/../../b` → `b`.
fn clean(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn systemd_path(raw: &str) -> Result<PathBuf, CgroupError> {
    let bad = |reason| CgroupError::InvalidPath {
        path: raw.to_string(),
        reason,
    };
    let mut parts = raw.splitn(3, ':');
    let slice = parts.next().unwrap_or("");
    let prefix = parts.next().unwrap_or("");
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err(bad("systemd form slice:prefix:name needs a name"));
    }
    for part in [slice, prefix, name] {
        if part.contains('/') || part == "." || part == ".." {
            return Err(bad("systemd form parts must not contain '/'"));
        }
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut path = expand_slice(slice).ok_or_else(|| bad("invalid systemd slice name"))?;
    if name.ends_with(".slice") {
        // The unit is a slice itself: it nests below its parent slice.
        path.push(name);
    } else if prefix.is_empty() {
        path.push(format!("{name}.scope"));
    } else {
        path.push(format!("{prefix}-{name}.scope"));
    }
    Ok(path)
}

/// systemd slice nesting: `a-b-c.slice` lives at `a.slice/a-b.slice/a-b-c.slice`.
fn expand_slice(slice: &str) -> Option<PathBuf> {
    let base = slice.strip_suffix(".slice")?;
    let mut path = PathBuf::new();
    if base == "-" {
        return Some(path);
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return None;
    }
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
";

    #[test]
    fn hybrid_mountinfo() {
        let l = Layout::parse_mountinfo(HYBRID);
        assert_eq!(
            l.v1.keys().collect::<Vec<_>>(),
            [
                "cpu",
                "cpuacct",
                "memory",
                "name=systemd",
                "net_cls",
                "net_prio"
            ]
        );
        assert_eq!(l.v1["memory"].point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            l.v1["net_prio"].point,
            Path::new("/sys/fs/cgroup/net_cls,net_prio")
        );
        assert_eq!(
            l.v2.as_ref().map(|m| m.point.clone()),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert!(!l.is_unified());
    }

    #[test]
    fn unified_mountinfo() {
        let l = Layout::parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        assert!(l.is_unified());
        assert_eq!(l.v2.unwrap().point, Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\\"), r"/a\\");
    }

    #[test]
    fn own_cgroups() {
        let own = OwnCgroups::parse("4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(own.v1["memory"], Path::new("/process_api/x"));
        assert_eq!(own.v1["cpuacct"], Path::new("/"));
        assert_eq!(own.v2.unwrap(), Path::new("/user.slice"));
    }

    #[test]
    fn cgroups_path_forms() {
        use CgroupPath::*;
        assert_eq!(
            CgroupPath::parse(None, "c1").unwrap(),
            Relative("c1".into())
        );
        assert_eq!(
            CgroupPath::parse(Some("/docker/abc"), "c1").unwrap(),
            Absolute("docker/abc".into())
        );
        assert_eq!(
            CgroupPath::parse(Some("/../../etc/x"), "c1").unwrap(),
            Absolute("etc/x".into())
        );
        assert_eq!(
            CgroupPath::parse(Some("a/../../b"), "c1").unwrap(),
            Relative("b".into())
        );
        assert_eq!(
            CgroupPath::parse(Some("system.slice:docker:abc"), "c1").unwrap(),
            Absolute("system.slice/docker-abc.scope".into())
        );
        assert_eq!(
            CgroupPath::parse(Some("user-1000.slice:podman:x"), "c1").unwrap(),
            Absolute("user.slice/user-1000.slice/podman-x.scope".into())
        );
        assert_eq!(
            CgroupPath::parse(Some(":berth:x"), "c1").unwrap(),
            Absolute("system.slice/berth-x.scope".into())
        );
        assert!(CgroupPath::parse(Some("/"), "c1").is_err());
        assert!(CgroupPath::parse(Some("bad-.slice:a:b"), "c1").is_err());
        assert!(CgroupPath::parse(None, "..").is_err());
    }

    #[test]
    fn resolve_absolute_and_relative() {
        let m = V1Mount {
            point: "/sys/fs/cgroup/memory".into(),
            root: "/".into(),
        };
        let abs = CgroupPath::parse(Some("/docker/abc"), "x").unwrap();
        assert_eq!(
            abs.resolve(&m, Some(Path::new("/process_api/9d"))),
            Path::new("/sys/fs/cgroup/memory/docker/abc")
        );
        let rel = CgroupPath::parse(Some("ctr"), "x").unwrap();
        assert_eq!(
            rel.resolve(&m, Some(Path::new("/process_api/9d"))),
            Path::new("/sys/fs/cgroup/memory/process_api/9d/ctr")
        );
        // A sub-tree mount (inside a container): strip the mount's root.
        let sub = V1Mount {
            point: "/sys/fs/cgroup/memory".into(),
            root: "/outer".into(),
        };
        assert_eq!(
            rel.resolve(&sub, Some(Path::new("/outer/inner"))),
            Path::new("/sys/fs/cgroup/memory/inner/ctr")
        );
    }
}
