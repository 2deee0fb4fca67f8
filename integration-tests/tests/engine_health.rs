//! Health checks through a real berthd, as docker runs them: `--health-*`
//! flags and an image's HEALTHCHECK, probes as execs in the container,
//! `starting` → `unhealthy` → `healthy` in `inspect`'s `.State.Health` (its
//! log's exit codes), `ps` and `events`; `--no-healthcheck`; a probe past
//! its timeout killed with its children; the state kept across a berthd
//! restart with the probes going on. Sub-second intervals keep each short.
//! Root only.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use berth_integration_tests::engine::{self, Engine};
use serde_json::Value;

/// Long enough for a loaded CI machine; the probes run every 200 ms.
const SETTLE: Duration = Duration::from_secs(15);

fn now_secs() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `.State.Health` as JSON (`Null` when the container has none).
fn health(e: &Engine, id: &str) -> Result<Value> {
    let state: Value = serde_json::from_str(&e.inspect(id, "{{json .State}}")?)
        .context("inspect's .State is not JSON")?;
    Ok(state.get("Health").cloned().unwrap_or(Value::Null))
}

fn status(e: &Engine, id: &str) -> Result<String> {
    Ok(health(e, id)?["Status"]
        .as_str()
        .unwrap_or("<none>")
        .to_string())
}

/// Waits until the health status is `want`; fails naming the last state.
fn wait_status(e: &Engine, id: &str, want: &str) -> Result<Value> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let h = health(e, id)?;
        if h["Status"] == want {
            return Ok(h);
        }
        if Instant::now() > deadline {
            bail!("health of {id} never became {want}: {h}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn exit_codes(h: &Value) -> Vec<i64> {
    h["Log"]
        .as_array()
        .map(|l| l.iter().filter_map(|r| r["ExitCode"].as_i64()).collect())
        .unwrap_or_default()
}

/// The STATUS column `ps` shows for one container.
fn ps_status(e: &Engine, id: &str) -> Result<String> {
    Ok(e.ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("id={id}"),
        "--format",
        "{{.Status}}",
    ])?)
}

/// The container's `health_status` events since `since` (their action texts).
fn health_events(e: &Engine, name: &str, since: &str) -> Result<Vec<String>> {
    let out = e.ok(&[
        "events",
        "--since",
        since,
        "--until",
        &now_secs(),
        "--filter",
        &format!("container={name}"),
        "--filter",
        "event=health_status",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let rest = l.split_once(" container ")?.1;
            rest.strip_prefix("health_status: ")
                .and_then(|r| r.split_whitespace().next())
                .map(|s| format!("health_status: {s}"))
        })
        .collect())
}

