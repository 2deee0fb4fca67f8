//! A container's life through the `berth` CLI: `--rm` leaves nothing behind
//! (mounts, cgroups, snapshot dirs, shim), containers outlive `kill -9 berthd`
//! and stay controllable, restart policies restart what they should and no
//! more, and `stop` of a PID 1 that ignores SIGTERM kills after the timeout
//! and says why. Root only.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use berth_integration_tests::cgroup;
use berth_integration_tests::engine::{self, Engine};

fn snapshot_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("snapshots"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn run_rm_removes_everything() -> Result<()> {
    let e = Engine::start()?;
    let snaps_before = snapshot_dirs(&e.root());
    // Foreground: output comes back, then nothing is left.
    let out = e.ok(&["run", "--rm", "busybox", "echo", "hello"])?;
    ensure!(out == "hello", "run --rm printed {out:?}");
    // Detached, to learn its ID and look at it while it runs.
    let id = e.ok(&["run", "-d", "--rm", "busybox", "sleep", "5"])?;
    let id = e.full_id(&id)?;
    let pid = e.pid(&id)?;
    let cg = engine::cgroup_path(&id);
    ensure!(
        !cgroup::existing_dirs(&cg).is_empty(),
        "no cgroup {cg} while it runs"
    );
    let rootfs_mounted = e.mounts().iter().any(|m| m.contains(&id));
    ensure!(rootfs_mounted, "no rootfs mount for {id}: {:?}", e.mounts());
    ensure!(
        e.own_processes().len() == 1,
        "expected one shim while it runs, found {:?}",
        e.own_processes()
    );
    ensure!(
        engine::eventually(Duration::from_secs(20), || e
            .ok(&["ps", "-aq"])
            .map(|s| s.is_empty())
            .unwrap_or(false)),
        "--rm container still listed"
    );
    ensure!(!engine::alive(pid), "container process {pid} alive");
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        cgroup::existing_dirs(&cg).is_empty(),
        "cgroup dirs left: {:?}",
        cgroup::existing_dirs(&cg)
    );
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs (rootfs, overlay upper) left: {:?}",
        e.container_dirs()
    );
    // Moved-away overlay dirs are deleted in the background.
    ensure!(
        engine::eventually(Duration::from_secs(10), || snapshot_dirs(&e.root())
            == snaps_before),
        "snapshot dirs before {snaps_before:?}, after {:?}",
        snapshot_dirs(&e.root())
    );
    ensure!(
        engine::eventually(Duration::from_secs(5), || e.own_processes().is_empty()),
        "shim processes left: {:?}",
        e.own_processes()
    );
    let o = e.cli(&["inspect", &id])?;
    ensure!(!o.success(), "inspect of a --rm container succeeded");
    Ok(())
}

#[test]
fn containers_survive_kill9_of_berthd_and_stay_controllable() -> Result<()> {
    let mut e = Engine::start()?;
    let a = e.full_id(&e.ok(&["run", "-d", "--name", "lr-a", "busybox", "sleep", "600"])?)?;
    let b = e.full_id(&e.ok(&["run", "-d", "--name", "lr-b", "busybox", "sleep", "600"])?)?;
    let (pa, pb) = (e.pid(&a)?, e.pid(&b)?);
    e.kill9_berthd();
    std::thread::sleep(Duration::from_millis(500));
    ensure!(
        engine::alive(pa) && engine::alive(pb),
        "containers died with berthd"
    );
    e.spawn_berthd()?;
    for (id, pid) in [(&a, pa), (&b, pb)] {
        let running = e.inspect(id, "{{.State.Running}}")?;
        ensure!(
            running == "true",
            "{id} not running after restart: {running}"
        );
        ensure!(e.pid(id)? == pid, "{id} pid changed across the restart");
    }
    let listed = e.ok(&["ps", "-q", "--no-trunc"])?;
    ensure!(
        listed.contains(&a) && listed.contains(&b),
        "ps after restart: {listed}"
    );
    e.ok(&["stop", "-t", "1", "lr-a"])?;
    ensure!(
        engine::eventually(Duration::from_secs(5), || !engine::alive(pa)),
        "stopped container's process {pa} alive"
    );
    ensure!(
        e.inspect("lr-a", "{{.State.Status}}")? == "exited",
        "lr-a not exited after stop"
    );
    e.ok(&["rm", "-f", "lr-b"])?;
    ensure!(
        engine::eventually(Duration::from_secs(5), || !engine::alive(pb)),
        "rm -f left process {pb}"
    );
    ensure!(
        !e.ok(&["ps", "-aq", "--no-trunc"])?.contains(&b),
        "lr-b still listed"
    );
    Ok(())
}

