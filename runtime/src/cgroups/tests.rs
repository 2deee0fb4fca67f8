//! Manager tests: layout detection, path resolution and dispatch against the fake
//! filesystem (hybrid, v1-only and pure v2 hosts), then root tests against the
//! kernel with a real `sleep`/`sh` child.
use super::fs::fake::FakeFs;
use super::*;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxHugepageLimitBuilder,
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
};

const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

const HYBRID_OWN: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/9d
3:cpuset:/
1:cpu:/
0::/
";

fn hybrid_fs() -> Arc<FakeFs> {
    let fs = FakeFs::new();
    fs.set("/proc/self/mountinfo", HYBRID_MOUNTINFO);
    fs.set("/proc/self/cgroup", HYBRID_OWN);
    let procs = ("cgroup.procs", "");
    fs.mount(
        "/sys/fs/cgroup/memory",
        &[
            procs,
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712"),
            ("memory.soft_limit_in_bytes", "9223372036854771712"),
            ("memory.usage_in_bytes", "4096"),
            ("memory.stat", "cache 0\nrss 4096\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
        ],
    );
    fs.mount(
        "/sys/fs/cgroup/cpu",
        &[
            procs,
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            (
                "cpu.stat",
                "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
            ),
        ],
    );
    fs.mount(
        "/sys/fs/cgroup/cpuacct",
        &[procs, ("cpuacct.usage", "1000")],
    );
    fs.mount(
        "/sys/fs/cgroup/cpuset",
        &[procs, ("cpuset.cpus", ""), ("cpuset.mems", "")],
    );
    fs.set("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-1\n");
    fs.set("/sys/fs/cgroup/cpuset/cpuset.mems", "0\n");
    fs.mount(
        "/sys/fs/cgroup/devices",
        &[procs, ("devices.allow", ""), ("devices.deny", "")],
    );
    fs.mount(
        "/sys/fs/cgroup/freezer",
        &[procs, ("freezer.state", "THAWED")],
    );
    fs.mount(
        "/sys/fs/cgroup/blkio",
        &[procs, ("blkio.throttle.read_bps_device", "")],
    );
    fs.mount(
        "/sys/fs/cgroup/pids",
        &[procs, ("pids.max", "max"), ("pids.current", "0")],
    );
    fs.mount("/sys/fs/cgroup/systemd", &[procs]);
    fs.mount(
        "/sys/fs/cgroup/unified",
        &[
            procs,
            ("cgroup.controllers", ""),
            ("cgroup.subtree_control", ""),
            ("hugetlb.2MB.max", "max"),
            ("hugetlb.2MB.current", "0"),
        ],
    );
    fs.set("/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
    // The kernel lists controllers enabled in the parent: the fake's template gives
    // every level "hugetlb" available once the parent enabled it.
    fs.set("/sys/fs/cgroup/unified/cgroup.subtree_control", "");
    Arc::new(fs)
}

fn hybrid(path: Option<&str>, id: &str) -> (Arc<FakeFs>, Manager) {
    let fs = hybrid_fs();
    let m = Manager::with_fs(fs.clone(), path, id).unwrap();
    (fs, m)
}

#[test]
fn hybrid_absolute_paths_in_every_hierarchy() {
    let (_fs, m) = hybrid(Some("/docker/abc"), "abc");
    let paths: Vec<String> = m.paths().iter().map(|p| p.display().to_string()).collect();
    for c in [
        "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids", "systemd",
        "unified",
    ] {
        let want = format!("/sys/fs/cgroup/{c}/docker/abc");
        assert!(paths.contains(&want), "{want} not in {paths:?}");
    }
    assert_eq!(paths.len(), 10);
    assert_eq!(
        m.hierarchy("memory"),
        Some(Hierarchy::V1(Path::new("/sys/fs/cgroup/memory/docker/abc")))
    );
    // hugetlb is not a v1 hierarchy here, but the unified mount offers it.
    assert_eq!(
        m.hierarchy("hugetlb"),
        Some(Hierarchy::V2(Path::new(
            "/sys/fs/cgroup/unified/docker/abc"
        )))
    );
    assert_eq!(m.hierarchy("io"), m.hierarchy("blkio"));
    assert_eq!(m.hierarchy("rdma"), None);
}

#[test]
fn relative_and_default_paths_follow_own_cgroup() {
    let (_fs, m) = hybrid(None, "c1");
    let s = m.state();
    assert_eq!(
        s.v1["memory"].1,
        Path::new("/sys/fs/cgroup/memory/process_api/9d/c1")
    );
    assert_eq!(s.v1["pids"].1, Path::new("/sys/fs/cgroup/pids/c1"));
    assert_eq!(
        s.v2.as_ref().unwrap().dir,
        Path::new("/sys/fs/cgroup/unified/c1")
    );
    let (_fs, m) = hybrid(Some("system.slice:docker:abc"), "abc");
    assert_eq!(
        m.state().v1["cpu"].1,
        Path::new("/sys/fs/cgroup/cpu/system.slice/docker-abc.scope")
    );
}

#[test]
fn apply_creates_joins_and_initialises_cpuset() {
    let (fs, m) = hybrid(Some("/berth/c1"), "c1");
    m.apply(4242).unwrap();
    for dir in m.paths() {
        assert!(fs.is_dir(&dir), "{}", dir.display());
        assert_eq!(
            fs.get(dir.join("cgroup.procs")).as_deref(),
            Some("4242"),
            "{}",
            dir.display()
        );
    }
    assert_eq!(
        fs.get("/sys/fs/cgroup/cpuset/berth/cpuset.cpus").as_deref(),
        Some("0-1")
    );
    assert_eq!(
        fs.get("/sys/fs/cgroup/cpuset/berth/c1/cpuset.mems")
            .as_deref(),
        Some("0")
    );
    // cpuset levels were filled before the pid went in.
    let w = fs.writes();
    let pos = |p: &str| w.iter().position(|(f, _)| f == p).unwrap();
    assert!(
        pos("/sys/fs/cgroup/cpuset/berth/c1/cpuset.cpus")
            < pos("/sys/fs/cgroup/cpuset/berth/c1/cgroup.procs")
    );
    // hugetlb delegated down the unified tree.
    assert!(w.contains(&(
        "/sys/fs/cgroup/unified/cgroup.subtree_control".into(),
        "+hugetlb".into()
    )));
}

#[test]
fn set_dispatches_each_controller_to_its_hierarchy() {
    let (fs, m) = hybrid(Some("/berth/c2"), "c2");
    m.apply(1).unwrap();
    fs.clear_writes();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .cpus("1")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(2 << 20)
            .build()
            .unwrap()])
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    let get = |p: &str| fs.get(p).unwrap_or_default();
    assert_eq!(
        get("/sys/fs/cgroup/memory/berth/c2/memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(get("/sys/fs/cgroup/cpu/berth/c2/cpu.shares"), "512");
    assert_eq!(get("/sys/fs/cgroup/cpuset/berth/c2/cpuset.cpus"), "1");
    assert_eq!(get("/sys/fs/cgroup/pids/berth/c2/pids.max"), "10");
    assert_eq!(
        get("/sys/fs/cgroup/unified/berth/c2/hugetlb.2MB.max"),
        "2097152"
    );
    assert!(fs
        .writes_in("/sys/fs/cgroup/devices/berth/c2")
        .contains(&("devices.deny".into(), "a".into())));
}

#[test]
fn partial_update_writes_only_given_fields() {
    let (fs, m) = hybrid(Some("/berth/c3"), "c3");
    m.apply(1).unwrap();
    fs.clear_writes();
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(99).build().unwrap())
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(
        fs.writes(),
        [("/sys/fs/cgroup/pids/berth/c3/pids.max".into(), "99".into())]
    );
}

#[test]
fn missing_controller_is_an_error_only_when_asked_for() {
    let fs = FakeFs::new();
    fs.set(
        "/proc/self/mountinfo",
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
    );
    fs.set("/proc/self/cgroup", "4:memory:/\n");
    fs.mount("/sys/fs/cgroup/memory", &[("cgroup.procs", "")]);
    let m = Manager::with_fs(Arc::new(fs), Some("/x"), "x").unwrap();
    let empty = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().build().unwrap())
        .build()
        .unwrap();
    m.set(&empty).unwrap();
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    let err = m.set(&r).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerMissing {
                controller: "pids",
                ..
            }
        ),
        "{err}"
    );
    assert!(m.freeze(FreezerState::Frozen).is_err());
}

