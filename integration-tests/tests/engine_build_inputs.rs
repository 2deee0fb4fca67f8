//! `berth build`'s other inputs and outputs through a real berthd: ADD of a URL
//! (from a server the test runs on 127.0.0.1) with `--checksum`, ADD of local
//! archives, COPY `--parents` / `--exclude`, WORKDIR making its directory, a base
//! image's ONBUILD triggers, `RUN --mount` of each type (cache dirs outliving the
//! build, binds read-only or with writes thrown away, tmpfs, secrets that reach
//! no layer), `-o type=local|tar`, the live progress view on a terminal, and the
//! Build Cache line of `system df`. Root only.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use anyhow::{ensure, Context as _, Result};
use berth_integration_tests::build::{build, context, nothing_left};
use berth_integration_tests::engine::Engine;

/// `sh -c SCRIPT` in a fresh container of `image`; its stdout.
fn sh(e: &Engine, image: &str, script: &str) -> Result<String> {
    Ok(e.ok(&["run", "--rm", image, "sh", "-c", script])?)
}

/// An HTTP/1.1 server on 127.0.0.1 answering every GET with `body` (and a
/// Last-Modified), until the test ends. Its port.
fn serve(body: &'static [u8]) -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let port = l.local_addr()?.port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut req = [0u8; 4096];
            let n = c.read(&mut req).unwrap_or(0);
            let missing = String::from_utf8_lossy(&req[..n]).contains("/missing");
            let head = if missing {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
            };
            let _ = c.write_all(head.as_bytes());
            if !missing {
                let _ = c.write_all(body);
            }
        }
    });
    Ok(port)
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn targz(entries: &[(&str, &[u8], u64)]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, uid) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_uid(*uid);
        h.set_gid(*uid);
        h.set_cksum();
        b.append_data(&mut h, name, *data)?;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner()?)?;
    Ok(gz.finish()?)
}

#[test]
fn add_urls_archives_and_checksums() -> Result<()> {
    const BODY: &[u8] = b"downloaded\n";
    let port = serve(BODY)?;
    let e = Engine::start()?;
    let mut plain_gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    plain_gz.write_all(b"not a tar")?;
    let url = format!("http://127.0.0.1:{port}/files/hello.txt");
    let df = format!(
        "FROM busybox\n\
         ADD {url} /dl/\n\
         ADD --checksum={sum} {url} /dl/checked.txt\n\
         ADD tree.tar.gz /unpacked/\n\
         ADD --chown=7:7 tree.tar.gz /chowned/\n\
         ADD note.gz /gz/\n",
        sum = sha256(BODY)
    );
    let ctx = context(
        &e,
        "add",
        &[
            ("Dockerfile", df.as_bytes()),
            ("tree.tar.gz", &targz(&[("a/b.txt", b"inside", 1234)])?),
            ("note.gz", &plain_gz.finish()?),
        ],
    )?;
    let ctx_s = ctx.to_string_lossy().into_owned();
    let o = build(&e, &["-t", "added", &ctx_s])?;
    ensure!(o.success(), "build failed: {}", o.stderr);
    let got = sh(
        &e,
        "added",
        "cat /dl/hello.txt /dl/checked.txt; stat -c '%a %Y' /dl/hello.txt; \
         stat -c '%u %a' /unpacked/a/b.txt; cat /unpacked/a/b.txt; echo; \
         stat -c %u /chowned/a/b.txt; test -f /gz/note.gz && echo gz-kept",
    )?;
    let want = "downloaded\ndownloaded\n600 1445412480\n1234 640\ninside\n7\ngz-kept";
    ensure!(got == want, "ADD results:\n{got}\nwant:\n{want}");

    // A digest that does not match, a URL that is not there: clear errors, no image.
    for (add, says) in [
        (
            format!("ADD --checksum=sha256:{} {url} /x", "0".repeat(64)),
            "checksum mismatch",
        ),
        (format!("ADD http://127.0.0.1:{port}/missing/f /x"), "404"),
        (
            "ADD --checksum=sha256:00 local.txt /x".to_string(),
            "--checksum",
        ),
    ] {
        let dir = context(
            &e,
            "add-bad",
            &[
                ("Dockerfile", format!("FROM busybox\n{add}\n").as_bytes()),
                ("local.txt", b"l"),
            ],
        )?;
        let o = build(&e, &["-t", "bad", &dir.to_string_lossy()])?;
        ensure!(!o.success(), "{add}: built");
        ensure!(
            o.stderr.contains(says) && o.stderr.contains("Dockerfile:2"),
            "{add}: {}",
            o.stderr
        );
        ensure!(
            !e.cli(&["image", "inspect", "bad"])?.success(),
            "{add}: tagged"
        );
    }
    nothing_left(&e)
}

