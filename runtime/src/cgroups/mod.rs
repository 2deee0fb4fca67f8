//! cgroups v1, v2 and hybrid hosts. A manager is picked once per host layout
//! ([`Manager::new`]) and owns one container's cgroup(s).
//!
//! Contract used by the runtime core:
//! - `create`: `Manager::new(cgroups_path, id)` then `apply(init_pid)` then `set(resources)`.
//!   An error after `new` must be followed by `remove()` so nothing is left behind.
//! - later verbs (`pause`, `update`, `events`, `ps`, `delete`) rebuild the manager with
//!   [`Manager::from_state`] from the [`Manager::state`] that `create` recorded in
//!   state.json (`Container::cgroup`). A relative `cgroupsPath` resolves against the
//!   *calling* process's own cgroup (as runc), so re-resolving `(cgroups_path, id)` in
//!   a verb run from another cgroup would find another directory; that is only the
//!   fallback for state files written before the field existed. The recorded state
//!   also lets `delete` remove parent directories `apply` created.
//! - `set` takes a full or partial `LinuxResources` (`update`): only the fields that
//!   are present are written. `devices` are replaced as a whole: deny all, the rules
//!   in order, then the devices every container gets (`/dev/null`, ttys, ...).
//! - `remove` deletes the container's directories (and sub-cgroups), never a process:
//!   the caller kills first. Parents are left alone unless this manager made them.
//!
//! Layout: the host is read once from `/proc/self/mountinfo`. Each controller lives
//! on exactly one hierarchy, so dispatch is per controller ([`Hierarchy`]): on a v1
//! host every controller is v1; on a v2 host everything is v2; on a hybrid host the
//! v1 controllers are used and the container's path is also created in the unified
//! mount (like runc), where controllers that v1 did not claim (often `hugetlb`) are
//! used through v2. Device rules go to v1's `devices` files where that controller is
//! mounted, else to an eBPF program attached to the v2 directory.
//!
//! Every file access goes through [`fs::CgroupFs`]; the controllers are unit-tested
//! against an in-memory fake and the manager against the kernel (root tests below).
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

mod devices;
pub mod fs;
pub mod layout;
pub mod stats;
pub mod v1;
pub mod v2;

pub use stats::{Event, Stats};

use fs::{CgroupFs, RealFs};
use layout::{CgroupPath, Layout, OwnCgroups};

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroups: no cgroup hierarchy is mounted (read /proc/self/mountinfo)")]
    NoHierarchy,
    #[error("cgroups: invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("cgroups: read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cgroups: write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("cgroups: create {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cgroups: remove {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },
    #[error("cgroups: unexpected content {value:?} in {path}")]
    Parse { path: PathBuf, value: String },
    #[error(
        "cgroups: {field} is set but the {controller} controller is not available on this host"
    )]
    ControllerMissing {
        controller: &'static str,
        field: &'static str,
    },
    #[error("cgroups: {field} is not supported by this kernel ({path} does not exist)")]
    Unsupported { field: &'static str, path: PathBuf },
    #[error("cgroups: invalid {field} {value}: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("cgroups: memory limit {limit} is below the current usage ({usage} bytes, peak {peak}) of {path}")]
    MemoryBelowUsage {
        path: PathBuf,
        limit: i64,
        usage: u64,
        peak: u64,
    },
    #[error("cgroups: memory+swap limit {swap} must be at least the memory limit {limit} (or -1)")]
    SwapBelowLimit { swap: i64, limit: i64 },
    #[error("cgroups: device filter (eBPF) for {path}: {source}")]
    DeviceFilter { path: PathBuf, source: io::Error },
    #[error("cgroups: {path} did not reach {state} in time (state: {last})")]
    FreezeTimeout {
        path: PathBuf,
        state: &'static str,
        last: String,
    },
}

/// Freezer states (runc's `pause`/`resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Frozen,
    Thawed,
}

/// Where a controller's files for this container are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

