//! The image side end to end on a real root: import the busybox rootfs made by
//! scripts/make-busybox-rootfs.sh, mount container rootfs (real overlayfs), save/load
//! round trips, list/tag/rmi/history, crash clean-up. Needs root.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use berthd::content::Digest;
use berthd::images::{Error, ImageFilters, ImageService, ImportOptions, RemoveAction};
use berthd::metadata::Store;
use berthd::snapshots::RootfsMount;

/// The busybox rootfs tar, built once per test binary by the real script.
fn busybox_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make-busybox-rootfs.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run make-busybox-rootfs.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    })
}

struct Root {
    dir: tempfile::TempDir,
    svc: ImageService,
}

fn root() -> Root {
    let dir = tempfile::Builder::new()
        .prefix("berth-images-")
        .tempdir()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let svc = ImageService::new(dir.path(), store).unwrap();
    Root { dir, svc }
}

fn import_busybox(r: &Root, name: &str) -> Digest {
    let opts = ImportOptions {
        changes: vec![
            r#"CMD ["sh"]"#.into(),
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "LABEL org.berth.test=busybox".into(),
        ],
        message: None,
    };
    r.svc.import(busybox_tar(), Some(name), &opts).unwrap().id
}

/// Unmounts on drop, so a failing assertion leaves no mount behind.
struct Mounted<'a>(&'a RootfsMount);
impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let _ = self.0.unmount();
    }
}

fn mounted_anywhere(p: &Path) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.to_str().unwrap()))
}