#[test]
fn copy_parents_exclude_workdir_and_onbuild() -> Result<()> {
    let e = Engine::start()?;
    let base = "FROM busybox\n\
                ONBUILD COPY marker /from-onbuild\n\
                ONBUILD RUN echo triggered > /triggered\n";
    let ctx = context(&e, "base", &[("Dockerfile", base.as_bytes())])?;
    let o = build(&e, &["-t", "onb-base", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    let app = "FROM onb-base\n\
               COPY --parents x/a/f.txt y/g.txt /p/\n\
               COPY --parents ./x/./a/f.txt /pivot/\n\
               COPY --exclude=*.log --exclude=deep/*.tmp src/ /e/\n\
               USER 1000:1000\n\
               WORKDIR /home/w/sub\n\
               USER root\n\
               WORKDIR /etc\n";
    let ctx = context(
        &e,
        "app",
        &[
            ("Dockerfile", app.as_bytes()),
            ("marker", b"m"),
            ("x/a/f.txt", b"f"),
            ("y/g.txt", b"g"),
            ("src/keep.txt", b"k"),
            ("src/drop.log", b"d"),
            ("src/deep/x.tmp", b"t"),
            ("src/deep/y.txt", b"y"),
        ],
    )?;
    let o = build(&e, &["-t", "app", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        o.stderr.contains("ONBUILD COPY marker /from-onbuild"),
        "the triggers are not shown: {}",
        o.stderr
    );
    let got = sh(
        &e,
        "app",
        "cat /from-onbuild /triggered; find /p /pivot /e -type f | sort; \
         stat -c '%u:%g' /home/w /home/w/sub",
    )?;
    let want = "mtriggered\n/e/deep/y.txt\n/e/keep.txt\n/p/x/a/f.txt\n/p/y/g.txt\n/pivot/a/f.txt\n1000:1000\n1000:1000";
    ensure!(got == want, "files:\n{got}\nwant:\n{want}");
    // Triggers run once: the child does not carry them.
    let config: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "-f", "{{json .Config}}", "app"])?)?;
    ensure!(
        config["OnBuild"].as_array().is_none_or(|a| a.is_empty()),
        "OnBuild passed on: {config}"
    );
    // WORKDIR /etc exists: no layer for it (docker's empty_layer), one for /home/w/sub.
    let history = e.ok(&["history", "--format", "{{.CreatedBy}}|{{.Size}}", "app"])?;
    let size_of = |what: &str| {
        history
            .lines()
            .find(|l| l.starts_with(what))
            .map(|l| l.rsplit('|').next().unwrap_or("").to_string())
    };
    ensure!(
        size_of("WORKDIR /etc").as_deref() == Some("0B"),
        "history: {history}"
    );
    ensure!(
        size_of("WORKDIR /home/w/sub").is_some_and(|s| s != "0B"),
        "history: {history}"
    );
    Ok(())
}

