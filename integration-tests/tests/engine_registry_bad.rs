//! Issue 8's bad input, against a lying registry (integration-tests'
//! `fake_registry`): manifests and blobs whose digest lies, blobs shorter or
//! longer than their descriptor, 500s, a connection cut mid-blob, an index
//! without our platform, layers that try to write outside the root, and a gzip
//! bomb. After each failed pull: `berth images -q` unchanged, no ingest of
//! wrong bytes left, and after a restart no snapshot dir beyond the ones before.
//! Root only (berthd unpacks layers as root).

use std::io::Write;

use anyhow::{ensure, Result};
use berth_integration_tests::engine::Engine;
use berth_integration_tests::fake_registry::{sha256, FakeRegistry, Fault};

const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const LAYER_GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

/// One tar entry; `name` is written raw (the tar crate refuses `..`).
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, data, link, kind): (&str, &[u8], Option<&str>, _) = match e {
            Entry::File(n, d) => (n, d, None, tar::EntryType::Regular),
            Entry::Symlink(n, t) => (n, &[], Some(t), tar::EntryType::Symlink),
            Entry::Hardlink(n, t) => (n, &[], Some(t), tar::EntryType::Link),
        };
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            raw.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(0o755);
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("tar to memory");
    }
    b.into_inner().expect("tar to memory")
}

/// What the registry holds for one image.
struct Img {
    reference: String,
    manifest: String,
    config: String,
    layers: Vec<(String, u64)>,
}

/// Stores `tars` (already compressed) as layers of image `name:tag`.
fn image(reg: &FakeRegistry, name: &str, tars: &[(Vec<u8>, Vec<u8>)]) -> Img {
    let diff_ids: Vec<String> = tars.iter().map(|(t, _)| sha256(t)).collect();
    let config = serde_json::json!({
        "architecture": arch(), "os": "linux",
        "config": {"Cmd": ["/bin/busybox", "true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string()
    .into_bytes();
    let csize = config.len();
    let cdig = reg.blob(config);
    let mut layers = Vec::new();
    for (_, g) in tars {
        layers.push((reg.blob(g.clone()), g.len() as u64));
    }
    let m = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": csize, "digest": cdig},
        "layers": layers.iter().map(|(d, s)| serde_json::json!(
            {"mediaType": LAYER_GZ, "size": s, "digest": d})).collect::<Vec<_>>(),
    })
    .to_string()
    .into_bytes();
    let md = reg.manifest("v1", MANIFEST_V2, m);
    Img {
        reference: format!("{}/test/{name}:v1", reg.host()),
        manifest: md,
        config: cdig,
        layers,
    }
}

fn simple(reg: &FakeRegistry, name: &str, content: &[u8]) -> Img {
    let t = tar_of(&[Entry::File("hello", content)]);
    let g = gz(&t);
    image(reg, name, &[(t, g)])
}

/// What a failed pull must leave as it was.
struct Before {
    images: String,
    snapshots: usize,
}

fn snapshot_dirs(e: &Engine) -> usize {
    std::fs::read_dir(e.root().join("snapshots"))
        .map(|d| {
            d.filter(|x| x.as_ref().is_ok_and(|x| x.path().is_dir()))
                .count()
        })
        .unwrap_or(0)
}

fn before(e: &Engine) -> Result<Before> {
    Ok(Before {
        images: e.ok(&["images", "-q"])?,
        snapshots: snapshot_dirs(e),
    })
}

/// Pulls `r`, which must fail; returns its stderr.
fn pull_fails(e: &Engine, r: &str) -> Result<String> {
    let o = e.cli(&["pull", r])?;
    ensure!(!o.success(), "pull {r} succeeded: {}", o.stdout);
    eprintln!("pull {r}: {}", o.stderr.trim());
    Ok(o.stderr)
}

/// The checks after a failed pull: images unchanged, no ingest of the blobs
/// in `wrong` (their bytes were bad), only resume files in the ingest dir,
/// and after a restart no snapshot dir more than before.
fn unchanged(e: &mut Engine, b: &Before, wrong: &[&str]) -> Result<()> {
    ensure!(e.ok(&["images", "-q"])? == b.images, "berth images changed");
    let ingest = e.root().join("content/ingest");
    for f in std::fs::read_dir(&ingest).into_iter().flatten().flatten() {
        let n = f.file_name().to_string_lossy().to_string();
        ensure!(n.starts_with("resume-"), "{n} left in {}", ingest.display());
        for w in wrong {
            let hex = w.trim_start_matches("sha256:");
            ensure!(!n.contains(hex), "ingest {n} of wrong bytes left");
        }
    }
    e.kill9_berthd();
    e.spawn_berthd()?;
    let s = snapshot_dirs(e);
    ensure!(
        s == b.snapshots,
        "{s} snapshot dirs after restart, {} before",
        b.snapshots
    );
    Ok(())
}

#[test]
fn manifest_digest_lie_is_refused() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start()?;
    let img = simple(&reg, "m", b"hi");
    let lie = sha256(b"not this manifest");
    let m = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MANIFEST_V2}\",\"config\":{{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"size\":1,\"digest\":\"{}\"}},\"layers\":[]}}",
        img.config
    );
    reg.manifest_at(&lie, MANIFEST_V2, m.into_bytes());
    let b = before(&e)?;
    let err = pull_fails(&e, &format!("{}/test/m@{lie}", reg.host()))?;
    ensure!(err.contains(&lie[7..19]), "error names no digest: {err}");
    unchanged(&mut e, &b, &[])
}

