//! `-it`: a pty container driven through attach, stdin and exit code; exec
//! with a tty. Root only.

mod engine_support;

use berth_engine_api::{ExecConfig, Input};
use engine_support::*;

#[tokio::test]
async fn interactive_tty_container_reads_stdin_and_reports_its_exit() {
    let d = Daemon::start("tty").await;
    let c = d.busybox().await;
    let mut s = spec(&["sh"]);
    s.tty = true;
    s.open_stdin = true;
    s.auto_remove = true;
    let id = c.containers().create(&s).await.unwrap().id;
    let mut a = c.containers().attach(&id, true, true, true).await.unwrap();
    c.containers().start(&id).await.unwrap();
    a.input
        .send(Input::Resize {
            width: 100,
            height: 40,
        })
        .await
        .unwrap();
    a.input
        .send(Input::Stdin(
            b"tty; stty size; echo mark-$((40+2)); exit 5\n".to_vec(),
        ))
        .await
        .unwrap();
    let mut out = Captured::default();
    while let Some(o) = a.next().await {
        out.push(o.unwrap());
    }
    let text = out.stdout();
    assert!(text.contains("mark-42"), "{text}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("40 100"), "{text}");
    assert!(out.stderr.is_empty(), "a tty merges stderr into stdout");
    let w = c.containers().wait(&id, "removed").await.unwrap();
    assert_eq!(w.exit_code, 5);
}

#[tokio::test]
async fn exec_with_and_without_tty() {
    let d = Daemon::start("exec").await;
    let c = d.busybox().await;
    let id = c
        .containers()
        .create(&spec(&["sleep", "100"]))
        .await
        .unwrap()
        .id;
    c.containers().start(&id).await.unwrap();
    let exec = c.exec();
    for tty in [false, true] {
        let e = exec
            .create(
                &id,
                &ExecConfig {
                    args: vec!["sh".into(), "-c".into(), "tty; echo err >&2; exit 3".into()],
                    tty,
                    env: vec!["X=1".into()],
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
        assert_eq!(sess.exit_code(), Some(3));
        if tty {
            assert!(out.stdout().contains("/dev/pts/"), "{}", out.stdout());
        } else {
            assert_eq!(out.stdout(), "not a tty\n");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
        }
    }
    // An exec in a stopped container is refused with docker's words.
    c.containers().kill(&id, "KILL").await.unwrap();
    c.containers().wait(&id, "not-running").await.unwrap();
    let e = exec
        .create(
            &id,
            &ExecConfig {
                args: vec!["true".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    // docker's words, naming the container as the user knows it; the reason is data.
    let name = c.containers().inspect(&id).await.unwrap().name;
    assert_eq!(e.to_string(), format!("Container {name} is not running"));
    assert_eq!(e.reason(), berth_engine_api::Reason::NotRunning);
}
