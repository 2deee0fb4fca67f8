//! The engine end to end, through the `berth` CLI: a container's namespaces
//! are its own (read from the host's /proc), `--hostname` is what it sees,
//! `--network host|none`, and `exec` (with and without a real pty) runs in
//! the container's namespaces. Root only.

use anyhow::{ensure, Context, Result};
use berth_integration_tests::engine::{self, Engine};

const KINDS: [&str; 5] = ["pid", "net", "uts", "ipc", "mnt"];

#[test]
fn run_d_gets_its_own_pid_net_uts_ipc_mnt_namespaces() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let pid = e.pid(&id)?;
    ensure!(engine::alive(pid), "container pid {pid} is not alive");
    for kind in KINDS {
        let host = engine::ns("self", kind)?;
        let inside = engine::ns(pid, kind)?;
        ensure!(
            host != inside,
            "{kind} namespace of the container ({inside}) is the host's"
        );
    }
    // PID 1 in its own pid namespace.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let nspid = status
        .lines()
        .find(|l| l.starts_with("NSpid:"))
        .context("no NSpid line")?;
    ensure!(
        nspid.split_whitespace().last() == Some("1"),
        "container process is not PID 1 in its namespace: {nspid}"
    );
    Ok(())
}

#[test]
fn hostname_flag_is_what_the_container_sees() -> Result<()> {
    let e = Engine::start()?;
    let out = e.ok(&[
        "run",
        "--rm",
        "--hostname",
        "berth-box",
        "busybox",
        "hostname",
    ])?;
    ensure!(out == "berth-box", "hostname inside was {out:?}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    ensure!(host.trim() != "berth-box", "the host's hostname changed");
    Ok(())
}

#[test]
fn network_host_shares_the_hosts_net_namespace_only() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "--network", "host", "busybox", "sleep", "600"])?;
    let pid = e.pid(&id)?;
    ensure!(
        engine::ns(pid, "net")? == engine::ns("self", "net")?,
        "--network host: net namespace differs from the host's"
    );
    for kind in ["pid", "uts", "ipc", "mnt"] {
        ensure!(
            engine::ns(pid, kind)? != engine::ns("self", kind)?,
            "--network host must not share the {kind} namespace"
        );
    }
    Ok(())
}

#[test]
fn network_none_has_only_loopback() -> Result<()> {
    let e = Engine::start()?;
    let out = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "cat",
        "/proc/net/dev",
    ])?;
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    ensure!(
        ifaces == ["lo"],
        "interfaces with --network none: {ifaces:?}"
    );
    Ok(())
}

#[test]
fn exec_runs_in_the_containers_namespaces_with_its_exit_code() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let pid = e.pid(&id)?;
    let script = KINDS
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = e.ok(&["exec", &id, "sh", "-c", &script])?;
    let seen: Vec<&str> = out.lines().collect();
    for (i, kind) in KINDS.iter().enumerate() {
        let want = engine::ns(pid, kind)?;
        ensure!(
            seen.get(i) == Some(&want.as_str()),
            "exec'd process {kind} namespace {:?}, container's {want}",
            seen.get(i)
        );
    }
    let o = e.cli(&["exec", &id, "sh", "-c", "echo bye; exit 7"])?;
    ensure!(
        o.status.code() == Some(7),
        "exec exit status {:?}, want 7; stderr: {}",
        o.status,
        o.stderr
    );
    ensure!(o.stdout.trim() == "bye", "exec stdout {:?}", o.stdout);
    Ok(())
}

/// `script` gives the CLI a real pty as its stdin/stdout.
fn under_pty(e: &Engine, berth_args: &str) -> Result<berth_integration_tests::runtime::Outcome> {
    let berth = engine::binary("berth")?;
    let line = format!(
        "{} -H {} {berth_args}",
        berth.display(),
        e.socket().display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    Ok(e.run(cmd, std::time::Duration::from_secs(60))?)
}

#[test]
fn run_it_under_a_real_pty_sees_a_tty() -> Result<()> {
    let e = Engine::start()?;
    let o = under_pty(&e, "run -it --rm busybox sh -c 'tty; echo hi; exit 5'")?;
    ensure!(
        o.stdout.contains("/dev/pts/") && !o.stdout.contains("not a tty"),
        "tty inside `run -it` printed {:?} (stderr {:?})",
        o.stdout,
        o.stderr
    );
    ensure!(
        o.stdout.contains("hi"),
        "no output through the pty: {:?}",
        o.stdout
    );
    ensure!(
        o.status.code() == Some(5),
        "exit code through the pty {:?}, want 5",
        o.status
    );
    let left = e.ok(&["ps", "-aq"])?;
    ensure!(left.is_empty(), "--rm left containers: {left}");
    Ok(())
}

#[test]
fn exec_it_under_a_real_pty_sees_a_tty() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&["run", "-d", "busybox", "sleep", "600"])?;
    let o = under_pty(&e, &format!("exec -it {id} sh -c 'tty; echo hi'"))?;
    ensure!(
        o.stdout.contains("/dev/pts/") && o.stdout.contains("hi"),
        "exec -it printed {:?} (stderr {:?})",
        o.stdout,
        o.stderr
    );
    ensure!(o.status.success(), "exec -it failed: {:?}", o.status);
    // Without -t there is no tty, whatever the caller has.
    let o = under_pty(&e, &format!("exec {id} tty"))?;
    ensure!(
        o.stdout.contains("not a tty"),
        "exec without -t had a tty: {:?}",
        o.stdout
    );
    Ok(())
}

