//! berthd end to end: `run` through engine-api against the real shim, runtime
//! and kernel. Root only.

mod engine_support;

use engine_support::*;

#[tokio::test]
async fn run_rm_prints_output_and_leaves_nothing_behind() {
    let d = Daemon::start("run-rm").await;
    let c = d.busybox().await;
    let mut s = spec(&["echo", "hello"]);
    s.auto_remove = true;
    let (id, out, code) = run(&c, s).await;
    assert_eq!(out.stdout(), "hello\n");
    assert_eq!(code, 0);
    assert!(c.containers().list(true, &[], 0).await.unwrap().is_empty());
    let err = c.containers().inspect(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.to_string(), format!("No such container: {id}"));
    assert!(
        mounts_under(&d.root).is_empty(),
        "{:?}",
        mounts_under(&d.root)
    );
    assert!(cgroups_of(&id).is_empty(), "{:?}", cgroups_of(&id));
    assert!(!d.root.join("containers").join(&id).exists());
    assert!(!d.state.join("shims").join(&id).exists());
    assert!(!d.state.join("runtime").join(&id).exists());
}

#[tokio::test]
async fn exit_code_and_both_streams_come_back() {
    let d = Daemon::start("run-exit").await;
    let c = d.busybox().await;
    let (id, out, code) = run(&c, spec(&["sh", "-c", "echo out; echo err >&2; exit 7"])).await;
    assert_eq!(out.stdout(), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(code, 7);
    let ct = c.containers().inspect(&id).await.unwrap();
    assert_eq!(ct.state.status, "exited");
    assert_eq!(ct.state.exit_code, 7);
    // Exited: its task is gone, the record and rootfs stay until rm.
    assert!(!d.state.join("shims").join(&id).exists());
    assert!(cgroups_of(&id).is_empty());
    c.containers().remove(&id, false, false).await.unwrap();
    assert!(mounts_under(&d.root).is_empty());
}

#[tokio::test]
async fn namespaces_and_hostname_are_the_containers_own() {
    let d = Daemon::start("run-ns").await;
    let c = d.busybox().await;
    let mut s = spec(&["sleep", "100"]);
    s.hostname = Some("box1".into());
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    let ct = c.containers().inspect(&id).await.unwrap();
    assert!(ct.state.running);
    let pid = ct.state.pid;
    assert!(alive(pid));
    for ns in ["pid", "net", "uts", "ipc", "mnt"] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(theirs, ours, "{ns} namespace is shared with the host");
    }
    // The kernel's view of the container's hostname.
    let exec = c.exec();
    let e = exec
        .create(
            &id,
            &berth_engine_api::ExecConfig {
                args: vec!["hostname".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut sess = exec.start(&e, false).await.unwrap();
    let mut out = Captured::default();
    while let Some(o) = sess.next().await {
        out.push(o.unwrap());
    }
    assert_eq!(out.stdout(), "box1\n");
    assert_eq!(sess.exit_code(), Some(0));
    // Its PID 1 is the one process of a fresh pid namespace.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    c.containers().remove(&id, true, false).await.unwrap();
    assert!(!alive(pid));
}

#[tokio::test]
async fn network_host_shares_the_hosts_network_namespace() {
    let d = Daemon::start("run-nethost").await;
    let c = d.busybox().await;
    let mut s = spec(&["sleep", "100"]);
    s.network_mode = berth_engine_api::NetworkMode::Host;
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    let pid = c.containers().inspect(&id).await.unwrap().state.pid;
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(theirs, host);
    c.containers().remove(&id, true, false).await.unwrap();
}

#[tokio::test]
async fn stop_says_why_it_had_to_kill_and_init_fixes_it() {
    let d = Daemon::start("run-stop").await;
    let c = d.busybox().await;
    // busybox sleep installs no SIGTERM handler: as PID 1 it ignores SIGTERM.
    let id = c
        .containers()
        .create(&spec(&["sleep", "100"]))
        .await
        .unwrap()
        .id;
    c.containers().start(&id).await.unwrap();
    let r = c.containers().stop(&id, Some(1)).await.unwrap();
    assert!(r.killed);
    assert!(
        r.reason.contains("has no handler for SIGTERM"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("--init"), "{}", r.reason);
    let ct = c.containers().inspect(&id).await.unwrap();
    assert_eq!(
        (ct.state.status.as_str(), ct.state.exit_code),
        ("exited", 137)
    );
    if std::path::Path::new("/usr/bin/docker-init").exists() {
        let mut s = spec(&["sleep", "100"]);
        s.init = true;
        let id = c.containers().create(&s).await.unwrap().id;
        c.containers().start(&id).await.unwrap();
        let r = c.containers().stop(&id, Some(5)).await.unwrap();
        assert!(!r.killed, "{}", r.reason);
    }
}

#[tokio::test]
async fn pause_freezes_and_unpause_thaws() {
    let d = Daemon::start("run-pause").await;
    let c = d.busybox().await;
    let id = c
        .containers()
        .create(&spec(&["sleep", "100"]))
        .await
        .unwrap()
        .id;
    c.containers().start(&id).await.unwrap();
    let pid = c.containers().inspect(&id).await.unwrap().state.pid;
    c.containers().pause(&id).await.unwrap();
    let ct = c.containers().inspect(&id).await.unwrap();
    assert!(ct.state.paused && ct.state.running);
    // The kernel's view: the process's freezer cgroup is FROZEN.
    assert_eq!(freezer_state(pid).as_deref(), Some("FROZEN"));
    let e = c.containers().pause(&id).await.unwrap_err();
    assert!(e.to_string().contains("is already paused"), "{e}");
    c.containers().unpause(&id).await.unwrap();
    assert!(!c.containers().inspect(&id).await.unwrap().state.paused);
    assert_eq!(freezer_state(pid).as_deref(), Some("THAWED"));
    // A paused container can be force-removed.
    c.containers().pause(&id).await.unwrap();
    c.containers().remove(&id, true, false).await.unwrap();
    assert!(!alive(pid));
}

/// `freezer.state` of the process's v1 freezer cgroup, or its v2 `cgroup.freeze`
/// as FROZEN/THAWED.
fn freezer_state(pid: i64) -> Option<String> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cg.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        if ctrls.split(',').any(|c| c == "freezer") {
            let p = format!("/sys/fs/cgroup/freezer{path}/freezer.state");
            return std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string());
        }
        if ctrls.is_empty() {
            let p = format!("/sys/fs/cgroup{path}/cgroup.freeze");
            if let Ok(v) = std::fs::read_to_string(p) {
                return Some(if v.trim() == "1" { "FROZEN" } else { "THAWED" }.to_string());
            }
        }
    }
    None
}