#[test]
fn busybox_import_then_container_rootfs_on_overlay() {
    let r = root();
    let id = import_busybox(&r, "busybox");
    let imgs = r.svc.list(&ImageFilters::default()).unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].repo_tags, vec!["busybox:latest"]);
    assert_eq!(imgs[0].id, id);

    let d = r.svc.inspect("busybox").unwrap();
    assert_eq!(d.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(d.os, "linux");
    assert_eq!(d.rootfs.layers.len(), 1);
    assert_eq!(d.rootfs.layers[0], Digest::of_bytes(busybox_tar()));
    assert!(d.size > 1_000_000, "size {}", d.size);
    // docker inspect's JSON shape.
    let json = serde_json::to_value(&d).unwrap();
    for k in ["Id", "RepoTags", "Created", "Config", "RootFS", "Size"] {
        assert!(json.get(k).is_some(), "missing {k} in {json}");
    }
    assert_eq!(json["RootFS"]["Type"], "layers");

    let res = r.svc.resolve(&id.as_str()[7..19]).unwrap();
    assert_eq!(res.id, id);
    let m = r.svc.snapshots().prepare("c1", res.top(), None).unwrap();
    m.mount().unwrap();
    let guard = Mounted(&m);
    let target = m.target();
    assert!(mounted_anywhere(&target));
    assert!(target.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_link(target.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(fs::read_to_string(target.join("etc/passwd"))
        .unwrap()
        .contains("nobody:x:65534"));
    // Writes go to the private upper dir, never to the shared layer.
    fs::write(target.join("etc/hostname"), "c1\n").unwrap();
    fs::remove_file(target.join("etc/group")).unwrap();
    assert!(m.upperdir().join("etc/hostname").is_file());
    let lower = &m.lowerdirs()[0];
    assert!(lower.join("etc/group").is_file());
    assert!(!lower.join("etc/hostname").exists());

    // A second container on the same image sees the image, not c1's changes.
    let m2 = r.svc.snapshots().prepare("c2", res.top(), None).unwrap();
    m2.mount().unwrap();
    let guard2 = Mounted(&m2);
    assert!(m2.target().join("etc/group").is_file());
    assert!(!m2.target().join("etc/hostname").exists());

    // Layers under a container survive a forced rmi.
    let acts = r
        .svc
        .remove("busybox", false, &|i| i == id.as_str())
        .unwrap_err();
    assert!(matches!(acts, Error::InUse { .. }), "{acts}");
    r.svc.remove("busybox", true, &|_| true).unwrap();
    assert!(lower.join("bin/busybox").is_file());

    drop(guard2);
    drop(guard);
    assert!(!mounted_anywhere(&target));
    r.svc.snapshots().remove("c1").unwrap();
    r.svc.snapshots().remove("c2").unwrap();
    r.svc.snapshots().remove("c2").unwrap(); // idempotent
    assert!(!r.dir.path().join("containers/c1").exists());
    // With the last container gone, gc drops the orphaned layer.
    r.svc.gc().unwrap();
    assert!(!lower.exists());
    assert!(r.svc.snapshots().list().unwrap().is_empty());
}

#[test]
fn remove_unmounts_a_mounted_rootfs() {
    let r = root();
    import_busybox(&r, "bb");
    let res = r.svc.resolve("bb").unwrap();
    let m = r.svc.snapshots().prepare("x1", res.top(), None).unwrap();
    let _g = Mounted(&m);
    m.mount().unwrap();
    m.mount().unwrap(); // idempotent
    assert!(m.is_mounted());
    assert!(r.svc.snapshots().prepare("x1", res.top(), None).is_err());
    r.svc.snapshots().remove("x1").unwrap();
    assert!(!mounted_anywhere(&m.target()));
    assert!(r.svc.snapshots().rootfs("x1").unwrap().is_none());
    assert!(!r.dir.path().join("containers/x1").exists());
    // The upper/work dirs went to the trash, which empties itself.
    let trash = || {
        fs::read_dir(r.dir.path().join("snapshots"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("trash-")
            })
            .count()
    };
    for _ in 0..100 {
        if trash() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(trash(), 0);
}

#[test]
fn save_load_round_trip_preserves_ids_and_bytes() {
    let a = root();
    let id = import_busybox(&a, "busybox");
    a.svc.tag("busybox", "localhost:5000/me/bb:v1").unwrap();
    let mut archive = Vec::new();
    a.svc
        .save(
            &["busybox".into(), "localhost:5000/me/bb:v1".into()],
            &mut archive,
        )
        .unwrap();

    // The docker-archive members docker load reads, and the OCI layout around them.
    let mut names = Vec::new();
    let mut manifest = None;
    let mut ar = tar::Archive::new(&archive[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let n = e.path().unwrap().display().to_string();
        if n == "manifest.json" {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            manifest = Some(s);
        }
        names.push(n);
    }
    for want in ["manifest.json", "repositories", "index.json", "oci-layout"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let manifest: serde_json::Value = serde_json::from_str(&manifest.unwrap()).unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", id.hex()));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["busybox:latest", "localhost:5000/me/bb:v1"])
    );

    let b = root();
    let loaded = b.svc.load(&archive[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(
        loaded[0].repo_tags,
        vec!["busybox:latest", "localhost:5000/me/bb:v1"]
    );
    assert_eq!(
        b.svc.resolve("busybox").unwrap().chain,
        a.svc.resolve("busybox").unwrap().chain
    );
    // Saving again from the loaded copy gives the very same bytes.
    let mut again = Vec::new();
    b.svc
        .save(
            &["busybox".into(), "localhost:5000/me/bb:v1".into()],
            &mut again,
        )
        .unwrap();
    assert!(again == archive, "re-saved archive differs");
    // Loading twice is harmless.
    b.svc.load(&archive[..]).unwrap();
    assert_eq!(b.svc.list(&ImageFilters::default()).unwrap().len(), 1);
}

/// docker < 25's layout: `<id>.json`, `<layer>/layer.tar`, a shared layer as a symlink,
/// gzip layers accepted too.
#[test]
fn load_legacy_docker_archive_with_symlinked_and_gzip_layers() {
    let layer1 = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", &b"hello\n"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let layer1_gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&layer1).unwrap();
        e.finish().unwrap()
    };
    let diff = Digest::of_bytes(&layer1);
    let cfg = |cmd: &str| {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-05-01T10:00:00Z",
            "config": {"Cmd": [cmd], "Env": null},
            "rootfs": {"type": "layers", "diff_ids": [diff]},
            "history": [{"created": "2024-05-01T10:00:00Z", "created_by": "ADD hello.txt /"}]
        }))
        .unwrap()
    };
    let (c1, c2) = (cfg("one"), cfg("two"));
    let (d1, d2) = (Digest::of_bytes(&c1), Digest::of_bytes(&c2));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": format!("{}.json", d1.hex()), "RepoTags": ["one:1"], "Layers": ["aaa/layer.tar"]},
        {"Config": format!("{}.json", d2.hex()), "RepoTags": null, "Layers": ["bbb/layer.tar"]},
    ]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&mut b, "aaa/layer.tar", &layer1_gz);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_cksum();
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar")
        .unwrap();
    add(&mut b, &format!("{}.json", d1.hex()), &c1);
    add(&mut b, &format!("{}.json", d2.hex()), &c2);
    add(&mut b, "manifest.json", &manifest);
    let archive = b.into_inner().unwrap();

    let r = root();
    let loaded = r.svc.load(&archive[..]).unwrap();
    let ids: Vec<&Digest> = loaded.iter().map(|i| &i.id).collect();
    assert_eq!(ids, vec![&d1, &d2]);
    assert_eq!(loaded[1].repo_tags, Vec::<String>::new());
    let res = r.svc.resolve("one:1").unwrap();
    assert_eq!(res.config.cmd, Some(vec!["one".to_string()]));
    // Both images share the single unpacked layer, stored uncompressed.
    assert_eq!(r.svc.snapshots().list().unwrap().len(), 1);
    assert!(r.svc.content().exists(&diff));
    let dangling = r
        .svc
        .list(&ImageFilters::parse(&["dangling=true"]).unwrap())
        .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].id, d2);
    let h = r.svc.history("one:1").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].created_by, "ADD hello.txt /");
    assert_eq!(h[0].size, layer1.len() as u64);
}