#[test]
fn restart_on_failure_2_restarts_exactly_twice() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])?;
    let done = engine::eventually(Duration::from_secs(30), || {
        e.inspect(&id, "{{.RestartCount}} {{.State.Status}}")
            .map(|s| s == "2 exited")
            .unwrap_or(false)
    });
    ensure!(
        done,
        "never reached RestartCount 2 and exited: {:?}",
        e.inspect(&id, "{{.RestartCount}} {{.State.Status}}")
    );
    // Well past any back-off: no third restart.
    std::thread::sleep(Duration::from_secs(3));
    let s = e.inspect(
        &id,
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
    )?;
    ensure!(s == "2 exited 3", "after waiting: {s}");
    Ok(())
}

#[test]
fn restart_always_restarts_after_the_process_exits() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 3; exit 0",
    ])?;
    let first = e.pid(&id)?;
    let restarted = engine::eventually(Duration::from_secs(30), || {
        let count: u32 = e
            .inspect(&id, "{{.RestartCount}}")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let pid = e.pid(&id).unwrap_or(0);
        count >= 1 && pid > 0 && pid != first && engine::alive(pid)
    });
    ensure!(
        restarted,
        "not restarted: {:?}",
        e.inspect(&id, "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}")
    );
    ensure!(!engine::alive(first), "first process {first} still alive");
    Ok(())
}

#[test]
fn restart_no_does_not_restart() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--restart",
        "no",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ])?;
    e.cli_timeout(&["wait", &id], Duration::from_secs(30))?
        .check()?;
    std::thread::sleep(Duration::from_secs(3));
    let s = e.inspect(
        &id,
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
    )?;
    ensure!(s == "0 exited 1", "with --restart no: {s}");
    Ok(())
}

#[test]
fn stop_of_a_pid1_ignoring_sigterm_waits_kills_and_says_why() -> Result<()> {
    let e = Engine::start()?;
    // busybox sleep as PID 1 has no SIGTERM handler: the kernel drops it.
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let pid = e.pid(&id)?;
    let start = Instant::now();
    let o = e.cli(&["stop", "-t", "2", &id])?.check()?;
    let took = start.elapsed();
    ensure!(
        took >= Duration::from_secs(2),
        "stop returned after {took:?}, before the 2s timeout"
    );
    ensure!(took < Duration::from_secs(10), "stop took {took:?}");
    ensure!(!engine::alive(pid), "process {pid} alive after stop");
    let why = format!("{}{}", o.stdout, o.stderr);
    ensure!(
        why.contains("SIGTERM") && why.contains("--init"),
        "stop did not say why it had to kill: {why:?}"
    );
    let code = e.inspect(&id, "{{.State.ExitCode}}")?;
    ensure!(code == "137", "exit code after the kill: {code}");
    Ok(())
}

#[test]
fn stop_under_init_blames_the_command_not_the_init() -> Result<()> {
    let e = Engine::start()?;
    // berth-init blocks every signal to forward it; the command (busybox sh execs
    // its last command, so sleep inherits the ignored SIGTERM) is what refuses.
    let id = e.ok(&[
        "run",
        "-d",
        "--init",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 600",
    ])?;
    std::thread::sleep(Duration::from_millis(300));
    let o = e.cli(&["stop", "-t", "1", &id])?.check()?;
    let why = format!("{}{}", o.stdout, o.stderr);
    ensure!(
        why.contains("forwarded SIGTERM to sleep, which ignores or blocks it"),
        "stop blamed the wrong process: {why:?}"
    );
    ensure!(
        !why.contains("Run it with --init"),
        "stop suggested --init to a container that has it: {why:?}"
    );
    let code = e.inspect(&id, "{{.State.ExitCode}}")?;
    ensure!(code == "137", "exit code after the kill: {code}");
    Ok(())
}

