//! Bad input to the engine through the `berth` CLI: docker's messages and exit
//! codes, and nothing created on disk or in the kernel. Root only.

use anyhow::{ensure, Result};
use berth_integration_tests::engine::{self, Engine};
use berth_integration_tests::runtime::run_with_timeout;

/// Nothing of a container: not listed, no dir under the root, no mount.
fn nothing_left(e: &Engine) -> Result<()> {
    let left = e.ok(&["ps", "-aq"])?;
    ensure!(left.is_empty(), "containers left: {left}");
    ensure!(
        e.container_dirs().is_empty(),
        "container dirs left: {:?}",
        e.container_dirs()
    );
    ensure!(e.mounts().is_empty(), "mounts left: {:?}", e.mounts());
    ensure!(
        e.own_processes().is_empty(),
        "shims left: {:?}",
        e.own_processes()
    );
    Ok(())
}

#[test]
fn unknown_image() -> Result<()> {
    let e = Engine::start()?;
    let o = e.cli(&["run", "--rm", "nosuchimage", "true"])?;
    ensure!(
        o.status.code() == Some(125),
        "exit status {:?}, docker's is 125",
        o.status
    );
    ensure!(
        o.stderr.contains("nosuchimage")
            && (o.stderr.contains("No such image") || o.stderr.contains("Unable to find image")),
        "not docker's message: {}",
        o.stderr
    );
    nothing_left(&e)
}

#[test]
fn unknown_container() -> Result<()> {
    let e = Engine::start()?;
    for verb in [
        &["stop", "nosuchbox"][..],
        &["rm", "nosuchbox"],
        &["logs", "nosuchbox"],
        &["inspect", "nosuchbox"],
        &["exec", "nosuchbox", "true"],
    ] {
        let o = e.cli(verb)?;
        ensure!(!o.success(), "{verb:?} succeeded");
        ensure!(
            o.stderr.contains("No such container: nosuchbox")
                || o.stderr.contains("No such object: nosuchbox"),
            "{verb:?}: not docker's message: {}",
            o.stderr
        );
    }
    nothing_left(&e)
}

#[test]
fn name_already_in_use() -> Result<()> {
    let e = Engine::start()?;
    let first = e.ok(&["run", "-d", "--name", "dup", "busybox", "sleep", "600"])?;
    let first = e.full_id(&first)?;
    let o = e.cli(&["run", "-d", "--name", "dup", "busybox", "sleep", "600"])?;
    ensure!(!o.success(), "second --name dup succeeded");
    ensure!(
        o.stderr
            .contains("The container name \"/dup\" is already in use")
            && o.stderr.contains(&first),
        "not docker's conflict message: {}",
        o.stderr
    );
    let all = e.ok(&["ps", "-aq", "--no-trunc"])?;
    ensure!(all == first, "containers after the clash: {all:?}");
    ensure!(
        e.container_dirs() == [first.clone()],
        "container dirs: {:?}",
        e.container_dirs()
    );
    ensure!(
        e.own_processes().len() == 1,
        "shims: {:?}",
        e.own_processes()
    );
    Ok(())
}

#[test]
fn malformed_daemon_json_stops_berthd_with_a_clear_error() -> Result<()> {
    let Err(err) = Engine::start_bare("{\"debug\": true,\n  \"runtime\": }\n") else {
        anyhow::bail!("berthd started with a malformed daemon.json");
    };
    let msg = err.to_string();
    ensure!(
        msg.contains("daemon.json") && msg.contains("line 2"),
        "error does not name the file and line: {msg}"
    );
    // Unknown keys are typos, not silently ignored.
    let Err(err) = Engine::start_bare("{\"debugg\": true}") else {
        anyhow::bail!("berthd started with an unknown key in daemon.json");
    };
    ensure!(
        err.to_string().contains("debugg"),
        "error does not name the unknown key: {err}"
    );
    Ok(())
}