#[test]
fn freeze_pids_stats_remove() {
    let (fs, m) = hybrid(Some("/berth/c4"), "c4");
    m.apply(77).unwrap();
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(
        fs.get("/sys/fs/cgroup/freezer/berth/c4/freezer.state")
            .as_deref(),
        Some("FROZEN")
    );
    assert_eq!(m.freezer_state().unwrap(), FreezerState::Frozen);
    fs.set("/sys/fs/cgroup/pids/berth/c4/cgroup.procs", "77\n78\n");
    fs.set("/sys/fs/cgroup/pids/berth/c4/sub/cgroup.procs", "79\n");
    assert_eq!(m.pids().unwrap(), [77, 78, 79]);
    fs.set("/sys/fs/cgroup/pids/berth/c4/pids.current", "3\n");
    let st = m.stats().unwrap();
    assert_eq!(st.pids.current, 3);
    assert_eq!(st.cpu.usage.total, 1000);
    assert_eq!(st.memory.usage.usage, 4096);
    assert_eq!(st.cpuset.cpus, [0, 1]);
    assert!(st.hugetlb.contains_key("2MB"));
    m.remove().unwrap();
    for dir in m.paths() {
        assert!(!fs.is_dir(&dir), "{} left", dir.display());
    }
    assert!(m.stats().is_err(), "stats of a removed cgroup");
    // `/berth` was made by apply for this container alone: gone too.
    assert!(!fs.is_dir("/sys/fs/cgroup/pids/berth"));
    assert!(fs.is_dir("/sys/fs/cgroup/pids"));
    // Idempotent: delete after a crash halfway.
    m.remove().unwrap();
    assert!(m.pids().unwrap().is_empty());
}