#[test]
fn a_state_dir_of_ordinary_length_runs_containers() -> Result<()> {
    // /tmp/beN.XXXXXX/ plus 40 characters: a shim socket directly under
    // <state>/shims/<64 hex>/ would no longer fit in sun_path (108 bytes),
    // yet docker's --exec-root takes paths like this.
    let e = Engine::start_with("{}", "state-dir-with-a-perfectly-ordinary-name")?;
    e.import_busybox()?;
    let out = e.ok(&["run", "--rm", "busybox", "echo", "hello"])?;
    ensure!(out == "hello", "run printed {out:?}");
    // The console sockets live there too: one for the container, one per exec.
    let out = e.ok(&["run", "-t", "--rm", "busybox", "tty"])?;
    ensure!(out.starts_with("/dev/pts/"), "run -t: {out:?}");
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let out = e.ok(&["exec", "-t", &id, "tty"])?;
    ensure!(out.starts_with("/dev/pts/"), "exec -t: {out:?}");
    Ok(())
}

/// Zombie children of a container's PID 1 (zombies leave cgroup.procs, so
/// they are found through their parent).
fn zombies_under(pid: i64) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .map(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn init_reaps_orphaned_zombies_and_plain_pid1_does_not() -> Result<()> {
    let e = Engine::start()?;
    // The subshell exits at once, orphaning `sleep 1` to PID 1 (it exits after the exec, so sh cannot reap it); busybox
    // sleep as PID 1 never waits for it.
    let script = "(sleep 1 &); exec sleep 600";
    let plain = e.ok(&["run", "-d", "busybox", "sh", "-c", script])?;
    let plain = e.full_id(&plain)?;
    let init = e.ok(&["run", "-d", "--init", "busybox", "sh", "-c", script])?;
    let init = e.full_id(&init)?;
    // The control: without an init the zombie stays.
    let (plain_pid, init_pid) = (e.pid(&plain)?, e.pid(&init)?);
    let status = std::fs::read_to_string(format!("/proc/{init_pid}/status"))?;
    ensure!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
        "State.Pid {init_pid} of the --init container is not its PID 1"
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || !zombies_under(plain_pid)
            .is_empty()),
        "no zombie without --init: the test would prove nothing"
    );
    std::thread::sleep(Duration::from_secs(1));
    let z = zombies_under(init_pid);
    ensure!(z.is_empty(), "zombies left with --init: {z:?}");
    // And --init's PID 1 forwards stop's SIGTERM, so stop is quick.
    let start = Instant::now();
    e.ok(&["stop", "-t", "10", &init])?;
    ensure!(
        start.elapsed() < Duration::from_secs(5),
        "stop with --init took {:?}",
        start.elapsed()
    );
    Ok(())
}

#[test]
fn pause_freezes_the_cgroup_and_unpause_thaws_it() -> Result<()> {
    let e = Engine::start()?;
    let id = e.full_id(&e.ok(&["run", "-d", "busybox", "sleep", "600"])?)?;
    let cg = engine::cgroup_path(&id);
    e.ok(&["pause", &id])?;
    let state = if cgroup::has_v1("freezer") {
        cgroup::read("freezer", &cg, "freezer.state")?
    } else {
        cgroup::read("cgroup", &cg, "cgroup.freeze")?
    };
    ensure!(
        state == "FROZEN" || state == "1",
        "freezer after pause: {state}"
    );
    let status = e.inspect(&id, "{{.State.Status}}")?;
    ensure!(status == "paused", "State.Status {status}");
    e.ok(&["unpause", &id])?;
    let state = if cgroup::has_v1("freezer") {
        cgroup::read("freezer", &cg, "freezer.state")?
    } else {
        cgroup::read("cgroup", &cg, "cgroup.freeze")?
    };
    ensure!(
        state == "THAWED" || state == "0",
        "freezer after unpause: {state}"
    );
    ensure!(
        e.inspect(&id, "{{.State.Status}}")? == "running",
        "not running after unpause"
    );
    Ok(())
}

