//! The berth-runtime binary against the real kernel: lifecycle, state transitions,
//! namespaces as /proc sees them, exit codes, and failures that leave nothing behind.
mod common;

use common::{no_cgroup_left, ns_link, stderr, Env};
use serde_json::Value;

#[test]
fn create_start_kill_delete_walks_the_states() {
    require_root!();
    let env = Env::new();
    let id = env.id("walk");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    let pid_file = env.dir.path().join("init.pid");
    env.ok(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let state = env.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], Value::from(id.as_str()));
    assert_eq!(state["bundle"], Value::from(b.to_str().unwrap()));
    let pid = state["pid"].as_i64().unwrap().to_string();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid);
    for kind in ["pid", "mnt", "net", "ipc", "uts"] {
        assert_ne!(
            ns_link(&pid, kind),
            ns_link("self", kind),
            "{kind} namespace"
        );
    }
    // Namespaces the spec does not list are shared with the host.
    assert_eq!(ns_link(&pid, "user"), ns_link("self", "user"));

    env.ok(&["start", &id]);
    assert_eq!(env.status(&id), "running");
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\u{0}100\u{0}");

    env.ok(&["pause", &id]);
    assert_eq!(env.status(&id), "paused");
    env.ok(&["resume", &id]);
    assert_eq!(env.status(&id), "running");

    env.ok(&["kill", &id, "KILL"]);
    env.wait_status(&id, "stopped");
    assert_eq!(env.state(&id)["pid"], 0);
    let exec = env.cmd(&["exec", &id, "true"]);
    assert_eq!(exec.status.code(), Some(255));
    assert!(stderr(&exec).contains("cannot exec in a stopped container"));
    let kill = env.cmd(&["kill", &id, "KILL"]);
    assert_eq!(kill.status.code(), Some(1));
    assert!(stderr(&kill).contains("container not running"));
    env.ok(&["delete", &id]);
    assert!(!env.root.join(&id).exists());
    assert!(no_cgroup_left(&id));
    let out = env.cmd(&["state", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn refusals_change_nothing() {
    require_root!();
    let env = Env::new();
    let id = env.id("refuse");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    let bs = b.to_str().unwrap();
    env.create(&id, &b);
    let pid = env.pid(&id);

    let dup = env.cmd(&["create", "--bundle", bs, &id]);
    assert_eq!(dup.status.code(), Some(1));
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    assert_eq!(env.pid(&id), pid);
    assert_eq!(env.status(&id), "created");

    // The runtime spec: a created container is not stopped, so delete without
    // --force is refused and changes nothing; --force kills its init.
    let refused = env.cmd(&["delete", &id]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("not stopped"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(env.status(&id), "created");
    assert_eq!(env.pid(&id), pid);
    env.ok(&["delete", "--force", &id]);
    assert_eq!(
        env.cmd(&["state", &id]).status.code(),
        Some(1),
        "state after delete"
    );
    assert!(
        gone_or_zombie(pid),
        "init {pid} survived delete of a created container"
    );
    env.create(&id, &b);
    env.ok(&["start", &id]);
    let again = env.cmd(&["start", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("cannot start an already running container"));

    let del = env.cmd(&["delete", &id]);
    assert_eq!(del.status.code(), Some(1));
    assert!(stderr(&del).contains("not stopped"), "{}", stderr(&del));
    assert_eq!(env.status(&id), "running");

    let bad = env.cmd(&["create", "--bundle", bs, "../escape"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(!env.dir.path().join("escape").exists());

    let unknown = env.cmd(&["kill", "rtt-nope", "KILL"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("container does not exist"));

    env.ok(&["delete", "--force", &id]);
    assert!(!env.root.join(&id).exists());
    assert!(no_cgroup_left(&id));
    // --force on a missing container is not an error (runc).
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn bad_configs_fail_create_and_leave_nothing() {
    require_root!();
    let env = Env::new();
    type Edit = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "field",
            Box::new(|c: &mut Value| c["process"]["user"]["uid"] = Value::from("root")),
            "process.user.uid",
        ),
        (
            "exe",
            Box::new(|c: &mut Value| c["process"]["args"] = serde_json::json!(["/no/such/bin"])),
            "/no/such/bin",
        ),
        (
            "path",
            Box::new(|c: &mut Value| c["process"]["args"] = serde_json::json!(["nosuchcmd"])),
            "executable file not found",
        ),
        (
            "rootfs",
            Box::new(|c: &mut Value| c["root"]["path"] = Value::from("missing")),
            "root.path",
        ),
        (
            "cwd",
            Box::new(|c: &mut Value| c["process"]["cwd"] = Value::from("/bin/busybox")),
            "cwd",
        ),
        (
            "uts",
            Box::new(|c: &mut Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != "uts")
            }),
            "UTS namespace",
        ),
        (
            "sysctl",
            Box::new(|c: &mut Value| {
                c["linux"]["sysctl"] = serde_json::json!({"kernel.no_such_knob": "1"})
            }),
            "kernel.no_such_knob",
        ),
        (
            "nsjoin",
            Box::new(|c: &mut Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"type": "cgroup", "path": "/no/such/ns"}))
            }),
            "/no/such/ns",
        ),
    ];
    for (name, edit, needle) in cases {
        let id = env.id(name);
        let b = env.bundle(name, &["true"], edit);
        let out = env.cmd(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
        assert!(!env.root.join(&id).exists(), "{name}: state dir left");
        assert!(no_cgroup_left(&id), "{name}: cgroup left");
    }
}

#[test]
fn run_returns_the_exit_code_and_cleans_up() {
    require_root!();
    let env = Env::new();
    let id = env.id("run");
    let b = env.bundle("b", &["sh", "-c", "exit 7"], |_| {});
    let out = env.cmd(&["run", "--bundle", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(!env.root.join(&id).exists());
    assert!(no_cgroup_left(&id));

    let id2 = env.id("run-out");
    let b2 = env.bundle("b2", &["sh", "-c", "hostname; echo $HOME-$0"], |c| {
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(Value::from("HOME=/root"));
    });
    let out = env.cmd(&["run", "-b", b2.to_str().unwrap(), &id2]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "runc\n/root-sh\n");
}

#[test]
fn exec_joins_the_namespaces_and_returns_its_code() {
    require_root!();
    let env = Env::new();
    let id = env.id("exec");
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["hostname"] = Value::from("inside");
        c["root"]["readonly"] = Value::Bool(false);
    });
    env.create(&id, &b);
    env.ok(&["start", &id]);
    let pid = env.pid(&id).to_string();

    let out = env.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/net; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("inside"));
    assert_eq!(lines.next().map(str::to_string), Some(ns_link(&pid, "net")));

    // --process with a user and env, detached with a pid file.
    let proc_json = env.dir.path().join("p.json");
    std::fs::write(
        &proc_json,
        serde_json::json!({
            "user": {"uid": 1234, "gid": 99}, "cwd": "/tmp",
            "args": ["sh", "-c", "echo $(id -u):$(id -g):$PWD:$X > /tmp/out; sleep 100"],
            "env": ["PATH=/bin", "X=y"]
        })
        .to_string(),
    )
    .unwrap();
    let pf = env.dir.path().join("exec.pid");
    env.ok(&[
        "exec",
        "--process",
        proc_json.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pf.to_str().unwrap(),
        &id,
    ]);
    let exec_pid = std::fs::read_to_string(&pf).unwrap();
    assert_eq!(ns_link(&exec_pid, "mnt"), ns_link(&pid, "mnt"));
    assert_eq!(ns_link(&exec_pid, "pid"), ns_link(&pid, "pid"));
    let cg_init = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let cg_exec = std::fs::read_to_string(format!("/proc/{exec_pid}/cgroup")).unwrap();
    assert_eq!(cg_init, cg_exec);
    let mut got = String::new();
    for _ in 0..200 {
        got = String::from_utf8_lossy(&env.cmd(&["exec", &id, "cat", "/tmp/out"]).stdout)
            .into_owned();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(got, "1234:99:/tmp:y\n");
    let ps: Vec<i32> = serde_json::from_str(&env.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(ps.contains(&exec_pid.parse().unwrap()), "{ps:?}");
    env.ok(&["delete", "--force", &id]);
    assert!(!std::path::Path::new(&format!("/proc/{exec_pid}")).exists());
}

#[test]
fn user_namespace_with_maps_written_by_the_parent() {
    require_root!();
    let env = Env::new();
    let id = env.id("userns");
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        // A read-only sysfs of the host cannot be mounted from a new user namespace.
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/sys" && m["destination"] != "/sys/fs/cgroup");
    });
    std::process::Command::new("chown")
        .args(["-R", "100000:100000", b.join("rootfs").to_str().unwrap()])
        .status()
        .unwrap();
    env.create(&id, &b);
    let pid = env.pid(&id).to_string();
    assert_ne!(ns_link(&pid, "user"), ns_link("self", "user"));
    let map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.contains("100000"), "{uid_line}");
    env.ok(&["start", &id]);
    env.ok(&["delete", "--force", &id]);
}

