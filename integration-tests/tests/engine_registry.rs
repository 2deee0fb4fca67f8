//! berth as a registry client against Debian's distribution registry on
//! 127.0.0.1 (its own port and storage per test): push and pull both ways with
//! skopeo as the peer, what the registry then holds, digests, re-push, platform
//! and reference errors, htpasswd basic auth with docker's config.json, and
//! docker (a private dockerd) pulling and running what berth pushed and back. Root
//! only (berthd unpacks layers as root).

use anyhow::{ensure, Context, Result};
use berth_integration_tests::dockerd::Dockerd;
use berth_integration_tests::engine::Engine;
use berth_integration_tests::registry::LocalRegistry;
use berth_integration_tests::requirements;
use sha2::Digest as _;

fn skopeo(args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .context("running skopeo (apt-get install skopeo)")?;
    ensure!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The manifest the registry holds for `r`, as text and parsed, read by skopeo.
fn manifest_of(r: &str) -> Result<(String, serde_json::Value)> {
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{r}"),
    ])?;
    let m = serde_json::from_str(&raw)?;
    Ok((raw, m))
}

#[test]
fn push_then_pull_round_trip_agrees_with_skopeo() -> Result<()> {
    let reg = LocalRegistry::start()?;
    let e = Engine::start()?;
    let r = format!("{}/test/busybox:v1", reg.host());
    e.ok(&["tag", "busybox", &r])?;
    let out = e.ok(&["push", &r])?;
    ensure!(out.contains("v1: digest: sha256:"), "push output: {out}");
    // The registry's own view, through another client.
    let (raw, m) = manifest_of(&r)?;
    let layers = m["layers"].as_array().context("manifest without layers")?;
    ensure!(layers.len() == 1, "manifest: {raw}");
    ensure!(
        layers[0]["mediaType"]
            .as_str()
            .unwrap_or("")
            .ends_with("gzip"),
        "layer not compressed: {raw}"
    );
    let digest = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{r}"),
    ])?;
    let digest = digest.trim();
    ensure!(
        out.contains(digest),
        "berth said {out}, the registry has {digest}"
    );
    // A second push sends no layer again.
    let again = e.ok(&["push", &r])?;
    ensure!(again.contains("Layer already exists"), "re-push: {again}");
    ensure!(
        again.contains(digest),
        "re-push changed the digest: {again}"
    );

    // Pull into an empty engine and run it.
    let f = Engine::start_bare("{}")?;
    let pulled = f.ok(&["pull", &r])?;
    ensure!(
        pulled.contains(&format!("Digest: {digest}")),
        "pull output: {pulled}"
    );
    ensure!(pulled.trim_end().ends_with(&r), "last line: {pulled}");
    let hello = f.ok(&["run", "--rm", &r, "echo", "pulled"])?;
    ensure!(hello == "pulled", "run of the pulled image: {hello:?}");
    let by_digest = format!("{}/test/busybox@{digest}", reg.host());
    let digests = f.ok(&["images", "--digests", "--format", "{{.Digest}}"])?;
    ensure!(digests.contains(digest), "images --digests: {digests}");
    let id = f.ok(&["image", "inspect", "-f", "{{.Id}}", &by_digest])?;
    ensure!(id.starts_with("sha256:"), "inspect by digest: {id}");
    // Already here: nothing to download.
    let again = f.ok(&["pull", &r])?;
    ensure!(
        again.contains("Image is up to date"),
        "second pull: {again}"
    );
    Ok(())
}

#[test]
fn pulls_what_skopeo_pushed_and_refuses_bad_references() -> Result<()> {
    let reg = LocalRegistry::start()?;
    let e = Engine::start()?;
    let archive = e.dir().join("bb.tar");
    let a = archive.display().to_string();
    e.ok(&["save", "-o", &a, "busybox"])?;
    let r = format!("{}/other/img:7", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{a}"),
        &format!("docker://{r}"),
    ])?;
    let f = Engine::start_bare("{}")?;
    f.ok(&["pull", "-q", &r])?;
    let out = f.ok(&["run", "--rm", &r, "sh", "-c", "echo $((6*7))"])?;
    ensure!(out == "42", "run: {out:?}");
    for (bad, says) in [
        ("a/Upper", "lowercase"),
        ("a:-tag", "tag"),
        ("x@sha256:abc", "digest"),
    ] {
        let o = f.cli(&["pull", bad])?;
        ensure!(!o.success(), "pull {bad} succeeded");
        ensure!(o.stderr.contains(says), "pull {bad}: {}", o.stderr);
    }
    let o = f.cli(&["pull", &format!("{}/other/img:nope", reg.host())])?;
    ensure!(!o.success(), "a missing tag pulled");
    ensure!(
        o.stderr.contains("manifest unknown"),
        "missing tag: {}",
        o.stderr
    );
    let o = f.cli(&["pull", "--platform", "linux/s390x", &r])?;
    // A single-platform manifest is taken as it is (docker does the same).
    ensure!(
        o.success() || o.stderr.contains("platform"),
        "platform: {}",
        o.stderr
    );
    let images = f.ok(&["images", "-q"])?;
    ensure!(
        images.lines().count() == 1,
        "images after failed pulls: {images}"
    );
    Ok(())
}

