//! Restart policies and volumes. Root only.

mod engine_support;

use engine_support::*;

#[tokio::test]
async fn on_failure_restarts_up_to_the_limit() {
    let d = Daemon::start("restart").await;
    let c = d.busybox().await;
    let mut s = spec(&["sh", "-c", "echo run; exit 3"]);
    s.restart_policy = berth_engine_api::RestartPolicy::OnFailure { max_retries: 2 };
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let ct = c.containers().inspect(&id).await.unwrap();
        if ct.restart_count == 2 && ct.state.status == "exited" {
            assert_eq!(ct.state.exit_code, 3);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "state: {:?} restarts {}",
            ct.state,
            ct.restart_count
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Three runs: the first and two restarts, all in one log.
    let logs = std::fs::read_to_string(
        d.root
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    assert_eq!(logs.lines().count(), 3);
}

#[tokio::test]
async fn always_does_not_restart_what_the_user_stopped() {
    let d = Daemon::start("restart-stop").await;
    let c = d.busybox().await;
    let mut s = spec(&["sleep", "100"]);
    s.restart_policy = berth_engine_api::RestartPolicy::Always;
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    c.containers().stop(&id, Some(1)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let ct = c.containers().inspect(&id).await.unwrap();
    assert_eq!(ct.state.status, "exited");
    assert_eq!(ct.restart_count, 0);
}

#[tokio::test]
async fn named_volumes_persist_across_rm_and_are_shared() {
    let d = Daemon::start("vol").await;
    let c = d.busybox().await;
    let vol = berth_engine_api::Mount {
        kind: berth_engine_api::MountKind::Volume,
        source: "data".into(),
        target: "/data".into(),
        read_only: false,
        tmpfs: Default::default(),
    };
    let mut w = spec(&["sh", "-c", "echo persisted > /data/f"]);
    w.mounts.push(vol.clone());
    w.auto_remove = true;
    let (_, _, code) = run(&c, w).await;
    assert_eq!(code, 0);
    let mut r = spec(&["cat", "/data/f"]);
    r.mounts.push(vol.clone());
    let (id, out, code) = run(&c, r).await;
    assert_eq!((out.stdout().as_str(), code), ("persisted\n", 0));
    let v = c.volumes().inspect("data").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&v.mountpoint).join("f")).unwrap(),
        "persisted\n"
    );
    // In use: refused; after rm of the user: removable.
    assert!(c.volumes().remove("data", false).await.is_err());
    c.containers().remove(&id, false, false).await.unwrap();
    c.volumes().remove("data", false).await.unwrap();
    assert!(!std::path::Path::new(&v.mountpoint).exists());
}
