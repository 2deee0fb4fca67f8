//! End to end: berthd's `tasks` driving the real `berth-shim` binary, which
//! drives a real OCI runtime (Debian's runc by default; set
//! `BERTH_TEST_RUNTIME=/path/to/berth-runtime` to test ours) on a busybox
//! bundle. Root only: they create namespaces and cgroups.
//!
//! Each test uses its own ids and temp dirs, and a guard that removes what
//! the test made (shim, container, cgroup) even when it fails.

mod requirements;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berthd::tasks::{
    AttachOptions, CreateTask, ExecSpec, OutputChunk, StdStream, TaskError, TaskManager, TaskStatus,
};

static SEQ: AtomicU32 = AtomicU32::new(0);

fn runtime() -> PathBuf {
    std::env::var_os("BERTH_TEST_RUNTIME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/runc"))
}

/// The berth-shim built next to this test (cargo builds workspace bins for
/// `cargo test --workspace`); `BERTH_SHIM` overrides.
fn shim_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let shim = dir.join("berth-shim");
    if !shim.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "berth-shim"])
            .status()
            .expect("cargo build -p berth-shim");
        assert!(status.success(), "building berth-shim failed");
    }
    assert!(shim.exists(), "no berth-shim at {}", shim.display());
    shim
}

/// A busybox bundle, a state dir and a log dir under one temp dir; cleans up
/// the shim, the container and its cgroup on drop.
struct Env {
    id: String,
    tmp: tempfile::TempDir,
    manager: TaskManager,
}

impl Env {
    fn new(name: &str, args: &[&str]) -> Env {
        Self::with_terminal(name, args, false)
    }

    fn with_terminal(name: &str, args: &[&str], terminal: bool) -> Env {
        let id = format!(
            "bt-{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = tempfile::Builder::new()
            .prefix("bt")
            .tempdir()
            .expect("tempdir");
        make_bundle(&tmp.path().join("bundle"), &id, args, terminal);
        let manager = TaskManager::new(tmp.path().join("state"), runtime(), shim_binary());
        Env { id, tmp, manager }
    }

    fn bundle(&self) -> PathBuf {
        self.tmp.path().join("bundle")
    }

    fn edit_config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.bundle().join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        f(&mut spec);
        std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    }

    fn log_path(&self) -> PathBuf {
        self.tmp
            .path()
            .join("logs")
            .join(format!("{}-json.log", self.id))
    }

    fn spec(&self) -> CreateTask {
        let mut s = CreateTask::new(&self.id, self.bundle());
        s.log_path = Some(self.log_path());
        s
    }

    fn cgroup_dir(&self) -> PathBuf {
        Path::new("/sys/fs/cgroup/memory").join(cgroup_name(&self.id))
    }