#[test]
fn login_with_htpasswd_stores_only_accepted_credentials() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let reg = LocalRegistry::start_htpasswd(dir.path(), "alice", "s3cret")?;
    let e = Engine::start()?;
    let cfg_dir = dir.path().join("docker");
    let with_cfg = |args: &[&str]| {
        let mut c = e.command(args);
        c.env("DOCKER_CONFIG", &cfg_dir);
        e.run(c, std::time::Duration::from_secs(60))
    };
    let r = format!("{}/private/bb:1", reg.host());
    e.ok(&["tag", "busybox", &r])?;
    let o = with_cfg(&["push", &r])?;
    ensure!(!o.success(), "push without credentials succeeded");
    let o = with_cfg(&["login", "-u", "alice", "-p", "wrong", &reg.host()])?;
    ensure!(!o.success(), "a wrong password was accepted");
    ensure!(
        o.stderr.contains("unauthorized"),
        "wrong password: {}",
        o.stderr
    );
    ensure!(
        !cfg_dir.join("config.json").exists(),
        "a refused login stored credentials"
    );
    let o = with_cfg(&["login", "-u", "alice", "-p", "s3cret", &reg.host()])?.check()?;
    ensure!(o.stdout.contains("Login Succeeded"), "login: {}", o.stdout);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json"))?)?;
    ensure!(
        cfg["auths"][reg.host()]["auth"].as_str() == Some("YWxpY2U6czNjcmV0"),
        "config.json: {cfg}"
    );
    with_cfg(&["push", &r])?.check()?;
    let f = Engine::start_bare("{}")?;
    let mut c = f.command(&["pull", &r]);
    c.env("DOCKER_CONFIG", &cfg_dir);
    f.run(c, std::time::Duration::from_secs(60))?.check()?;
    let o = with_cfg(&["logout", &reg.host()])?.check()?;
    ensure!(
        o.stdout.contains("Removing login credentials"),
        "logout: {}",
        o.stdout
    );
    let mut c = f.command(&["pull", &r]);
    c.env("DOCKER_CONFIG", &cfg_dir);
    let o = f.run(c, std::time::Duration::from_secs(60))?;
    ensure!(!o.success(), "pull after logout succeeded");
    Ok(())
}

#[test]
fn pull_cut_by_killing_berthd_resumes_with_only_the_rest() -> Result<()> {
    let reg = LocalRegistry::start()?;
    let e = Engine::start()?;
    // One big incompressible layer, so the kill lands mid-download.
    let c = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "head -c 200m /dev/urandom > /big",
    ])?;
    e.ok(&["wait", &c])?;
    let r = format!("{}/t/big:1", reg.host());
    e.ok(&["commit", &c, &r])?;
    e.ok(&["rm", &c])?;
    e.ok(&["push", "-q", &r])?;
    let (_, m) = manifest_of(&r)?;
    let big = m["layers"]
        .as_array()
        .and_then(|l| l.iter().max_by_key(|d| d["size"].as_u64()))
        .context("no layers")?;
    let (digest, size) = (
        big["digest"].as_str().context("digest")?.to_string(),
        big["size"].as_u64().context("size")?,
    );

    let mut f = Engine::start_bare("{}")?;
    let ingest = f
        .root()
        .join("content/ingest")
        .join(format!("resume-{}", digest.trim_start_matches("sha256:")));
    let mut pull = f.command(&["pull", "-q", &r]);
    pull.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = pull.spawn()?;
    let t = std::time::Instant::now();
    let mut have = 0;
    while t.elapsed() < std::time::Duration::from_secs(30) {
        have = std::fs::metadata(&ingest).map(|m| m.len()).unwrap_or(0);
        if have > size / 10 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    f.kill9_berthd();
    let _ = child.wait();
    let kept = std::fs::metadata(&ingest).map(|m| m.len()).unwrap_or(0);
    ensure!(
        have > 0 && kept > 0 && kept < size,
        "the kill did not land mid-layer: {kept} of {size} bytes in the ingest (seen {have})"
    );
    // The registry logs a GET when it ends: the cut one shows up only once the
    // registry has seen the connection close, which may be after the kill.
    let t = std::time::Instant::now();
    while blob_gets(&reg, &digest).is_empty() && t.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let gets_before = blob_gets(&reg, &digest);
    f.spawn_berthd()?;
    let out = f.ok(&["pull", &r])?;
    ensure!(
        out.contains(&format!("Resuming download at {kept}")),
        "second pull: {out}"
    );
    let gets = blob_gets(&reg, &digest);
    let resumed: Vec<u64> = gets[gets_before.len()..].to_vec();
    ensure!(
        resumed == vec![size - kept],
        "after the restart the registry sent {resumed:?} bytes of the layer; only the missing {} were due",
        size - kept
    );
    let seen = f.ok(&["run", "--rm", &r, "sh", "-c", "wc -c < /big"])?;
    ensure!(
        seen == "209715200",
        "the resumed layer has /big of {seen} bytes"
    );
    ensure!(
        !ingest.exists(),
        "the ingest stayed after the blob was committed"
    );
    Ok(())
}