#[test]
fn console_socket_receives_a_working_pty() {
    require_root!();
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let id = env.id("tty");
    let b = env.bundle("b", &["sh", "-c", "tty; echo done"], |c| {
        c["process"]["terminal"] = Value::Bool(true);
    });
    let sock = env.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (env_ref, sock_s, b_s, id_s) = (
        &env,
        sock.to_str().unwrap(),
        b.to_str().unwrap(),
        id.clone(),
    );
    let out = std::thread::scope(|s| {
        let h = s.spawn(move || {
            env_ref.cmd(&["create", "--bundle", b_s, "--console-socket", sock_s, &id_s])
        });
        let (conn, _) = listener.accept().unwrap();
        let master = berth_runtime::console::recv_fd(conn.as_raw_fd()).unwrap();
        (h.join().unwrap(), master)
    });
    let (created, master) = out;
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(nix::unistd::isatty(&master).unwrap());
    env.ok(&["start", &id]);
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("done") {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = f.write_all(b"");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("done"), "{text:?}");
}

/// Create `id` with `process.terminal` and a console socket, start it and return what
/// it wrote to the pty until it printed "done".
fn output_on_a_tty(env: &Env, id: &str, args: &[&str]) -> String {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let b = env.bundle("b", args, |c| {
        c["process"]["terminal"] = Value::Bool(true);
    });
    let sock = env.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let (sock_s, b_s) = (sock.to_str().unwrap(), b.to_str().unwrap());
    let (created, master) = std::thread::scope(|s| {
        let h = s.spawn(|| env.cmd(&["create", "--bundle", b_s, "--console-socket", sock_s, id]));
        let (conn, _) = listener.accept().unwrap();
        let master = berth_runtime::console::recv_fd(conn.as_raw_fd()).unwrap();
        (h.join().unwrap(), master)
    });
    assert!(created.status.success(), "{}", stderr(&created));
    env.ok(&["start", id]);
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let mut buf = [0u8; 256];
    while !text.contains("done") {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn terminal_container_sees_its_pty_as_dev_console() {
    require_root!();
    let env = Env::new();
    let id = env.id("ttycons");
    let text = output_on_a_tty(
        &env,
        &id,
        &[
            "sh",
            "-c",
            "echo \"console=$(stat -L -c %t:%T /dev/console) stdin=$(stat -L -c %t:%T /proc/self/fd/0) done\"",
        ],
    );
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .unwrap_or_default()
            .to_string()
    };
    let (console, stdin) = (field("console="), field("stdin="));
    assert!(!stdin.is_empty() && !stdin.starts_with("0:"), "{text:?}");
    assert_eq!(console, stdin, "{text:?}");
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
}

#[test]
fn list_and_version_and_features() {
    require_root!();
    let env = Env::new();
    let id = env.id("list");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    env.create(&id, &b);
    let list: Value = serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["id"], Value::from(id.as_str()));
    assert_eq!(list[0]["status"], "created");
    let table = env.ok(&["list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&id));
    let version = env.ok(&["--version"]);
    let lines: Vec<&str> = version.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("berth-runtime version "));
    assert!(lines[1].starts_with("commit: "));
    assert!(lines[2].starts_with("spec: 1."));
    let features: Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert!(features["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .contains(&Value::from("time")));
}

#[test]
fn log_file_gets_runc_json_errors() {
    require_root!();
    let env = Env::new();
    let log = env.dir.path().join("log.json");
    let out = env.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "rtt-missing",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("container does not exist"));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist");
}

/// What the security setup skips goes to --log at level warning (runtime spec,
/// capabilities: "MUST be logged as a warning"; syscall names no architecture
/// has), and a failing hook is named by
/// its place in config.json.
#[test]
fn skipped_caps_and_syscalls_are_logged_as_warnings_and_hooks_named() {
    require_root!();
    let env = Env::new();
    let log = env.dir.path().join("log.json");
    let log_s = log.to_str().unwrap();
    let id = env.id("warnlog");
    let b = env.bundle("b", &["true"], |c| {
        // Ambient needs the cap in permitted and inheritable: CAP_KILL is in neither.
        c["process"]["capabilities"]["ambient"] = serde_json::json!(["CAP_KILL"]);
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["_llseek", "no_such_call", "getcwd"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    let out = env.cmd(&[
        "--debug",
        "--log",
        log_s,
        "--log-format",
        "json",
        "create",
        "-b",
        b.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let logged = |level: &str, needle: &str| {
        lines
            .iter()
            .any(|l| l["level"] == level && l["msg"].as_str().unwrap_or("").contains(needle))
    };
    assert!(logged("warning", "CAP_KILL"), "{lines:?}");
    // A typo is worth a warning; i386's _llseek (the profile covers x86_64 only)
    // is skipped quietly, as libseccomp does, and shows only with --debug.
    assert!(logged("warning", "no_such_call"), "{lines:?}");
    assert!(!logged("warning", "_llseek"), "{lines:?}");
    assert!(logged("debug", "_llseek"), "{lines:?}");
    env.ok(&["delete", "--force", &id]);

    let id2 = env.id("hookname");
    let b2 = env.bundle("b2", &["true"], |c| {
        c["hooks"] = serde_json::json!({"createRuntime": [
            {"path": "/bin/true", "args": ["true"]},
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}
        ]});
    });
    let out = env.cmd(&["create", "-b", b2.to_str().unwrap(), &id2]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("hooks.createRuntime[1]"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn joining_namespaces_by_path_with_a_new_user_namespace() {
    require_root!();
    let env = Env::new();
    let a = env.id("join-a");
    let ba = env.bundle("a", &["sleep", "100"], |_| {});
    env.create(&a, &ba);
    let apid = env.pid(&a).to_string();

    let b = env.id("join-b");
    let net = format!("/proc/{apid}/ns/net");
    let ipc = format!("/proc/{apid}/ns/ipc");
    let bb = env.bundle("b", &["sleep", "100"], |c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network" && n["type"] != "ipc");
        ns.push(serde_json::json!({"type": "network", "path": net}));
        ns.push(serde_json::json!({"type": "ipc", "path": ipc}));
        ns.push(serde_json::json!({"type": "cgroup"}));
        ns.push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] =
            serde_json::json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        let mounts = c["mounts"].as_array_mut().unwrap();
        // sysfs and mqueue belong to namespaces owned by the host's user namespace.
        mounts.retain(|m| {
            !["/sys", "/sys/fs/cgroup", "/dev/mqueue"].contains(&m["destination"].as_str().unwrap())
        });
    });
    std::process::Command::new("chown")
        .args(["-R", "200000:200000", bb.join("rootfs").to_str().unwrap()])
        .status()
        .unwrap();
    env.create(&b, &bb);
    let bpid = env.pid(&b).to_string();
    assert_eq!(ns_link(&bpid, "net"), ns_link(&apid, "net"));
    assert_eq!(ns_link(&bpid, "ipc"), ns_link(&apid, "ipc"));
    assert_ne!(ns_link(&bpid, "pid"), ns_link(&apid, "pid"));
    assert_ne!(ns_link(&bpid, "pid"), ns_link("self", "pid"));
    assert_ne!(ns_link(&bpid, "cgroup"), ns_link("self", "cgroup"));
    assert_ne!(ns_link(&bpid, "user"), ns_link("self", "user"));
    let map = std::fs::read_to_string(format!("/proc/{bpid}/gid_map")).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    // The init is pid 1 of its new pid namespace even on the joining path.
    let status = std::fs::read_to_string(format!("/proc/{bpid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert!(nspid.trim_end().ends_with("\t1"), "{nspid}");
    env.ok(&["start", &b]);
    assert_eq!(env.status(&b), "running");
    // In its cgroup namespace the init sees itself at the root.
    let out = env.ok(&["exec", &b, "sh", "-c", "cat /proc/self/cgroup; id -u"]);
    assert!(out.lines().any(|l| l.starts_with("0::/")), "{out}");
    assert_eq!(out.lines().last(), Some("0"), "{out}");
    env.ok(&["delete", "--force", &b]);
    env.ok(&["delete", "--force", &a]);
    assert!(no_cgroup_left(&a) && no_cgroup_left(&b));
}

#[test]
fn preserve_fds_and_no_pivot() {
    require_root!();
    use std::os::fd::AsRawFd;
    let env = Env::new();
    let id = env.id("fds");
    let b = env.bundle("b", &["sh", "-c", "cat <&3; ls /proc/self/fd"], |_| {});
    let data = env.dir.path().join("data");
    std::fs::write(&data, "from-fd-3\n").unwrap();
    let f = std::fs::File::open(&data).unwrap();
    let mut cmd = env.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--no-pivot",
        "-b",
        b.to_str().unwrap(),
        &id,
    ]);
    let raw = f.as_raw_fd();
    // SAFETY: dup2 in the forked child before exec, onto fd 3 which it then owns.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec set.
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("from-fd-3"));
    // 0, 1, 2, the preserved 3, and ls's own directory fd: nothing of the runtime's.
    let fds: Vec<&str> = lines.collect();
    assert!(fds.len() <= 5, "{fds:?}");
}

#[test]
fn time_namespace_offsets() {
    require_root!();
    let env = Env::new();
    let id = env.id("time");
    let b = env.bundle("b", &["cat", "/proc/uptime"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "time"}));
        c["linux"]["timeOffsets"] =
            serde_json::json!({"boottime": {"secs": 86400000, "nanosecs": 0}});
    });
    let out = env.cmd(&["run", "-b", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let inside: f64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(inside > 86_400_000.0, "uptime {inside}");
}

#[test]
fn foreground_run_forwards_signals() {
    require_root!();
    let env = Env::new();
    let id = env.id("sig");
    let b = env.bundle(
        "b",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do sleep 0.05; done",
        ],
        |_| {},
    );
    let out_path = env.dir.path().join("out");
    let mut child = env
        .command(&["run", "-b", b.to_str().unwrap(), &id])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .contains("ready")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: kill(2) of the runtime we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(42));
    assert!(!env.root.join(&id).exists());
}

#[test]
fn foreground_run_with_a_terminal() {
    require_root!();
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no script(1)");
        return;
    }
    let env = Env::new();
    let id = env.id("fgtty");
    let b = env.bundle("b", &["sh", "-c", "tty; exit 3"], |c| {
        c["process"]["terminal"] = Value::Bool(true);
    });
    let line = format!(
        "{} --root {} run -b {} {}",
        common::BIN,
        env.root.display(),
        b.display(),
        id
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text:?} {}", stderr(&out));
    assert_eq!(out.status.code(), Some(3), "{text:?}");
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    require_root!();
    let env = Env::new();
    let id = env.id("hooks");
    let dir = env.dir.path().join("b");
    let log = dir.join("rootfs/tmp/hooks.log");
    // Runtime-namespace hooks see the host path; container-namespace ones after
    // pivot_root (startContainer) see the container's /tmp.
    let hook = |kind: &str, path: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("read s; echo \"{kind} $s\" >> {path}")]
        })
    };
    let host = log.to_str().unwrap().to_string();
    let b = env.bundle("b", &["true"], |c| {
        c["root"]["readonly"] = Value::Bool(false);
        c["hooks"] = serde_json::json!({
            "prestart": [hook("prestart", &host)],
            "createRuntime": [hook("createRuntime", &host)],
            "createContainer": [hook("createContainer", &host)],
            "startContainer": [hook("startContainer", "/tmp/hooks.log")],
            "poststart": [hook("poststart", &host)],
            "poststop": [hook("poststop", &host)],
        });
    });
    env.create(&id, &b);
    let pid = env.pid(&id);
    env.ok(&["start", &id]);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    let text = std::fs::read_to_string(&log).unwrap();
    let kinds: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{text}"
    );
    for line in text.lines() {
        let (kind, json) = line.split_once(' ').unwrap();
        let state: Value = serde_json::from_str(json).unwrap();
        assert_eq!(state["id"], Value::from(id.as_str()), "{kind}");
        assert_eq!(state["bundle"], Value::from(b.to_str().unwrap()), "{kind}");
        if kind != "poststop" {
            assert_eq!(state["pid"], Value::from(pid), "{kind}");
        }
    }
}

