//! `berth build` through a real berthd: RUN steps as containers through the shim,
//! COPY from the context and from stages, the cache rules of docker's docs (a
//! changed file re-runs its COPY and everything after; the same RUN string is
//! cached), misses explained, stages the target does not need never run, and bad
//! input failing with the Dockerfile line and leaving no container or mount. Root
//! only.

use std::path::Path;
use std::process::Stdio;

use anyhow::{ensure, Result};
use berth_integration_tests::build::{build, context, nothing_left};
use berth_integration_tests::engine::Engine;

/// Step lines of a build's progress that say `what` (`CACHED`, `cache miss: …`).
fn steps_saying(stderr: &str, what: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with('#') && l.contains(what))
        .map(str::to_string)
        .collect()
}

const APP: &str = "FROM busybox
ARG V=1
ENV GREETING=hello
WORKDIR /app
COPY a.txt ./
RUN echo \"$GREETING v$V\" > out && cat a.txt
CMD [\"cat\", \"/app/out\"]
";

#[test]
fn build_run_and_cache_rules() -> Result<()> {
    let e = Engine::start()?;
    let ctx = context(&e, "app", &[("Dockerfile", APP), ("a.txt", "first\n")])?;
    let ctx_s = ctx.to_string_lossy().into_owned();
    let o = build(&e, &["-t", "app", &ctx_s])?;
    ensure!(o.success(), "build failed: {}", o.stderr);
    ensure!(
        o.stderr.lines().any(|l| l.ends_with(" first")),
        "RUN output not streamed: {}",
        o.stderr
    );
    ensure!(
        e.ok(&["run", "--rm", "app"])? == "hello v1",
        "the built image runs wrong"
    );
    let inspect = e.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.WorkingDir}} {{json .Config.Env}} {{json .Config.Cmd}}",
        "app",
    ])?;
    ensure!(
        inspect.starts_with("/app ")
            && inspect.contains("GREETING=hello")
            && inspect.contains("[\"cat\",\"/app/out\"]"),
        "config: {inspect}"
    );
    let history = e.ok(&["history", "app"])?;
    ensure!(
        history.contains("COPY a.txt ./") && history.contains("WORKDIR /app"),
        "history: {history}"
    );

    // The same build again: every step cached, the same image.
    let first = e.ok(&["image", "inspect", "-f", "{{.Id}}", "app"])?;
    let o = build(&e, &["-t", "app", &ctx_s])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        steps_saying(&o.stderr, "cache miss").is_empty(),
        "misses on a rebuild: {}",
        o.stderr
    );
    ensure!(
        !o.stderr.lines().any(|l| l.ends_with(" first")),
        "a cached RUN ran: {}",
        o.stderr
    );
    ensure!(
        e.ok(&["image", "inspect", "-f", "{{.Id}}", "app"])? == first,
        "a fully cached build made a new image"
    );

    // A changed file: its COPY misses, naming the file, and everything after it.
    std::fs::write(ctx.join("a.txt"), "second\n")?;
    let o = build(&e, &["-t", "app", &ctx_s])?;
    ensure!(o.success(), "{}", o.stderr);
    let misses = steps_saying(&o.stderr, "cache miss");
    ensure!(misses.len() == 3, "misses: {misses:?}");
    ensure!(
        misses[0].contains("a.txt changed"),
        "first miss: {:?}",
        misses[0]
    );
    ensure!(
        misses[1].contains("parent changed at step"),
        "second miss: {:?}",
        misses[1]
    );
    ensure!(
        o.stderr.lines().any(|l| l.ends_with(" second")),
        "the RUN after the COPY did not run again: {}",
        o.stderr
    );

    // A build arg the RUN sees: that RUN misses, naming it.
    let o = build(
        &e,
        &[
            "--build-arg",
            "V=2",
            "--build-arg",
            "UNUSED=x",
            "-t",
            "app",
            &ctx_s,
        ],
    )?;
    ensure!(o.success(), "{}", o.stderr);
    let misses = steps_saying(&o.stderr, "cache miss");
    ensure!(
        misses
            .first()
            .is_some_and(|m| m.contains("build arg V changed")),
        "misses: {misses:?}"
    );
    ensure!(
        o.stderr.contains("UNUSED"),
        "no warning for an unused --build-arg: {}",
        o.stderr
    );
    ensure!(
        e.ok(&["run", "--rm", "app"])? == "hello v2",
        "the build arg did not reach RUN"
    );

    // Intermediate images are hidden, as docker hides them; -a shows them.
    let shown = e.ok(&["images", "-q"])?.lines().count();
    let all = e.ok(&["images", "-aq"])?.lines().count();
    ensure!(all > shown + 3, "images {shown}, images -a {all}");
    nothing_left(&e)
}

