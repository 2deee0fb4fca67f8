//! berth-runtime as a drop-in runtime under a real Docker engine (Debian's
//! docker.io): a private `dockerd` (own data root, exec root, pid file and
//! socket, no iptables, no bridge, its own cgroup parent) with
//! `--add-runtime berth=…`, a busybox image made with `docker import`, and
//! the everyday verbs run with `--runtime berth`, each checked against the
//! kernel (cgroup files, freezer state, /proc). The same flow runs with
//! Docker's own runc as the oracle.
//!
//! When dockerd cannot start on this machine (not installed, say) the test
//! fails with the reason, like any missing requirement; it is skipped only
//! when the run opts out with `BERTH_TEST_SKIP_MISSING=1`.

use anyhow::{ensure, Context};
use berth_integration_tests::dockerd::Dockerd;
use berth_integration_tests::runtime::{berth_binary, run_with_timeout};
use berth_integration_tests::{cgroup, conformance, requirements, Bundle, Runtime};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const IMAGE: &str = "berth-test/busybox:latest";

/// A busybox image (with the checker) imported from a rootfs tar.
fn import_image(d: &Dockerd, rt: Runtime) -> anyhow::Result<()> {
    let b = Bundle::new(rt, "dockerimg", &["/bin/true"])?;
    let tar = b.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(b.rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()?;
    ensure!(st.success(), "tar of the rootfs failed");
    d.ok(&["import", &tar.to_string_lossy(), IMAGE])?;
    Ok(())
}

fn pid_of(d: &Dockerd, name: &str) -> anyhow::Result<i64> {
    Ok(d.ok(&["inspect", "-f", "{{.State.Pid}}", name])?.parse()?)
}

/// The cgroup of `pid` under `controller`, as the kernel reports it.
fn cgroup_file(pid: i64, controller: &str, file: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let path = text
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == controller))
        })
        .and_then(|l| l.splitn(3, ':').nth(2))
        .with_context(|| format!("{pid} has no {controller} cgroup"))?;
    Ok(cgroup::read(controller, path, file)?)
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Proves which runtime dockerd really used: the runtime under test must know
/// the container in the state dir the shim gave it (runc cannot read
/// berth-runtime's state and the other way round).
fn check_runtime_used(d: &Dockerd, bin: &Path, name: &str) -> anyhow::Result<()> {
    let id = d.ok(&["inspect", "-f", "{{.Id}}", name])?;
    let exec = d.dir().join("exec");
    let mut tried = Vec::new();
    for e in std::fs::read_dir(&exec)?.flatten() {
        if !e.file_name().to_string_lossy().starts_with("runtime-") {
            continue;
        }
        let root = e.path().join("moby");
        let mut cmd = Command::new(bin);
        cmd.arg("--root").arg(&root).args(["state", &id]);
        let o = run_with_timeout(
            cmd,
            &d.dir().join("st.out"),
            &d.dir().join("st.err"),
            Duration::from_secs(20),
        )?;
        if o.success() && o.stdout.contains("running") {
            return Ok(());
        }
        tried.push(format!("{}: {}", root.display(), o.stderr.trim()));
    }
    anyhow::bail!("{} does not know container {id}: {tried:?}", bin.display())
}

