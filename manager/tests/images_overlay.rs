//! What the kernel shows through a container rootfs: OCI whiteouts and opaque dirs
//! hide lower content, and a deep chain under a long root still mounts (the overlay
//! options name layers relative to the root). Needs root.

use std::fs;
use std::path::Path;

use berthd::content::Digest;
use berthd::metadata::Store;
use berthd::snapshots::{RootfsMount, Snapshotter, UnpackOptions};

fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_mtime(1);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Unmount<'a>(&'a RootfsMount);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = self.0.unmount();
    }
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_files() {
    let dir = tempfile::Builder::new()
        .prefix("berth-ovl-")
        .tempdir()
        .unwrap();
    let snaps = Snapshotter::open(dir.path(), Store::open(dir.path()).unwrap()).unwrap();
    let o = UnpackOptions::default();
    let l1 = layer(&[
        ("etc/", b""),
        ("etc/a", b"a"),
        ("etc/b", b"b"),
        ("opt/", b""),
        ("opt/old1", b"1"),
        ("opt/sub/", b""),
        ("opt/sub/old2", b"2"),
    ]);
    let l2 = layer(&[
        ("etc/.wh.a", b""),
        ("opt/", b""),
        ("opt/.wh..wh..opq", b""),
        ("opt/new", b"n"),
    ]);
    let s1 = snaps
        .unpack(None, &Digest::of_bytes(&l1), &l1[..], &o)
        .unwrap();
    let s2 = snaps
        .unpack(Some(&s1.chain_id), &Digest::of_bytes(&l2), &l2[..], &o)
        .unwrap();
    let m = snaps.prepare("ovl", Some(&s2.chain_id), None).unwrap();
    m.mount().unwrap();
    let _u = Unmount(&m);
    let t = m.target();
    assert!(!t.join("etc/a").exists(), "whiteout did not hide etc/a");
    assert_eq!(fs::read(t.join("etc/b")).unwrap(), b"b");
    let mut opt: Vec<String> = fs::read_dir(t.join("opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    opt.sort();
    assert_eq!(opt, vec!["new"], "opaque dir leaked lower entries");
    // Deleting a lower file in the container leaves a whiteout in upper only.
    fs::remove_file(t.join("etc/b")).unwrap();
    assert!(snaps.fs_dir(&s1).join("etc/b").exists());
    drop(_u);
    snaps.remove("ovl").unwrap();
}

#[test]
fn deep_chain_under_a_long_root_mounts() {
    // A root path long enough that absolute lowerdirs of 60 layers would overflow the
    // one-page mount options.
    let base = tempfile::Builder::new()
        .prefix("berth-deep-")
        .tempdir()
        .unwrap();
    let long = base.path().join("r".repeat(120)).join("s".repeat(120));
    fs::create_dir_all(&long).unwrap();
    let snaps = Snapshotter::open(&long, Store::open(&long).unwrap()).unwrap();
    let o = UnpackOptions::default();
    let mut parent: Option<Digest> = None;
    for i in 0..60 {
        let name = format!("f{i}");
        let l = layer(&[(name.as_str(), name.as_bytes())]);
        let s = snaps
            .unpack(parent.as_ref(), &Digest::of_bytes(&l), &l[..], &o)
            .unwrap();
        parent = Some(s.chain_id);
    }
    let m = snaps.prepare("deep", parent.as_ref(), None).unwrap();
    let abs: usize = m.lowerdirs().iter().map(|p| p.as_os_str().len() + 1).sum();
    assert!(abs > 4096, "test does not exercise long options ({abs})");
    assert!(m.options().len() < 4096);
    m.mount().unwrap();
    let _u = Unmount(&m);
    for i in [0, 30, 59] {
        assert_eq!(
            fs::read(m.target().join(format!("f{i}"))).unwrap(),
            format!("f{i}").as_bytes()
        );
    }
    drop(_u);
    snaps.remove("deep").unwrap();
    assert!(!Path::new(&m.target()).exists());
}
