//! Layer unpacking against the real filesystem: what a layer may express (whiteouts,
//! opaque dirs, links, modes, owners, mtimes, xattrs, fifos, devices when allowed) and
//! what a hostile tar must not achieve (escapes, devices, truncation, huge headers).
//! Needs root (chown, mknod, trusted.* xattrs).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berthd::content::Digest;
use berthd::metadata::Store;
use berthd::snapshots::{Error, Snapshot, Snapshotter, UnpackOptions};

struct Root {
    dir: tempfile::TempDir,
    snaps: Snapshotter,
}

fn root() -> Root {
    let dir = tempfile::Builder::new()
        .prefix("berth-unpack-")
        .tempdir()
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    let snaps = Snapshotter::open(dir.path(), store).unwrap();
    Root { dir, snaps }
}

/// A tar member with exactly these name/link bytes (tar::Builder refuses hostile ones).
fn member(name: &str, kind: u8, data: &[u8], link: &str, mode: u32) -> Vec<u8> {
    member_with(name, kind, data, link, mode, |_| {})
}

fn member_with(
    name: &str,
    kind: u8,
    data: &[u8],
    link: &str,
    mode: u32,
    f: impl FnOnce(&mut tar::Header),
) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_000_000);
    f(&mut h);
    h.set_cksum();
    let mut v = h.as_bytes().to_vec();
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(512) * 512, 0);
    v
}

fn file(name: &str, data: &[u8]) -> Vec<u8> {
    member(name, b'0', data, "", 0o644)
}
fn dir(name: &str) -> Vec<u8> {
    member(name, b'5', b"", "", 0o755)
}
fn symlink(name: &str, target: &str) -> Vec<u8> {
    member(name, b'2', b"", target, 0o777)
}
fn hardlink(name: &str, target: &str) -> Vec<u8> {
    member(name, b'1', b"", target, 0o644)
}

fn tar_of(members: &[Vec<u8>]) -> Vec<u8> {
    let mut v: Vec<u8> = members.concat();
    v.extend_from_slice(&[0u8; 1024]);
    v
}

fn unpack(
    r: &Root,
    parent: Option<&Digest>,
    tar: &[u8],
    opts: &UnpackOptions,
) -> Result<Snapshot, Error> {
    r.snaps.unpack(parent, &Digest::of_bytes(tar), tar, opts)
}

/// After a refused layer: no snapshot dir, no record.
fn assert_nothing_left(r: &Root) {
    let left: Vec<PathBuf> = fs::read_dir(r.dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(r.snaps.list().unwrap().is_empty());
}

fn unique(tag: &str) -> String {
    format!("berth-{tag}-{}-{:x}", std::process::id(), rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}

#[test]
fn dotdot_path_is_refused() {
    let r = root();
    let name = unique("dotdot");
    let depth = "../".repeat(12);
    let t = tar_of(&[file(&format!("{depth}tmp/{name}"), b"x")]);
    let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");
    assert!(!Path::new("/tmp").join(&name).exists());
    assert_nothing_left(&r);
}

#[test]
fn absolute_path_is_refused() {
    let r = root();
    let name = unique("abs");
    let t = tar_of(&[file(&format!("/tmp/{name}"), b"x")]);
    let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("absolute"), "{err}");
    assert!(!Path::new("/tmp").join(&name).exists());
    assert_nothing_left(&r);
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let r = root();
    let outside = tempfile::tempdir().unwrap();
    let t = tar_of(&[
        symlink("a", outside.path().to_str().unwrap()),
        file("a/passwd", b"root::0:0::/:/bin/sh\n"),
    ]);
    let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(!outside.path().join("passwd").exists());
    assert_nothing_left(&r);

    // The same through a relative link climbing out.
    let t = tar_of(&[symlink("b", "../../../../../../.."), dir("b/tmp/")]);
    assert!(unpack(&r, None, &t, &UnpackOptions::default()).is_err());
    assert_nothing_left(&r);
}

#[test]
fn hard_link_outside_is_refused() {
    let r = root();
    let before = fs::metadata("/etc/passwd").unwrap().nlink();
    for target in ["/etc/passwd", "../../../../../../../etc/passwd", "missing"] {
        let t = tar_of(&[hardlink("p", target)]);
        let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
        assert!(err.to_string().contains("hard link"), "{target}: {err}");
        assert_nothing_left(&r);
    }
    assert_eq!(fs::metadata("/etc/passwd").unwrap().nlink(), before);
}

#[test]
fn device_nodes_need_permission() {
    let r = root();
    let dev = member_with("dev/sda", b'4', b"", "", 0o660, |h| {
        h.set_device_major(8).unwrap();
        h.set_device_minor(0).unwrap();
    });
    let t = tar_of(std::slice::from_ref(&dev));
    let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("device node"), "{err}");
    assert_nothing_left(&r);

    // /dev/mem (1:1) neither; /dev/null (1:3) is what every container has anyway.
    let mem = member_with("dev/mem", b'3', b"", "", 0o640, |h| {
        h.set_device_major(1).unwrap();
        h.set_device_minor(1).unwrap();
    });
    assert!(unpack(&r, None, &tar_of(&[mem]), &UnpackOptions::default()).is_err());
    assert_nothing_left(&r);
    let null = member_with("dev/null", b'3', b"", "", 0o666, |h| {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    });
    let s = unpack(&r, None, &tar_of(&[null]), &UnpackOptions::default()).unwrap();
    let m = fs::symlink_metadata(r.snaps.fs_dir(&s).join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), libc::makedev(1, 3));
    let s = unpack(
        &r,
        None,
        &t,
        &UnpackOptions {
            allow_devices: true,
        },
    )
    .unwrap();
    let m = fs::symlink_metadata(r.snaps.fs_dir(&s).join("dev/sda")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!(m.rdev(), libc::makedev(8, 0));
}