#[test]
fn malformed_daemon_json_creates_nothing() -> Result<()> {
    let dir = tempfile::Builder::new().prefix("bej.").tempdir_in("/tmp")?;
    let config = dir.path().join("daemon.json");
    std::fs::write(&config, "{ nope")?;
    let (root, state) = (dir.path().join("root"), dir.path().join("state"));
    let mut cmd = std::process::Command::new(engine::binary("berthd")?);
    cmd.arg("--root")
        .arg(&root)
        .arg("--state")
        .arg(&state)
        .arg("--config")
        .arg(&config);
    let out = run_with_timeout(
        cmd,
        &dir.path().join("out"),
        &dir.path().join("err"),
        std::time::Duration::from_secs(20),
    )?;
    let stderr = out.stderr;
    ensure!(
        !out.status.success(),
        "berthd ran with a malformed daemon.json"
    );
    ensure!(
        stderr.contains(&config.display().to_string()),
        "error does not name the file: {stderr}"
    );
    ensure!(
        !root.exists() && !state.exists(),
        "berthd created its dirs before reading its config"
    );
    Ok(())
}

#[test]
fn run_exit_codes_are_dockers() -> Result<()> {
    let e = Engine::start()?;
    let o = e.cli(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])?;
    ensure!(
        o.status.code() == Some(3),
        "exit 3 came back as {:?}",
        o.status
    );
    let o = e.cli(&["run", "--rm", "busybox", "nosuchcmd"])?;
    ensure!(
        o.status.code() == Some(127),
        "missing command: {:?}, docker's is 127",
        o.status
    );
    ensure!(
        o.stderr
            .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "not docker's message: {}",
        o.stderr
    );
    let o = e.cli(&["run", "--rm", "busybox", "/etc/passwd"])?;
    ensure!(
        o.status.code() == Some(126),
        "not executable: {:?}, docker's is 126; stderr: {}",
        o.status,
        o.stderr
    );
    ensure!(
        o.stderr.to_ascii_lowercase().contains("permission denied"),
        "not docker's message: {}",
        o.stderr
    );
    nothing_left(&e)
}

/// Issue 6, point 8: a flag berth does not know is refused like docker
/// (`unknown flag`, status 125), not taken for the image; after the image
/// every argument belongs to the command.
#[test]
fn unknown_flags_are_refused_not_taken_for_the_image() -> Result<()> {
    let e = Engine::start()?;
    for args in [
        &["run", "--rm", "--blkio-weight", "10", "busybox", "true"][..],
        &["run", "--rm", "--bogus", "busybox", "true"],
        &["create", "--bogus", "busybox", "true"],
    ] {
        let o = e.cli(args)?;
        ensure!(
            o.status.code() == Some(125),
            "{args:?}: exit status {:?}, docker's is 125",
            o.status
        );
        let flag = args[1..]
            .iter()
            .find(|a| a.starts_with("--") && **a != "--rm");
        let flag = flag.copied().unwrap_or_default();
        ensure!(
            o.stderr.contains(&format!("unknown flag: {flag}"))
                && o.stderr
                    .contains(&format!("See 'berth {} --help'.", args[0]))
                && !o.stderr.contains("No such image"),
            "{args:?}: not docker's message: {}",
            o.stderr
        );
    }
    let o = e.cli(&["run", "--rm", "busybox", "echo", "-n", "--bogus"])?;
    ensure!(
        o.success() && o.stdout == "--bogus",
        "the arguments after the image are the command's: {o:?}"
    );
    nothing_left(&e)
}

#[test]
fn missing_workdir_is_created_like_docker() -> Result<()> {
    let e = Engine::start()?;
    let out = e.ok(&["run", "--rm", "-w", "/made/by/berth", "busybox", "pwd"])?;
    ensure!(out == "/made/by/berth", "pwd printed {out:?}");
    nothing_left(&e)
}

