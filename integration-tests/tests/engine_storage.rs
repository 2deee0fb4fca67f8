//! What outlives a container or the daemon: named volumes and bind mounts
//! (checked on the host's disk), and the json-file logs the shim writes,
//! including while berthd is dead. Root only.

use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};
use berth_integration_tests::engine::{self, Engine};

#[test]
fn named_volume_persists_across_rm_and_is_shared() -> Result<()> {
    let e = Engine::start()?;
    e.ok(&[
        "run",
        "--rm",
        "-v",
        "shared:/data",
        "busybox",
        "sh",
        "-c",
        "echo first > /data/f",
    ])?;
    let mountpoint = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "shared"])?;
    ensure!(
        Path::new(&mountpoint).starts_with(e.root()),
        "volume mountpoint {mountpoint} is outside the daemon root"
    );
    let on_disk = std::fs::read_to_string(Path::new(&mountpoint).join("f"))?;
    ensure!(on_disk == "first\n", "volume file on disk: {on_disk:?}");

    let a = e.ok(&["run", "-d", "-v", "shared:/data", "busybox", "sleep", "600"])?;
    let b = e.ok(&["run", "-d", "-v", "shared:/data", "busybox", "sleep", "600"])?;
    let seen = e.ok(&["exec", &b, "cat", "/data/f"])?;
    ensure!(
        seen == "first",
        "second container reads {seen:?} after rm of the first"
    );
    e.ok(&["exec", &a, "sh", "-c", "echo from-a > /data/g"])?;
    let seen = e.ok(&["exec", &b, "cat", "/data/g"])?;
    ensure!(seen == "from-a", "b does not see a's write: {seen:?}");

    e.ok(&["rm", "-f", &a, &b])?;
    let vols = e.ok(&["volume", "ls", "-q"])?;
    ensure!(
        vols.lines().any(|l| l.trim() == "shared"),
        "volume gone after rm of its containers: {vols:?}"
    );
    ensure!(
        Path::new(&mountpoint).join("g").is_file(),
        "volume data gone after rm"
    );
    Ok(())
}

#[test]
fn bind_mount_sees_and_writes_host_files() -> Result<()> {
    let e = Engine::start()?;
    let host = e.dir().join("bind-src");
    std::fs::create_dir(&host)?;
    std::fs::write(host.join("hello"), "from the host\n")?;
    let spec = format!("{}:/x", host.display());
    let out = e.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /x/hello; echo back > /x/reply",
    ])?;
    ensure!(out == "from the host", "container read {out:?}");
    let reply = std::fs::read_to_string(host.join("reply"))?;
    ensure!(reply == "back\n", "host reads {reply:?}");
    Ok(())
}

#[test]
fn missing_bind_source_is_a_clear_error_and_leaves_no_container() -> Result<()> {
    let e = Engine::start()?;
    let missing = e.dir().join("no-such-dir");
    let spec = format!("{}:/x", missing.display());
    let o = e.cli(&["run", "--name", "bindfail", "-v", &spec, "busybox", "true"])?;
    ensure!(!o.success(), "run with a missing bind source succeeded");
    ensure!(
        o.stderr.contains(&missing.display().to_string()) && o.stderr.contains("does not exist"),
        "error does not name the missing path: {}",
        o.stderr
    );
    ensure!(!missing.exists(), "the missing bind source was created");
    let left = e.ok(&["ps", "-aq"])?;
    ensure!(left.is_empty(), "a container was left: {left}");
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    // The name is free again.
    e.ok(&["run", "--rm", "--name", "bindfail", "busybox", "true"])?;
    Ok(())
}

#[test]
fn logs_show_stdout_and_stderr_apart() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ])?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(30))?
        .check()?;
    let o = e.cli(&["logs", &id])?.check()?;
    ensure!(o.stdout.trim() == "to-out", "logs stdout {:?}", o.stdout);
    ensure!(o.stderr.trim() == "to-err", "logs stderr {:?}", o.stderr);
    Ok(())
}