/// Bytes the registry wrote for each GET of the blob `digest`, from its access log.
fn blob_gets(reg: &LocalRegistry, digest: &str) -> Vec<u64> {
    reg.log()
        .lines()
        .filter(|l| l.contains(&format!("blobs/{digest}")) && l.contains("http.request.method=GET"))
        .filter_map(|l| {
            l.split("http.response.written=")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .and_then(|n| n.trim_matches('"').parse().ok())
        })
        .collect()
}

#[test]
fn docker_runs_what_berth_pushed_and_berth_runs_what_docker_pushed() -> Result<()> {
    let d = match Dockerd::start(None)? {
        Ok(d) => d,
        Err(reason) => {
            requirements::host_lacks(&format!("a dockerd that starts here: {reason}"));
            return Ok(());
        }
    };
    let reg = LocalRegistry::start()?;
    let e = Engine::start()?;
    let sum = "md5sum /bin/busybox";

    // berth → registry → docker.
    let from_berth = format!("{}/both/bb:berth", reg.host());
    e.ok(&["tag", "busybox", &from_berth])?;
    e.ok(&["push", &from_berth])?;
    d.ok(&["pull", &from_berth])?;
    let theirs = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &from_berth,
        "sh",
        "-c",
        sum,
    ])?;
    let ours = e.ok(&["run", "--rm", &from_berth, "sh", "-c", sum])?;
    ensure!(
        theirs == ours,
        "docker ran another busybox: {theirs} vs {ours}"
    );
    let docker_digest = d.ok(&["inspect", "-f", "{{index .RepoDigests 0}}", &from_berth])?;
    let (raw, _) = manifest_of(&from_berth)?;
    let want = format!("sha256:{:x}", sha2::Sha256::digest(raw.as_bytes()));
    ensure!(
        docker_digest.ends_with(&want),
        "docker's repo digest {docker_digest}, the registry's manifest {want}"
    );

    // docker → registry → berth: a layer of docker's own on top.
    let c = d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        &from_berth,
        "sh",
        "-c",
        "echo made-by-docker > /from-docker",
    ])?;
    d.ok(&["wait", &c])?;
    let from_docker = format!("{}/both/bb:docker", reg.host());
    d.ok(&["commit", &c, &from_docker])?;
    d.ok(&["push", &from_docker])?;
    let f = Engine::start_bare("{}")?;
    f.ok(&["pull", &from_docker])?;
    let seen = f.ok(&["run", "--rm", &from_docker, "cat", "/from-docker"])?;
    ensure!(
        seen == "made-by-docker",
        "berth ran docker's image and saw {seen:?}"
    );
    let ours = f.ok(&["run", "--rm", &from_docker, "sh", "-c", sum])?;
    ensure!(
        theirs == ours,
        "the lower layer changed on the way: {theirs} vs {ours}"
    );
    Ok(())
}