#[test]
fn stages_only_what_the_target_needs() -> Result<()> {
    let e = Engine::start()?;
    let df = "FROM busybox AS build
RUN echo built > /artifact
FROM busybox AS never
RUN exit 3
FROM scratch
COPY --from=build /artifact /artifact
COPY --from=build /bin/busybox /bin/busybox
CMD [\"/bin/busybox\", \"cat\", \"/artifact\"]
";
    let ctx = context(&e, "multi", &[("Dockerfile", df)])?;
    let o = build(&e, &["-t", "multi", &ctx.to_string_lossy()])?;
    ensure!(
        o.success(),
        "a stage the target does not need ran or failed: {}",
        o.stderr
    );
    ensure!(
        !o.stderr.contains("exit 3"),
        "the unused stage was built: {}",
        o.stderr
    );
    ensure!(
        e.ok(&["run", "--rm", "multi"])? == "built",
        "the final stage runs wrong"
    );
    let layers = e.ok(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", "multi"])?;
    let layers: Vec<String> = serde_json::from_str(&layers)?;
    ensure!(layers.len() == 2, "FROM scratch + two COPY: {layers:?}");
    // --target builds the named stage alone.
    let o = build(&e, &["--target", "build", "-q", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    let id = o.stdout.trim().to_string();
    ensure!(
        e.ok(&["run", "--rm", &id, "cat", "/artifact"])? == "built",
        "--target image"
    );
    nothing_left(&e)
}

#[test]
fn dockerignore_heredocs_and_chown() -> Result<()> {
    let e = Engine::start()?;
    let df = "FROM busybox
ENV WHO=world
COPY --chown=nobody:nobody . /ctx/
COPY <<EOF /hello
hi $WHO
EOF
RUN ls /ctx && stat -c '%U %a' /ctx/kept.txt && cat /hello
WORKDIR /w
COPY kept.txt .
RUN cat /w/kept.txt && test -d /w
";
    let ctx = context(
        &e,
        "ign",
        &[
            ("Dockerfile", df),
            ("kept.txt", "k"),
            ("secret.key", "s"),
            (".dockerignore", "*.key\n"),
        ],
    )?;
    let o = build(&e, &["-t", "ign", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        o.stderr.contains("kept.txt") && !o.stderr.contains("secret.key"),
        "the ignored file reached the image: {}",
        o.stderr
    );
    ensure!(
        o.stderr.contains("nobody 644"),
        "--chown by name: {}",
        o.stderr
    );
    ensure!(
        o.stderr.contains("hi world"),
        "heredoc with expansion: {}",
        o.stderr
    );
    nothing_left(&e)
}

#[test]
fn bad_input_names_the_line_and_leaves_nothing() -> Result<()> {
    let e = Engine::start()?;
    let before = e.ok(&["images", "-aq"])?;
    let outside = e.dir().join("outside.txt");
    std::fs::write(&outside, "secret")?;
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nBOGUS x\n",
            "Dockerfile:2: unknown instruction: BOGUS",
        ),
        ("FROM busybox\nRUN echo out; exit 7\n", "exited with code 7"),
        (
            "FROM busybox\nCOPY ../outside.txt /x\n",
            "outside the build context",
        ),
        ("FROM busybox\nCOPY link /x\n", "outside the build context"),
        ("FROM busybox\nCOPY missing /x\n", "missing"),
        (
            "FROM busybox\nRUN <<EOF\nnever closed\n",
            "unterminated heredoc",
        ),
        (
            "FROM busybox AS a\nCOPY --from=a /x /y\n",
            "depends on itself",
        ),
        (
            "FROM busybox\nRUN --mount=type=ssh true\n",
            "not supported by berth yet",
        ),
        (
            "FROM busybox\nRUN --mount=source=link,target=/l true\n",
            "outside the build context",
        ),
    ];
    for (i, (df, needle)) in cases.iter().enumerate() {
        let ctx = context(&e, &format!("bad{i}"), &[("Dockerfile", df)])?;
        std::os::unix::fs::symlink(&outside, ctx.join("link"))?;
        let o = build(&e, &[&ctx.to_string_lossy()])?;
        ensure!(!o.success(), "{df:?} built");
        ensure!(
            o.stderr.contains(needle),
            "{df:?}: wanted {needle:?} in {}",
            o.stderr
        );
        nothing_left(&e)?;
    }
    let after = e.ok(&["images", "-aq"])?;
    ensure!(
        after.lines().count() <= before.lines().count() + 1,
        "failed builds left images: {after}"
    );

    // A context tar whose entry climbs out is refused, and nothing lands outside.
    let tar = e.dir().join("evil.tar");
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.as_old_mut().name[..8].copy_from_slice(b"../evilx");
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..])?;
    std::fs::write(&tar, b.into_inner()?)?;
    let mut cmd = e.command(&["build", "-"]);
    cmd.stdin(std::fs::File::open(&tar)?)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = cmd.output()?;
    ensure!(!o.status.success(), "a context tar with ../ was accepted");
    ensure!(
        String::from_utf8_lossy(&o.stderr).contains("outside the context"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ensure!(!Path::new(&e.root()).join("build").join("evilx").exists());
    nothing_left(&e)
}

#[test]
fn rmi_takes_the_untagged_build_steps_along() -> Result<()> {
    let e = Engine::start()?;
    let before = e.ok(&["images", "-aq"])?;
    let ctx = context(
        &e,
        "steps",
        &[(
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n",
        )],
    )?;
    let o = build(&e, &["-t", "steps", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    let during = e.ok(&["images", "-aq"])?;
    ensure!(
        during.lines().count() == before.lines().count() + 3,
        "images -a during: {during}"
    );
    let o = e.cli(&["rmi", "steps"])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        o.stdout.matches("Deleted:").count() == 3,
        "rmi output: {}",
        o.stdout
    );
    let after = e.ok(&["images", "-aq"])?;
    ensure!(
        after == before,
        "left after rmi: {after} (before: {before})"
    );
    ensure!(
        e.ok(&["run", "--rm", "busybox", "true"]).is_ok(),
        "the base went too"
    );
    Ok(())
}

/// Independent stages run at the same time: stage a's RUN waits (up to 20 s) for a
/// TCP connection that only stage b's RUN makes, over the host network of a network
/// namespace the test owns. A builder that ran them one after the other fails it.
#[test]
fn independent_stages_run_at_the_same_time() -> Result<()> {
    let ns = berth_integration_tests::netns::NetNs::create()?;
    let e = Engine::start_in(&ns, "{}")?;
    let df = "FROM busybox AS a
RUN timeout 20 nc -l -p 7070 > /got && grep -q ping /got
FROM busybox AS b
RUN for i in $(seq 200); do echo ping | nc 127.0.0.1 7070 && exit 0; sleep 0.1; done; exit 1
FROM busybox
COPY --from=a /got /a
COPY --from=b /bin/busybox /b
";
    let ctx = context(&e, "together", &[("Dockerfile", df)])?;
    let o = e.cli(&[
        "build",
        "--network",
        "host",
        "-t",
        "together",
        &ctx.to_string_lossy(),
    ])?;
    ensure!(o.success(), "stages did not overlap: {}", o.stderr);
    ensure!(
        e.ok(&["run", "--rm", "together", "cat", "/a"])? == "ping",
        "stage a's result"
    );
    nothing_left(&e)
}

/// An image berth built runs under docker the same: `berth save | docker load`,
/// then the same command, the same output, docker's view of the config.
#[test]
fn a_built_image_runs_the_same_under_docker() -> Result<()> {
    let d = match berth_integration_tests::dockerd::Dockerd::start(None)? {
        Ok(d) => d,
        Err(reason) => {
            berth_integration_tests::requirements::host_lacks(&format!(
                "a dockerd that starts here: {reason}"
            ));
            return Ok(());
        }
    };
    let e = Engine::start()?;
    let ctx = context(&e, "interop", &[("Dockerfile", APP), ("a.txt", "x\n")])?;
    let o = build(&e, &["-t", "interop/app:1", &ctx.to_string_lossy()])?;
    ensure!(o.success(), "{}", o.stderr);
    let tar = e.dir().join("app.tar");
    e.ok(&["save", "-o", &tar.to_string_lossy(), "interop/app:1"])?;
    d.ok(&["load", "-i", &tar.to_string_lossy()])?;
    let berth_out = e.ok(&["run", "--rm", "interop/app:1"])?;
    let docker_out = d.ok(&["run", "--rm", "--network", "none", "interop/app:1"])?;
    ensure!(
        berth_out == docker_out.trim() && berth_out == "hello v1",
        "berth {berth_out:?}, docker {docker_out:?}"
    );
    let cfg = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.WorkingDir}} {{json .Config.Cmd}}",
        "interop/app:1",
    ])?;
    ensure!(
        cfg.trim() == "/app [\"cat\",\"/app/out\"]",
        "docker sees the config as {cfg}"
    );
    let history = d.ok(&["history", "--no-trunc", "interop/app:1"])?;
    ensure!(
        history.contains("COPY a.txt ./"),
        "docker history: {history}"
    );
    Ok(())
}

/// `builder prune -a` forgets the cache (the next build misses) and deletes the
/// intermediate images, while the tagged image keeps running.
#[test]
fn builder_prune_forgets_the_cache() -> Result<()> {
    let e = Engine::start()?;
    let ctx = context(
        &e,
        "prune",
        &[(
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n",
        )],
    )?;
    let ctx_s = ctx.to_string_lossy().into_owned();
    ensure!(build(&e, &["-t", "p", &ctx_s])?.success());
    let o = e.cli(&["builder", "prune", "-a", "-f"])?;
    ensure!(
        o.success() && o.stdout.contains("Total reclaimed space"),
        "{} {}",
        o.stdout,
        o.stderr
    );
    ensure!(
        e.ok(&["run", "--rm", "p"])? == "x",
        "the tagged image broke"
    );
    let o = build(&e, &["-t", "p", &ctx_s])?;
    ensure!(o.success(), "{}", o.stderr);
    ensure!(
        steps_saying(&o.stderr, "CACHED").is_empty(),
        "cached after prune -a: {}",
        o.stderr
    );
    nothing_left(&e)
}