#[test]
fn run_mounts_of_every_type() -> Result<()> {
    let e = Engine::start()?;
    let df = "FROM busybox\n\
        RUN --mount=type=cache,target=/cache,id=counter sh -c 'echo x >> /cache/count; wc -l < /cache/count > /seen'\n\
        RUN --mount=type=bind,source=data,target=/data cp /data/in.txt /bound\n\
        RUN --mount=type=bind,source=data,target=/data,rw sh -c 'echo changed > /data/in.txt'\n\
        RUN --mount=type=tmpfs,target=/scratch sh -c 'grep -q \" /scratch tmpfs \" /proc/mounts && touch /scratch/x'\n\
        RUN --mount=type=secret,id=tok sh -c 'md5sum < /run/secrets/tok > /secret-sum && stat -c %a /run/secrets/tok > /secret-mode'\n\
        RUN --mount=type=secret,id=tok,env=TOK sh -c 'printf %s \"$TOK\" | md5sum > /env-sum'\n\
        RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent\n";
    let ctx = context(
        &e,
        "mounts",
        &[
            ("Dockerfile", df.as_bytes()),
            ("data/in.txt", b"original\n"),
        ],
    )?;
    let ctx_s = ctx.to_string_lossy().into_owned();
    let secret = e.dir().join("tok");
    std::fs::write(&secret, "s3cret")?;
    let secret_arg = format!("id=tok,src={}", secret.display());
    let o = build(&e, &["--secret", &secret_arg, "-t", "mounted", &ctx_s])?;
    ensure!(o.success(), "build failed: {}", o.stderr);
    // The secret's value reached the RUN by file and by variable (the same digest,
    // not the empty one); the Dockerfile never spells it.
    let sums = sh(&e, "mounted", "cat /secret-sum /env-sum")?;
    let lines: Vec<&str> = sums.lines().collect();
    ensure!(
        lines.len() == 2 && lines[0] == lines[1] && !lines[0].starts_with("d41d8cd98f00b204"),
        "secret digests: {sums}"
    );
    let check = "cat /seen /bound /secret-mode; \
                 for p in /cache /data /scratch /run/secrets; do test -e $p && echo left $p; done; true";
    let got = sh(&e, "mounted", check)?;
    ensure!(got == "1\noriginal\n400", "first build: {got:?}");
    ensure!(
        std::fs::read_to_string(ctx.join("data/in.txt"))? == "original\n",
        "a rw bind wrote into the context"
    );
    // The secret is in no layer of the image.
    let tar = e.dir().join("mounted.tar");
    ensure!(
        e.cli(&["save", "-o", &tar.to_string_lossy(), "mounted"])?
            .success(),
        "save -o"
    );
    ensure!(
        !layers_contain(&tar, b"s3cret")?,
        "the secret reached a layer"
    );

    // The cache dir outlives the build; a missing required secret fails the build.
    let o = build(
        &e,
        &[
            "--no-cache",
            "--secret",
            &secret_arg,
            "-t",
            "mounted",
            &ctx_s,
        ],
    )?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        sh(&e, "mounted", "cat /seen")? == "2",
        "the cache mount did not keep its content"
    );
    // A changed bound file re-runs its RUN, and says so.
    std::fs::write(ctx.join("data/in.txt"), "edited\n")?;
    let o = build(&e, &["--secret", &secret_arg, "-t", "mounted", &ctx_s])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        o.stderr.contains("in.txt changed"),
        "the miss is not explained: {}",
        o.stderr
    );
    ensure!(
        sh(&e, "mounted", "cat /bound")? == "edited",
        "bind not re-read"
    );

    let req = context(
        &e,
        "req",
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN --mount=type=secret,id=gone,required true\n",
        )],
    )?;
    let o = build(&e, &["-t", "req", &req.to_string_lossy()])?;
    ensure!(
        !o.success() && o.stderr.contains("secret gone") && o.stderr.contains("Dockerfile:2"),
        "{}",
        o.stderr
    );
    let bad = context(
        &e,
        "badmount",
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN --mount=type=nfs,target=/x true\n",
        )],
    )?;
    let o = build(&e, &["-t", "bad", &bad.to_string_lossy()])?;
    ensure!(
        !o.success() && o.stderr.contains("unknown mount type"),
        "{}",
        o.stderr
    );

    // system df counts the cache; prune -a empties it, cache mounts too.
    let df = e.ok(&["system", "df", "--format", "{{.Type}} {{.Total}}"])?;
    let count = |text: &str| -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with("Build Cache "))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
    };
    ensure!(count(&df).is_some_and(|n| n > 1), "system df: {df}");
    ensure!(e.cli(&["builder", "prune", "-a", "-f"])?.success(), "prune");
    let df = e.ok(&["system", "df", "--format", "{{.Type}} {{.Total}}"])?;
    ensure!(count(&df) == Some(0), "after prune -a: {df}");
    ensure!(
        std::fs::read_dir(e.root().join("build/cache-mounts"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "cache mounts left after prune -a"
    );
    nothing_left(&e)
}

/// Whether any layer blob in a `save` tar holds `needle`.
fn layers_contain(tar_path: &Path, needle: &[u8]) -> Result<bool> {
    let mut a = tar::Archive::new(std::fs::File::open(tar_path)?);
    for entry in a.entries()? {
        let mut entry = entry?;
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let mut plain = Vec::new();
        if flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut plain)
            .is_err()
        {
            plain = data;
        }
        if plain.windows(needle.len()).any(|w| w == needle) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[test]
fn outputs_and_live_progress() -> Result<()> {
    let e = Engine::start()?;
    let df = "FROM busybox AS build\n\
              RUN mkdir /out && echo artifact > /out/result.txt\n\
              FROM scratch\n\
              COPY --from=build /out/ /\n\
              COPY --from=build /out/result.txt /sub/\n";
    let ctx = context(&e, "out", &[("Dockerfile", df.as_bytes())])?;
    let ctx_s = ctx.to_string_lossy().into_owned();
    let dest = e.dir().join("exported");
    let o = build(
        &e,
        &["-o", &format!("type=local,dest={}", dest.display()), &ctx_s],
    )?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        std::fs::read_to_string(dest.join("result.txt"))? == "artifact\n",
        "type=local did not write the result"
    );
    ensure!(
        dest.join("sub/result.txt").is_file(),
        "COPY --from of one file into a directory misnamed it"
    );
    let tar_path = e.dir().join("exported.tar");
    let o = build(
        &e,
        &[
            "-o",
            &format!("type=tar,dest={}", tar_path.display()),
            &ctx_s,
        ],
    )?;
    ensure!(o.success(), "{}", o.stderr);
    let mut a = tar::Archive::new(std::fs::File::open(&tar_path)?);
    let names: Vec<String> = a
        .entries()?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.path().ok().map(|p| p.display().to_string()))
        .collect();
    ensure!(
        names.iter().any(|n| n == "result.txt"),
        "type=tar holds {names:?}"
    );
    let o = build(&e, &["-o", "type=registry", &ctx_s])?;
    ensure!(
        !o.success() && o.stderr.contains("type=registry"),
        "{}",
        o.stderr
    );

    // On a terminal: the live view, steps settling to `=> [..] … CACHED`.
    let cmd = format!(
        "{} -H {} build --network none --progress tty {}",
        berth_integration_tests::engine::binary("berth")?.display(),
        e.socket().display(),
        ctx_s
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "tty build: {text}");
    ensure!(
        text.contains("=> [build 2/2] RUN mkdir /out") && text.contains("CACHED"),
        "no live view: {text}"
    );
    nothing_left(&e)
}

