//! `berth run` is confined like `docker run`, proven from inside the
//! container and from the host (issue 12, points 2–4): docker's default
//! seccomp profile (a denied syscall fails with EPERM, `--security-opt
//! seccomp=unconfined` lifts it), docker's capability set and
//! `--cap-add`/`--cap-drop`, `--privileged`, `--device`, `/proc/sysrq-trigger`
//! read-only, and clear errors for bad options. Root only.

use anyhow::{ensure, Context, Result};
use berth_integration_tests::checker::checker_binary;
use berth_integration_tests::engine::Engine;
use serde_json::Value;

/// docker's default capability set, as the kernel's CapEff mask.
const DOCKER_CAPS: u64 = 0x00000000a80425fb;

/// Runs berth-checker in a busybox container with `flags`; its JSON report.
fn checker(e: &Engine, flags: &[&str], checker_args: &[&str]) -> Result<Value> {
    let bin = checker_binary()?;
    let mount = format!("{}:/checker:ro", bin.display());
    let mut args = vec!["run", "--rm", "-v", &mount];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.push("/checker");
    args.extend_from_slice(checker_args);
    let out = e.ok(&args)?;
    serde_json::from_str(&out).with_context(|| format!("checker's report: {out}"))
}

#[test]
fn the_default_profile_filters_and_unconfined_lifts_it() -> Result<()> {
    let e = Engine::start()?;
    let status = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ])?;
    ensure!(
        status.split_whitespace().last() == Some("2"),
        "not filtered: {status}"
    );
    let r = checker(&e, &[], &["--syscall", "keyctl", "--syscall", "getppid"])?;
    ensure!(
        r.pointer("/syscalls/keyctl/errno") == Some(&1.into()),
        "keyctl: {}",
        r["syscalls"]
    );
    ensure!(
        r.pointer("/syscalls/getppid/errno") == Some(&0.into()),
        "getppid: {}",
        r["syscalls"]
    );
    let r = checker(
        &e,
        &["--security-opt", "seccomp=unconfined"],
        &["--syscall", "keyctl"],
    )?;
    ensure!(
        r.pointer("/syscalls/keyctl/errno") != Some(&1.into()),
        "keyctl still denied when unconfined: {}",
        r["syscalls"]
    );
    let status = e.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "^Seccomp:",
        "/proc/self/status",
    ])?;
    ensure!(
        status.split_whitespace().last() == Some("0"),
        "still filtered: {status}"
    );
    Ok(())
}

#[test]
fn a_profile_file_is_read_by_the_cli() -> Result<()> {
    let e = Engine::start()?;
    let profile = e.dir().join("deny-getppid.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )?;
    let opt = format!("seccomp={}", profile.display());
    let r = checker(&e, &["--security-opt", &opt], &["--syscall", "getppid"])?;
    ensure!(
        r.pointer("/syscalls/getppid/errno") == Some(&13.into()),
        "{}",
        r["syscalls"]
    );
    Ok(())
}

#[test]
fn capabilities_are_docker_s_and_follow_add_and_drop() -> Result<()> {
    let e = Engine::start()?;
    let eff = |flags: &[&str]| -> Result<u64> {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "grep", "^CapEff:", "/proc/self/status"]);
        let line = e.ok(&args)?;
        let hex = line.split_whitespace().last().context("CapEff line")?;
        Ok(u64::from_str_radix(hex, 16)?)
    };
    ensure!(eff(&[])? == DOCKER_CAPS, "default set: {:#x}", eff(&[])?);
    ensure!(eff(&["--cap-drop", "ALL"])? == 0, "--cap-drop ALL");
    let bounding = {
        let s = std::fs::read_to_string("/proc/self/status")?;
        let hex = s
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .context("CapBnd")?;
        u64::from_str_radix(hex.trim(), 16)?
    };
    ensure!(
        eff(&["--cap-add", "ALL"])? == bounding,
        "--cap-add ALL is the host's bounding set"
    );
    let net_admin = 1u64 << 12;
    let chown = 1u64;
    let v = eff(&["--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN"])?;
    ensure!(v == (DOCKER_CAPS | net_admin) & !chown, "add/drop: {v:#x}");
    Ok(())
}

