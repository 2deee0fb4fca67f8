//! berth-init on the real kernel: exit statuses, signal forwarding, and
//! orphan reaping as PID 1 of a new PID namespace (`unshare`, root only).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = env!("CARGO_BIN_EXE_berth-init");

#[test]
fn exit_code_of_the_child_is_passed_on() {
    let st = Command::new(INIT)
        .args(["--", "/bin/sh", "-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
    let st = Command::new(INIT)
        .args(["/bin/sh", "-c", "kill -9 $$"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(137));
    let st = Command::new(INIT)
        .arg("/no/such/program")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(127));
    let st = Command::new(INIT).stderr(Stdio::null()).status().unwrap();
    assert_eq!(st.code(), Some(2), "no command is a usage error");
}

#[test]
fn sigterm_is_forwarded_to_the_child() {
    // `exec sleep`: the child itself must die of the forwarded SIGTERM.
    let mut child = Command::new(INIT)
        .args(["/bin/sh", "-c", "exec sleep 1000"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert_eq!(st.code(), Some(143));
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM was not passed on");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn as_pid_1_it_reaps_orphans() {
    if !std::path::Path::new("/usr/bin/unshare").exists() {
        eprintln!("no unshare; skipped");
        return;
    }
    // The inner shell leaves a background sleep behind and exits: the sleep
    // is reparented to PID 1 and, once done, must not stay a zombie.
    let script = "sh -c 'sleep 0.1 &'; sleep 0.6; \
                  cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l";
    let out = Command::new("/usr/bin/unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            INIT,
            "/bin/sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
}
