//! Logs options (tail, since, follow until exit, stderr apart) and the event
//! stream of a container's life. Root only.

mod engine_support;

use berth_engine_api::LogsOptions;
use engine_support::*;
use tokio_stream::StreamExt;

#[tokio::test]
async fn logs_tail_since_follow_and_streams() {
    let d = Daemon::start("logs").await;
    let c = d.busybox().await;
    let s = spec(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo out$i; done; echo oops >&2; sleep 1; echo late",
    ]);
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    // Follow until the container exits: every line, in order, then the end.
    let mut f = Box::pin(
        c.containers()
            .logs(
                &id,
                &LogsOptions {
                    follow: true,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    );
    let mut all = Vec::new();
    while let Some(e) = tokio::time::timeout(std::time::Duration::from_secs(10), f.next())
        .await
        .expect("follow did not end after the container exited")
    {
        let e = e.unwrap();
        all.push((
            e.stream.clone(),
            String::from_utf8_lossy(&e.line).trim_end().to_string(),
        ));
    }
    let lines: Vec<&str> = all.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        lines,
        ["out1", "out2", "out3", "out4", "out5", "oops", "late"]
    );
    assert_eq!(all[5].0, "stderr");

    let tail: Vec<String> = Box::pin(
        c.containers()
            .logs(
                &id,
                &LogsOptions {
                    tail: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    )
    .map(|e| {
        String::from_utf8_lossy(&e.unwrap().line)
            .trim_end()
            .to_string()
    })
    .collect()
    .await;
    assert_eq!(tail, ["oops", "late"]);

    let stdout_only: Vec<String> = Box::pin(
        c.containers()
            .logs(
                &id,
                &LogsOptions {
                    stderr: false,
                    tail: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    )
    .map(|e| {
        String::from_utf8_lossy(&e.unwrap().line)
            .trim_end()
            .to_string()
    })
    .collect()
    .await;
    assert_eq!(stdout_only, ["late"]);

    let future = chrono::Utc::now().timestamp_nanos_opt().unwrap() + 1_000_000_000;
    let none: Vec<_> = Box::pin(
        c.containers()
            .logs(
                &id,
                &LogsOptions {
                    since: future,
                    ..Default::default()
                },
            )
            .await
            .unwrap(),
    )
    .collect()
    .await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn events_follow_a_containers_life() {
    let d = Daemon::start("events").await;
    let c = d.busybox().await;
    let mut ev = Box::pin(
        c.events()
            .subscribe(&["type=container".to_string()], 0, 0)
            .await
            .unwrap(),
    );
    let mut s = spec(&["sh", "-c", "exit 2"]);
    s.auto_remove = true;
    s.name = Some("ev1".into());
    let (id, _, code) = run(&c, s).await;
    assert_eq!(code, 2);
    let mut actions = Vec::new();
    while actions.last().map(String::as_str) != Some("destroy") {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), ev.next())
            .await
            .expect("no destroy event")
            .unwrap()
            .unwrap();
        assert_eq!(e.id, id);
        assert_eq!(e.attributes.get("name").map(String::as_str), Some("ev1"));
        if e.action == "die" {
            assert_eq!(e.attributes.get("exitCode").map(String::as_str), Some("2"));
        }
        actions.push(e.action);
    }
    assert_eq!(actions, ["create", "start", "die", "destroy"]);
}