#[test]
fn privileged_gets_every_capability_device_and_no_filter() -> Result<()> {
    let e = Engine::start()?;
    let out = e.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(Seccomp|CapEff):' /proc/self/status; test -c /dev/loop-control && echo loop",
    ])?;
    ensure!(out.contains("Seccomp:\t0"), "{out}");
    ensure!(
        out.contains("loop") || !std::path::Path::new("/dev/loop-control").exists(),
        "{out}"
    );
    Ok(())
}

#[test]
fn devices_only_when_given_and_proc_stays_read_only() -> Result<()> {
    let e = Engine::start()?;
    // /dev/fuse exists on the host but not in a container by default.
    if std::path::Path::new("/dev/fuse").exists() {
        let out = e.cli(&["run", "--rm", "busybox", "test", "-e", "/dev/fuse"])?;
        ensure!(
            out.status.code() == Some(1),
            "/dev/fuse is there without --device"
        );
        let out = e.ok(&[
            "run",
            "--rm",
            "--device",
            "/dev/fuse",
            "busybox",
            "stat",
            "-c",
            "%t:%T",
            "/dev/fuse",
        ])?;
        ensure!(
            out == "a:e5",
            "/dev/fuse in the container is {out} (10:229 wanted)"
        );
    }
    // A node made inside (CAP_MKNOD is docker's) but outside the device
    // cgroup's list cannot be opened (fuse's numbers); with a rule it can.
    // (10:200, tun, is in runc's and berth-runtime's default list.)
    let open_fuse = "mknod /tmp/fuse c 10 229 && exec 3<>/tmp/fuse && echo opened";
    let out = e.cli(&["run", "--rm", "busybox", "sh", "-c", open_fuse])?;
    ensure!(
        !out.status.success() && out.stderr.contains("Operation not permitted"),
        "a device outside the cgroup list: {} {}",
        out.stdout,
        out.stderr
    );
    if std::path::Path::new("/dev/fuse").exists() {
        let out = e.ok(&[
            "run",
            "--rm",
            "--device-cgroup-rule",
            "c 10:229 rwm",
            "busybox",
            "sh",
            "-c",
            open_fuse,
        ])?;
        ensure!(out == "opened", "{out}");
    }
    let out = e.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo h > /proc/sysrq-trigger",
    ])?;
    ensure!(!out.status.success(), "wrote /proc/sysrq-trigger");
    let out = e.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /sys/kernel/profiling",
    ])?;
    ensure!(!out.status.success(), "wrote to /sys");
    Ok(())
}

#[test]
fn bad_security_options_are_refused_and_leave_nothing() -> Result<()> {
    let e = Engine::start()?;
    let profile = e.dir().join("bad.json");
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_FOO"}"#)?;
    let bad_profile = format!("seccomp={}", profile.display());
    for (args, says) in [
        (&["--cap-add", "CAP_FOO"][..], "unknown capability"),
        (&["--device", "/etc/passwd"], "not a device node"),
        (
            &["--device-cgroup-rule", "x 1:2 rwm"],
            "--device-cgroup-rule",
        ),
        (&["--security-opt", "frobnicate"], "--security-opt"),
        (&["--security-opt", &bad_profile], "SCMP_ACT_FOO"),
        (
            &["--security-opt", "seccomp=/no/such/profile.json"],
            "/no/such/profile.json",
        ),
        (&["--userns", "private"], "--userns"),
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["busybox", "true"]);
        let o = e.cli(&argv)?;
        ensure!(
            o.status.code() == Some(125),
            "{args:?}: status {:?}",
            o.status
        );
        ensure!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
    }
    let left = e.ok(&["ps", "-aq"])?;
    ensure!(left.is_empty(), "containers left: {left}");
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    Ok(())
}