#[test]
fn health_cmd_goes_starting_then_unhealthy_then_healthy() -> Result<()> {
    let e = Engine::start()?;
    let since = now_secs();
    let id = e.full_id(&e.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "600",
    ])?)?;
    // The first probe runs one interval after the start; two failures later
    // it is unhealthy, so right after the run it is still starting.
    let first = status(&e, &id)?;
    ensure!(first == "starting", "a new container's health is {first}");

    let h = wait_status(&e, &id, "unhealthy")?;
    let codes = exit_codes(&h);
    ensure!(
        codes.len() >= 2 && codes.iter().all(|c| *c == 1),
        "the failed probes' exit codes: {codes:?} ({h})"
    );
    ensure!(
        h["FailingStreak"].as_u64() >= Some(2),
        "failing streak of an unhealthy container: {h}"
    );
    let ps = ps_status(&e, &id)?;
    ensure!(
        ps.starts_with("Up ") && ps.ends_with("(unhealthy)"),
        "ps: {ps:?}"
    );

    e.ok(&["exec", "hc", "touch", "/tmp/ok"])?;
    let h = wait_status(&e, &id, "healthy")?;
    ensure!(
        exit_codes(&h).last() == Some(&0),
        "the last probe of a healthy container: {h}"
    );
    ensure!(h["FailingStreak"] == 0, "streak after a success: {h}");
    ensure!(
        h["Log"][0]["Start"].as_str().is_some_and(|s| !s.is_empty())
            && h["Log"][0]["End"].as_str().is_some_and(|s| !s.is_empty()),
        "log entries carry Start and End: {h}"
    );
    let ps = ps_status(&e, &id)?;
    ensure!(ps.ends_with("(healthy)"), "ps: {ps:?}");
    let healthy = e.ok(&["ps", "-q", "--no-trunc", "--filter", "health=healthy"])?;
    ensure!(
        healthy.contains(&id),
        "ps --filter health=healthy: {healthy:?}"
    );
    let unhealthy = e.ok(&["ps", "-q", "--filter", "health=unhealthy"])?;
    ensure!(
        unhealthy.is_empty(),
        "ps --filter health=unhealthy: {unhealthy:?}"
    );

    // The log keeps the last five.
    ensure!(
        engine::eventually(SETTLE, || health(&e, &id)
            .map(|h| exit_codes(&h).len() == 5)
            .unwrap_or(false)),
        "the log does not stop at 5: {}",
        health(&e, &id)?
    );
    let events = health_events(&e, "hc", &since)?;
    ensure!(
        events == ["health_status: unhealthy", "health_status: healthy"],
        "health events: {events:?}"
    );

    // A stopped container's monitor is gone: docker reports it unhealthy.
    e.ok(&["stop", "-t", "1", "hc"])?;
    ensure!(
        status(&e, &id)? == "unhealthy",
        "after stop: {}",
        health(&e, &id)?
    );
    Ok(())
}

#[test]
fn an_images_healthcheck_runs_without_flags_and_no_healthcheck_disables_it() -> Result<()> {
    let e = Engine::start()?;
    let ctx = e.dir().join("hc-image");
    std::fs::create_dir_all(&ctx)?;
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD test -x /bin/sh\n",
    )?;
    let o = e.cli(&[
        "build",
        "--network",
        "none",
        "-t",
        "hc-img",
        &ctx.to_string_lossy(),
    ])?;
    ensure!(o.success(), "build failed: {}", o.stderr);

    let id = e.full_id(&e.ok(&["run", "-d", "hc-img", "sleep", "600"])?)?;
    let config: Value = serde_json::from_str(&e.inspect(&id, "{{json .Config.Healthcheck}}")?)?;
    ensure!(
        config["Test"] == serde_json::json!(["CMD-SHELL", "test -x /bin/sh"])
            && config["Interval"] == 200_000_000,
        "the image's check in the container's config: {config}"
    );
    let h = wait_status(&e, &id, "healthy")?;
    ensure!(exit_codes(&h).contains(&0), "{h}");

    // A run-time option overrides the image's field by field.
    let id2 = e.full_id(&e.ok(&[
        "run",
        "-d",
        "--health-cmd",
        "exit 3",
        "hc-img",
        "sleep",
        "600",
    ])?)?;
    let h = wait_status(&e, &id2, "unhealthy")?;
    ensure!(
        exit_codes(&h).first() == Some(&3),
        "exit codes other than 1 fail too: {h}"
    );
    let config: Value = serde_json::from_str(&e.inspect(&id2, "{{json .Config.Healthcheck}}")?)?;
    ensure!(
        config["Test"] == serde_json::json!(["CMD-SHELL", "exit 3"])
            && config["Interval"] == 200_000_000
            && config["Retries"] == 1,
        "merged check: {config}"
    );

    let off = e.full_id(&e.ok(&["run", "-d", "--no-healthcheck", "hc-img", "sleep", "600"])?)?;
    std::thread::sleep(Duration::from_millis(700));
    ensure!(
        health(&e, &off)?.is_null(),
        "--no-healthcheck still has health: {}",
        health(&e, &off)?
    );
    let ps = ps_status(&e, &off)?;
    ensure!(
        !ps.contains('('),
        "ps of a container without a check: {ps:?}"
    );
    let none = e.ok(&["ps", "-q", "--no-trunc", "--filter", "health=none"])?;
    ensure!(
        none.contains(&off) && !none.contains(&id),
        "ps --filter health=none: {none:?}"
    );

    let o = e.cli(&[
        "run",
        "-d",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "hc-img",
    ])?;
    ensure!(
        o.status.code() == Some(125)
            && o.stderr
                .contains("--no-healthcheck conflicts with --health-* options"),
        "conflicting flags: {:?} {}",
        o.status,
        o.stderr
    );
    Ok(())
}