#[test]
fn hostile_or_corrupt_archives_load_nothing() {
    let r = root();
    let mk = |members: &[(&str, &[u8])]| {
        let mut b = tar::Builder::new(Vec::new());
        for (n, d) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, n, *d).unwrap();
        }
        b.into_inner().unwrap()
    };
    // manifest.json pointing outside the archive.
    let a = mk(&[(
        "manifest.json",
        br#"[{"Config":"../../etc/passwd","RepoTags":["x:1"],"Layers":[]}]"#,
    )]);
    assert!(r.svc.load(&a[..]).is_err());
    // A layer whose content does not match the config's diff ID.
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::of_bytes(b"something else")]}
    }))
    .unwrap();
    let layer = busybox_tar();
    let a = mk(&[
        ("c.json", &cfg),
        ("l/layer.tar", layer),
        (
            "manifest.json",
            br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#,
        ),
    ]);
    let err = r.svc.load(&a[..]).unwrap_err();
    assert!(
        err.to_string().contains("corrupt") || err.to_string().contains("diff"),
        "{err}"
    );
    // Not an archive at all.
    assert!(r
        .svc
        .load(&b"not a tar at all, just some bytes"[..])
        .is_err());
    // No manifest.json.
    assert!(r.svc.load(&mk(&[("x", b"y")])[..]).is_err());
    // A GNU long name claiming 8 GiB is refused before being read.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(8 << 30);
    h.set_cksum();
    let mut huge = h.as_bytes().to_vec();
    huge.extend_from_slice(&[0u8; 1024]);
    let err = r.svc.load(&huge[..]).unwrap_err();
    assert!(err.to_string().contains("extension header"), "{err}");
    // Long member names (GNU and PAX) are fine.
    let long = format!("{}/manifest.json", "d".repeat(150));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    b.append_data(&mut h, &long, &b"[]"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "manifest.json", &long).unwrap();
    assert_eq!(r.svc.load(&b.into_inner().unwrap()[..]).unwrap(), vec![]);
    // `import` of a hostile rootfs: refused, its blob dropped again.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..7].copy_from_slice(b"../evil");
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    let mut evil = h.as_bytes().to_vec();
    evil.extend_from_slice(&[0u8; 1024]);
    let err = r
        .svc
        .import(&evil[..], Some("evil"), &ImportOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");
    assert!(matches!(r.svc.inspect("evil"), Err(Error::NotFound(_))));

    assert!(r.svc.list(&ImageFilters::default()).unwrap().is_empty());
    assert!(r.svc.snapshots().list().unwrap().is_empty());
    assert!(r.svc.content().list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(r.svc.content().ingest_dir()).unwrap().count(),
        0
    );
}