/// The resolved directories of one container, serialisable so later verbs find
/// exactly what `create` made (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerState {
    /// v1 controller → (mount point, container directory).
    pub v1: BTreeMap<String, (PathBuf, PathBuf)>,
    pub v2: Option<V2State>,
    /// Parent directories `apply` had to create (`/a/b` for `cgroupsPath` `/a/b/c`):
    /// `remove` deletes those that are empty again.
    #[serde(default)]
    pub created_parents: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2State {
    pub mount: PathBuf,
    pub dir: PathBuf,
    /// Controllers used through v2 (all of them on a pure v2 host; on a hybrid host
    /// those v1 did not claim).
    pub controllers: BTreeSet<String>,
    /// Pure v2 host (freezer, pids and stats come from here).
    pub unified: bool,
}

/// One container's cgroup(s).
#[derive(Debug)]
pub struct Manager {
    fs: Arc<dyn CgroupFs>,
    state: ManagerState,
    /// Every directory `apply` created, leaves included.
    created: Mutex<Vec<PathBuf>>,
}

/// v1 hierarchies the runtime joins (runc's list): every real controller plus
/// systemd's named hierarchy; other named hierarchies belong to someone else.
fn joins_v1(name: &str) -> bool {
    !name.starts_with("name=") || name == "name=systemd"
}

impl Manager {
    /// `cgroups_path` is `linux.cgroupsPath` (relative or absolute, or none: then a
    /// default derived from `id`).
    pub fn new(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        Self::with_fs(Arc::new(RealFs), cgroups_path, id)
    }

    /// [`Manager::new`] on another filesystem (tests).
    pub fn with_fs(
        fs: Arc<dyn CgroupFs>,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Self, CgroupError> {
        let path = CgroupPath::parse(cgroups_path, id)?;
        let mountinfo = fs::read(fs.as_ref(), Path::new("/proc/self"), "mountinfo")?;
        let layout = Layout::parse_mountinfo(&mountinfo);
        if layout.v1.is_empty() && layout.v2.is_none() {
            return Err(CgroupError::NoHierarchy);
        }
        let own = OwnCgroups::parse(&fs::read(fs.as_ref(), Path::new("/proc/self"), "cgroup")?);

        let mut v1 = BTreeMap::new();
        for (name, mount) in &layout.v1 {
            if !joins_v1(name) {
                continue;
            }
            let dir = path.resolve(mount, own.v1.get(name).map(PathBuf::as_path));
            v1.insert(name.clone(), (mount.point.clone(), dir));
        }
        let v2 = match &layout.v2 {
            Some(mount) => {
                // runc (fs2) puts relative paths next to, not below, its own cgroup:
                // a cgroup with processes cannot delegate controllers to children.
                let own_parent = own
                    .v2
                    .as_deref()
                    .map(|p| p.parent().unwrap_or(Path::new("/")).to_path_buf());
                let dir = path.resolve(mount, own_parent.as_deref());
                let available = fs::read_opt(fs.as_ref(), &mount.point, "cgroup.controllers")?
                    .unwrap_or_default();
                let controllers = available
                    .split_whitespace()
                    .filter(|c| !layout.v1.contains_key(*c))
                    .map(str::to_string)
                    .collect();
                Some(V2State {
                    mount: mount.point.clone(),
                    dir,
                    controllers,
                    unified: layout.v1.is_empty(),
                })
            }
            None => None,
        };
        Ok(Manager {
            fs,
            state: ManagerState {
                v1,
                v2,
                created_parents: Vec::new(),
            },
            created: Mutex::new(Vec::new()),
        })
    }

    /// Rebuild from what [`Manager::state`] returned at create.
    pub fn from_state(state: ManagerState) -> Self {
        let created = Mutex::new(state.created_parents.clone());
        Manager {
            fs: Arc::new(RealFs),
            state,
            created,
        }
    }

    /// The resolved directories, to record at create (see the module docs).
    pub fn state(&self) -> ManagerState {
        let leaves = self.paths();
        let mut state = self.state.clone();
        for dir in self.created().iter() {
            if !leaves.contains(dir) && !state.created_parents.contains(dir) {
                state.created_parents.push(dir.clone());
            }
        }
        state
    }

    fn created(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.created.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every directory this container owns (one per distinct hierarchy).
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        for (_, dir) in self.state.v1.values() {
            if !out.contains(dir) {
                out.push(dir.clone());
            }
        }
        if let Some(v2) = &self.state.v2 {
            out.push(v2.dir.clone());
        }
        out
    }

    /// Which hierarchy serves `controller` (v2 names; `blkio`/`io` both accepted).
    pub fn hierarchy(&self, controller: &str) -> Option<Hierarchy<'_>> {
        let (v1_name, v2_name) = match controller {
            "blkio" | "io" => ("blkio", "io"),
            c => (c, c),
        };
        if let Some((_, dir)) = self.state.v1.get(v1_name) {
            return Some(Hierarchy::V1(dir));
        }
        let v2 = self.state.v2.as_ref()?;
        v2.controllers
            .contains(v2_name)
            .then_some(Hierarchy::V2(&v2.dir))
    }

