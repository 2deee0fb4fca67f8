//! Containers and their logs outlive a `kill -9` of berthd, and a new berthd
//! takes them back (live-restore). Root only.

mod engine_support;

use std::time::Duration;

use berth_engine_api::LogsOptions;
use engine_support::*;
use tokio_stream::StreamExt;

async fn log_lines(c: &berth_engine_api::Client, id: &str) -> Vec<String> {
    let mut s = Box::pin(
        c.containers()
            .logs(id, &LogsOptions::default())
            .await
            .unwrap(),
    );
    let mut lines = Vec::new();
    while let Some(e) = s.next().await {
        lines.push(
            String::from_utf8_lossy(&e.unwrap().line)
                .trim_end()
                .to_string(),
        );
    }
    lines
}

#[tokio::test]
async fn container_and_logs_survive_a_daemon_crash() {
    let mut d = Daemon::start("lr").await;
    let c = d.busybox().await;
    let s = spec(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ]);
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    let pid = c.containers().inspect(&id).await.unwrap().state.pid;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(c);
    d.kill9();
    let before = std::fs::read_to_string(
        d.root
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap()
    .lines()
    .count();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(alive(pid), "the container died with berthd");
    d.spawn().await;
    let c = d.client().await;
    let ct = c.containers().inspect(&id).await.unwrap();
    assert!(
        ct.state.running,
        "not running after restart: {:?}",
        ct.state
    );
    assert_eq!(ct.state.pid, pid);
    let lines = log_lines(&c, &id).await;
    // ~20 lines were written while berthd was down; none may be missing.
    assert!(
        lines.len() >= before + 10,
        "{} lines, {before} before the crash",
        lines.len()
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l, &format!("tick {i}"));
    }
    // Still controllable.
    let r = c.containers().stop(&id, Some(5)).await.unwrap();
    assert!(!r.killed, "{}", r.reason);
    assert_eq!(
        c.containers().inspect(&id).await.unwrap().state.status,
        "exited"
    );
    assert!(!alive(pid));
    c.containers().remove(&id, false, false).await.unwrap();
    assert!(!d.state.join("shims").join(&id).exists());
    assert!(cgroups_of(&id).is_empty());
}

#[tokio::test]
async fn an_exit_while_the_daemon_is_down_is_recorded() {
    let mut d = Daemon::start("lr-exit").await;
    let c = d.busybox().await;
    let id = c
        .containers()
        .create(&spec(&["sh", "-c", "sleep 0.5; echo bye; exit 5"]))
        .await
        .unwrap()
        .id;
    c.containers().start(&id).await.unwrap();
    drop(c);
    d.kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.spawn().await;
    let c = d.client().await;
    let ct = c.containers().inspect(&id).await.unwrap();
    assert_eq!(ct.state.status, "exited");
    assert_eq!(ct.state.exit_code, 5);
    assert_eq!(log_lines(&c, &id).await, vec!["bye".to_string()]);
    assert!(!d.state.join("shims").join(&id).exists());
}