#[test]
fn failing_create_runtime_hook_fails_create() {
    require_root!();
    let env = Env::new();
    let id = env.id("hookfail");
    let b = env.bundle("b", &["true"], |c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 9"]}]
        });
    });
    let out = env.cmd(&["create", "-b", b.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!env.root.join(&id).exists());
    assert!(no_cgroup_left(&id));
}

#[test]
fn failing_start_container_hook_fails_start() {
    require_root!();
    let env = Env::new();
    let id = env.id("starthookfail");
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["hooks"] = serde_json::json!({
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 7"]}]
        });
    });
    env.create(&id, &b);
    let pid = env.pid(&id);
    let out = env.cmd(&["start", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("hooks.startContainer[0]") && err.contains("nope"),
        "{err}"
    );
    assert!(
        gone_or_zombie(pid),
        "the init still runs after its hook failed"
    );
    assert_eq!(env.status(&id), "stopped");
    env.ok(&["delete", &id]);
    assert!(no_cgroup_left(&id));
}

/// A cgroup directory the test made; removed with the sub-cgroups a failed run
/// left (their processes are gone by then: `Env` drops first) on drop.
struct TempCgroup(std::path::PathBuf);

impl Drop for TempCgroup {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn cgroup_dirs_named(id: &str) -> Vec<String> {
    let out = std::process::Command::new("find")
        .args([
            "/sys/fs/cgroup",
            "-xdev",
            "-maxdepth",
            "5",
            "-type",
            "d",
            "-name",
            id,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().map(str::to_string).collect()
}

/// The default (relative) cgroupsPath resolves against the cgroup of the runtime
/// that ran `create`; `delete` run from another cgroup must still find and remove it
/// (it uses the directories recorded in state.json, not its own cgroup).
#[test]
fn delete_from_another_cgroup_removes_the_cgroup_create_made() {
    require_root!();
    // Declared before `env`, so it drops after `env` killed the container.
    let tmp = TempCgroup(std::path::PathBuf::from(format!(
        "/sys/fs/cgroup/pids/rtt-cgmove-parent-{}",
        std::process::id()
    )));
    std::fs::create_dir(&tmp.0).unwrap();
    let env = Env::new();
    let id = env.id("cgmove");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    let line = format!(
        "echo $$ > {}/cgroup.procs && exec {} --root {} create --bundle {} {}",
        tmp.0.display(),
        common::BIN,
        env.root.display(),
        b.display(),
        id
    );
    let log = env.dir.path().join("create.out");
    let status = std::process::Command::new("/bin/sh")
        .args(["-c", &line])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let made = tmp.0.join(&id);
    assert!(
        made.is_dir(),
        "create did not use its own cgroup: {:?}",
        cgroup_dirs_named(&id)
    );
    // This test process is not in `tmp`: a re-resolved relative path would miss it.
    env.ok(&["delete", "--force", &id]);
    assert!(!made.exists(), "{} left behind", made.display());
    assert_eq!(cgroup_dirs_named(&id), Vec::<String>::new());
}

#[test]
fn sysctl_hostname_domainname_oom_score() {
    require_root!();
    let env = Env::new();
    let id = env.id("sys");
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["hostname"] = Value::from("h1");
        c["domainname"] = Value::from("d1.example");
        c["linux"]["sysctl"] = serde_json::json!({"kernel.shm_rmid_forced": "1"});
        c["process"]["oomScoreAdj"] = Value::from(123);
    });
    env.create(&id, &b);
    let pid = env.pid(&id);
    let adj = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap();
    assert_eq!(adj.trim(), "123");
    env.ok(&["start", &id]);
    let out = env.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname /proc/sys/kernel/shm_rmid_forced",
    ]);
    assert_eq!(out, "h1\nd1.example\n1\n");
    // The host's value is untouched (the container has its own ipc namespace).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "h1");
}

