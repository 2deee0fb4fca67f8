//! Namespaces: which ones a container creates and which it joins by `path`, clone
//! flags, setns, uid/gid maps and time namespace offsets.
//!
//! A [`Plan`] is computed once from `linux.namespaces` (and is pure, so it is unit
//! tested). The process code uses it to pick the fast path (every namespace new: one
//! clone with all flags) or the joining path (setns first, then unshare).
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, LinuxTimeOffset, Spec};
use std::collections::HashMap;
use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("linux.namespaces: {kind} namespace listed twice")]
    Duplicate { kind: &'static str },
    #[error("linux.namespaces: cannot open {kind} namespace path {path}: {source}")]
    Open {
        kind: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot join {kind} namespace {path}: {source}")]
    Setns {
        kind: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("cannot create namespaces ({flags:?}): {source}")]
    Unshare {
        flags: CloneFlags,
        source: nix::Error,
    },
    #[error("linux.uidMappings/gidMappings: writing {path}: {source}")]
    IdMap {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("linux.uidMappings/gidMappings: a user namespace needs both uid and gid mappings")]
    MissingIdMap,
    #[error("linux.timeOffsets: unknown clock {0:?} (use monotonic or boottime)")]
    TimeClock(String),
    #[error("linux.timeOffsets: writing /proc/self/timens_offsets: {0}")]
    TimeOffsets(std::io::Error),
}

/// Every namespace kind, in the order they are joined. The runtime runs as host
/// root, which may join any namespace, so the user namespace comes *last*: joined
/// first, it would take away the rights over namespaces the host's user namespace
/// owns (a shared network or ipc namespace). Mount is last but one: paths of the
/// other kinds stop resolving once it changes (callers open every file first anyway).
/// A *new* user namespace is still created before every other new namespace.
pub const ALL: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::User,
];

pub fn flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // nix has no CLONE_NEWTIME constant; the kernel value is 0x80.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// The `/proc/<pid>/ns/<name>` file name of a kind.
pub fn proc_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// What the container does with each namespace kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Kinds created new.
    pub new: Vec<LinuxNamespaceType>,
    /// Kinds joined by path, in [`ALL`] order.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan, NamespaceError> {
        let mut seen: HashMap<&'static str, Option<PathBuf>> = HashMap::new();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in &list {
            let kind = proc_name(ns.typ());
            if seen.insert(kind, ns.path().clone()).is_some() {
                return Err(NamespaceError::Duplicate { kind });
            }
        }
        let mut plan = Plan::default();
        for kind in ALL {
            match seen.get(proc_name(kind)) {
                Some(Some(path)) => plan.join.push((kind, path.clone())),
                Some(None) => plan.new.push(kind),
                None => {}
            }
        }
        Ok(plan)
    }

    pub fn creates(&self, kind: LinuxNamespaceType) -> bool {
        self.new.contains(&kind)
    }

    pub fn joins(&self, kind: LinuxNamespaceType) -> Option<&Path> {
        self.join
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, p)| p.as_path())
    }

    /// The container has its own mount namespace (new or joined).
    pub fn has_mount_ns(&self) -> bool {
        self.creates(LinuxNamespaceType::Mount) || self.joins(LinuxNamespaceType::Mount).is_some()
    }

    /// Flags of the new namespaces, minus `except`.
    pub fn new_flags(&self, except: &[LinuxNamespaceType]) -> CloneFlags {
        self.new
            .iter()
            .filter(|k| !except.contains(k))
            .fold(CloneFlags::empty(), |acc, k| acc | flag(*k))
    }
}