#[test]
fn tags_filters_and_rmi_follow_docker() {
    let r = root();
    let id = import_busybox(&r, "busybox");
    r.svc.tag("busybox", "other:v2").unwrap();
    let two = r
        .svc
        .import(&[0u8; 1024][..], None, &ImportOptions::default())
        .unwrap();
    assert!(two.repo_tags.is_empty());

    let f = |s: &[&str]| r.svc.list(&ImageFilters::parse(s).unwrap()).unwrap();
    assert_eq!(f(&["reference=busy*"]).len(), 1);
    assert_eq!(f(&["reference=other:*"])[0].id, id);
    assert_eq!(f(&["reference=other:*"])[0].repo_tags, vec!["other:v2"]);
    assert_eq!(f(&["dangling=false"]).len(), 1);
    assert_eq!(f(&["label=org.berth.test=busybox"]).len(), 1);
    assert_eq!(f(&["label=org.berth.test=nope"]).len(), 0);
    assert_eq!(f(&[]).len(), 2);
    // Newest first: the empty import came last.
    assert_eq!(f(&[])[0].id, two.id);
    assert!(ImageFilters::parse(&["bogus=1"]).is_err());

    // Removing by ID with two tags needs force; by tag it just untags.
    let no = |_: &str| false;
    assert!(matches!(
        r.svc.remove(id.as_str(), false, &no),
        Err(Error::MultipleTags { .. })
    ));
    assert_eq!(
        r.svc.remove("other:v2", false, &no).unwrap(),
        vec![RemoveAction::Untagged("other:v2".into())]
    );
    let acts = r.svc.remove("busybox", false, &no).unwrap();
    assert_eq!(
        acts,
        vec![
            RemoveAction::Untagged("busybox:latest".into()),
            RemoveAction::Deleted(id.clone())
        ]
    );
    assert!(matches!(r.svc.inspect("busybox"), Err(Error::NotFound(_))));
    assert!(!r.svc.content().exists(&id));
    // Only the empty image's layer is left.
    assert_eq!(r.svc.snapshots().list().unwrap().len(), 1);
    assert!(r.svc.tag("nope", "x").is_err());
    assert!(r.svc.tag(two.id.as_str(), "Bad Name").is_err());
}

#[test]
fn gc_removes_what_a_crash_left_half_done() {
    let r = root();
    let id = import_busybox(&r, "busybox");
    // A half-written ingest, an unpack interrupted before its rename, an orphan blob.
    let mut w = r.svc.content().writer("pull-layer-1").unwrap();
    w.write_all(b"partial").unwrap();
    std::mem::forget(w);
    let orphan_dir = r.dir.path().join("snapshots/tmp-0123/fs/etc");
    fs::create_dir_all(&orphan_dir).unwrap();
    let orphan_blob = r.svc.content().put_bytes(b"nobody references me").unwrap();
    drop(r.svc);
    // Leftovers are what is older than the restarted daemon.
    std::thread::sleep(std::time::Duration::from_millis(300));

    // "Restart".
    let store = Store::open(r.dir.path()).unwrap();
    let svc = ImageService::new(r.dir.path(), store).unwrap();
    let rep = svc.gc().unwrap();
    assert_eq!(
        (rep.ingests, rep.blobs, rep.snapshots),
        (1, 1, 1),
        "{rep:?}"
    );
    assert!(!r.dir.path().join("content/ingest/pull-layer-1").exists());
    assert!(!r.dir.path().join("snapshots/tmp-0123").exists());
    assert!(!svc.content().exists(&orphan_blob));
    // The real image is intact.
    assert_eq!(svc.resolve("busybox").unwrap().id, id);
    let res = svc.resolve("busybox").unwrap();
    let snap = svc.snapshots().get(res.top().unwrap()).unwrap().unwrap();
    assert!(svc.snapshots().fs_dir(&snap).join("bin/busybox").is_file());
}

