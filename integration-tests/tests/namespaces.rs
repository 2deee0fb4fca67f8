//! OCI runtime spec, config-linux "Namespaces", "User namespace mappings" and
//! the "Hostname"/"Domainname" fields of config: each namespace type listed is
//! new (or joined by `path`), each type not listed is the runtime's own.

use anyhow::ensure;
use berth_integration_tests::{conformance, Bundle, Driver, Report};
use serde_json::json;

fn host_ns(ns: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn check_new(r: &Report, ns: &str) -> anyhow::Result<()> {
    let inside = r.str(&format!("/ns/{ns}"));
    ensure!(!inside.is_empty(), "no {ns} ns link inside");
    ensure!(
        inside != host_ns(ns),
        "{ns} namespace is the host's ({inside})"
    );
    Ok(())
}

fn check_shared(r: &Report, ns: &str) -> anyhow::Result<()> {
    let inside = r.str(&format!("/ns/{ns}"));
    ensure!(
        inside == host_ns(ns),
        "{ns} namespace {inside} is not the host's {}",
        host_ns(ns)
    );
    Ok(())
}

fn user_ns_bundle(rt: berth_integration_tests::Runtime, name: &str) -> anyhow::Result<Bundle> {
    let mut b = Bundle::new(rt, name, &["/checker", "--probe", "/checker"])?;
    b.map_root_to(100000);
    Ok(b)
}

conformance! {
    /// pid, network, ipc, uts, mount and cgroup listed → all six are new;
    /// user and time not listed → the host's.
    fn listed_namespaces_are_new(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "nsnew", &["/checker"])?;
        let r = d.run_checker(&b)?;
        for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup"] {
            check_new(&r, ns)?;
        }
        check_shared(&r, "user")?;
        check_shared(&r, "time")?;
        ensure!(r.at("/pid") == 1, "init is not pid 1 in its pid namespace: {}", r.at("/pid"));
    }

    /// Namespaces left out of the list are shared with the runtime.
    fn unlisted_namespaces_are_shared(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "nsshared", &["/checker"])?;
        for ns in ["network", "ipc", "uts", "cgroup"] {
            b.drop_namespace(ns);
        }
        // sysfs needs a network namespace of our own; the host's /sys is fine here.
        if let Some(m) = b.config["mounts"].as_array_mut() {
            m.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
        }
        b.config.as_object_mut().map(|o| o.remove("hostname"));
        let r = d.run_checker(&b)?;
        for ns in ["net", "ipc", "uts", "cgroup"] {
            check_shared(&r, ns)?;
        }
        check_new(&r, "pid")?;
        check_new(&r, "mnt")?;
    }

    /// A user namespace with uid/gid maps: root inside is 100000 outside.
    fn user_namespace_mappings(rt) {
        let d = Driver::new(rt)?;
        let b = user_ns_bundle(rt, "userns")?;
        let r = d.run_checker(&b)?;
        check_new(&r, "user")?;
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(norm(r.str("/ns/uid_map")) == "0 100000 65536", "uid_map {}", r.str("/ns/uid_map"));
        ensure!(norm(r.str("/ns/gid_map")) == "0 100000 65536", "gid_map {}", r.str("/ns/gid_map"));
        ensure!(r.at("/uid") == 0 && r.at("/gid") == 0, "not root inside: {} {}", r.at("/uid"), r.at("/gid"));
        // The rootfs belongs to host root, which is unmapped: overflow id inside.
        ensure!(r.probe("/checker")["uid"] == 65534, "host root file owner inside: {}", r.probe("/checker"));
    }

    /// The time namespace (Linux 5.6) is created when listed.
    #[runc_fails = "runc 1.1.5 does not know the time namespace (added in runc 1.2)"]
    #[runc_shows = r#"namespace {\"time\" \"\"} does not exist"#]
    fn time_namespace(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "timens", &["/checker"])?;
        b.push("/linux/namespaces", json!({"type": "time"}));
        let r = d.run_checker(&b)?;
        check_new(&r, "time")?;
    }

    /// linux.timeOffsets shift the clocks of a new time namespace.
    #[runc_fails = "runc 1.1.5 does not know the time namespace or timeOffsets (added in runc 1.2)"]
    #[runc_shows = r#"namespace {\"time\" \"\"} does not exist"#]
    fn time_offsets(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "timeoff", &["/checker", "--read", "/proc/uptime"])?;
        b.push("/linux/namespaces", json!({"type": "time"}));
        b.set("/linux/timeOffsets", json!({"monotonic": {"secs": 86400, "nanosecs": 0}, "boottime": {"secs": 86400, "nanosecs": 0}}));
        let r = d.run_checker(&b)?;
        let up = |s: &str| s.split_whitespace().next().and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        let host = up(&std::fs::read_to_string("/proc/uptime")?);
        let inside = up(r.str("/files/~1proc~1uptime"));
        ensure!(inside > host + 80000.0, "uptime inside {inside}, host {host}");
    }

    /// A new network namespace gets its `lo` up, as runc brings it up for a
    /// network namespace without a path: IFF_UP in its sysfs flags, with and
    /// without a user namespace.
    fn new_network_namespace_has_lo_up(rt) {
        let d = Driver::new(rt)?;
        for userns in [false, true] {
            let mut b = Bundle::new(rt, "netlo", &["/checker", "--read", "/sys/class/net/lo/flags"])?;
            if userns {
                b = user_ns_bundle(rt, "netlouser")?;
                b.set("/process/args", json!(["/checker", "--read", "/sys/class/net/lo/flags"]));
            }
            let r = d.run_checker(&b)?;
            check_new(&r, "net")?;
            let text = r.str("/files/~1sys~1class~1net~1lo~1flags").trim().to_string();
            let flags = i64::from_str_radix(text.trim_start_matches("0x"), 16)
                .map_err(|e| anyhow::anyhow!("lo flags {text:?}: {e}"))?;
            ensure!(flags & 1 != 0, "user namespace {userns}: lo is down inside (flags {text})");
        }
    }

    /// Namespaces given by `path` are joined: a second container shares the
    /// first's network, ipc, uts and pid namespaces.
    fn join_by_path(rt) {
        let d = Driver::new(rt)?;
        let a = Bundle::new(rt, "nshold", &["/checker", "sleep", "60"])?;
        let ca = d.create(&a, &[])?;
        ca.start()?;
        let pid = ca.pid()?;
        let mut b = Bundle::new(rt, "nsjoin", &["/checker"])?;
        let kinds = [("network", "net"), ("ipc", "ipc"), ("uts", "uts"), ("pid", "pid")];
        for (kind, file) in kinds {
            b.drop_namespace(kind);
            b.push("/linux/namespaces", json!({"type": kind, "path": format!("/proc/{pid}/ns/{file}")}));
        }
        b.config.as_object_mut().map(|o| o.remove("hostname"));
        let r = d.run_checker(&b)?;
        for (_, file) in kinds {
            let want = std::fs::read_link(format!("/proc/{pid}/ns/{file}"))?.display().to_string();
            ensure!(r.str(&format!("/ns/{file}")) == want, "{file}: {} != {want}", r.str(&format!("/ns/{file}")));
        }
        ensure!(r.str("/hostname") == "berth-conformance", "uts not joined: hostname {}", r.str("/hostname"));
        ensure!(r.at("/pid") != 1, "pid namespace not joined (pid 1)");
    }

    /// A `path` to a namespace of another type is refused (network asked,
    /// ipc given), and nothing is left behind.
    fn join_path_of_wrong_type_fails(rt) {
        let d = Driver::new(rt)?;
        let a = Bundle::new(rt, "nswhold", &["/checker", "sleep", "60"])?;
        let ca = d.create(&a, &[])?;
        ca.start()?;
        let pid = ca.pid()?;
        let mut b = Bundle::new(rt, "nswrong", &["/checker"])?;
        b.drop_namespace("network");
        b.push("/linux/namespaces", json!({"type": "network", "path": format!("/proc/{pid}/ns/ipc")}));
        b.write()?;
        let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        let left = d.exec(&["state", b.id()])?;
        let _ = d.exec(&["delete", "--force", b.id()]);
        ensure!(!o.success(), "joining an ipc namespace as network succeeded");
        ensure!(!left.success(), "state left after the failed create");
    }

    /// The user, cgroup and mount namespaces can be joined by `path` too: a
    /// second container joins the first's user namespace (same id maps) and
    /// cgroup namespace.
    fn join_user_and_cgroup_by_path(rt) {
        let d = Driver::new(rt)?;
        let mut a = user_ns_bundle(rt, "usrhold")?;
        a.config["process"]["args"] = json!(["/checker", "sleep", "60"]);
        let ca = d.create(&a, &[])?;
        ca.start()?;
        let pid = ca.pid()?;
        let mut b = user_ns_bundle(rt, "usrjoin")?;
        for (kind, file) in [("user", "user"), ("cgroup", "cgroup")] {
            b.drop_namespace(kind);
            b.push("/linux/namespaces", json!({"type": kind, "path": format!("/proc/{pid}/ns/{file}")}));
        }
        let r = d.run_checker(&b)?;
        for file in ["user", "cgroup"] {
            let want = std::fs::read_link(format!("/proc/{pid}/ns/{file}"))?.display().to_string();
            ensure!(r.str(&format!("/ns/{file}")) == want, "{file}: {} != {want}", r.str(&format!("/ns/{file}")));
        }
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(norm(r.str("/ns/uid_map")) == "0 100000 65536", "uid_map {}", r.str("/ns/uid_map"));
    }

    /// hostname is set in the new uts namespace.
    fn hostname(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "uts", &["/checker"])?;
        b.set("/hostname", json!("berth-host"));
        let r = d.run_checker(&b)?;
        ensure!(r.str("/hostname") == "berth-host", "hostname {}", r.str("/hostname"));
    }

    /// domainname (spec 1.1) is set in the new uts namespace.
    #[runc_fails = "runc 1.1.5 ignores `domainname` (support came in runc 1.2)"]
    #[runc_shows = "domainname (none)"]
    fn domainname(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "domain", &["/checker"])?;
        b.set("/domainname", json!("berth.example"));
        let r = d.run_checker(&b)?;
        ensure!(r.str("/domainname") == "berth.example", "domainname {}", r.str("/domainname"));
    }
}