#[test]
fn update_events_and_ps() {
    require_root!();
    let env = Env::new();
    let id = env.id("upd");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    env.create(&id, &b);
    env.ok(&["start", &id]);
    env.ok(&["update", "--memory", "64m", "--pids-limit", "20", &id]);
    let pid = env.pid(&id);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids_path = cg
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()))
        .unwrap();
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{pids_path}/pids.max")).unwrap();
    assert_eq!(max.trim(), "20");
    let stats: Value = serde_json::from_str(&env.ok(&["events", "--stats", &id])).unwrap();
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["id"], Value::from(id.as_str()));
    assert!(
        stats["data"]["pids"]["current"].as_u64().unwrap() >= 1,
        "{stats}"
    );
    let mut child = env
        .command(&["update", "--resources", "-", &id])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids": {"limit": 30}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let max = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{pids_path}/pids.max")).unwrap();
    assert_eq!(max.trim(), "30");
    let table = env.ok(&["ps", &id]);
    assert!(table.lines().next().unwrap().contains("PID"));
    assert!(table.contains("sleep 100"), "{table}");
}

#[test]
fn container_process_starts_with_default_signals() {
    require_root!();
    let env = Env::new();
    let id = env.id("sigdfl");
    let b = env.bundle(
        "b",
        &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
        |_| {},
    );
    let out = env.cmd(&["run", "-b", b.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        assert!(line.ends_with("0000000000000000"), "{text}");
    }
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn delete_without_a_pid_namespace_kills_the_leftovers() {
    require_root!();
    let env = Env::new();
    let id = env.id("nopidns");
    let b = env.bundle("b", &["sh", "-c", "sleep 100 & exit 0"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "pid");
    });
    env.create(&id, &b);
    env.ok(&["start", &id]);
    env.wait_status(&id, "stopped");
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/{id}/cgroup.procs"))
        .unwrap_or_default();
    let pids: Vec<i32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    assert!(
        !pids.is_empty(),
        "the background sleep should still be there"
    );
    env.ok(&["delete", &id]);
    assert!(!env.root.join(&id).exists());
    assert!(no_cgroup_left(&id));
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "{pid} survived: {stat}"
        );
    }
}

