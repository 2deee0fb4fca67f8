//! The kernel's view from outside the container, without trusting the
//! checker: /proc/<pid>/status (credentials, capability sets, NoNewPrivs,
//! Seccomp), /proc/<pid>/ns/*, /proc/<pid>/mountinfo and the cgroup files,
//! read on the host while the container runs.

use anyhow::{ensure, Context};
use berth_integration_tests::report::cap_mask;
use berth_integration_tests::{cgroup, conformance, Bundle, Driver};
use serde_json::json;

fn status_field(pid: i64, name: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(|v| v.trim().to_string())
        .with_context(|| format!("no {name} in /proc/{pid}/status"))
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

conformance! {
    /// A running container's init as the host kernel sees it.
    fn init_seen_from_host(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "hostview", &["/checker", "sleep", "30"])?;
        b.set("/process/user", json!({"uid": 1234, "gid": 5678, "additionalGids": [91]}));
        b.set("/process/capabilities", json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}));
        b.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
        b.set("/linux/resources/pids", json!({"limit": 17}));
        let c = d.create(&b, &[])?;
        c.start()?;
        let pid = c.pid()?;
        ensure!(status_field(pid, "Uid")?.split_whitespace().all(|u| u == "1234"), "Uid {}", status_field(pid, "Uid")?);
        ensure!(status_field(pid, "Gid")?.split_whitespace().all(|g| g == "5678"), "Gid {}", status_field(pid, "Gid")?);
        ensure!(status_field(pid, "Groups")?.split_whitespace().any(|g| g == "91"), "Groups {}", status_field(pid, "Groups")?);
        let kill = format!("{:016x}", cap_mask(&["CAP_KILL"]));
        for set in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
            ensure!(status_field(pid, set)? == kill, "{set} {}", status_field(pid, set)?);
        }
        ensure!(status_field(pid, "CapBnd")? == format!("{:016x}", cap_mask(&["CAP_KILL", "CAP_CHOWN"])), "CapBnd");
        ensure!(status_field(pid, "NoNewPrivs")? == "1", "NoNewPrivs");
        ensure!(status_field(pid, "Seccomp")? == "2", "Seccomp {}", status_field(pid, "Seccomp")?);
        for kind in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
            let inside = ns(&pid.to_string(), kind);
            ensure!(!inside.is_empty() && inside != ns("self", kind), "{kind} ns of init is the host's");
        }
        ensure!(ns(&pid.to_string(), "user") == ns("self", "user"), "user ns should be the host's");
        // The container's / is the bundle's rootfs: same file through both.
        use std::os::unix::fs::MetadataExt;
        let inside = std::fs::metadata(format!("/proc/{pid}/root/checker"))?;
        let outside = std::fs::metadata(b.rootfs().join("checker"))?;
        ensure!(inside.dev() == outside.dev() && inside.ino() == outside.ino(), "init's root is not the bundle rootfs");
        ensure!(cgroup::read("pids", b.cgroups_path(), "pids.max")? == "17", "pids.max");
        let procs = cgroup::read("pids", b.cgroups_path(), "cgroup.procs")?;
        ensure!(procs.lines().any(|p| p == pid.to_string()), "init {pid} not in its cgroup: {procs}");
    }
}