#[test]
fn pure_v2_host() {
    let fs = FakeFs::new();
    fs.set(
        "/proc/self/mountinfo",
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
    );
    fs.set("/proc/self/cgroup", "0::/user.slice/session-1.scope\n");
    fs.mount(
        "/sys/fs/cgroup",
        &[
            ("cgroup.procs", ""),
            ("cgroup.controllers", ""),
            ("cgroup.subtree_control", ""),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
            ("memory.max", "max"),
            ("memory.swap.max", "max"),
            ("cpu.weight", "100"),
            ("cpu.max", "max 100000"),
            ("pids.max", "max"),
            ("cpu.stat", "usage_usec 5\n"),
        ],
    );
    fs.set(
        "/sys/fs/cgroup/cgroup.controllers",
        "cpuset cpu io memory pids\n",
    );
    fs.set(
        "/sys/fs/cgroup/user.slice/cgroup.controllers",
        "cpu memory pids\n",
    );
    fs.set("/sys/fs/cgroup/user.slice/cgroup.subtree_control", "");
    let fs = Arc::new(fs);
    let m = Manager::with_fs(fs.clone(), None, "c5").unwrap();
    let dir = Path::new("/sys/fs/cgroup/user.slice/c5");
    assert_eq!(m.paths(), [dir.to_path_buf()]);
    assert_eq!(m.hierarchy("memory"), Some(Hierarchy::V2(dir)));
    m.apply(9).unwrap();
    assert!(fs.writes().contains(&(
        "/sys/fs/cgroup/user.slice/cgroup.subtree_control".into(),
        "+memory".into()
    )));
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100)
                .swap(300)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(2u64)
                .quota(1000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert_eq!(fs.get(dir.join("memory.max")).as_deref(), Some("100"));
    assert_eq!(fs.get(dir.join("memory.swap.max")).as_deref(), Some("200"));
    assert_eq!(fs.get(dir.join("cpu.weight")).as_deref(), Some("1"));
    assert_eq!(fs.get(dir.join("cpu.max")).as_deref(), Some("1000"));
    m.freeze(FreezerState::Frozen).unwrap();
    assert_eq!(fs.get(dir.join("cgroup.freeze")).as_deref(), Some("1"));
    assert_eq!(m.stats().unwrap().cpu.usage.total, 5000);
    // Devices on v2: an eBPF program on the container's directory, no file writes.
    fs.clear_writes();
    let r = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .typ(LinuxDeviceType::A)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.set(&r).unwrap();
    assert!(fs.writes().is_empty());
    let progs = fs.device_filters();
    assert_eq!(progs.len(), 1);
    assert_eq!(progs[0].0, dir.display().to_string());
}