#[test]
fn a_container_without_process_ends_when_started() {
    require_root!();
    let env = Env::new();
    let id = env.id("noproc");
    let b = env.bundle("b", &["true"], |c| {
        c.as_object_mut().unwrap().remove("process");
    });
    env.create(&id, &b);
    assert_eq!(env.status(&id), "created");
    env.ok(&["start", &id]);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    assert!(no_cgroup_left(&id));
}

#[test]
fn failing_poststart_hook_fails_start_and_deletes_the_container() {
    require_root!();
    let env = Env::new();
    let id = env.id("postfail");
    let log = env.dir.path().join("post.log");
    let ok = |kind: &str| serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo {kind} >> {}", log.display())]});
    let fail = serde_json::json!({"path": "/bin/false", "args": ["false"]});
    let b = env.bundle("b", &["sleep", "100"], |c| {
        c["hooks"] = serde_json::json!({
            "poststart": [fail.clone(), ok("poststart")],
            "poststop": [fail.clone(), ok("poststop")],
        });
    });
    env.create(&id, &b);
    let pid = env.pid(&id);
    let out = env.cmd(&["start", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("hooks.poststart[0]"),
        "{}",
        stderr(&out)
    );
    assert!(
        gone_or_zombie(pid),
        "the init still runs after poststart failed"
    );
    assert!(
        !env.root.join(&id).exists(),
        "state left after poststart failed"
    );
    assert!(no_cgroup_left(&id));
    // The poststart hooks stop at the failure; a failing poststop hook is only a
    // warning, so the next one still runs.
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "poststop\n");
}