#[test]
fn logs_survive_a_berthd_crash_including_lines_written_while_it_was_down() -> Result<()> {
    let mut e = Engine::start()?;
    let trigger = e.dir().join("trigger");
    std::fs::create_dir(&trigger)?;
    let spec = format!("{}:/t", trigger.display());
    let id = e.ok(&[
        "run",
        "-d",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo before; while [ ! -e /t/go ]; do sleep 0.1; done; echo during; echo during-err >&2; sleep 600",
    ])?;
    let id = e.full_id(&id)?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || e
            .cli(&["logs", &id])
            .map(|o| o.stdout.contains("before"))
            .unwrap_or(false)),
        "first line never reached the logs"
    );
    e.kill9_berthd();
    std::fs::write(trigger.join("go"), "")?;
    // The shim writes the file itself: the line lands on disk with no berthd.
    let file = e
        .root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    ensure!(
        engine::eventually(Duration::from_secs(10), || std::fs::read_to_string(&file)
            .map(|s| s.contains("during-err"))
            .unwrap_or(false)),
        "no line written to {} while berthd was down",
        file.display()
    );
    e.spawn_berthd()?;
    let o = e.cli(&["logs", &id])?.check()?;
    ensure!(
        o.stdout.lines().collect::<Vec<_>>() == ["before", "during"],
        "logs after restart: {:?}",
        o.stdout
    );
    ensure!(
        o.stderr.trim() == "during-err",
        "stderr after restart {:?}",
        o.stderr
    );
    Ok(())
}

#[test]
fn logs_tail_gives_the_last_lines() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo l$i; done",
    ])?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(30))?
        .check()?;
    let out = e.ok(&["logs", "--tail", "2", &id])?;
    ensure!(out == "l4\nl5", "logs --tail 2: {out:?}");
    let out = e.ok(&["logs", "--tail", "0", &id])?;
    ensure!(out.is_empty(), "logs --tail 0: {out:?}");
    Ok(())
}

#[test]
fn logs_follow_ends_when_the_container_exits() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 5; echo b",
    ])?;
    let start = std::time::Instant::now();
    let o = e
        .cli_timeout(&["logs", "-f", &id], Duration::from_secs(30))?
        .check()?;
    ensure!(
        o.stdout.lines().collect::<Vec<_>>() == ["a", "b"],
        "logs -f printed {:?}",
        o.stdout
    );
    ensure!(
        start.elapsed() >= Duration::from_millis(2500),
        "logs -f returned before the container exited"
    );
    Ok(())
}

#[test]
fn json_log_rotates_at_max_size_and_keeps_max_file() -> Result<()> {
    let e = Engine::start_bare(r#"{"log-opts": {"max-size": "10k", "max-file": "2"}}"#)?;
    e.import_busybox()?;
    // ~300 kB of output in numbered lines: 30 times the limit.
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding-padding-padding-padding-padding; i=$((i+1)); done",
    ])?;
    let id = e.full_id(&id)?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(60))?
        .check()?;
    let dir = e.root().join("containers").join(&id);
    let mut logs: Vec<(String, u64)> = std::fs::read_dir(&dir)?
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().contains("-json.log"))
        .map(|f| {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            (f.file_name().to_string_lossy().into_owned(), len)
        })
        .collect();
    logs.sort();
    let names: Vec<&str> = logs.iter().map(|(n, _)| n.as_str()).collect();
    let live = format!("{id}-json.log");
    let rotated = format!("{id}-json.log.1");
    ensure!(
        names == [live.as_str(), rotated.as_str()],
        "log files on disk: {names:?}"
    );
    for (n, len) in &logs {
        // One chunk of output may overshoot the limit before the rotation.
        ensure!(
            *len <= 10 * 1024 + 8 * 1024,
            "{n} is {len} bytes, max-size 10k"
        );
    }
    let out = e.ok(&["logs", "--tail", "1", &id])?;
    ensure!(out.starts_with("line-2999-"), "last log line {out:?}");
    Ok(())
}

#[test]
fn logs_timestamps_and_since() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 2; echo late",
    ])?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(30))?
        .check()?;
    let out = e.ok(&["logs", "--timestamps", &id])?;
    let lines: Vec<&str> = out.lines().collect();
    ensure!(lines.len() == 2, "logs -t: {out:?}");
    // docker: RFC 3339 with nanoseconds, a space, the line.
    let (ts, text) = lines[1].split_once(' ').unwrap_or(("", ""));
    ensure!(text == "late", "logs -t line {:?}", lines[1]);
    ensure!(
        ts.len() >= 20 && ts.as_bytes()[4] == b'-' && ts.contains('T') && ts.ends_with('Z'),
        "not an RFC 3339 UTC timestamp: {ts:?}"
    );
    // --since the second line's time, minus nothing: only that line.
    let out = e.ok(&["logs", "--since", ts, &id])?;
    ensure!(out == "late", "logs --since {ts}: {out:?}");
    Ok(())
}
