//! Resource limits of `berth run`, checked where the kernel keeps them: the
//! container's cgroup files, the OOM killer's verdict, and the pid count of a
//! fork bomb. Root only.

use std::time::Duration;

use anyhow::{ensure, Result};
use berth_integration_tests::cgroup;
use berth_integration_tests::engine::{self, Engine};

#[test]
fn memory_limit_oom_kills_a_hog_and_inspect_says_so() -> Result<()> {
    let e = Engine::start()?;
    // 50 MB into a shell variable: the shell itself must grow past 8 MB.
    let id = e.ok(&[
        "run",
        "-d",
        "--memory",
        "8m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 50000000 /dev/zero | tr '\\0' a); echo survived",
    ])?;
    let code = e
        .cli_timeout(&["wait", &id], Duration::from_secs(60))?
        .check()?;
    ensure!(
        code.stdout.trim() == "137",
        "wait printed {:?}, want 137",
        code.stdout
    );
    let oom = e.inspect(&id, "{{.State.OOMKilled}}")?;
    ensure!(oom == "true", "State.OOMKilled is {oom:?}");
    let exit = e.inspect(&id, "{{.State.ExitCode}}")?;
    ensure!(exit == "137", "State.ExitCode is {exit:?}");
    let logs = e.cli(&["logs", &id])?;
    ensure!(
        !logs.stdout.contains("survived"),
        "the hog finished under an 8m limit"
    );
    Ok(())
}

#[test]
fn pids_limit_stops_a_fork_bomb() -> Result<()> {
    let e = Engine::start()?;
    // Every iteration leaves a process behind; without a limit this grows
    // until the host runs out of pids. busybox sh gives up at the first
    // refused fork, so the bomb runs in a child shell and PID 1 lives on.
    let id = e.ok(&[
        "run",
        "-d",
        "--pids-limit",
        "20",
        "busybox",
        "sh",
        "-c",
        "sh -c 'while :; do sleep 600 & done'; exec sleep 600",
    ])?;
    let cg = engine::cgroup_path(&id);
    ensure!(
        cgroup::read("pids", &cg, "pids.max")? == "20",
        "pids.max is not 20"
    );
    // Wait until the bomb has hit the limit at least once.
    let hit = engine::eventually(Duration::from_secs(20), || {
        cgroup::read("pids", &cg, "pids.events")
            .map(|s| {
                s.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    > 0
            })
            .unwrap_or(false)
    });
    ensure!(hit, "pids.events never counted a refused fork");
    for _ in 0..10 {
        let current: u64 = cgroup::read("pids", &cg, "pids.current")?.parse()?;
        let procs = std::fs::read_to_string(cgroup::dir("pids", &cg).join("cgroup.procs"))?
            .lines()
            .count();
        ensure!(
            current <= 20 && procs <= 20,
            "fork bomb got past --pids-limit 20: pids.current {current}, {procs} procs"
        );
        ensure!(current >= 15, "the bomb did not fork much: {current}");
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Ok(peak) = cgroup::read("pids", &cg, "pids.peak") {
        ensure!(peak == "20", "pids.peak {peak}, want the limit exactly");
    }
    let running = e.inspect(&id, "{{.State.Running}}")?;
    ensure!(
        running == "true",
        "PID 1 died with the bomb: Running {running}"
    );
    // And the engine still controls it.
    e.ok(&["rm", "-f", &id])?;
    ensure!(
        engine::eventually(Duration::from_secs(10), || cgroup::existing_dirs(&cg)
            .is_empty()),
        "cgroup of the fork bomb still there after rm -f"
    );
    Ok(())
}

#[test]
fn memory_cpus_and_cpu_shares_land_in_the_cgroup_files() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "busybox",
        "sleep",
        "600",
    ])?;
    let cg = engine::cgroup_path(&id);
    let pid = e.pid(&id)?;
    if cgroup::has_v1("memory") {
        let mem = cgroup::read("memory", &cg, "memory.limit_in_bytes")?;
        ensure!(mem == "67108864", "memory.limit_in_bytes {mem}");
        let quota = cgroup::read("cpu", &cg, "cpu.cfs_quota_us")?;
        let period = cgroup::read("cpu", &cg, "cpu.cfs_period_us")?;
        let (q, p): (f64, f64) = (quota.parse()?, period.parse()?);
        ensure!((q / p - 0.5).abs() < 1e-9, "cpu quota {q}/{p}, want 0.5");
        let shares = cgroup::read("cpu", &cg, "cpu.shares")?;
        ensure!(shares == "512", "cpu.shares {shares}");
        let procs = std::fs::read_to_string(cgroup::dir("memory", &cg).join("cgroup.procs"))?;
        ensure!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "container pid {pid} is not in its memory cgroup"
        );
    } else {
        let mem = cgroup::read("memory", &cg, "memory.max")?;
        ensure!(mem == "67108864", "memory.max {mem}");
        let max = cgroup::read("cpu", &cg, "cpu.max")?;
        let mut it = max.split_whitespace();
        let (q, p): (f64, f64) = (
            it.next().unwrap_or("").parse()?,
            it.next().unwrap_or("").parse()?,
        );
        ensure!((q / p - 0.5).abs() < 1e-9, "cpu.max {max}, want 0.5");
        // runc's conversion of 512 shares to a v2 weight.
        let weight = cgroup::read("cpu", &cg, "cpu.weight")?;
        ensure!(
            weight == "20",
            "cpu.weight {weight}, want 20 for 512 shares"
        );
    }
    Ok(())
}

/// Whether the host has any swap enabled (`/proc/swaps` beyond its header).
fn host_has_swap() -> bool {
    std::fs::read_to_string("/proc/swaps")
        .map(|s| s.lines().count() > 1)
        .unwrap_or(false)
}

#[test]
fn memory_limit_caps_swap_like_docker() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "--memory", "64m", "busybox", "sleep", "600"])?;
    let cg = engine::cgroup_path(&id);
    // docker without --memory-swap: as much swap as memory, i.e. a
    // memory+swap cap of twice the limit. Without it a hog on a host with
    // swap pages out instead of being OOM-killed.
    let memsw = cgroup::dir("memory", &cg).join("memory.memsw.limit_in_bytes");
    let swap_max = cgroup::dir("memory", &cg).join("memory.swap.max");
    if memsw.exists() {
        let v = std::fs::read_to_string(&memsw)?;
        ensure!(
            v.trim() == (128u64 << 20).to_string(),
            "memory.memsw.limit_in_bytes {}, docker's default is 2 × 64m",
            v.trim()
        );
    } else if swap_max.exists() {
        let v = std::fs::read_to_string(&swap_max)?;
        ensure!(
            v.trim() == (64u64 << 20).to_string(),
            "memory.swap.max {}, docker's default is 64m of swap",
            v.trim()
        );
    } else {
        // No swap accounting: then only a host without swap keeps the limit.
        ensure!(
            !host_has_swap(),
            "the kernel does not account swap in cgroups and the host has swap: \
             --memory cannot hold"
        );
    }
    Ok(())
}