#[test]
fn system_df_counts_a_layer_two_pulled_images_share_once() -> Result<()> {
    let reg = LocalRegistry::start()?;
    let e = Engine::start()?;
    let base = format!("{}/df/base:1", reg.host());
    let child = format!("{}/df/child:1", reg.host());
    e.ok(&["tag", "busybox", &base])?;
    let c = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /own",
    ])?;
    e.ok(&["wait", &c])?;
    e.ok(&["commit", &c, &child])?;
    e.ok(&["rm", &c])?;
    e.ok(&["push", "-q", &base])?;
    e.ok(&["push", "-q", &child])?;

    let f = Engine::start_bare("{}")?;
    f.ok(&["pull", "-q", &base])?;
    f.ok(&["pull", "-q", &child])?;
    let size = |r: &str| -> Result<u64> {
        Ok(f.ok(&["image", "inspect", "--format", "{{.Size}}", r])?
            .parse()?)
    };
    let (b, ch) = (size(&base)?, size(&child)?);
    ensure!(ch > b + 3_000_000, "child {ch} bytes, base {b}");
    let df: Vec<serde_json::Value> = f
        .ok(&["system", "df", "--format", "{{json .}}"])?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let images = df
        .iter()
        .find(|u| u["Type"] == "Images")
        .context("no Images line")?;
    // The base's layer once: the child's size is all there is.
    ensure!(
        images["Size"] == ch,
        "df images size {} (base {b} + child {ch} counts the shared layer twice)",
        images["Size"]
    );
    ensure!(
        images["Reclaimable"] == ch && images["Total"] == 2,
        "df: {images}"
    );
    // A container of the child: the whole stack is in use, nothing reclaimable.
    f.ok(&["create", &child, "true"])?;
    let df = f.ok(&["system", "df", "--format", "{{json .}}"])?;
    let images: serde_json::Value = serde_json::from_str(df.lines().next().context("empty df")?)?;
    ensure!(
        images["Reclaimable"] == 0,
        "with the child in use: {images}"
    );
    let v = f.ok(&["system", "df", "-v"])?;
    let row = |name: &str| -> Result<Vec<String>> {
        let line = v
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no row for {name} in:\n{v}"))?;
        Ok(line
            .split("  ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    };
    let (rb, rc) = (
        row(&format!("{}/df/base", reg.host()))?,
        row(&format!("{}/df/child", reg.host()))?,
    );
    // REPOSITORY TAG ID CREATED SIZE SHARED UNIQUE CONTAINERS
    ensure!(rb[6] == "0B" && rb[7] == "0", "base row: {rb:?}\n{v}");
    ensure!(
        rb[4] == rb[5] && rc[5] == rb[4] && rc[7] == "1",
        "rows: {rb:?} {rc:?}\n{v}"
    );
    Ok(())
}

/// A credential helper as docker's protocol has it (`store` reads
/// {ServerURL,Username,Secret}, `get` and `erase` read the server), keeping one
/// entry in a file beside it and logging each call.
const CRED_HELPER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$1" >> "$dir/calls"
case "$1" in
store) cat > "$dir/secret.json" ;;
get) read -r server
     if [ -f "$dir/secret.json" ] && grep -q "\"ServerURL\":\"$server\"" "$dir/secret.json"; then
       cat "$dir/secret.json"
     else
       echo "credentials not found in native keychain"; exit 1
     fi ;;
erase) rm -f "$dir/secret.json" ;;
*) exit 1 ;;
esac
"#;

#[test]
fn credentials_go_through_docker_credential_helpers() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let reg = LocalRegistry::start_htpasswd(dir.path(), "carol", "pw-42")?;
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin)?;
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(&helper, CRED_HELPER)?;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755))?;
    let cfg_dir = dir.path().join("docker");
    std::fs::create_dir(&cfg_dir)?;
    // credHelpers for this registry wins over credsStore (which names no helper).
    std::fs::write(
        cfg_dir.join("config.json"),
        serde_json::json!({"credsStore": "absent", "credHelpers": {reg.host(): "berthtest"}})
            .to_string(),
    )?;
    let e = Engine::start()?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_cfg = |args: &[&str]| {
        let mut c = e.command(args);
        c.env("DOCKER_CONFIG", &cfg_dir).env("PATH", &path);
        e.run(c, std::time::Duration::from_secs(60))
    };
    with_cfg(&["login", "-u", "carol", "-p", "pw-42", &reg.host()])?.check()?;
    let secret: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bin.join("secret.json"))?)?;
    ensure!(
        secret["Username"] == "carol"
            && secret["Secret"] == "pw-42"
            && secret["ServerURL"] == reg.host(),
        "the helper stored {secret}"
    );
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg_dir.join("config.json"))?)?;
    ensure!(
        cfg["auths"][reg.host()] == serde_json::json!({}),
        "config.json holds a secret beside the helper: {cfg}"
    );
    let r = format!("{}/carol/bb:1", reg.host());
    e.ok(&["tag", "busybox", &r])?;
    with_cfg(&["push", &r])?.check()?;
    let calls = std::fs::read_to_string(bin.join("calls"))?;
    ensure!(
        calls.lines().any(|l| l == "get"),
        "push did not ask the helper: {calls}"
    );
    with_cfg(&["logout", &reg.host()])?.check()?;
    ensure!(
        !bin.join("secret.json").exists(),
        "logout left the helper's secret"
    );
    let o = with_cfg(&["push", &format!("{}/carol/bb:1", reg.host())])?;
    ensure!(!o.success(), "a push after logout succeeded");
    Ok(())
}