#[test]
fn rm_f_of_a_running_container_removes_everything() -> Result<()> {
    let e = Engine::start()?;
    let snaps_before = snapshot_dirs(&e.root());
    let id = e.full_id(&e.ok(&["run", "-d", "-v", "keep:/data", "busybox", "sleep", "600"])?)?;
    let pid = e.pid(&id)?;
    let cg = engine::cgroup_path(&id);
    e.ok(&["rm", "-f", &id])?;
    ensure!(!engine::alive(pid), "process {pid} alive after rm -f");
    ensure!(e.ok(&["ps", "-aq"])?.is_empty(), "still listed");
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        cgroup::existing_dirs(&cg).is_empty(),
        "cgroup dirs left: {:?}",
        cgroup::existing_dirs(&cg)
    );
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || snapshot_dirs(&e.root())
            == snaps_before),
        "snapshot dirs before {snaps_before:?}, after {:?}",
        snapshot_dirs(&e.root())
    );
    ensure!(
        engine::eventually(Duration::from_secs(5), || e.own_processes().is_empty()),
        "shims left: {:?}",
        e.own_processes()
    );
    // rm without -v keeps named volumes, like docker.
    ensure!(
        e.ok(&["volume", "ls", "-q"])?.lines().any(|l| l == "keep"),
        "named volume removed with its container"
    );
    Ok(())
}

#[test]
fn restart_always_restarts_an_exit_that_happened_while_berthd_was_down() -> Result<()> {
    let mut e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "600",
    ])?;
    let first = e.pid(&id)?;
    e.kill9_berthd();
    // The process dies while nobody but its shim watches, as after an OOM
    // kill or a crash.
    // SAFETY: kill(2) has no memory effects; the pid is the container's.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    ensure!(
        engine::eventually(Duration::from_secs(5), || !engine::alive(first)),
        "container process survived SIGKILL"
    );
    e.spawn_berthd()?;
    let back = engine::eventually(Duration::from_secs(30), || {
        e.pid(&id)
            .map(|p| p > 0 && p != first && engine::alive(p))
            .unwrap_or(false)
    });
    ensure!(
        back,
        "not restarted after berthd came back: {:?}",
        e.inspect(&id, "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}")
    );
    Ok(())
}

#[test]
fn volume_rm_refuses_a_volume_in_use_and_removes_the_data_otherwise() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "-v",
        "busy:/data",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/f; sleep 600",
    ])?;
    let mountpoint = e.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "busy"])?;
    let o = e.cli(&["volume", "rm", "busy"])?;
    ensure!(!o.success(), "volume rm of a volume in use succeeded");
    ensure!(
        o.stderr.contains("volume is in use"),
        "not docker's message: {}",
        o.stderr
    );
    ensure!(
        Path::new(&mountpoint).exists(),
        "data of an in-use volume removed"
    );
    e.ok(&["rm", "-f", &id])?;
    e.ok(&["volume", "rm", "busy"])?;
    ensure!(
        !Path::new(&mountpoint).exists(),
        "volume data left at {mountpoint}"
    );
    let o = e.cli(&["volume", "rm", "busy"])?;
    ensure!(
        !o.success() && o.stderr.contains("no such volume"),
        "second volume rm: {}",
        o.stderr
    );
    Ok(())
}

#[test]
fn a_rm_container_that_exited_while_berthd_was_down_is_removed_after_restart() -> Result<()> {
    let mut e = Engine::start()?;
    let snaps_before = snapshot_dirs(&e.root());
    let id = e.full_id(&e.ok(&["run", "-d", "--rm", "busybox", "sleep", "4"])?)?;
    let pid = e.pid(&id)?;
    let cg = engine::cgroup_path(&id);
    e.kill9_berthd();
    ensure!(
        engine::eventually(Duration::from_secs(20), || !engine::alive(pid)),
        "container process {pid} still alive"
    );
    e.spawn_berthd()?;
    ensure!(
        engine::eventually(Duration::from_secs(20), || e
            .ok(&["ps", "-aq"])
            .map(|s| s.is_empty())
            .unwrap_or(false)),
        "--rm container still listed after berthd came back"
    );
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        cgroup::existing_dirs(&cg).is_empty(),
        "cgroup dirs left: {:?}",
        cgroup::existing_dirs(&cg)
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || e.container_dirs().is_empty()),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || snapshot_dirs(&e.root())
            == snaps_before),
        "snapshot dirs before {snaps_before:?}, after {:?}",
        snapshot_dirs(&e.root())
    );
    ensure!(
        engine::eventually(Duration::from_secs(5), || e.own_processes().is_empty()),
        "shims left: {:?}",
        e.own_processes()
    );
    Ok(())
}