    fn fs(&self) -> &dyn CgroupFs {
        self.fs.as_ref()
    }

    /// Create the cgroup(s) and move `pid` in. Also used by `exec` to join.
    pub fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        self.create()?;
        let fs = self.fs();
        for dir in self.paths() {
            fs::write(fs, &dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Create the cgroup(s) without moving anyone in ([`Manager::apply`] minus the
    /// `cgroup.procs` writes). The runtime core uses it to let the init join by
    /// itself (clone3 `CLONE_INTO_CGROUP` for v2, `0` into v1 `tasks`), which skips
    /// the kernel's global threadgroup lock and its RCU grace period per create.
    pub fn create(&self) -> Result<(), CgroupError> {
        let fs = self.fs();
        let mut created = self.created();
        let mut done: Vec<&Path> = Vec::new();
        for (name, (mount, dir)) in &self.state.v1 {
            if done.contains(&dir.as_path()) {
                continue; // co-mounted controllers (cpu,cpuacct) share a directory
            }
            done.push(dir);
            if name == "cpuset" {
                fs::create_dir_all(fs, mount, dir, &mut created, |level| {
                    v1::cpuset::init_from_parent(fs, level)
                })?;
            } else {
                fs::create_dir_all(fs, mount, dir, &mut created, |_| Ok(()))?;
            }
        }
        if let Some(v2) = &self.state.v2 {
            fs::create_dir_all(fs, &v2.mount, &v2.dir, &mut created, |_| Ok(()))?;
            v2::enable_controllers(fs, &v2.mount, &v2.dir, &v2.controllers);
        }
        Ok(())
    }

    /// Write limits (create and `update`): only the fields present in `resources`.
    pub fn set(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        let fs = self.fs();
        if let Some(mem) = resources.memory() {
            match self.hierarchy("memory") {
                Some(Hierarchy::V1(d)) => v1::memory::set(fs, d, mem)?,
                Some(Hierarchy::V2(d)) => v2::memory::set(fs, d, mem)?,
                None => missing("memory", "memory", v1::memory::is_empty(mem))?,
            }
        }
        if let Some(cpu) = resources.cpu() {
            match self.hierarchy("cpu") {
                Some(Hierarchy::V1(d)) => v1::cpu::set(fs, d, cpu)?,
                Some(Hierarchy::V2(d)) => v2::cpu::set(fs, d, cpu)?,
                None => missing("cpu", "cpu", v1::cpu::is_empty(cpu))?,
            }
            match self.hierarchy("cpuset") {
                Some(Hierarchy::V1(d)) => v1::cpuset::set(fs, d, cpu)?,
                Some(Hierarchy::V2(d)) => v2::cpuset::set(fs, d, cpu)?,
                None => missing("cpuset", "cpu.cpus/mems", v1::cpuset::is_empty(cpu))?,
            }
        }
        if let Some(pids) = resources.pids() {
            match self.hierarchy("pids") {
                Some(Hierarchy::V1(d)) | Some(Hierarchy::V2(d)) => v1::pids::set(fs, d, pids)?,
                None => missing("pids", "pids.limit", pids.limit() == 0)?,
            }
        }
        if let Some(bio) = resources.block_io() {
            match self.hierarchy("blkio") {
                Some(Hierarchy::V1(d)) => v1::blkio::set(fs, d, bio)?,
                Some(Hierarchy::V2(d)) => v2::io::set(fs, d, bio)?,
                None => missing("blkio", "blockIO", v1::blkio::is_empty(bio))?,
            }
        }
        if let Some(limits) = resources.hugepage_limits() {
            match self.hierarchy("hugetlb") {
                Some(Hierarchy::V1(d)) => v1::hugetlb::set(fs, d, limits, false)?,
                Some(Hierarchy::V2(d)) => v1::hugetlb::set(fs, d, limits, true)?,
                None => missing("hugetlb", "hugepageLimits", limits.is_empty())?,
            }
        }
        if let Some(rules) = resources.devices() {
            match (self.hierarchy("devices"), &self.state.v2) {
                (Some(Hierarchy::V1(d)), _) => v1::devices::set(fs, d, rules)?,
                (_, Some(v2)) => v2::devices::set(fs, &v2.dir, rules)?,
                // No way to enforce: refuse rather than run unconfined.
                _ => missing("devices", "devices", rules.is_empty())?,
            }
        }
        if let Some(net) = resources.network() {
            match self.state.v1.get("net_cls") {
                Some((_, d)) => v1::net::set_classid(fs, d, net)?,
                None => missing("net_cls", "network.classID", net.class_id().is_none())?,
            }
            let prios = net.priorities().as_ref().is_none_or(|p| p.is_empty());
            match self.state.v1.get("net_prio") {
                Some((_, d)) => v1::net::set_priorities(fs, d, net)?,
                None => missing("net_prio", "network.priorities", prios)?,
            }
        }
        if let Some(rdma) = resources.rdma() {
            match self.hierarchy("rdma") {
                Some(Hierarchy::V1(d)) | Some(Hierarchy::V2(d)) => v1::rdma::set(fs, d, rdma)?,
                None => missing("rdma", "rdma", rdma.is_empty())?,
            }
        }
        if let Some(unified) = resources.unified() {
            match &self.state.v2 {
                Some(v2) => v2::set_unified(fs, &v2.dir, unified)?,
                None => missing("unified (cgroup v2)", "unified", unified.is_empty())?,
            }
        }
        Ok(())
    }

    /// Freeze or thaw every process; returns once the kernel reports the state.
    pub fn freeze(&self, state: FreezerState) -> Result<(), CgroupError> {
        match self.freezer()? {
            Hierarchy::V1(d) => v1::freezer::set(self.fs(), d, state),
            Hierarchy::V2(d) => v2::freezer::set(self.fs(), d, state),
        }
    }

    /// The current freezer state (`state` reports `paused` when frozen).
    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        match self.freezer()? {
            Hierarchy::V1(d) => v1::freezer::get(self.fs(), d),
            Hierarchy::V2(d) => v2::freezer::get(self.fs(), d),
        }
    }

    fn freezer(&self) -> Result<Hierarchy<'_>, CgroupError> {
        if let Some((_, d)) = self.state.v1.get("freezer") {
            return Ok(Hierarchy::V1(d));
        }
        match &self.state.v2 {
            Some(v2) => Ok(Hierarchy::V2(&v2.dir)),
            None => Err(CgroupError::ControllerMissing {
                controller: "freezer",
                field: "pause/resume",
            }),
        }
    }

    /// Usage numbers; an error if the cgroup is gone (most files are optional, so
    /// without this check a missing cgroup would read as all zeros).
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        let fs = self.fs();
        if let Some(dir) = self.procs_dir() {
            if !fs.exists(dir) {
                return Err(CgroupError::Read {
                    path: dir.to_path_buf(),
                    source: io::Error::from_raw_os_error(libc::ENOENT),
                });
            }
        }
        let mut s = Stats::default();
        match self.hierarchy("cpu") {
            Some(Hierarchy::V1(d)) => v1::cpu::stats(fs, d, &mut s)?,
            Some(Hierarchy::V2(d)) => v2::cpu::stats(fs, d, &mut s)?,
            // cpu.stat's usage lines are core v2 files, there without the controller.
            None => {
                if let Some(v2) = self.state.v2.as_ref().filter(|v| v.unified) {
                    v2::cpu::stats(fs, &v2.dir, &mut s)?;
                }
            }
        }
        if let Some(Hierarchy::V1(d)) = self.hierarchy("cpuacct") {
            v1::cpuacct::stats(fs, d, &mut s)?;
        }
        match self.hierarchy("cpuset") {
            Some(Hierarchy::V1(d)) | Some(Hierarchy::V2(d)) => v1::cpuset::stats(fs, d, &mut s)?,
            None => {}
        }
        match self.hierarchy("memory") {
            Some(Hierarchy::V1(d)) => v1::memory::stats(fs, d, &mut s)?,
            Some(Hierarchy::V2(d)) => v2::memory::stats(fs, d, &mut s)?,
            None => {}
        }
        match self.hierarchy("pids") {
            Some(Hierarchy::V1(d)) | Some(Hierarchy::V2(d)) => v1::pids::stats(fs, d, &mut s)?,
            None => {}
        }
        match self.hierarchy("blkio") {
            Some(Hierarchy::V1(d)) => v1::blkio::stats(fs, d, &mut s)?,
            Some(Hierarchy::V2(d)) => v2::io::stats(fs, d, &mut s)?,
            None => {}
        }
        match self.hierarchy("hugetlb") {
            Some(Hierarchy::V1(d)) => v1::hugetlb::stats(fs, d, &mut s, false)?,
            Some(Hierarchy::V2(d)) => v1::hugetlb::stats(fs, d, &mut s, true)?,
            None => {}
        }
        Ok(s)
    }