/// A layer served with `fault`: the pull fails clearly, leaves nothing, and
/// once the registry is fixed the next pull succeeds with the right content.
fn bad_layer(fault: Fault, words: &[&str], wrong_bytes: bool) -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start()?;
    let img = simple(&reg, "l", &vec![7u8; 100_000]);
    let (layer, _) = img.layers[0].clone();
    reg.fault(&layer, fault);
    let b = before(&e)?;
    let err = pull_fails(&e, &img.reference)?;
    ensure!(err.contains(&layer[7..19]), "error names no digest: {err}");
    for w in words {
        ensure!(err.contains(w), "error lacks {w:?}: {err}");
    }
    let wrong: Vec<&str> = if wrong_bytes { vec![&layer] } else { vec![] };
    unchanged(&mut e, &b, &wrong)?;
    reg.fault(&layer, Fault::None);
    e.ok(&["pull", &img.reference])?;
    let id = e.ok(&["inspect", "--format", "{{.Id}}", &img.reference])?;
    ensure!(id == img.config, "image id {id}, config {}", img.config);
    Ok(())
}

#[test]
fn layer_digest_lie_is_refused_and_not_kept() -> Result<()> {
    bad_layer(Fault::FlipByte, &[], true)
}

#[test]
fn layer_shorter_than_descriptor_is_refused() -> Result<()> {
    bad_layer(Fault::Short(1000), &[], false)
}

#[test]
fn layer_longer_than_descriptor_is_refused() -> Result<()> {
    bad_layer(Fault::Long(1000), &["longer"], false)
}

#[test]
fn layer_500_is_reported_and_a_later_pull_works() -> Result<()> {
    bad_layer(Fault::Status500, &["500"], false)
}

#[test]
fn config_digest_lie_is_refused() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start()?;
    let img = simple(&reg, "c", b"hi");
    reg.fault(&img.config, Fault::FlipByte);
    let b = before(&e)?;
    let err = pull_fails(&e, &img.reference)?;
    ensure!(
        err.contains(&img.config[7..19]),
        "error names no digest: {err}"
    );
    unchanged(&mut e, &b, &[&img.config])?;
    reg.fault(&img.config, Fault::None);
    e.ok(&["pull", &img.reference])?;
    Ok(())
}

#[test]
fn cut_connection_resumes_with_only_the_rest() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let e = Engine::start_bare("{}")?;
    let bb = std::fs::read("/bin/busybox")?;
    let t = tar_of(&[
        Entry::File("bin/busybox", &bb),
        Entry::File("hello", b"resumed fine\n"),
    ]);
    let g = gz(&t);
    let img = image(&reg, "cut", &[(t, g)]);
    let (layer, size) = img.layers[0].clone();
    let half = size as usize / 2;
    reg.fault(&layer, Fault::CutAfter(half));
    // berth resumes within the pull, or fails and the next pull resumes.
    if !e.cli(&["pull", &img.reference])?.success() {
        e.ok(&["pull", &img.reference])?;
    }
    let sent = reg.sent(&layer);
    ensure!(
        sent == size,
        "registry sent {sent} bytes of a {size}-byte blob (cut at {half})"
    );
    let out = e.ok(&[
        "run",
        "--rm",
        &img.reference,
        "/bin/busybox",
        "cat",
        "/hello",
    ])?;
    ensure!(out == "resumed fine", "cat said {out:?}");
    Ok(())
}