#[test]
fn remove_deletes_parents_it_created_unless_shared() {
    let (fs, m) = hybrid(Some("/new/deep/c7"), "c7");
    m.apply(5).unwrap();
    assert!(m
        .state()
        .created_parents
        .contains(&PathBuf::from("/sys/fs/cgroup/memory/new/deep")));
    // Another container appears next to ours in one hierarchy.
    fs.set("/sys/fs/cgroup/pids/new/deep/other/cgroup.procs", "");
    // A later verb rebuilt from the recorded state cleans up the same way.
    let later = Manager {
        fs: fs.clone(),
        state: m.state(),
        created: Mutex::new(m.state().created_parents),
    };
    later.remove().unwrap();
    assert!(!fs.is_dir("/sys/fs/cgroup/memory/new"));
    assert!(!fs.is_dir("/sys/fs/cgroup/unified/new"));
    assert!(fs.is_dir("/sys/fs/cgroup/pids/new/deep/other"));
    assert!(!fs.is_dir("/sys/fs/cgroup/pids/new/deep/c7"));
    // Pre-existing parents are never removed.
    let (fs, m) = hybrid(Some("/berth/c8"), "c8");
    fs.set("/sys/fs/cgroup/memory/berth/cgroup.procs", "");
    m.apply(5).unwrap();
    m.remove().unwrap();
    assert!(fs.is_dir("/sys/fs/cgroup/memory/berth"));
    assert!(!fs.is_dir("/sys/fs/cgroup/pids/berth"));
}

#[test]
fn state_round_trips_through_json() {
    let (_fs, m) = hybrid(Some("/berth/c6"), "c6");
    let json = serde_json::to_string(&m.state()).unwrap();
    let back: ManagerState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m.state());
    assert_eq!(Manager::from_state(back).paths(), m.paths());
}

#[test]
fn invalid_cgroups_path_is_rejected() {
    let fs = hybrid_fs();
    let err = Manager::with_fs(fs, Some("/"), "x").unwrap_err();
    assert!(err.to_string().contains("cgroupsPath"), "{err}");
}