/// The container's processes other than its init, as `top` lists them.
fn probe_processes(e: &Engine, id: &str) -> Result<Vec<String>> {
    let out = e.ok(&["top", id])?;
    Ok(out
        .lines()
        .skip(1)
        .filter(|l| !l.contains("sleep 600"))
        .map(str::to_string)
        .collect())
}

#[test]
fn a_probe_past_its_timeout_fails_and_leaves_no_process() -> Result<()> {
    let e = Engine::start()?;
    // `; true` makes the shell fork `sleep 5` rather than exec it: the kill
    // must reach the probe's children, not only the shell.
    let id = e.full_id(&e.ok(&[
        "run",
        "-d",
        "--health-cmd",
        "sleep 5; true",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "1500ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "600",
    ])?)?;
    let h = wait_status(&e, &id, "unhealthy")?;
    // The next probe starts 1.5 s after this one ended: until then nothing
    // but the init may run.
    let left = probe_processes(&e, &id)?;
    ensure!(left.is_empty(), "the timed-out probe left {left:?}");
    let r = &h["Log"][0];
    ensure!(r["ExitCode"] == -1, "a timed-out probe's exit code: {h}");
    ensure!(
        r["Output"]
            .as_str()
            .is_some_and(|o| o.starts_with("Health check exceeded timeout (300ms)")),
        "a timed-out probe's output: {h}"
    );
    let took = |r: &Value| -> Option<i64> {
        let t = |k: &str| chrono::DateTime::parse_from_rfc3339(r[k].as_str()?).ok();
        Some((t("End")? - t("Start")?).num_milliseconds())
    };
    let ms = took(r).context("Start/End are not RFC 3339")?;
    ensure!(
        (300..3000).contains(&ms),
        "the probe ran {ms} ms, its timeout is 300 ms"
    );
    // Later probes too.
    ensure!(
        engine::eventually(SETTLE, || health(&e, &id)
            .map(|h| exit_codes(&h).len() >= 2)
            .unwrap_or(false)),
        "no second probe"
    );
    let h = wait_status(&e, &id, "unhealthy")?;
    ensure!(exit_codes(&h).iter().all(|c| *c == -1), "{h}");
    ensure!(
        engine::eventually(Duration::from_secs(3), || probe_processes(&e, &id)
            .map(|p| p.is_empty())
            .unwrap_or(false)),
        "probes pile up: {:?}",
        probe_processes(&e, &id)?
    );
    Ok(())
}

#[test]
fn health_survives_a_berthd_restart_and_probes_resume() -> Result<()> {
    let mut e = Engine::start()?;
    let id = e.full_id(&e.ok(&[
        "run",
        "-d",
        "--name",
        "hr",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; exec sleep 600",
    ])?)?;
    let before = wait_status(&e, &id, "healthy")?;
    e.kill9_berthd();
    e.spawn_berthd()?;
    let after = health(&e, &id)?;
    ensure!(
        after["Status"] == "healthy",
        "after a berthd restart: {after} (before: {before})"
    );
    ensure!(
        !exit_codes(&after).is_empty(),
        "the log was lost across the restart: {after}"
    );
    let since = now_secs();
    e.ok(&["exec", "hr", "rm", "/tmp/ok"])?;
    let h = wait_status(&e, &id, "unhealthy")?;
    ensure!(
        exit_codes(&h).last() == Some(&1),
        "the resumed probes' results: {h}"
    );
    let events = health_events(&e, "hr", &since)?;
    ensure!(
        events == ["health_status: unhealthy"],
        "events of the resumed monitor: {events:?}"
    );
    let ps = ps_status(&e, &id)?;
    ensure!(ps.ends_with("(unhealthy)"), "ps: {ps:?}");
    Ok(())
}