#[test]
fn index_without_our_platform_is_refused() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start()?;
    let img = simple(&reg, "p", b"hi");
    let idx = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": MANIFEST_V2, "size": 10, "digest": img.manifest,
                       "platform": {"architecture": "s390x", "os": "linux"}}],
    });
    reg.manifest(
        "multi",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        idx.to_string().into_bytes(),
    );
    let b = before(&e)?;
    let err = pull_fails(&e, &format!("{}/test/p:multi", reg.host()))?;
    ensure!(err.contains("no matching manifest"), "unclear: {err}");
    ensure!(
        err.contains(&format!("linux/{}", arch())),
        "no platform named: {err}"
    );
    unchanged(&mut e, &b, &[])
}

#[test]
fn layers_cannot_write_outside_the_root() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start()?;
    let tag = format!("berth-bad-{}", std::process::id());
    let (dot, abs, link) = (
        format!("/tmp/{tag}-dot"),
        format!("/tmp/{tag}-abs"),
        format!("/tmp/{tag}-link"),
    );
    std::fs::create_dir_all(&link)?;
    let passwd = std::fs::read("/etc/passwd")?;
    let depth = "../".repeat(20);
    let (up_dot, up_passwd) = (
        format!("{depth}tmp/{tag}-dot"),
        format!("{depth}etc/passwd"),
    );
    let cases: Vec<Vec<Entry>> = vec![
        vec![Entry::File(&up_dot, b"x")],
        vec![Entry::File(&abs, b"x")],
        vec![Entry::Symlink("s", &link), Entry::File("s/file", b"x")],
        vec![
            Entry::Hardlink("pw", "/etc/passwd"),
            Entry::File("pw", b"owned"),
        ],
        vec![
            Entry::Hardlink("up", &up_passwd),
            Entry::File("up", b"owned"),
        ],
    ];
    let mut outcome = Vec::new();
    for (i, entries) in cases.iter().enumerate() {
        let t = tar_of(entries);
        let g = gz(&t);
        let img = image(&reg, &format!("evil{i}"), &[(t, g)]);
        let b = before(&e)?;
        let o = e.cli(&["pull", &img.reference])?;
        eprintln!(
            "evil{i}: {}",
            if o.success() {
                "pulled"
            } else {
                o.stderr.trim()
            }
        );
        let ok = o.success();
        if !ok {
            unchanged(&mut e, &b, &[])?;
        }
        outcome.push(ok);
    }
    let dot_there = std::path::Path::new(&dot).exists();
    let abs_there = std::path::Path::new(&abs).exists();
    let link_file = std::path::Path::new(&link).join("file").exists();
    let _ = std::fs::remove_dir_all(&link);
    let _ = std::fs::remove_file(&dot);
    let _ = std::fs::remove_file(&abs);
    ensure!(
        !dot_there && !abs_there && !link_file,
        "written outside the root"
    );
    ensure!(
        std::fs::read("/etc/passwd")? == passwd,
        "/etc/passwd changed"
    );
    ensure!(!outcome[0], "a ../ breakout was pulled (docker refuses it)");
    Ok(())
}

#[test]
fn gzip_bomb_stops_at_max_layer_size() -> Result<()> {
    let reg = FakeRegistry::start()?;
    let mut e = Engine::start_bare("{\"max-layer-size\": 67108864}")?;
    // One 10 GiB file of zeros: its header, then 640 gzip members of 16 MiB.
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros")?;
    h.set_size(10 << 30);
    h.set_mode(0o644);
    h.set_cksum();
    let mut blob = gz(h.as_bytes());
    let member = gz(&vec![0u8; 16 << 20]);
    for _ in 0..640 {
        blob.extend_from_slice(&member);
    }
    // diff_id cannot be computed for 10 GiB here; any digest: the limit stops first.
    let img = image(&reg, "bomb", &[(b"unused".to_vec(), blob)]);
    let b = before(&e)?;
    let err = pull_fails(&e, &img.reference)?;
    ensure!(err.contains("67108864"), "limit not named: {err}");
    ensure!(
        err.contains(&img.layers[0].0[7..19]),
        "digest not named: {err}"
    );
    unchanged(&mut e, &b, &[])
}