#[test]
fn foreground_exec_with_a_tty() {
    require_root!();
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no script(1)");
        return;
    }
    let env = Env::new();
    let id = env.id("exectty");
    let b = env.bundle("b", &["sleep", "100"], |_| {});
    env.create(&id, &b);
    env.ok(&["start", &id]);
    let line = format!(
        "{} --root {} exec -t {} sh -c 'tty; exit 4'",
        common::BIN,
        env.root.display(),
        id
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text:?} {}", stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{text:?}");
}

#[test]
fn io_priority_and_personality() {
    require_root!();
    let env = Env::new();
    let id = env.id("ioprio");
    let b = env.bundle("b", &["sh", "-c", "uname -m; sleep 100"], |c| {
        c["process"]["ioPriority"] =
            serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
        c["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
    });
    std::os::unix::fs::symlink("busybox", b.join("rootfs/bin/uname")).unwrap();
    let out_path = env.dir.path().join("out");
    let status = env
        .command(&["create", "-b", b.to_str().unwrap(), &id])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let pid = env.pid(&id);
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, pid) reads another process's priority.
    let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    assert_eq!(prio >> 13, 3, "idle class, got {prio}");
    env.ok(&["start", &id]);
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(text.trim(), "i686", "{text:?}");
}

/// Whether `pid` ended within 2 s (gone, or a zombie its new parent has not reaped yet).
fn gone_or_zombie(pid: i32) -> bool {
    for _ in 0..200 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) => {
                let state = stat
                    .rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next());
                if matches!(state, Some("Z") | Some("X")) {
                    return true;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}