/// Root tests against the kernel. They need root and a cgroup hierarchy, and some a
/// host layout (a controller on v1, a cgroup2 mount); a missing one fails the test
/// (see `crate::requirements`).
mod kernel {
    use super::*;
    use crate::requirements::{self, host_has, host_lacks, Requirement};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};

    fn ready() -> bool {
        requirements::met(&[Requirement::Root, Requirement::CgroupFs])
    }

    fn unique(tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("berth-cgtest-{tag}-{}-{nanos}", std::process::id())
    }

    /// Kills the child, thaws, removes the container's cgroups and the test's parent
    /// directory in every hierarchy — also when the test panics.
    struct Guard {
        mgr: Manager,
        child: Option<Child>,
        parents: Vec<PathBuf>,
    }

    impl Guard {
        fn new(path: Option<&str>, id: &str) -> Guard {
            let mgr = Manager::new(path, id).expect("manager");
            let parents = mgr
                .paths()
                .iter()
                .filter_map(|p| p.parent().map(Path::to_path_buf))
                .collect();
            Guard {
                mgr,
                child: None,
                parents,
            }
        }
        fn spawn(&mut self, args: &[&str]) -> i32 {
            let child = Command::new(args[0])
                .args(&args[1..])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn");
            let pid = child.id() as i32;
            self.child = Some(child);
            pid
        }
        /// Run `work` (shell) in a child only after it joined the cgroup, then
        /// leave it sleeping.
        fn spawn_joined(&mut self, work: &str) -> i32 {
            let script = format!("read x; {work}; echo done; exec sleep 1000");
            let pid = self.spawn(&["sh", "-c", &script]);
            self.mgr.apply(pid).unwrap();
            let child = self.child.as_mut().unwrap();
            child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "done");
            pid
        }
        fn kill(&mut self) {
            if let Some(mut c) = self.child.take() {
                let _ = self.mgr.freeze(FreezerState::Thawed);
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            self.kill();
            let _ = self.mgr.remove();
            for p in &self.parents {
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("berth-cgtest-"))
                {
                    let _ = std::fs::remove_dir(p);
                }
            }
        }
    }

    fn read(p: impl AsRef<Path>) -> String {
        std::fs::read_to_string(p.as_ref())
            .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
            .trim()
            .to_string()
    }

    fn proc_state(pid: i32) -> char {
        let stat = read(format!("/proc/{pid}/stat"));
        // Field 3, after the parenthesised command name.
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .unwrap_or('?')
    }

    fn wait_state(pid: i32, want: char) -> char {
        for _ in 0..200 {
            let s = proc_state(pid);
            if s == want {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        proc_state(pid)
    }

    #[test]
    fn lifecycle_on_the_real_kernel() {
        if !ready() {
            return;
        }
        let name = unique("life");
        let path = format!("/{name}/ctr");
        let mut g = Guard::new(Some(&path), "ctr");
        // Some CPU time inside the cgroup, for the stats below.
        let pid = g.spawn_joined("i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done");

        // The kernel's view: the child is in our cgroup in every hierarchy.
        let cg = read(format!("/proc/{pid}/cgroup"));
        for line in cg.lines() {
            assert!(line.ends_with(&path), "{line} (all: {cg})");
        }

        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .reservation(32 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(50_000)
                    .period(100_000u64)
                    .cpus("0")
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(20).build().unwrap())
            .devices(vec![LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap()])
            .build()
            .unwrap();
        g.mgr.set(&r).unwrap();
        match g.mgr.hierarchy("memory") {
            Some(Hierarchy::V1(d)) => {
                assert_eq!(read(d.join("memory.limit_in_bytes")), "67108864");
                assert_eq!(read(d.join("memory.soft_limit_in_bytes")), "33554432");
            }
            Some(Hierarchy::V2(d)) => {
                assert_eq!(read(d.join("memory.max")), "67108864");
                assert_eq!(read(d.join("memory.low")), "33554432");
            }
            None => panic!("no memory controller"),
        }
        match g.mgr.hierarchy("cpu") {
            Some(Hierarchy::V1(d)) => {
                assert_eq!(read(d.join("cpu.shares")), "512");
                assert_eq!(read(d.join("cpu.cfs_quota_us")), "50000");
                assert_eq!(read(d.join("cpu.cfs_period_us")), "100000");
            }
            Some(Hierarchy::V2(d)) => assert_eq!(read(d.join("cpu.max")), "50000 100000"),
            None => panic!("no cpu controller"),
        }
        if let Some(Hierarchy::V1(d) | Hierarchy::V2(d)) = g.mgr.hierarchy("cpuset") {
            assert_eq!(read(d.join("cpuset.cpus")), "0");
        }
        if let Some(Hierarchy::V1(d) | Hierarchy::V2(d)) = g.mgr.hierarchy("pids") {
            assert_eq!(read(d.join("pids.max")), "20");
        }
        if let Some(Hierarchy::V1(d)) = g.mgr.hierarchy("devices") {
            let list = read(d.join("devices.list"));
            assert!(list.contains("c 1:3 rwm"), "{list}");
            assert!(!list.contains("a *:* rwm"), "{list}");
        }

        // update: partial resources change only what they name.
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(32 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        g.mgr.set(&r).unwrap();
        if let Some(Hierarchy::V1(d)) = g.mgr.hierarchy("memory") {
            assert_eq!(read(d.join("memory.limit_in_bytes")), "33554432");
            assert_eq!(read(d.join("memory.soft_limit_in_bytes")), "33554432");
        }
        if let Some(Hierarchy::V1(d)) = g.mgr.hierarchy("cpu") {
            assert_eq!(read(d.join("cpu.shares")), "512");
        }

        assert_eq!(g.mgr.pids().unwrap(), [pid]);

        g.mgr.freeze(FreezerState::Frozen).unwrap();
        assert_eq!(g.mgr.freezer_state().unwrap(), FreezerState::Frozen);
        assert_eq!(wait_state(pid, 'D'), 'D', "frozen task state");
        g.mgr.freeze(FreezerState::Thawed).unwrap();
        assert_eq!(g.mgr.freezer_state().unwrap(), FreezerState::Thawed);
        assert_eq!(wait_state(pid, 'S'), 'S', "thawed task state");

        let st = g.mgr.stats().unwrap();
        assert_eq!(st.pids.current, 1);
        assert_eq!(st.pids.limit, 20);
        assert_eq!(st.memory.usage.limit, 32 << 20);
        assert!(st.memory.usage.usage < 32 << 20);
        assert!(!st.memory.raw.is_empty());
        assert!(st.cpu.usage.total > 0, "{:?}", st.cpu);
        assert!(st.cpu.usage.total < 10_000_000_000, "{:?}", st.cpu);
        let ev = serde_json::to_value(st.into_event("ctr")).unwrap();
        assert_eq!(ev["type"], "stats");
        assert_eq!(ev["data"]["pids"]["limit"], 20);

        g.kill();
        g.mgr.remove().unwrap();
        for dir in g.mgr.paths() {
            assert!(!dir.exists(), "{} left behind", dir.display());
            // The test's own parent was created by apply: gone too.
            let parent = dir.parent().unwrap();
            assert!(!parent.exists(), "{} left behind", parent.display());
        }
        assert!(g.mgr.pids().unwrap().is_empty());
    }

    #[test]
    fn default_path_is_relative_to_own_cgroup_and_removed() {
        if !ready() {
            return;
        }
        let id = unique("rel");
        let mut g = Guard::new(None, &id);
        let pid = g.spawn(&["sleep", "1000"]);
        g.mgr.apply(pid).unwrap();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let cg = read(format!("/proc/{pid}/cgroup"));
        for line in cg.lines().filter(|l| !l.starts_with("0::")) {
            let ctrl = line.split(':').nth(1).unwrap_or("");
            let mine = own
                .lines()
                .find(|l| l.split(':').nth(1) == Some(ctrl))
                .and_then(|l| l.splitn(3, ':').nth(2))
                .unwrap_or("/");
            let want = Path::new(mine).join(&id);
            assert!(
                line.ends_with(&want.display().to_string()),
                "{line} vs {}",
                want.display()
            );
        }
        g.kill();
        g.mgr.remove().unwrap();
        for dir in g.mgr.paths() {
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }

    #[test]
    fn memory_limit_below_usage_is_a_clear_error() {
        if !ready() {
            return;
        }
        let name = unique("oom");
        let mut g = Guard::new(Some(&format!("/{name}/ctr")), "ctr");
        // v2's memory.max reclaims instead of refusing: only v1 shows this error.
        let v1_memory = matches!(g.mgr.hierarchy("memory"), Some(Hierarchy::V1(_)));
        if !host_has(
            v1_memory,
            "the memory controller on cgroup v1 (a v1 or hybrid host)",
        ) {
            return;
        }
        let shm = format!("/dev/shm/{name}");
        struct Rm(String);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let _rm = Rm(shm.clone());
        // The child charges 8 MiB of shmem (unreclaimable without swap) once it is
        // in the cgroup.
        g.spawn_joined(&format!("head -c 8388608 /dev/zero > {shm}"));
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let err = g.mgr.set(&r).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, CgroupError::MemoryBelowUsage { usage, .. } if usage >= 8 << 20),
            "{msg}"
        );
        assert!(msg.contains("1048576"), "{msg}");
    }

    #[test]
    fn clamped_cpu_shares_are_refused() {
        if !ready() {
            return;
        }
        let name = unique("shares");
        let mut g = Guard::new(Some(&format!("/{name}/ctr")), "ctr");
        let v1_cpu = matches!(g.mgr.hierarchy("cpu"), Some(Hierarchy::V1(_)));
        if !host_has(
            v1_cpu,
            "the cpu controller on cgroup v1 (a v1 or hybrid host)",
        ) {
            return;
        }
        let pid = g.spawn(&["sleep", "1000"]);
        g.mgr.apply(pid).unwrap();
        let r = LinuxResourcesBuilder::default()
            .cpu(LinuxCpuBuilder::default().shares(1u64).build().unwrap())
            .build()
            .unwrap();
        let msg = g.mgr.set(&r).unwrap_err().to_string();
        assert!(
            msg.contains("cpu.shares") && msg.contains("clamped it to 2"),
            "{msg}"
        );
    }

    #[test]
    fn hugetlb_limit_through_whichever_hierarchy_has_it() {
        if !ready() {
            return;
        }
        let name = unique("huge");
        let mut g = Guard::new(Some(&format!("/{name}/ctr")), "ctr");
        let Some(h) = g.mgr.hierarchy("hugetlb") else {
            host_lacks("a hugetlb controller (CONFIG_CGROUP_HUGETLB)");
            return;
        };
        let file = match h {
            Hierarchy::V1(d) => d.join("hugetlb.2MB.limit_in_bytes"),
            Hierarchy::V2(d) => d.join("hugetlb.2MB.max"),
        };
        let pid = g.spawn(&["sleep", "1000"]);
        g.mgr.apply(pid).unwrap();
        let r = LinuxResourcesBuilder::default()
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(4 << 20)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        g.mgr.set(&r).unwrap();
        assert_eq!(read(&file), "4194304");
        assert!(g.mgr.stats().unwrap().hugetlb.contains_key("2MB"));
    }

    /// A child in a fresh cgroup2 directory (hybrid: the unified mount) runs
    /// `script` once it is inside; returns its whole stdout.
    fn run_in_v2(dir: &Path, script: &str) -> String {
        let mut child = Command::new("sh")
            .args(["-c", &format!("read x; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        struct Reap(Child);
        impl Drop for Reap {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let pid = child.id();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let _reap = Reap(child);
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        stdin.write_all(b"go\n").unwrap();
        drop(stdin);
        let mut out = String::new();
        for line in BufReader::new(stdout).lines() {
            out.push_str(&line.unwrap());
            out.push('\n');
        }
        out
    }

    #[test]
    fn v2_device_filter_on_the_real_kernel() {
        if !ready() {
            return;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let Some(v2) = Layout::parse_mountinfo(&mountinfo).v2 else {
            host_lacks("a cgroup2 mount (a v2 or hybrid host)");
            return;
        };
        struct Dir(PathBuf);
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = fs::remove_tree(&RealFs, &self.0);
            }
        }
        let dir = Dir(v2.point.join(unique("bpf")));
        std::fs::create_dir(&dir.0).unwrap();
        let script = "true < /dev/null && echo null-ok; true < /dev/kmsg && echo kmsg-ok; echo end";

        // Control: without a filter both opens work.
        let out = run_in_v2(&dir.0, script);
        assert_eq!(out, "null-ok\nkmsg-ok\nend\n");

        let deny_all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        v2::devices::set(&RealFs, &dir.0, &[deny_all]).unwrap();
        let out = run_in_v2(&dir.0, script);
        assert_eq!(out, "null-ok\nend\n", "kmsg must be denied, null allowed");

        // An update replaces the program instead of stacking a second one.
        let allow_kmsg = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(11)
            .access("r")
            .build()
            .unwrap();
        v2::devices::set(&RealFs, &dir.0, &[allow_kmsg]).unwrap();
        let out = run_in_v2(&dir.0, script);
        assert_eq!(out, "null-ok\nkmsg-ok\nend\n");
    }

    #[test]
    fn v2_freezer_on_the_real_kernel() {
        if !ready() {
            return;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let Some(v2) = Layout::parse_mountinfo(&mountinfo).v2 else {
            host_lacks("a cgroup2 mount (a v2 or hybrid host)");
            return;
        };
        struct Cleanup(PathBuf, Child);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::write(self.0.join("cgroup.freeze"), "0");
                let _ = self.1.kill();
                let _ = self.1.wait();
                let _ = fs::remove_tree(&RealFs, &self.0);
            }
        }
        let dir = v2.point.join(unique("v2freeze"));
        std::fs::create_dir(&dir).unwrap();
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = child.id() as i32;
        let c = Cleanup(dir, child);
        std::fs::write(c.0.join("cgroup.procs"), pid.to_string()).unwrap();
        let mut pids = Vec::new();
        fs::procs_recursive(&RealFs, &c.0, &mut pids).unwrap();
        assert_eq!(pids, [pid]);
        v2::freezer::set(&RealFs, &c.0, FreezerState::Frozen).unwrap();
        assert_eq!(
            v2::freezer::get(&RealFs, &c.0).unwrap(),
            FreezerState::Frozen
        );
        assert!(read(c.0.join("cgroup.events")).contains("frozen 1"));
        // A v2-frozen task sleeps in the kernel's freezer: state S, not running.
        assert_ne!(proc_state(pid), 'R');
        v2::freezer::set(&RealFs, &c.0, FreezerState::Thawed).unwrap();
        assert!(read(c.0.join("cgroup.events")).contains("frozen 0"));
        assert_eq!(wait_state(pid, 'S'), 'S');
    }
}