/// One ustar member (header plus data padded to 512 bytes).
fn tar_member(name: &str, kind: u8, data: &[u8], link: &str) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..107].copy_from_slice(b"0000755");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn hostile_image_archives_write_nothing_outside_the_root() -> Result<()> {
    let e = Engine::start()?;
    let outside = e.dir().join("outside");
    std::fs::create_dir(&outside)?;
    let target = outside.display().to_string();
    let escape = format!("../../../../../../../..{}/dotdot", target);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("dotdot", vec![tar_member(&escape, b'0', b"x", "")]),
        (
            "absolute",
            vec![tar_member(&format!("{target}/absolute"), b'0', b"x", "")],
        ),
        (
            "symlink",
            vec![
                tar_member("link", b'2', b"", &target),
                tar_member("link/through-symlink", b'0', b"x", ""),
            ],
        ),
    ];
    for (name, members) in cases {
        let mut tar: Vec<u8> = members.concat();
        tar.extend_from_slice(&[0u8; 1024]);
        let path = e.dir().join(format!("{name}.tar"));
        std::fs::write(&path, &tar)?;
        let path_s = path.display().to_string();
        let image = format!("hostile-{name}");
        let o = e.cli(&["image", "import", &path_s, &image])?;
        let written: Vec<_> = std::fs::read_dir(&outside)?.flatten().collect();
        ensure!(
            written.is_empty(),
            "{name}: written outside the root: {:?}",
            written.iter().map(|d| d.path()).collect::<Vec<_>>()
        );
        ensure!(!o.success(), "{name}: hostile archive imported");
        ensure!(
            o.stderr.contains("escapes the layer root"),
            "{name}: unclear error: {}",
            o.stderr
        );
        let images = e.ok(&["images", "-q", &image])?;
        ensure!(images.is_empty(), "{name}: refused yet listed: {images}");
    }
    Ok(())
}

#[test]
fn racing_runs_for_one_name_make_exactly_one_container() -> Result<()> {
    let e = Engine::start()?;
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let e = &e;
                s.spawn(move || e.cli(&["run", "-d", "--name", "race", "busybox", "sleep", "600"]))
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
    let won: Vec<_> = outcomes.iter().filter(|o| o.success()).collect();
    ensure!(won.len() == 1, "{} runs got the name", won.len());
    for o in outcomes.iter().filter(|o| !o.success()) {
        ensure!(
            o.stderr.contains("is already in use"),
            "a losing run failed otherwise: {}",
            o.stderr
        );
    }
    let all = e.ok(&["ps", "-aq", "--no-trunc"])?;
    ensure!(all.lines().count() == 1, "containers: {all:?}");
    ensure!(
        e.container_dirs().len() == 1,
        "container dirs: {:?}",
        e.container_dirs()
    );
    ensure!(
        engine::eventually(std::time::Duration::from_secs(5), || e
            .own_processes()
            .len()
            == 1),
        "shims: {:?}",
        e.own_processes()
    );
    Ok(())
}

#[test]
fn impossible_resource_limits_are_refused_like_docker() -> Result<()> {
    let e = Engine::start()?;
    let o = e.cli(&["run", "--rm", "--memory", "1k", "busybox", "true"])?;
    ensure!(o.status.code() == Some(125), "--memory 1k: {:?}", o.status);
    ensure!(
        o.stderr.contains("Minimum memory limit allowed is 6MB"),
        "not docker's message: {}",
        o.stderr
    );
    let ncpu = affinity_cpus();
    let too_many = (ncpu + 1).to_string();
    let o = e.cli(&["run", "--rm", "--cpus", &too_many, "busybox", "true"])?;
    ensure!(
        o.status.code() == Some(125),
        "--cpus {too_many}: {:?}",
        o.status
    );
    let want =
        format!("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available");
    ensure!(
        o.stderr.contains(&want),
        "not docker's message ({want}): {}",
        o.stderr
    );
    let o = e.cli(&["run", "--rm", "--restart", "always", "busybox", "true"])?;
    ensure!(
        o.status.code() == Some(125) && o.stderr.contains("--restart and --rm"),
        "--rm with --restart: {:?} {}",
        o.status,
        o.stderr
    );
    nothing_left(&e)
}

/// CPUs in this process's affinity mask (what docker calls NumCPU).
fn affinity_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity writes at most
    // the size passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            (libc::CPU_COUNT(&set) as usize).max(1)
        } else {
            1
        }
    }
}
