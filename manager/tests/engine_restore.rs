//! What berthd does on start: finish what a crash left half-done, and apply
//! restart policies to containers that died while it was down. Root only.

mod engine_support;

use std::time::Duration;

use berthd::containers::{Container, Intent, Spec, State, Status};
use berthd::metadata::{Store, Table};
use engine_support::*;

#[tokio::test]
async fn a_create_cut_short_by_a_crash_is_cleaned_up() {
    let mut d = Daemon::start("restore-half").await;
    let c = d.busybox().await;
    drop(c);
    d.kill9();
    // What a crash between "record written" and "bundle written" leaves:
    // the record with its create intent.
    let id = "ab".repeat(32);
    let dir = d.root.join("containers").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("half"), "x").unwrap();
    let store = Store::open(&d.root).unwrap();
    let rec = Container {
        id: id.clone(),
        name: "half".into(),
        created: chrono::Utc::now(),
        spec: Spec {
            name: "half".into(),
            image: "busybox".into(),
            ..Default::default()
        },
        image_id: String::new(),
        path: "true".into(),
        args: vec![],
        env: vec![],
        working_dir: String::new(),
        user: String::new(),
        hostname: String::new(),
        stop_signal: "SIGTERM".into(),
        stop_timeout: 10,
        state: State {
            status: Status::Created,
            ..Default::default()
        },
        restart_count: 0,
        manually_stopped: false,
        intent: Some(Intent::Create),
        mounts: vec![],
        log_path: dir.join("log"),
        dir: dir.clone(),
        healthcheck: None,
    };
    store.put(Table::Containers, &id, &rec).unwrap();
    store.put(Table::ContainerNames, "half", &id).unwrap();
    drop(store);

    d.spawn().await;
    let c = d.client().await;
    assert!(c.containers().list(true, &[], 0).await.unwrap().is_empty());
    assert!(!dir.exists(), "the half-made directory is still there");
    // The name is free again.
    let mut s = spec(&["true"]);
    s.name = Some("half".into());
    c.containers().create(&s).await.unwrap();
}

#[tokio::test]
async fn always_restarts_a_container_that_died_while_berthd_was_down() {
    let mut d = Daemon::start("restore-always").await;
    let c = d.busybox().await;
    let mut s = spec(&["sleep", "100"]);
    s.restart_policy = berth_engine_api::RestartPolicy::Always;
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    let pid = c.containers().inspect(&id).await.unwrap().state.pid;
    drop(c);
    d.kill9();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(eventually(5, || !alive(pid)).await);
    d.spawn().await;
    let c = d.client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ct = c.containers().inspect(&id).await.unwrap();
        if ct.state.running && ct.state.pid != pid {
            assert!(ct.restart_count >= 1);
            assert!(alive(ct.state.pid));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not restarted: {:?}",
            ct.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.containers().remove(&id, true, false).await.unwrap();
}
