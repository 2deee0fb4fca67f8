//! `cp` and `export`: files in and out of a container, never outside its
//! root. Root only.

mod engine_support;

use berth_engine_api::ExecConfig;
use engine_support::*;
use tokio_stream::StreamExt;

async fn exec_ok(c: &berth_engine_api::Client, id: &str, script: &str) -> String {
    let e = c
        .exec()
        .create(
            id,
            &ExecConfig {
                args: vec!["sh".into(), "-c".into(), script.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut s = c.exec().start(&e, false).await.unwrap();
    let mut out = Captured::default();
    while let Some(o) = s.next().await {
        out.push(o.unwrap());
    }
    assert_eq!(s.exit_code(), Some(0), "{script}: {}", out.stdout());
    out.stdout()
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses "..": write the raw name like a hostile archive would.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[tokio::test]
async fn copy_in_and_out_stays_inside_the_container() {
    let d = Daemon::start("cp").await;
    let c = d.busybox().await;
    let id = c
        .containers()
        .create(&spec(&["sleep", "100"]))
        .await
        .unwrap()
        .id;
    c.containers().start(&id).await.unwrap();

    // In: a file as a new name, seen by the running container.
    let tar = tar_of(&[("f.txt", b"hello in\n")]);
    c.containers()
        .copy_to(&id, "/tmp/renamed.txt", std::io::Cursor::new(tar))
        .await
        .unwrap();
    assert_eq!(exec_ok(&c, &id, "cat /tmp/renamed.txt").await, "hello in\n");

    // Out: the tar holds the file under its base name.
    let bytes: Vec<u8> = Box::pin(c.containers().copy_from(&id, "/etc/passwd").await.unwrap())
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await
        .concat();
    let mut a = tar::Archive::new(std::io::Cursor::new(bytes));
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["passwd"]);

    // A symlink to / inside the container resolves to the container's root.
    let marker = format!("berth-cp-escape-{}", std::process::id());
    exec_ok(&c, &id, "ln -s / /hostroot").await;
    let tar = tar_of(&[(marker.as_str(), b"x")]);
    c.containers()
        .copy_to(&id, "/hostroot/tmp", std::io::Cursor::new(tar))
        .await
        .unwrap();
    assert!(
        !std::path::Path::new("/tmp").join(&marker).exists(),
        "cp escaped to the host"
    );
    assert_eq!(exec_ok(&c, &id, &format!("cat /tmp/{marker}")).await, "x");

    // An archive entry with `..` is refused.
    let evil = tar_of(&[("../../../../evil", b"x")]);
    let e = c
        .containers()
        .copy_to(&id, "/tmp", std::io::Cursor::new(evil))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("outside"), "{e}");

    let e = c.containers().copy_from(&id, "/nonexistent").await;
    let e = match e {
        Err(e) => e,
        Ok(s) => Box::pin(s).next().await.unwrap().unwrap_err(),
    };
    assert!(
        e.to_string()
            .starts_with("Could not find the file /nonexistent"),
        "{e}"
    );
}

#[tokio::test]
async fn export_has_the_image_files_and_the_containers_changes() {
    let d = Daemon::start("export").await;
    let c = d.busybox().await;
    let (id, _, code) = run(&c, spec(&["sh", "-c", "echo mine > /made-here"])).await;
    assert_eq!(code, 0);
    let bytes: Vec<u8> = Box::pin(c.containers().export(&id).await.unwrap())
        .map(|r| r.unwrap())
        .collect::<Vec<_>>()
        .await
        .concat();
    let mut a = tar::Archive::new(std::io::Cursor::new(bytes));
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "made-here"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
}

#[tokio::test]
async fn commit_makes_an_image_of_the_containers_changes() {
    let d = Daemon::start("commit").await;
    let c = d.busybox().await;
    let mut s = spec(&["sh", "-c", "echo kept > /kept; sleep 100"]);
    s.env = vec!["FROM_RUN=1".into()];
    let id = c.containers().create(&s).await.unwrap().id;
    c.containers().start(&id).await.unwrap();
    assert!(
        eventually(5, || d
            .root
            .join("containers")
            .join(&id)
            .join("rootfs/kept")
            .exists())
        .await
    );
    // A running container is paused for the commit and runs on afterwards.
    let image = c
        .images()
        .commit(&id, "snap:1", &[], "my change", "", true)
        .await
        .unwrap();
    assert!(image.starts_with("sha256:"));
    let ct = c.containers().inspect(&id).await.unwrap();
    assert!(ct.state.running && !ct.state.paused);
    let mut r = spec(&["sh", "-c", "cat /kept; echo $FROM_RUN"]);
    r.image = "snap:1".into();
    r.auto_remove = true;
    let (_, out, code) = run(&c, r).await;
    assert_eq!((out.stdout().as_str(), code), ("kept\n1\n", 0));
    let e = c
        .images()
        .commit("nosuch", "", &[], "", "", true)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "No such container: nosuch");
}