#[test]
fn user_flag_sets_the_process_uid() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--user",
        "65534:65534",
        "busybox",
        "sleep",
        "600",
    ])?;
    let pid = e.pid(&id)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for key in ["Uid:", "Gid:"] {
        let line = status
            .lines()
            .find(|l| l.starts_with(key))
            .context("no Uid/Gid line")?;
        ensure!(
            line.split_whitespace().skip(1).all(|v| v == "65534"),
            "--user 65534:65534 but {line}"
        );
    }
    Ok(())
}

#[test]
fn read_only_rootfs_refuses_writes_but_volumes_take_them() -> Result<()> {
    let e = Engine::start()?;
    let o = e.cli(&["run", "--rm", "--read-only", "busybox", "touch", "/etc/x"])?;
    ensure!(!o.success(), "write to a --read-only rootfs succeeded");
    ensure!(
        o.stderr.contains("Read-only file system"),
        "error was not EROFS: {}",
        o.stderr
    );
    let out = e.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "rw:/data",
        "busybox",
        "sh",
        "-c",
        "echo ok > /data/f && cat /data/f",
    ])?;
    ensure!(out == "ok", "volume under --read-only: {out:?}");
    Ok(())
}

/// `expect` drives `berth` on a real pty; the script exits 0 only if every
/// step matched (a timeout or an early end exits 2 or 3).
fn expect(e: &Engine, script: &str) -> Result<berth_integration_tests::runtime::Outcome> {
    let berth = engine::binary("berth")?;
    let full = format!(
        "set timeout 30\nset berth {{{}}}\nset sock {{{}}}\n{script}",
        berth.display(),
        e.socket().display()
    );
    let mut cmd = std::process::Command::new("expect");
    cmd.args(["-c", &full]);
    Ok(e.run(cmd, std::time::Duration::from_secs(90))?)
}

#[test]
fn interactive_run_reads_typed_input_and_detaches_with_ctrl_p_ctrl_q() -> Result<()> {
    let e = Engine::start()?;
    let o = expect(
        &e,
        r##"
spawn $berth -H $sock run -it --name ia busybox sh
expect {
    "# " {}
    timeout { exit 2 }
    eof { exit 3 }
}
send "echo \$((6*7))-answer\r"
expect {
    "42-answer" {}
    timeout { exit 2 }
    eof { exit 3 }
}
send "\x10\x11"
expect {
    eof {}
    timeout { exit 2 }
}
lassign [wait] pid spawnid os_error value
exit $value
"##,
    )?;
    ensure!(
        o.status.success(),
        "expect session failed ({:?}): {}{}",
        o.status,
        o.stdout,
        o.stderr
    );
    // Detached, not stopped: the shell still runs and answers.
    ensure!(
        e.inspect("ia", "{{.State.Running}}")? == "true",
        "ctrl-p ctrl-q stopped the container"
    );
    let out = e.ok(&["exec", "ia", "echo", "still-here"])?;
    ensure!(out == "still-here", "exec after detach: {out:?}");
    Ok(())
}

#[test]
fn env_env_file_entrypoint_and_workdir_reach_the_process() -> Result<()> {
    let e = Engine::start()?;
    let env_file = e.dir().join("env.list");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n\nSHADOWED=file\n")?;
    let env_file_s = env_file.display().to_string();
    let id = e.ok(&[
        "run",
        "-d",
        "--env-file",
        &env_file_s,
        "-e",
        "FOO=bar baz",
        "-e",
        "SHADOWED=flag",
        "-w",
        "/work",
        "--entrypoint",
        "/bin/sh",
        "busybox",
        "-c",
        "touch here; sleep 600; true",
    ])?;
    let pid = e.pid(&id)?;
    let environ = std::fs::read(format!("/proc/{pid}/environ"))?;
    let vars: Vec<String> = environ
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for want in ["FOO=bar baz", "FROM_FILE=yes", "SHADOWED=flag"] {
        ensure!(
            vars.iter().any(|v| v == want),
            "{want} missing from the process's environment: {vars:?}"
        );
    }
    ensure!(
        !vars.iter().any(|v| v == "SHADOWED=file"),
        "-e did not override --env-file: {vars:?}"
    );
    ensure!(
        vars.iter().any(|v| v.starts_with("PATH=")),
        "no PATH in the environment: {vars:?}"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|v| !v.is_empty())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    ensure!(
        argv == ["/bin/sh", "-c", "touch here; sleep 600; true"],
        "PID 1 argv {argv:?}"
    );
    // The host follows /proc/<pid>/cwd into the container's mounts.
    ensure!(
        engine::eventually(std::time::Duration::from_secs(10), || {
            std::path::Path::new(&format!("/proc/{pid}/cwd/here")).exists()
        }),
        "the process did not run in -w /work"
    );
    Ok(())
}

#[test]
fn stop_signal_is_what_stop_sends() -> Result<()> {
    let e = Engine::start()?;
    let id = e.ok(&[
        "run",
        "-d",
        "--stop-signal",
        "SIGUSR1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo stopped-by-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done",
    ])?;
    ensure!(
        engine::eventually(std::time::Duration::from_secs(10), || e
            .cli(&["logs", &id])
            .map(|o| o.stdout.contains("ready"))
            .unwrap_or(false)),
        "the trap was never set"
    );
    let start = std::time::Instant::now();
    e.ok(&["stop", "-t", "20", &id])?;
    ensure!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "stop waited for the timeout: the stop signal was not USR1"
    );
    ensure!(
        e.inspect(&id, "{{.State.ExitCode}}")? == "0",
        "exit code after the stop signal"
    );
    ensure!(
        e.ok(&["logs", &id])?.contains("stopped-by-usr1"),
        "the USR1 trap did not run"
    );
    Ok(())
}
