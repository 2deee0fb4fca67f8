//! Bad input gets docker's error and leaves nothing half-made. Root only.

mod engine_support;

use berth_engine_api::{ErrorKind, Reason};
use engine_support::*;

#[tokio::test]
async fn unknown_image_container_and_name_clash() {
    let d = Daemon::start("err").await;
    let c = d.busybox().await;
    let mut s = spec(&["true"]);
    s.image = "nosuchimage".into();
    let e = c.containers().create(&s).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.reason(), Reason::NoSuchImage);
    assert!(
        e.to_string().starts_with("No such image: nosuchimage"),
        "{e}"
    );

    let e = c
        .containers()
        .remove("nope", true, false)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "No such container: nope");

    let mut s = spec(&["true"]);
    s.name = Some("web".into());
    let id = c.containers().create(&s).await.unwrap().id;
    let e = c.containers().create(&s).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.reason(), Reason::AlreadyExists);
    assert_eq!(
        e.to_string(),
        format!("Conflict. The container name \"/web\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")
    );
    assert_eq!(c.containers().list(true, &[], 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_bind_source_leaves_no_container() {
    let d = Daemon::start("err-bind").await;
    let c = d.busybox().await;
    let mut s = spec(&["true"]);
    s.mounts.push(berth_engine_api::Mount {
        kind: berth_engine_api::MountKind::Bind,
        source: "/nonexistent/berth-test".into(),
        target: "/x".into(),
        read_only: false,
        tmpfs: Default::default(),
    });
    let e = c.containers().create(&s).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("bind source path does not exist"),
        "{e}"
    );
    assert!(c.containers().list(true, &[], 0).await.unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(d.root.join("containers"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    assert!(mounts_under(&d.root).is_empty());
}

#[tokio::test]
async fn no_command_is_a_clear_error() {
    let d = Daemon::start("err-cmd").await;
    let c = d.busybox().await;
    let e = c.containers().create(&spec(&[])).await.unwrap_err();
    assert!(e.to_string().starts_with("No command specified"), "{e}");
    assert!(c.containers().list(true, &[], 0).await.unwrap().is_empty());
}

/// The reason and the exit status of a failed start arrive as data: the
/// client never reads them out of the message.
#[tokio::test]
async fn exec_failures_carry_their_reason_and_exit_status() {
    let d = Daemon::start("err-exec").await;
    let c = d.busybox().await;
    for (cmd, reason, code) in [
        ("/no/such/binary", Reason::CommandNotFound, 127),
        ("/etc/passwd", Reason::CommandNotExecutable, 126),
    ] {
        let id = c.containers().create(&spec(&[cmd])).await.unwrap().id;
        let e = c.containers().start(&id).await.unwrap_err();
        assert_eq!(e.reason(), reason, "{cmd}: {e}");
        assert_eq!(e.exit_code(), Some(code), "{cmd}: {e}");
        // Named as the user knows it, no 64-hex id, no internal layers.
        let name = c.containers().inspect(&id).await.unwrap().name;
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("failed to start container {name}: ")),
            "{text}"
        );
        assert!(
            !text.contains(&id) && !text.contains("task ") && !text.contains("shim"),
            "{text}"
        );
        let state = c.containers().inspect(&id).await.unwrap().state;
        assert_eq!(state.exit_code, code, "{cmd}");
        assert!(!state.running);
        c.containers().remove(&id, true, false).await.unwrap();
    }
}

#[test]
fn malformed_daemon_json_stops_berthd_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, "{\"runtime\": ").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berthd"))
        .arg("--root")
        .arg(dir.path().join("root"))
        .arg("--state")
        .arg(dir.path().join("state"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("malformed daemon config"), "{err}");
    assert!(err.contains(&cfg.display().to_string()), "{err}");
    assert!(
        !dir.path().join("root").exists(),
        "berthd wrote its root before failing"
    );
}
