//! The observing and controlling verbs of the `berth` CLI (`top`, `stats`,
//! `kill`, `restart`, `export`), each checked against what the kernel or
//! the disk says. Root only.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use berth_integration_tests::cgroup;
use berth_integration_tests::engine::{self, Engine};

fn cgroup_pids(id: &str) -> Result<BTreeSet<String>> {
    let dir = cgroup::dir("pids", &engine::cgroup_path(id));
    Ok(std::fs::read_to_string(dir.join("cgroup.procs"))?
        .lines()
        .map(|l| l.trim().to_string())
        .collect())
}

#[test]
fn top_lists_exactly_the_processes_of_the_containers_cgroup() -> Result<()> {
    let e = Engine::start()?;
    let id = e.full_id(&e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "sleep 600 & sleep 601 & wait",
    ])?)?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || cgroup_pids(&id)
            .map(|p| p.len() == 3)
            .unwrap_or(false)),
        "the container never had its 3 processes"
    );
    let out = e.ok(&["top", &id])?;
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .context("no header")?
        .split_whitespace()
        .collect();
    let col = header
        .iter()
        .position(|h| *h == "PID")
        .context("no PID column")?;
    let listed: BTreeSet<String> = lines
        .filter_map(|l| l.split_whitespace().nth(col).map(str::to_string))
        .collect();
    ensure!(
        listed == cgroup_pids(&id)?,
        "top lists {listed:?}, the cgroup holds {:?}",
        cgroup_pids(&id)?
    );
    ensure!(
        out.contains("sleep 601"),
        "top lost the command lines: {out}"
    );
    Ok(())
}

#[test]
fn stats_no_stream_reports_the_cgroups_pids_and_limit() -> Result<()> {
    let e = Engine::start()?;
    let id = e.full_id(&e.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 600 & wait",
    ])?)?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || cgroup_pids(&id)
            .map(|p| p.len() == 2)
            .unwrap_or(false)),
        "the container never had its 2 processes"
    );
    let out = e.ok(&["stats", "--no-stream", &id])?;
    let row = out.lines().nth(1).context("no row")?;
    ensure!(row.contains("/ 64MiB"), "limit not shown as 64MiB: {row}");
    let pids = row.split_whitespace().last().unwrap_or("");
    ensure!(
        pids == "2",
        "PIDS column {pids:?}, the cgroup holds 2: {row}"
    );
    Ok(())
}

#[test]
fn kill_delivers_the_signal_to_pid1() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 4' USR1; echo ready; while :; do sleep 0.1; done",
    ])?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || e
            .cli(&["logs", &id])
            .map(|o| o.stdout.contains("ready"))
            .unwrap_or(false)),
        "the trap was never set"
    );
    e.ok(&["kill", "-s", "USR1", &id])?;
    let code = e
        .cli_timeout(&["wait", &id], Duration::from_secs(20))?
        .check()?;
    ensure!(
        code.stdout.trim() == "4",
        "exit after USR1: {:?}",
        code.stdout
    );
    let logs = e.ok(&["logs", &id])?;
    ensure!(logs.contains("got-usr1"), "trap did not run: {logs:?}");
    Ok(())
}

#[test]
fn restart_verb_replaces_the_process() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let before = e.pid(&id)?;
    let net_before = engine::ns(before, "net")?;
    e.ok(&["restart", "-t", "1", &id])?;
    let after = e.pid(&id)?;
    ensure!(after != before, "same pid {before} after restart");
    ensure!(engine::alive(after), "new process {after} not alive");
    ensure!(!engine::alive(before), "old process {before} still alive");
    ensure!(
        engine::ns(after, "net")? != engine::ns("self", "net")?,
        "restarted container lost its net namespace (was {net_before})"
    );
    ensure!(
        e.inspect(&id, "{{.State.Running}}")? == "true",
        "not running after restart"
    );
    Ok(())
}

#[test]
fn export_is_the_containers_filesystem() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo written-inside > /hello; rm /bin/vi; sleep 600",
    ])?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || e
            .cli(&["exec", &id, "cat", "/hello"])
            .map(|o| o.success())
            .unwrap_or(false)),
        "/hello never written"
    );
    let tar = e.dir().join("export.tar");
    let tar_s = tar.display().to_string();
    e.ok(&["export", "-o", &tar_s, &id])?;
    let list = e.run(
        {
            let mut c = std::process::Command::new("tar");
            c.args(["-tf", &tar_s]);
            c
        },
        Duration::from_secs(30),
    )?;
    let names: BTreeSet<&str> = list
        .stdout
        .lines()
        .map(|l| l.trim_start_matches("./"))
        .collect();
    ensure!(names.contains("hello"), "no /hello in the export");
    ensure!(names.contains("bin/sh"), "no /bin/sh in the export");
    ensure!(!names.contains("bin/vi"), "a deleted file is in the export");
    let content = e.run(
        {
            let mut c = std::process::Command::new("tar");
            c.args(["-xOf", &tar_s]);
            c.arg(if list.stdout.contains("./hello") {
                "./hello"
            } else {
                "hello"
            });
            c
        },
        Duration::from_secs(30),
    )?;
    ensure!(
        content.stdout == "written-inside\n",
        "/hello in the export: {:?}",
        content.stdout
    );
    Ok(())
}

#[test]
fn events_tell_a_containers_life_in_order() -> Result<()> {
    let e = Engine::start()?;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        .saturating_sub(1)
        .to_string();
    let id = e.full_id(&e.ok(&["run", "-d", "busybox", "sh", "-c", "exit 2"])?)?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(30))?
        .check()?;
    e.ok(&["rm", &id])?;
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 1)
    .to_string();
    let filter = format!("container={id}");
    let out = e.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &filter,
        "--format",
        "{{.Action}}",
    ])?;
    let actions: Vec<&str> = out.lines().map(str::trim).collect();
    let want = ["create", "start", "die", "destroy"];
    let mut at = 0;
    for a in &actions {
        if at < want.len() && *a == want[at] {
            at += 1;
        }
    }
    ensure!(
        at == want.len(),
        "events {actions:?} do not contain {want:?} in order"
    );
    Ok(())
}