    fn shim_pid(&self) -> Option<i32> {
        std::fs::read_to_string(
            self.manager
                .shim_dir(&self.id)
                .join(berth_proto::shim_state::PID_FILE),
        )
        .ok()
        .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(pid) = self.shim_pid() {
            // The shim is this test's own process tree's creation.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = Command::new(runtime())
            .arg("--root")
            .arg(self.manager.runtime_root())
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
        for ctrl in [
            "memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer",
        ] {
            let _ = std::fs::remove_dir(
                Path::new("/sys/fs/cgroup")
                    .join(ctrl)
                    .join(cgroup_name(&self.id)),
            );
        }
    }
}

fn cgroup_name(id: &str) -> String {
    format!("berth-test-{id}")
}

fn make_bundle(dir: &Path, id: &str, args: &[&str], terminal: bool) {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static");
    for tool in [
        "sh", "echo", "cat", "sleep", "tty", "true", "false", "ls", "seq", "yes", "head", "tr",
        "stty",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(tool)).unwrap();
    }
    // The config comes from runc's `spec` whatever runtime is under test:
    // the bundle is input here, not the subject.
    let out = Command::new("/usr/sbin/runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .expect("runtime spec");
    assert!(
        out.status.success(),
        "spec: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = terminal.into();
    spec["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    spec["process"]["env"] = serde_json::json!(["PATH=/bin", "TERM=xterm"]);
    spec["linux"]["cgroupsPath"] = format!("/{}", cgroup_name(id)).into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

fn log_entries(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

async fn collect(mut out: berthd::tasks::OutputStream) -> Vec<OutputChunk> {
    let mut v = Vec::new();
    while let Some(c) = tokio::time::timeout(Duration::from_secs(20), out.next())
        .await
        .expect("attach output timed out")
    {
        v.push(c.expect("attach chunk"));
    }
    v
}

fn joined(chunks: &[OutputChunk], s: StdStream) -> String {
    chunks
        .iter()
        .filter(|c| c.stream == s)
        .map(|c| String::from_utf8_lossy(&c.data).into_owned())
        .collect()
}

fn alive(pid: i32) -> bool {
    // A zombie is not alive for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn exit_code_and_json_file_logs_with_both_streams() {
    let env = Env::new(
        "logs",
        &[
            "sh",
            "-c",
            "echo out; echo err >&2; echo \"q\\\"<&>\"; exit 3",
        ],
    );
    let task = env.manager.create(env.spec()).await.expect("create");
    assert_eq!(task.state().await.unwrap().status, TaskStatus::Created);
    let pid = task.start().await.expect("start");
    assert!(pid > 0);
    let exit = task.wait().await.expect("wait");
    assert_eq!(exit.code, 3);
    assert_eq!(exit.signal, None);
    assert!(!exit.oom_killed);
    let st = task.state().await.unwrap();
    assert_eq!(st.status, TaskStatus::Stopped);
    assert_eq!(st.exit.as_ref().map(|e| e.code), Some(3));

    let entries = log_entries(&env.log_path());
    let got: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["stream"].as_str().unwrap().to_string(),
                e["log"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(got.contains(&("stdout".into(), "out\n".into())), "{got:?}");
    assert!(got.contains(&("stderr".into(), "err\n".into())), "{got:?}");
    assert!(
        got.contains(&("stdout".into(), "q\"<&>\n".into())),
        "{got:?}"
    );
    for e in &entries {
        let t = e["time"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(t).unwrap_or_else(|err| panic!("time {t}: {err}"));
    }
    // Recorded for whoever comes after the shim.
    let rec = env
        .manager
        .recorded_exit(&env.id)
        .unwrap()
        .expect("exit.json");
    assert_eq!(rec.code, 3);
    task.delete(false).await.expect("delete");
    assert!(!env.manager.shim_dir(&env.id).exists());
    assert!(
        env.log_path().exists(),
        "the log belongs to berthd, not the shim"
    );
}

#[tokio::test]
async fn log_rotation_with_tiny_max_size() {
    let env = Env::new(
        "rotate",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done",
        ],
    );
    let mut spec = env.spec();
    spec.log_max_size = Some(1024);
    spec.log_max_file = 3;
    let task = env.manager.create(spec).await.expect("create");
    task.start().await.expect("start");
    assert_eq!(task.wait().await.unwrap().code, 0);
    let log = env.log_path();
    let rotated = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    for p in [log.clone(), rotated(1), rotated(2)] {
        let len = std::fs::metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .len();
        assert!(len <= 1024 && len > 0, "{} has {len} bytes", p.display());
    }
    assert!(!rotated(3).exists(), "max-file 3 keeps 3 files");
    let live = log_entries(&log);
    assert_eq!(live.last().unwrap()["log"], "line-399\n");
    let older = log_entries(&rotated(1));
    let n = |v: &serde_json::Value| {
        v["log"]
            .as_str()
            .unwrap()
            .trim()
            .trim_start_matches("line-")
            .parse::<u32>()
            .unwrap()
    };
    assert_eq!(
        n(older.last().unwrap()) + 1,
        n(&live[0]),
        "no line lost at the rotation"
    );
    task.delete(false).await.expect("delete");
}

#[tokio::test]
async fn kill_then_delete_leaves_nothing() {
    let env = Env::new("kill", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    let pid = task.start().await.expect("start") as i32;
    assert!(alive(pid));
    assert!(
        env.cgroup_dir().exists(),
        "cgroup {}",
        env.cgroup_dir().display()
    );
    let shim_pid = env.shim_pid().expect("shim.pid");
    assert!(alive(shim_pid));
    // Delete without force is refused while it runs.
    let err = task.clone().delete(false).await.unwrap_err();
    assert!(matches!(err, TaskError::FailedPrecondition { .. }), "{err}");
    task.kill(9, false).await.expect("kill");
    let exit = task.wait().await.expect("wait");
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    assert!(matches!(
        task.kill(9, false).await.unwrap_err(),
        TaskError::FailedPrecondition { .. }
    ));
    task.delete(false).await.expect("delete");
    assert!(!alive(pid), "container process left");
    assert!(
        !env.manager.shim_dir(&env.id).exists(),
        "shim state dir left"
    );
    assert!(!env.cgroup_dir().exists(), "cgroup left");
    assert!(
        !env.manager.runtime_root().join(&env.id).exists(),
        "runtime state left"
    );
    for _ in 0..100 {
        if !alive(shim_pid) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(shim_pid), "shim process left");
    let err = env.manager.connect(&env.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn force_delete_of_running_and_of_created_task() {
    let env = Env::new("force", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    let pid = task.start().await.unwrap() as i32;
    let exit = task.delete(true).await.expect("force delete");
    assert_eq!(exit.code, 137);
    assert!(!alive(pid));
    assert!(!env.cgroup_dir().exists());

    let env2 = Env::new("created", &["sleep", "1000"]);
    let task = env2.manager.create(env2.spec()).await.expect("create");
    let (_, init) = task.info().await.unwrap();
    assert!(alive(init as i32));
    task.delete(false).await.expect("delete of a created task");
    assert!(!alive(init as i32));
    assert!(!env2.manager.shim_dir(&env2.id).exists());
}

#[tokio::test]
async fn exec_with_attach_and_exit_code() {
    let env = Env::new("exec", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.expect("start");
    let mut process: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": ["sh", "-c", "echo hi; echo oops >&2; exit 5"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0}
    }))
    .unwrap();
    process.set_terminal(Some(false));
    let p = task
        .exec(ExecSpec {
            exec_id: "e1".into(),
            process: process.clone(),
            stdin: false,
            tty: false,
        })
        .await
        .expect("exec");
    let dup = task
        .exec(ExecSpec {
            exec_id: "e1".into(),
            process,
            stdin: false,
            tty: false,
        })
        .await
        .unwrap_err();
    assert!(matches!(dup, TaskError::AlreadyExists { .. }), "{dup}");
    let att = p.attach(AttachOptions::default()).await.expect("attach");
    let reader = tokio::spawn(collect(att.output));
    let epid = p.start().await.expect("exec start");
    assert!(epid > 0);
    let exit = p.wait().await.expect("exec wait");
    assert_eq!(exit.code, 5);
    let chunks = reader.await.unwrap();
    assert_eq!(joined(&chunks, StdStream::Stdout), "hi\n");
    assert_eq!(joined(&chunks, StdStream::Stderr), "oops\n");
    // The init is untouched and exec output is not logged.
    assert_eq!(task.state().await.unwrap().status, TaskStatus::Running);
    assert!(log_entries(&env.log_path()).is_empty());
    let pids = task.pids().await.expect("pids");
    assert_eq!(pids.len(), 1, "{pids:?}");
    p.delete(false).await.expect("exec delete");
    assert!(task.process("e1").state().await.unwrap_err().is_not_found());
    task.delete(true).await.expect("delete");
}

#[tokio::test]
async fn stdin_through_attach() {
    let env = Env::new("stdin", &["cat"]);
    let mut spec = env.spec();
    spec.stdin = true;
    let task = env.manager.create(spec).await.expect("create");
    let att = task
        .attach(AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
        })
        .await
        .expect("attach");
    let reader = tokio::spawn(collect(att.output));
    task.start().await.expect("start");
    let stdin = att.stdin.expect("stdin");
    stdin.write(b"hello\n".to_vec()).await.unwrap();
    stdin.write(b"world\n".to_vec()).await.unwrap();
    stdin.close().await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), task.wait())
        .await
        .expect("cat did not see EOF")
        .unwrap();
    assert_eq!(exit.code, 0);
    let chunks = reader.await.unwrap();
    assert_eq!(joined(&chunks, StdStream::Stdout), "hello\nworld\n");
    let logged: Vec<String> = log_entries(&env.log_path())
        .iter()
        .map(|e| e["log"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(logged, vec!["hello\n", "world\n"]);
    task.delete(false).await.expect("delete");
}

#[tokio::test]
async fn tty_output_and_resize() {
    let env = Env::with_terminal("tty", &["sh", "-c", "sleep 0.3; tty; stty size"], true);
    let mut spec = env.spec();
    spec.tty = true;
    let task = env.manager.create(spec).await.expect("create");
    let att = task.attach(AttachOptions::default()).await.expect("attach");
    let reader = tokio::spawn(collect(att.output));
    task.resize(100, 40).await.expect("resize");
    task.start().await.expect("start");
    assert_eq!(task.wait().await.unwrap().code, 0);
    let out = joined(&reader.await.unwrap(), StdStream::Stdout);
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("40 100"), "{out:?}");
    let logged: String = log_entries(&env.log_path())
        .iter()
        .map(|e| {
            assert_eq!(e["stream"], "stdout", "a tty has one stream");
            e["log"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(logged.contains("/dev/pts/"), "{logged:?}");
    task.delete(false).await.expect("delete");
}

#[tokio::test]
async fn create_errors_are_reported_and_leave_nothing() {
    let env = Env::new("bad", &["/no/such/binary"]);
    let task = env.manager.create(env.spec()).await;
    // runc fails at create (exec lookup).
    match task {
        Err(e) => {
            assert!(matches!(e, TaskError::Shim { .. }), "{e}");
            assert!(!env.manager.shim_dir(&env.id).exists());
        }
        // A runtime may also report it at start, or as the process's exit.
        Ok(t) => {
            if t.start().await.is_ok() {
                assert_ne!(t.wait().await.expect("wait").code, 0);
            }
            t.delete(true).await.expect("delete");
        }
    }
    let env = Env::new("dup", &["sleep", "100"]);
    let t = env.manager.create(env.spec()).await.expect("create");
    let err = env.manager.create(env.spec()).await.unwrap_err();
    assert!(matches!(err, TaskError::AlreadyExists { .. }), "{err}");
    t.delete(false).await.expect("delete");
    let err = env.manager.connect("no-such-task").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Runs only when re-executed by `shim_survives_its_spawner_being_killed`:
/// creates and starts a task, says READY, and waits to be killed.
#[tokio::test]
async fn spawner_helper() {
    let (Some(state), Some(bundle), Some(id)) = (
        std::env::var_os("BERTH_SPAWNER_STATE"),
        std::env::var_os("BERTH_SPAWNER_BUNDLE"),
        std::env::var("BERTH_SPAWNER_ID").ok(),
    ) else {
        return;
    };
    let manager = TaskManager::new(state, runtime(), shim_binary());
    let mut spec = CreateTask::new(&id, bundle);
    spec.log_path = std::env::var_os("BERTH_SPAWNER_LOG").map(PathBuf::from);
    let task = manager.create(spec).await.expect("create");
    task.start().await.expect("start");
    println!("READY");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn shim_survives_its_spawner_being_killed() {
    let env = Env::new(
        "survive",
        &[
            "sh",
            "-c",
            "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done",
        ],
    );
    let mut spawner = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "spawner_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BERTH_SPAWNER_STATE", env.tmp.path().join("state"))
        .env("BERTH_SPAWNER_BUNDLE", env.bundle())
        .env("BERTH_SPAWNER_ID", &env.id)
        .env("BERTH_SPAWNER_LOG", env.log_path())
        .env("BERTH_SHIM", shim_binary())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawner");
    let stdout = spawner.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("READY"))
    });
    let ready = tokio::time::timeout(Duration::from_secs(60), ready).await;
    if !matches!(ready, Ok(Ok(true))) {
        let _ = spawner.kill();
        let _ = spawner.wait();
        panic!("spawner never got ready");
    }
    spawner.kill().expect("kill -9 the spawner");
    spawner.wait().unwrap();

    // The shim is no child of the spawner and lives on.
    let shim_pid = env.shim_pid().expect("shim.pid");
    assert!(alive(shim_pid));
    let ppid: i32 = std::fs::read_to_string(format!("/proc/{shim_pid}/stat"))
        .unwrap()
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, spawner.id() as i32);
    // Logs keep flowing with nobody attached.
    let before = log_entries(&env.log_path()).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        log_entries(&env.log_path()).len() > before,
        "log stopped growing"
    );

    // A new manager (a restarted berthd) finds the task again.
    let task = env.manager.connect(&env.id).await.expect("reconnect");
    assert_eq!(task.state().await.unwrap().status, TaskStatus::Running);
    assert_eq!(env.manager.list().unwrap(), vec![env.id.clone()]);
    let waiter = {
        let t = task.clone();
        tokio::spawn(async move { t.wait().await })
    };
    task.kill(9, false).await.expect("kill");
    let exit = waiter.await.unwrap().expect("wait after reconnect");
    assert_eq!(exit.code, 137);
    // And once more after the exit: the status was kept.
    let again = env
        .manager
        .connect(&env.id)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(again, exit);
    task.delete(false).await.expect("delete");
}

fn exec_process(args: &[&str], terminal: bool) -> oci_spec::runtime::Process {
    let mut p: oci_spec::runtime::Process = serde_json::from_value(serde_json::json!({
        "args": args,
        "env": ["PATH=/bin", "TERM=xterm"],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0}
    }))
    .unwrap();
    p.set_terminal(Some(terminal));
    p
}

#[tokio::test]
async fn exec_with_tty_and_exec_with_stdin() {
    let env = Env::new("exectty", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.expect("start");
    let events = task.events().await.expect("events");

    let p = task
        .exec(ExecSpec {
            exec_id: "tty".into(),
            process: exec_process(&["sh", "-c", "tty; stty size"], true),
            stdin: false,
            tty: true,
        })
        .await
        .expect("exec");
    let att = p.attach(AttachOptions::default()).await.unwrap();
    let reader = tokio::spawn(collect(att.output));
    p.start().await.expect("exec start");
    p.resize(33, 11).await.expect("resize exec pty");
    assert_eq!(p.wait().await.unwrap().code, 0);
    let out = joined(&reader.await.unwrap(), StdStream::Stdout);
    assert!(out.contains("/dev/pts/"), "{out:?}");

    let p = task
        .exec(ExecSpec {
            exec_id: "cat".into(),
            process: exec_process(&["cat"], false),
            stdin: true,
            tty: false,
        })
        .await
        .expect("exec");
    let att = p
        .attach(AttachOptions {
            stdin: true,
            stdout: true,
            stderr: false,
        })
        .await
        .unwrap();
    let reader = tokio::spawn(collect(att.output));
    p.start().await.expect("exec start");
    let stdin = att.stdin.unwrap();
    stdin.write(b"ping\n".to_vec()).await.unwrap();
    stdin.close().await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), p.wait())
        .await
        .expect("cat saw no EOF")
        .unwrap();
    assert_eq!(exit.code, 0);
    assert_eq!(joined(&reader.await.unwrap(), StdStream::Stdout), "ping\n");

    // Exits were announced as events, exec ids attached.
    task.kill(9, false).await.unwrap();
    task.wait().await.unwrap();
    let mut events = Box::pin(events);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_stream::StreamExt::next(&mut events),
        )
        .await
        .expect("event timed out")
        .expect("event stream ended")
        .expect("event");
        if let berthd::tasks::TaskEvent::Exit { exec_id, status } = ev {
            seen.push((exec_id, status.code));
        }
    }
    assert!(seen.contains(&(Some("tty".into()), 0)), "{seen:?}");
    assert!(seen.contains(&(Some("cat".into()), 0)), "{seen:?}");
    assert!(seen.contains(&(None, 137)), "{seen:?}");
    task.delete(false).await.unwrap();
}

#[tokio::test]
async fn pause_resume_stats_update() {
    let env = Env::new("pause", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.expect("start");
    task.pause().await.expect("pause");
    assert_eq!(task.state().await.unwrap().status, TaskStatus::Paused);
    let freezer = Path::new("/sys/fs/cgroup/freezer")
        .join(cgroup_name(&env.id))
        .join("freezer.state");
    if freezer.exists() {
        assert_eq!(std::fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    }
    task.resume().await.expect("resume");
    assert_eq!(task.state().await.unwrap().status, TaskStatus::Running);
    let stats = task.stats().await.expect("stats");
    assert!(stats.memory_usage > 0, "{stats:?}");
    assert!(stats.pids_current >= 1, "{stats:?}");
    let resources: oci_spec::runtime::LinuxResources =
        serde_json::from_value(serde_json::json!({"pids": {"limit": 42}})).unwrap();
    task.update(&resources).await.expect("update");
    let max = Path::new("/sys/fs/cgroup/pids")
        .join(cgroup_name(&env.id))
        .join("pids.max");
    assert_eq!(std::fs::read_to_string(&max).unwrap().trim(), "42");
    task.delete(true).await.expect("delete");
}

#[tokio::test]
async fn dead_shim_is_unreachable_and_cleaned_up() {
    let env = Env::new("dead", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    let pid = task.start().await.unwrap() as i32;
    let shim = env.shim_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for _ in 0..100 {
        if !alive(shim) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = env.manager.connect(&env.id).await.unwrap_err();
    assert!(matches!(err, TaskError::Unreachable { .. }), "{err}");
    assert_eq!(env.manager.recorded_exit(&env.id).unwrap(), None);
    env.manager.cleanup_dead(&env.id).await.expect("cleanup");
    assert!(!alive(pid));
    assert!(!env.manager.shim_dir(&env.id).exists());
    assert!(!env.cgroup_dir().exists());
}

#[tokio::test]
async fn oom_kill_is_recorded() {
    let env = Env::new(
        "oom",
        &[
            "sh",
            "-c",
            "x=$(head -c 200000000 /dev/zero | tr '\\0' x); echo survived",
        ],
    );
    env.edit_config(|spec| {
        spec["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.expect("start");
    let exit = tokio::time::timeout(Duration::from_secs(60), task.wait())
        .await
        .expect("the hog was not stopped")
        .unwrap();
    assert!(exit.oom_killed, "{exit:?}");
    assert_ne!(exit.code, 0);
    let rec = env.manager.recorded_exit(&env.id).unwrap().unwrap();
    assert!(rec.oom_killed);
    task.delete(false).await.expect("delete");
}

#[tokio::test]
async fn cleanup_dead_also_stops_a_shim_that_is_still_there() {
    let env = Env::new("hung", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    let pid = task.start().await.unwrap() as i32;
    let shim = env.shim_pid().unwrap();
    env.manager.cleanup_dead(&env.id).await.expect("cleanup");
    assert!(!alive(shim), "shim left running");
    assert!(!alive(pid), "container left running");
    assert!(!env.manager.shim_dir(&env.id).exists());
    assert!(!env.cgroup_dir().exists());
}

#[tokio::test]
async fn attach_gets_all_of_a_large_output_in_order() {
    let env = Env::new("big", &["seq", "1", "200000"]);
    let mut spec = env.spec();
    spec.log_max_size = None;
    let task = env.manager.create(spec).await.expect("create");
    let att = task.attach(AttachOptions::default()).await.unwrap();
    // A slow reader: the shim must wait for it, not drop chunks.
    let reader = tokio::spawn(async move {
        let mut out = att.output;
        let mut data = Vec::new();
        let mut n = 0u32;
        while let Some(c) = out.next().await {
            data.extend(c.unwrap().data);
            n += 1;
            if n.is_multiple_of(50) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        data
    });
    task.start().await.unwrap();
    // Each chunk is logged before it is fanned out, so once the reader has
    // everything, the log has too.
    let data = reader.await.unwrap();
    assert_eq!(task.wait().await.unwrap().code, 0);
    let expected: String = (1..=200000).map(|i| format!("{i}\n")).collect();
    assert!(
        data == expected.as_bytes(),
        "attach output differs ({} bytes)",
        data.len()
    );
    let logged = log_entries(&env.log_path());
    assert_eq!(logged.len(), 200000);
    assert_eq!(logged[199999]["log"], "200000\n");
    task.delete(false).await.unwrap();
}

#[tokio::test]
async fn force_delete_of_a_paused_task() {
    let env = Env::new("pausedrm", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    let pid = task.start().await.unwrap() as i32;
    task.pause().await.expect("pause");
    let exit = tokio::time::timeout(Duration::from_secs(20), task.delete(true))
        .await
        .expect("delete of a paused task hung")
        .expect("delete");
    assert_eq!(exit.code, 137);
    assert!(!alive(pid));
    assert!(!env.cgroup_dir().exists());
    assert!(!env.manager.shim_dir(&env.id).exists());
}

#[tokio::test]
async fn a_stuck_shim_does_not_hang_reconnect() {
    let env = Env::new("stuck", &["sleep", "1000"]);
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.unwrap();
    let shim = nix::unistd::Pid::from_raw(env.shim_pid().unwrap());
    nix::sys::signal::kill(shim, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let res = tokio::time::timeout(Duration::from_secs(20), env.manager.connect(&env.id)).await;
    nix::sys::signal::kill(shim, nix::sys::signal::Signal::SIGCONT).unwrap();
    let err = res.expect("connect hung").unwrap_err();
    assert!(matches!(err, TaskError::Unreachable { .. }), "{err}");
    let task = env.manager.connect(&env.id).await.expect("answers again");
    task.delete(true).await.expect("delete");
}

/// `--init`: berth-init as PID 1 passes SIGTERM on to a program that, as
/// PID 1 itself, would never have seen it.
#[tokio::test]
async fn berth_init_makes_sigterm_stop_a_handlerless_program() {
    let init = shim_binary().with_file_name("berth-init");
    if !init.exists() {
        requirements::host_lacks(&format!(
            "{} (cargo build -p berth-shim --bin berth-init)",
            init.display()
        ));
        return;
    }
    let env = Env::new("init", &["/sbin/berth-init", "--", "sleep", "1000"]);
    let sbin = env.bundle().join("rootfs/sbin");
    std::fs::create_dir_all(&sbin).unwrap();
    std::fs::copy(&init, sbin.join("berth-init")).unwrap();
    // The test build of berth-init is dynamic: lend it the host's libraries.
    env.edit_config(|spec| {
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for dir in ["/lib", "/lib64", "/usr/lib"] {
            if Path::new(dir).exists() {
                std::fs::create_dir_all(env.bundle().join("rootfs").join(&dir[1..])).unwrap();
                mounts.push(serde_json::json!({
                    "destination": dir, "type": "bind", "source": dir,
                    "options": ["rbind", "ro"]
                }));
            }
        }
    });
    let task = env.manager.create(env.spec()).await.expect("create");
    task.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(300)).await;
    task.kill(15, false).await.expect("SIGTERM");
    let exit = tokio::time::timeout(Duration::from_secs(10), task.wait())
        .await
        .expect("SIGTERM did not stop the container")
        .unwrap();
    assert_eq!(exit.code, 143);
    task.delete(false).await.expect("delete");
}