    /// Every pid in the container's cgroup and its sub-cgroups (for `ps`,
    /// `kill --all`), sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = self.procs_dir().ok_or(CgroupError::NoHierarchy)?;
        let mut out = Vec::new();
        match fs::procs_recursive(self.fs(), dir, &mut out) {
            Ok(()) => {}
            // Never created (or already removed): no processes.
            Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn procs_dir(&self) -> Option<&Path> {
        if let Some(v2) = self.state.v2.as_ref().filter(|v| v.unified) {
            return Some(&v2.dir);
        }
        for c in [
            "pids",
            "freezer",
            "memory",
            "cpu",
            "devices",
            "name=systemd",
        ] {
            if let Some((_, d)) = self.state.v1.get(c) {
                return Some(d);
            }
        }
        self.state
            .v1
            .values()
            .next()
            .map(|(_, d)| d.as_path())
            .or(self.state.v2.as_ref().map(|v| v.dir.as_path()))
    }

    /// Remove the cgroup(s); the processes must be gone. Removes what it can and
    /// reports the first failure.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let mut first = None;
        for dir in self.paths() {
            if let Err(e) = fs::remove_tree(self.fs(), &dir) {
                first.get_or_insert(e);
            }
        }
        // Parents we made, deepest first; one still holding another container's
        // cgroup stays (rmdir refuses), which is what we want.
        if first.is_none() {
            let leaves = self.paths();
            let mut parents: Vec<PathBuf> = self
                .state()
                .created_parents
                .into_iter()
                .filter(|p| !leaves.contains(p))
                .collect();
            parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for p in parents {
                let _ = self.fs().remove_dir(&p);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A setting for a controller this host lacks is an error only if it asks for
/// something (docker sends empty sections).
fn missing(controller: &'static str, field: &'static str, empty: bool) -> Result<(), CgroupError> {
    if empty {
        Ok(())
    } else {
        Err(CgroupError::ControllerMissing { controller, field })
    }
}

#[cfg(test)]
mod tests;