/// An opened namespace file, ready for setns.
pub struct NsFile {
    pub kind: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

pub fn open(kind: LinuxNamespaceType, path: &Path) -> Result<NsFile, NamespaceError> {
    let fd = fs::File::open(path)
        .map_err(|source| NamespaceError::Open {
            kind: proc_name(kind),
            path: path.to_path_buf(),
            source,
        })?
        .into();
    Ok(NsFile {
        kind,
        path: path.to_path_buf(),
        fd,
    })
}

pub fn join(ns: &NsFile) -> Result<(), NamespaceError> {
    nix::sched::setns(ns.fd.as_fd(), flag(ns.kind)).map_err(|source| NamespaceError::Setns {
        kind: proc_name(ns.kind),
        path: ns.path.clone(),
        source,
    })
}

pub fn unshare(flags: CloneFlags) -> Result<(), NamespaceError> {
    if flags.is_empty() {
        return Ok(());
    }
    nix::sched::unshare(flags).map_err(|source| NamespaceError::Unshare { flags, source })
}

/// `/proc/<pid>/ns/<kind>` differs from ours (joining our own user namespace fails
/// with EINVAL, so exec only joins what differs).
pub fn differs_from_self(pid: i32, kind: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let name = proc_name(kind);
    let theirs = fs::metadata(format!("/proc/{pid}/ns/{name}"));
    let ours = fs::metadata(format!("/proc/self/ns/{name}"));
    match (theirs, ours) {
        (Ok(t), Ok(o)) => t.ino() != o.ino() || t.dev() != o.dev(),
        (Ok(_), Err(_)) => true,
        _ => false,
    }
}

/// The text the kernel expects in `uid_map`/`gid_map`.
pub fn id_map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Written by the parent for a child that just entered a new user namespace.
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<(), NamespaceError> {
    let linux = spec.linux().as_ref();
    let uid = linux
        .and_then(|l| l.uid_mappings().clone())
        .unwrap_or_default();
    let gid = linux
        .and_then(|l| l.gid_mappings().clone())
        .unwrap_or_default();
    if uid.is_empty() || gid.is_empty() {
        return Err(NamespaceError::MissingIdMap);
    }
    for (file, maps) in [("uid_map", &uid), ("gid_map", &gid)] {
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        fs::write(&path, id_map_text(maps))
            .map_err(|source| NamespaceError::IdMap { path, source })?;
    }
    Ok(())
}

/// The text of `/proc/self/timens_offsets` for `linux.timeOffsets`.
pub fn time_offsets_text(
    offsets: &HashMap<String, LinuxTimeOffset>,
) -> Result<String, NamespaceError> {
    let mut keys: Vec<&String> = offsets.keys().collect();
    keys.sort();
    let mut out = String::new();
    for clock in keys {
        if clock != "monotonic" && clock != "boottime" {
            return Err(NamespaceError::TimeClock(clock.clone()));
        }
        let o = &offsets[clock];
        out.push_str(&format!(
            "{clock} {} {}\n",
            o.secs().unwrap_or(0),
            o.nanosecs().unwrap_or(0)
        ));
    }
    Ok(out)
}

/// Enter a new time namespace with the spec's offsets. Offsets can only be written
/// before any process lives in the namespace, so: unshare (children-only), write,
/// then move ourselves in through `time_for_children`.
pub fn enter_new_time_ns(spec: &Spec) -> Result<(), NamespaceError> {
    let time = flag(LinuxNamespaceType::Time);
    unshare(time)?;
    let offsets = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    if !offsets.is_empty() {
        fs::write("/proc/self/timens_offsets", time_offsets_text(&offsets)?)
            .map_err(NamespaceError::TimeOffsets)?;
    }
    let ns = open(
        LinuxNamespaceType::Time,
        Path::new("/proc/self/ns/time_for_children"),
    )?;
    join(&ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBuilder, LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxTimeOffsetBuilder,
        SpecBuilder,
    };

    fn spec_with(ns: Vec<(LinuxNamespaceType, Option<&str>)>) -> Spec {
        let list: Vec<_> = ns
            .into_iter()
            .map(|(t, p)| {
                let b = LinuxNamespaceBuilder::default().typ(t);
                match p {
                    Some(p) => b.path(p).build().expect("ns"),
                    None => b.build().expect("ns"),
                }
            })
            .collect();
        SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .namespaces(list)
                    .build()
                    .expect("linux"),
            )
            .build()
            .expect("spec")
    }

    #[test]
    fn plan_orders_user_last() {
        let spec = spec_with(vec![
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Network, Some("/run/netns/x")),
            (LinuxNamespaceType::User, None),
            (LinuxNamespaceType::Pid, None),
        ]);
        let plan = Plan::from_spec(&spec).expect("plan");
        assert_eq!(
            plan.new,
            vec![
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Mount,
                LinuxNamespaceType::User
            ]
        );
        assert_eq!(
            plan.joins(LinuxNamespaceType::Network),
            Some(Path::new("/run/netns/x"))
        );
        assert!(plan.has_mount_ns());
        assert_eq!(
            plan.new_flags(&[LinuxNamespaceType::User]),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
    }

    #[test]
    fn duplicate_namespace_is_an_error() {
        let spec = spec_with(vec![
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Pid, None),
        ]);
        assert!(matches!(
            Plan::from_spec(&spec),
            Err(NamespaceError::Duplicate { kind: "pid" })
        ));
    }

    #[test]
    fn id_map_and_time_offset_text() {
        let m = LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(100000u32)
            .size(65536u32)
            .build()
            .expect("map");
        assert_eq!(id_map_text(&[m]), "0 100000 65536\n");
        let mut offs = HashMap::new();
        offs.insert(
            "monotonic".to_string(),
            LinuxTimeOffsetBuilder::default()
                .secs(10i64)
                .nanosecs(5u32)
                .build()
                .expect("o"),
        );
        offs.insert(
            "boottime".to_string(),
            LinuxTimeOffsetBuilder::default()
                .secs(-3i64)
                .build()
                .expect("o"),
        );
        assert_eq!(
            time_offsets_text(&offs).expect("text"),
            "boottime -3 0\nmonotonic 10 5\n"
        );
        offs.insert("realtime".to_string(), LinuxTimeOffset::default());
        assert!(time_offsets_text(&offs).is_err());
    }
}