#[test]
fn commit_and_export_a_container() {
    let r = root();
    let base = import_busybox(&r, "busybox");
    let res = r.svc.resolve("busybox").unwrap();
    let m = r.svc.snapshots().prepare("cm1", res.top(), None).unwrap();
    m.mount().unwrap();
    let g = Mounted(&m);
    let t = m.target();
    fs::write(t.join("hello.txt"), "committed\n").unwrap();
    fs::remove_file(t.join("etc/group")).unwrap();
    fs::create_dir(t.join("data")).unwrap();
    fs::hard_link(t.join("hello.txt"), t.join("data/hello.link")).unwrap();

    // The same changes give the same diff.
    let (mut d1, mut d2) = (Vec::new(), Vec::new());
    r.svc.snapshots().diff("cm1", &mut d1).unwrap();
    r.svc.snapshots().diff("cm1", &mut d2).unwrap();
    assert!(d1 == d2);

    let opts = berthd::images::CommitOptions {
        reference: Some("snap:1".into()),
        changes: vec![r#"CMD ["cat", "/hello.txt"]"#.into()],
        message: Some("first commit".into()),
        ..Default::default()
    };
    let img = r.svc.commit("cm1", base.as_str(), &opts).unwrap();
    assert_eq!(img.repo_tags, vec!["snap:1"]);
    let d = r.svc.inspect("snap:1").unwrap();
    assert_eq!(d.rootfs.layers.len(), 2);
    assert_eq!(
        d.config.cmd,
        Some(vec!["cat".to_string(), "/hello.txt".to_string()])
    );
    assert_eq!(r.svc.history("snap:1").unwrap()[0].comment, "first commit");

    let mut exported = Vec::new();
    r.svc.snapshots().export("cm1", &mut exported).unwrap();
    let names: Vec<String> = tar::Archive::new(&exported[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "hello.txt"));
    assert!(!names.iter().any(|n| n == "etc/group"));
    drop(g);

    // A container of the committed image sees the changes, whiteout included.
    let res2 = r.svc.resolve("snap:1").unwrap();
    let m2 = r.svc.snapshots().prepare("cm2", res2.top(), None).unwrap();
    m2.mount().unwrap();
    let _g2 = Mounted(&m2);
    let t2 = m2.target();
    assert_eq!(
        fs::read_to_string(t2.join("hello.txt")).unwrap(),
        "committed\n"
    );
    assert_eq!(
        fs::read_to_string(t2.join("data/hello.link")).unwrap(),
        "committed\n"
    );
    assert!(!t2.join("etc/group").exists());
    assert!(t2.join("etc/passwd").exists());
    // export of an unmounted rootfs mounts it for the while.
    let mut again = Vec::new();
    r.svc.snapshots().export("cm1", &mut again).unwrap();
    assert!(!m.is_mounted());
    drop(_g2);
    r.svc.snapshots().remove("cm1").unwrap();
    r.svc.snapshots().remove("cm2").unwrap();
}

/// An OCI layout without manifest.json (skopeo's oci-archive), behind a multi-arch
/// index, with a gzip layer.
#[test]
fn load_oci_layout_with_multi_arch_index() {
    let a = root();
    let id = import_busybox(&a, "busybox");
    let mut archive = Vec::new();
    a.svc.save(&["busybox".into()], &mut archive).unwrap();

    // Re-pack: drop manifest.json/repositories, gzip the layer, wrap in an index.
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(&archive[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        members.push((name, data));
    }
    let get = |n: &str| {
        members
            .iter()
            .find(|(m, _)| m == n)
            .map(|(_, d)| d.clone())
            .unwrap()
    };
    let index: serde_json::Value = serde_json::from_slice(&get("index.json")).unwrap();
    let mdigest: Digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&get(&format!("blobs/sha256/{}", mdigest.hex()))).unwrap();
    let ldigest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&get(&format!("blobs/sha256/{}", ldigest.hex())))
            .unwrap();
        e.finish().unwrap()
    };
    let gzd = Digest::of_bytes(&gz);
    manifest["layers"][0]["digest"] = serde_json::json!(gzd);
    manifest["layers"][0]["size"] = serde_json::json!(gz.len());
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let md = Digest::of_bytes(&mbytes);
    let other = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "config": {"digest": gzd}, "layers": []}),
    )
    .unwrap();
    let od = Digest::of_bytes(&other);
    let list = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": od, "size": other.len(),
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mbytes.len(),
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    }))
    .unwrap();
    let ld = Digest::of_bytes(&list);
    let top = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": ld,
            "size": list.len(), "annotations": {"org.opencontainers.image.ref.name": "example.com/tools/bb:multi"}}]
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout".into(), &get("oci-layout"));
    add(
        format!("blobs/sha256/{}", id.hex()),
        &get(&format!("blobs/sha256/{}", id.hex())),
    );
    add(format!("blobs/sha256/{}", gzd.hex()), &gz);
    add(format!("blobs/sha256/{}", md.hex()), &mbytes);
    add(format!("blobs/sha256/{}", od.hex()), &other);
    add(format!("blobs/sha256/{}", ld.hex()), &list);
    add("index.json".into(), &top);
    let oci = b.into_inner().unwrap();

    let r = root();
    let loaded = r.svc.load(&oci[..]).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].repo_tags, vec!["example.com/tools/bb:multi"]);
    // The layer is stored uncompressed: its blob is the diff ID.
    assert!(r.svc.content().exists(&ldigest));
    assert!(!r.svc.content().exists(&gzd));

    // A blob that does not match its name is refused.
    let mut bad = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(top.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    bad.append_data(&mut h, "index.json", &top[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    bad.append_data(&mut h, format!("blobs/sha256/{}", ld.hex()), &b"bogus"[..])
        .unwrap();
    let err = r.svc.load(&bad.into_inner().unwrap()[..]).unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
}

/// The image verbs publish their events themselves (issue 6, point 5: not the
/// gRPC adapter); `prune` publishes none, as berth always did.
#[test]
fn image_verbs_publish_their_events_and_prune_does_not() {
    let dir = tempfile::Builder::new()
        .prefix("berth-images-")
        .tempdir()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let events = berthd::events::Events::new();
    let svc = ImageService::new(dir.path(), store)
        .unwrap()
        .with_events(events.clone());
    let (_, mut rx) = events.subscribe(0);
    let id = svc
        .import(busybox_tar(), Some("evbox"), &ImportOptions::default())
        .unwrap()
        .id;
    svc.tag("evbox", "evbox:2").unwrap();
    svc.remove("evbox:2", false, &|_| false).unwrap();
    let mut archive = Vec::new();
    svc.save(&["evbox".to_string()], &mut archive).unwrap();
    svc.remove("evbox", false, &|_| false).unwrap();
    let loaded = svc.load(archive.as_slice()).unwrap();
    assert_eq!(loaded[0].id, id);
    svc.remove("evbox", false, &|_| false).unwrap();
    let dangling = svc
        .import(busybox_tar(), None, &ImportOptions::default())
        .unwrap()
        .id;
    let pruned = svc.prune(false, &|_| false).unwrap();
    assert_eq!(pruned.deleted, std::slice::from_ref(&dangling));
    let mut got = Vec::new();
    while let Ok(e) = rx.try_recv() {
        let name = e.attributes.get("name").cloned().unwrap_or_default();
        got.push(format!("{} {} {name}", e.action, e.id));
    }
    let id = id.as_str();
    assert_eq!(
        got,
        [
            format!("import {id} evbox"),
            "tag evbox:2 evbox:2".to_string(),
            "untag evbox:2 evbox:2".to_string(),
            "untag evbox:latest evbox:latest".to_string(),
            format!("delete {id} "),
            format!("load {id} evbox:latest"),
            "untag evbox:latest evbox:latest".to_string(),
            format!("delete {id} "),
            format!("import {} ", dangling.as_str()),
        ]
    );
}