#[test]
fn truncated_tar_is_refused() {
    let r = root();
    let full = tar_of(&[file("a", &[7u8; 4000])]);
    let cut = &full[..512 + 1000];
    let err = r
        .snaps
        .unpack(None, &Digest::of_bytes(cut), cut, &UnpackOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_nothing_left(&r);
}

#[test]
fn absurd_header_sizes_are_refused_without_buffering() {
    let r = root();
    // A GNU long name claiming 8 GiB: refused before reading it.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(8 << 30);
    h.set_cksum();
    let t = tar_of(&[h.as_bytes().to_vec()]);
    let err = unpack(&r, None, &t, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("long name"), "{err}");
    assert_nothing_left(&r);

    // A regular file claiming far more data than the archive has.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..3].copy_from_slice(b"big");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1 << 40);
    h.set_cksum();
    let t = tar_of(&[h.as_bytes().to_vec()]);
    assert!(unpack(&r, None, &t, &UnpackOptions::default()).is_err());
    assert_nothing_left(&r);

    // Garbage is not a tar.
    let junk = vec![0x5au8; 2048];
    assert!(unpack(&r, None, &junk, &UnpackOptions::default()).is_err());
    assert_nothing_left(&r);
}

#[test]
fn wrong_diff_id_is_refused() {
    let r = root();
    let t = tar_of(&[file("a", b"x")]);
    let err = r
        .snaps
        .unpack(
            None,
            &Digest::of_bytes(b"other"),
            &t[..],
            &UnpackOptions::default(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::DiffIdMismatch { .. }), "{err}");
    assert_nothing_left(&r);
}

#[test]
fn layer_features_are_reproduced() {
    let r = root();
    let suid = member_with("bin/su", b'0', b"#!", "", 0o4755, |h| {
        h.set_uid(1000);
        h.set_gid(1001);
    });
    // A PAX header carrying an xattr and a long path.
    let long = format!("deep/{}/f", "d".repeat(150));
    let mut pax = Vec::new();
    for (k, v) in [("path", long.as_str()), ("SCHILY.xattr.user.berth", "yes")] {
        let rec_len = k.len() + v.len() + 3;
        let mut n = rec_len + rec_len.to_string().len();
        if n.to_string().len() != rec_len.to_string().len() {
            n += 1;
        }
        pax.extend_from_slice(format!("{n} {k}={v}\n").as_bytes());
    }
    let base = tar_of(&[
        dir("etc/"),
        file("etc/hosts", b"127.0.0.1 localhost\n"),
        hardlink("etc/hosts.link", "etc/hosts"),
        symlink("etc/abs", "/etc/passwd"),
        dir("keep/"),
        file("keep/old", b"old"),
        file("gone", b"bye"),
        suid,
        member("run/fifo", b'6', b"", "", 0o600),
        member("PaxHeaders/x", b'x', &pax, "", 0o644),
        file("placeholder", b"long"),
    ]);
    let s1 = unpack(&r, None, &base, &UnpackOptions::default()).unwrap();
    let fs1 = r.snaps.fs_dir(&s1);
    assert_eq!(
        fs::read(fs1.join("etc/hosts")).unwrap(),
        b"127.0.0.1 localhost\n"
    );
    let a = fs::metadata(fs1.join("etc/hosts")).unwrap();
    let b = fs::metadata(fs1.join("etc/hosts.link")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(a.mtime(), 1_000_000);
    assert_eq!(
        fs::read_link(fs1.join("etc/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    let su = fs::metadata(fs1.join("bin/su")).unwrap();
    assert_eq!((su.uid(), su.gid()), (1000, 1001));
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    assert!(fs::symlink_metadata(fs1.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    let longf = fs1.join(&long);
    assert_eq!(fs::read(&longf).unwrap(), b"long");
    assert_eq!(xattr(&longf, "user.berth").as_deref(), Some(&b"yes"[..]));
    // Directory mtimes are restored after their children were created.
    assert_eq!(fs::metadata(fs1.join("etc")).unwrap().mtime(), 1_000_000);

    // Second layer: whiteout a file, make a dir opaque.
    let upper = tar_of(&[
        file(".wh.gone", b""),
        dir("keep/"),
        file("keep/.wh..wh..opq", b""),
        file("keep/new", b"new"),
    ]);
    let s2 = unpack(&r, Some(&s1.chain_id), &upper, &UnpackOptions::default()).unwrap();
    assert_eq!(s2.parent.as_ref(), Some(&s1.chain_id));
    let fs2 = r.snaps.fs_dir(&s2);
    let wh = fs::symlink_metadata(fs2.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(!fs2.join(".wh.gone").exists());
    assert_eq!(
        xattr(&fs2.join("keep"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(
        r.snaps.chain(&s2.chain_id).unwrap(),
        vec![s1.clone(), s2.clone()]
    );

    // Unpacking the same layer again reuses the snapshot.
    let again = unpack(&r, None, &base, &UnpackOptions::default()).unwrap();
    assert_eq!(again, s1);
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of the given length.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn later_entries_replace_earlier_ones() {
    let r = root();
    let t = tar_of(&[
        dir("a/"),
        dir("a/b/"),
        file("a/x", b"1"),
        file("a", b"now a file"),
        symlink("l", "/nowhere"),
        file("l", b"now a file too"),
        file("f", b"old"),
        dir("f/"),
        file("f/y", b"inside"),
    ]);
    let s = unpack(&r, None, &t, &UnpackOptions::default()).unwrap();
    let d = r.snaps.fs_dir(&s);
    assert_eq!(fs::read(d.join("a")).unwrap(), b"now a file");
    assert_eq!(fs::read(d.join("l")).unwrap(), b"now a file too");
    assert!(!fs::symlink_metadata(d.join("l"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(d.join("f/y")).unwrap(), b"inside");
}

/// Corrupted layers (random bytes flipped in headers and data) either unpack or fail
/// cleanly: no panic, nothing outside the root, nothing left on failure.
#[test]
fn corrupted_layers_fail_cleanly() {
    let r = root();
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path().to_str().unwrap();
    let base = tar_of(&[
        dir("etc/"),
        file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
        symlink("etc/link", "passwd"),
        hardlink("etc/hard", "etc/passwd"),
        symlink("out", o),
        dir("var/"),
        file("var/.wh.gone", b""),
        file("var/data", &[b'z'; 1500]),
    ]);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut failures = 0;
    for _ in 0..300 {
        let mut t = base.clone();
        for _ in 0..(1 + next() % 4) {
            let i = (next() % t.len() as u64) as usize;
            t[i] = (next() & 0xff) as u8;
        }
        match r.snaps.unpack(
            None,
            &Digest::of_bytes(&t),
            &t[..],
            &UnpackOptions::default(),
        ) {
            Ok(s) => {
                // Kept layers are real directories under the root.
                assert!(r.snaps.fs_dir(&s).starts_with(r.dir.path()));
            }
            Err(_) => failures += 1,
        }
        assert_eq!(
            fs::read_dir(outside.path()).unwrap().count(),
            0,
            "wrote outside"
        );
    }
    assert!(
        failures > 0,
        "no mutation was detected: the test is not biting"
    );
    // Every dir under snapshots/ belongs to a recorded snapshot: failures left nothing.
    let recorded = r.snaps.list().unwrap().len();
    let dirs = fs::read_dir(r.dir.path().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(dirs, recorded);
}