#[test]
fn a_run_layer_is_moved_into_its_snapshot_not_unpacked() -> Result<()> {
    let e = Engine::start()?;
    let df = "FROM busybox\n\
              RUN echo made > /marker && stat -c %i /marker > /marker.ino\n";
    let ctx = context(&e, "adopt", &[("Dockerfile", df.as_bytes())])?;
    let o = build(&e, &["-t", "adopted", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    let ino: u64 = sh(&e, "adopted", "cat /marker.ino")?.trim().parse()?;
    // The snapshot holding the step's files has the very inode the RUN wrote:
    // the upper dir was moved, not unpacked again from the layer.
    let mut found = None;
    for s in std::fs::read_dir(e.root().join("snapshots"))? {
        let p = s?.path().join("fs/marker");
        if let Ok(m) = std::fs::metadata(&p) {
            use std::os::unix::fs::MetadataExt;
            found = Some((p, m.ino()));
        }
    }
    let (path, got) = found.context("no snapshot holds /marker")?;
    ensure!(
        got == ino,
        "{} has inode {got}, the RUN wrote {ino}",
        path.display()
    );
    ensure!(
        sh(&e, "adopted", "cat /marker")? == "made",
        "the image lost the file"
    );
    // The engine's /etc/hosts, resolv.conf and hostname mountpoints are not in it.
    let fs = path
        .parent()
        .context("the snapshot's fs dir")?
        .to_path_buf();
    for f in ["etc/hosts", "etc/resolv.conf", "etc/hostname"] {
        ensure!(!fs.join(f).exists(), "the RUN layer holds {f}");
    }
    nothing_left(&e)
}