fn run_flow(d: &Dockerd, rt_name: &str, bin: &Path) -> Vec<(&'static str, anyhow::Result<()>)> {
    let run = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "run".into(),
            "--runtime".into(),
            rt_name.into(),
            "--network".into(),
            "none".into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut results: Vec<(&'static str, anyhow::Result<()>)> = Vec::new();

    results.push((
        "run (plain)",
        (|| {
            let v = run(&["--rm", IMAGE, "echo", "hello-from-docker"]);
            let out = d.ok(&args(&v))?;
            ensure!(out == "hello-from-docker", "stdout {out:?}");
            let v = run(&["--rm", IMAGE, "sh", "-c", "exit 3"]);
            let o = d.docker(&args(&v))?;
            ensure!(o.status.code() == Some(3), "exit code {:?}", o.status);
            Ok(())
        })(),
    ));

    results.push(("run -it", (|| {
        let line = format!(
            "DOCKER_CONFIG={} docker -H {} run --rm -it --runtime {rt_name} --network none {IMAGE} sh -c 'tty; echo hi-from-tty'",
            d.dir().join("client").display(), d.sock());
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        let o = run_with_timeout(cmd, &d.dir().join("tty.out"), &d.dir().join("tty.err"), Duration::from_secs(60))?;
        ensure!(o.stdout.contains("/dev/pts/") && o.stdout.contains("hi-from-tty"), "tty output {:?} {}", o.stdout, o.stderr);
        Ok(())
    })()));

    let v = run(&[
        "-d",
        "--name",
        "limited",
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        "--cpus",
        "0.5",
        IMAGE,
        "sleep",
        "300",
    ]);
    let started = d.ok(&args(&v)).and_then(|_| pid_of(d, "limited"));
    let pid = match started {
        Ok(p) => p,
        Err(e) => {
            results.push(("run -d with limits", Err(e)));
            return results;
        }
    };
    results.push(("runtime really used", check_runtime_used(d, bin, "limited")));
    results.push((
        "--memory",
        (|| {
            let v = cgroup_file(pid, "memory", "memory.limit_in_bytes")?;
            ensure!(v == "67108864", "memory.limit_in_bytes {v}");
            Ok(())
        })(),
    ));
    results.push((
        "--pids-limit",
        (|| {
            let v = cgroup_file(pid, "pids", "pids.max")?;
            ensure!(v == "20", "pids.max {v}");
            Ok(())
        })(),
    ));
    results.push((
        "--cpus",
        (|| {
            let q = cgroup_file(pid, "cpu", "cpu.cfs_quota_us")?;
            let p = cgroup_file(pid, "cpu", "cpu.cfs_period_us")?;
            ensure!(q == "50000" && p == "100000", "quota {q} period {p}");
            Ok(())
        })(),
    ));
    results.push((
        "exec",
        (|| {
            let out = d.ok(&["exec", "limited", "readlink", "/proc/self/ns/mnt"])?;
            let want = std::fs::read_link(format!("/proc/{pid}/ns/mnt"))?;
            ensure!(
                out == want.to_string_lossy(),
                "exec in mnt ns {out}, container {}",
                want.display()
            );
            let out = d.ok(&[
                "exec",
                "-e",
                "BERTH_X=1",
                "limited",
                "sh",
                "-c",
                "echo $BERTH_X",
            ])?;
            ensure!(out == "1", "exec env {out:?}");
            Ok(())
        })(),
    ));
    results.push((
        "top",
        (|| {
            let out = d.ok(&["top", "limited"])?;
            ensure!(out.contains("sleep 300"), "top: {out}");
            Ok(())
        })(),
    ));
    results.push((
        "stats --no-stream",
        (|| {
            let out = d.ok(&[
                "stats",
                "--no-stream",
                "--format",
                "{{.MemUsage}} {{.PIDs}}",
                "limited",
            ])?;
            ensure!(out.contains("/ 64MiB"), "stats: {out}");
            Ok(())
        })(),
    ));
    results.push((
        "pause/unpause",
        (|| {
            d.ok(&["pause", "limited"])?;
            let frozen = cgroup_file(pid, "freezer", "freezer.state")?;
            let paused = d.ok(&["inspect", "-f", "{{.State.Paused}}", "limited"])?;
            ensure!(
                frozen == "FROZEN" && paused == "true",
                "after pause: freezer {frozen}, Paused {paused}"
            );
            d.ok(&["unpause", "limited"])?;
            let thawed = cgroup_file(pid, "freezer", "freezer.state")?;
            let paused = d.ok(&["inspect", "-f", "{{.State.Paused}}", "limited"])?;
            ensure!(
                thawed == "THAWED" && paused == "false",
                "after unpause: freezer {thawed}, Paused {paused}"
            );
            Ok(())
        })(),
    ));
    results.push((
        "stop",
        (|| {
            d.ok(&["stop", "-t", "1", "limited"])?;
            let running = d.ok(&["inspect", "-f", "{{.State.Running}}", "limited"])?;
            ensure!(running == "false", "Running {running} after stop");
            ensure!(
                !Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .unwrap_or_default()
                        .contains(") Z"),
                "pid {pid} alive after stop"
            );
            Ok(())
        })(),
    ));
    results.push((
        "kill",
        (|| {
            let v = run(&["-d", "--name", "victim", IMAGE, "sleep", "300"]);
            d.ok(&args(&v))?;
            d.ok(&["kill", "victim"])?;
            let start = Instant::now();
            loop {
                let running = d.ok(&[
                    "inspect",
                    "-f",
                    "{{.State.Running}} {{.State.ExitCode}}",
                    "victim",
                ])?;
                if running == "false 137" {
                    break;
                }
                ensure!(
                    start.elapsed() < Duration::from_secs(20),
                    "after kill: {running}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        })(),
    ));
    results
}

conformance! {
    /// docker run/-it/exec/--memory/--pids-limit/--cpus/pause/unpause/stop/
    /// kill/top/stats with `--runtime` set to the runtime under test.
    fn docker_dropin(rt) {
        let (berth, rt_name): (Option<PathBuf>, &str) = match rt {
            Runtime::Runc => (None, "runc"),
            Runtime::Berth => (Some(berth_binary()?), "berth"),
        };
        let d = match Dockerd::start(berth.as_deref())? {
            Ok(d) => d,
            Err(reason) => {
                requirements::host_lacks(&format!("a dockerd that starts here: {reason}"));
                return Ok(());
            }
        };
        import_image(&d, rt)?;
        let bin = berth.clone().unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"));
        let results = run_flow(&d, rt_name, &bin);
        let mut failed = Vec::new();
        eprintln!("docker --runtime {rt_name}:");
        for (step, r) in &results {
            match r {
                Ok(()) => eprintln!("  PASS  {step}"),
                Err(e) => {
                    eprintln!("  FAIL  {step}: {e:#}");
                    failed.push(format!("{step}: {e:#}"));
                }
            }
        }
        ensure!(failed.is_empty(), "docker --runtime {rt_name} failed: {}", failed.join("; "));
    }
}