/// The default profile must not break ordinary programs: busybox's applets
/// (files, archives, processes, users, time) all work under it.
#[test]
fn busybox_applets_work_under_the_default_profile() -> Result<()> {
    let e = Engine::start()?;
    let script = "set -e; cd /tmp; echo hello > f; cat f | sed s/h/H/ | awk '{print $1}' | grep -q Hello; \
        tar cf a.tar f; gzip a.tar; gunzip a.tar.gz; tar tf a.tar >/dev/null; find / -xdev -name f >/dev/null; \
        sort f >/dev/null; md5sum f >/dev/null; sha256sum f >/dev/null; ps >/dev/null; top -bn1 >/dev/null; \
        date >/dev/null; id >/dev/null; hostname >/dev/null; df / >/dev/null; uname -a >/dev/null; \
        touch g; mv g h; rm h; mkdir d; rmdir d; ln -s f l; readlink l >/dev/null; chmod 600 f; chown 1:1 f; \
        stat f >/dev/null; sleep 0.1; nproc >/dev/null; free >/dev/null; \
        dd if=/dev/zero of=z bs=1k count=10 2>/dev/null; test $(wc -c < z) -eq 10240; \
        xargs echo < f >/dev/null; seq 3 >/dev/null; expr 1 + 2 >/dev/null; timeout 1 sleep 0.2; \
        (sleep 5 & wait_pid=$!; kill $wait_pid); echo ALLOK";
    let out = e.ok(&["run", "--rm", "busybox", "sh", "-c", script])?;
    ensure!(out.ends_with("ALLOK"), "{out}");
    Ok(())
}

/// daemon.json `userns-remap: default`: the container's root is the first id
/// of berth-remap's range on the host (read from outside), owns the
/// container's `/`, cannot read a root-only host file bound in, and
/// `--userns=host` opts out.
#[test]
fn userns_remap_makes_root_an_unprivileged_host_uid() -> Result<()> {
    let e = Engine::start_bare(r#"{"userns-remap": "default"}"#)?;
    e.import_busybox()?;
    let subuid = std::fs::read_to_string("/etc/subuid")?;
    let start: u32 = subuid
        .lines()
        .find_map(|l| l.strip_prefix("berth-remap:"))
        .and_then(|r| r.split(':').next())
        .context("berth-remap has no range in /etc/subuid")?
        .parse()?;
    ensure!(start > 0, "the range starts at 0");
    let id = e.ok(&["run", "-d", "busybox", "sleep", "60"])?;
    let pid = e.pid(&id)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .context("Uid")?;
    ensure!(
        uid_line
            .split_whitespace()
            .skip(1)
            .all(|u| u == start.to_string()),
        "host view of the container's root: {uid_line} (wanted {start})"
    );
    let inside = e.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "id -u; touch /made-by-root && echo wrote",
    ])?;
    ensure!(inside == "0\nwrote", "{inside}");
    // export (and commit) hold the container's view of owners, not the host's.
    let mut export = e.command(&["export", &id]);
    export.stdout(std::process::Stdio::piped());
    let mut child = export.spawn()?;
    let tar = std::process::Command::new("tar")
        .args(["-tv", "--numeric-owner", "-f", "-", "made-by-root"])
        .stdin(child.stdout.take().context("export's stdout")?)
        .output()?;
    child.wait()?;
    let listing = String::from_utf8_lossy(&tar.stdout);
    ensure!(listing.contains(" 0/0 "), "exported owner: {listing}");
    e.ok(&["rm", "-f", &id])?;

    let secret = e.dir().join("secret");
    std::fs::write(&secret, "host root only")?;
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let bind = format!("{}:/secret:ro", secret.display());
    let o = e.cli(&["run", "--rm", "-v", &bind, "busybox", "cat", "/secret"])?;
    ensure!(
        !o.status.success() && !o.stdout.contains("host root only"),
        "the remapped root read a root-only host file: {}",
        o.stdout
    );
    let map = e.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ])?;
    ensure!(
        map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"],
        "{map}"
    );
    let o = e.cli(&["run", "--rm", "--privileged", "busybox", "true"])?;
    ensure!(
        o.status.code() == Some(125) && o.stderr.contains("--userns=host"),
        "{}",
        o.stderr
    );
    Ok(())
}