#[test]
fn a_killed_shim_takes_its_container_down_and_says_so() -> Result<()> {
    let e = Engine::start()?;
    let id = e.full_id(&e.ok(&["run", "-d", "busybox", "sleep", "600"])?)?;
    let pid = e.pid(&id)?;
    let shims = e.own_processes();
    ensure!(shims.len() == 1, "expected one shim, found {shims:?}");
    // SAFETY: kill(2) has no memory effects; the pid is this engine's shim.
    unsafe { libc::kill(shims[0], libc::SIGKILL) };
    ensure!(
        engine::eventually(Duration::from_secs(20), || e
            .inspect(&id, "{{.State.Status}}")
            .map(|s| s == "exited")
            .unwrap_or(false)),
        "container not exited after its shim died: {:?}",
        e.inspect(&id, "{{.State.Status}}")
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || !engine::alive(pid)),
        "container process {pid} outlived its shim, unsupervised"
    );
    let why = e.inspect(&id, "{{.State.Error}}")?;
    ensure!(
        why.contains("shim"),
        "State.Error does not say why: {why:?}"
    );
    e.ok(&["rm", &id])?;
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        cgroup::existing_dirs(&engine::cgroup_path(&id)).is_empty(),
        "cgroup left"
    );
    Ok(())
}

#[test]
fn parallel_runs_and_removals_leave_a_consistent_engine() -> Result<()> {
    let e = Engine::start()?;
    const N: usize = 12;
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let e = &e;
                s.spawn(move || {
                    let name = format!("par{i}");
                    e.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "600"])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r.map_err(anyhow::Error::from),
                Err(_) => Err(anyhow::anyhow!("a run thread panicked")),
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    ensure!(distinct.len() == N, "ids not distinct: {ids:?}");
    let running = e.ok(&["ps", "-q"])?;
    ensure!(running.lines().count() == N, "running: {running}");
    let pids: Vec<i64> = ids.iter().map(|id| e.pid(id)).collect::<Result<_, _>>()?;
    ensure!(
        pids.iter().all(|p| engine::alive(*p)),
        "a container process is not alive"
    );
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let e = &e;
                s.spawn(move || e.ok(&["rm", "-f", id]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r.map(|_| ()).map_err(anyhow::Error::from),
                Err(_) => Err(anyhow::anyhow!("an rm thread panicked")),
            })
            .collect::<Result<Vec<_>>>()
    })?;
    ensure!(e.ok(&["ps", "-aq"])?.is_empty(), "containers left");
    ensure!(
        pids.iter().all(|p| !engine::alive(*p)),
        "processes left after rm -f"
    );
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    ensure!(
        engine::eventually(Duration::from_secs(10), || e.own_processes().is_empty()),
        "shims left: {:?}",
        e.own_processes()
    );
    // The names are free again.
    e.ok(&["run", "--rm", "--name", "par0", "busybox", "true"])?;
    Ok(())
}

#[test]
fn at_daemon_start_always_comes_back_but_unless_stopped_stays_stopped() -> Result<()> {
    let mut e = Engine::start()?;
    e.ok(&[
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "600",
    ])?;
    e.ok(&[
        "run",
        "-d",
        "--name",
        "us",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "600",
    ])?;
    e.ok(&["stop", "-t", "0", "al", "us"])?;
    // docker: a manually stopped `always` container is started again when the
    // daemon starts; `unless-stopped` is not.
    e.kill9_berthd();
    e.spawn_berthd()?;
    ensure!(
        engine::eventually(Duration::from_secs(20), || e
            .inspect("al", "{{.State.Running}}")
            .map(|s| s == "true")
            .unwrap_or(false)),
        "restart=always not started at daemon start: {:?}",
        e.inspect("al", "{{.State.Status}}")
    );
    ensure!(engine::alive(e.pid("al")?), "al's process is not alive");
    std::thread::sleep(Duration::from_secs(1));
    let us = e.inspect("us", "{{.State.Status}}")?;
    ensure!(us == "exited", "unless-stopped after daemon start: {us}");
    Ok(())
}
