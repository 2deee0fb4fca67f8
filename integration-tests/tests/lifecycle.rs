//! OCI runtime spec, "Lifecycle" and "State" and the "Operations" section:
//! create → created, start → running, exit → stopped, delete; the state JSON;
//! kill; and the error cases (unknown id, duplicate id, start twice, delete of
//! a created or running container) that must fail and change nothing. Also the runc CLI
//! verbs engines use (`run`, `list`, `pause`/`resume`, `exec`, `--pid-file`).

use anyhow::{ensure, Context};
use berth_integration_tests::{cgroup, conformance, Bundle, Driver};
use std::time::Duration;

/// One edit of a config, for the invalid-field cases.
type Edit = Box<dyn Fn(&mut Bundle)>;

const T: Duration = Duration::from_secs(20);

fn alive(pid: i64) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists() && {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // A zombie has exited; only its parent has not reaped it yet.
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    }
}

/// Waits up to 5 s for `pid` to be gone (or a zombie).
fn dies(pid: i64) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

conformance! {
    /// create → "created" with a live, not yet exec'd init; start → "running";
    /// exit → "stopped"; delete → gone.
    fn state_transitions(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "lc", &["/checker", "sleep", "2"])?;
        b.set("/annotations", serde_json::json!({"org.berth.test": "yes"}));
        let c = d.create(&b, &[])?;
        let st = c.state()?;
        ensure!(st["status"] == "created", "after create: {st}");
        ensure!(st["id"] == b.id(), "id: {st}");
        let pid = st["pid"].as_i64().unwrap_or(0);
        ensure!(alive(pid), "created container has no live init (pid {pid})");
        ensure!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()), "ociVersion: {st}");
        let bundle = st["bundle"].as_str().unwrap_or("");
        ensure!(
            std::fs::canonicalize(bundle).ok() == std::fs::canonicalize(b.path()).ok(),
            "bundle {bundle} != {}", b.path().display()
        );
        ensure!(st["annotations"]["org.berth.test"] == "yes", "annotations: {st}");
        // Until start, the user process has not run: init is still the runtime.
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        ensure!(!exe.ends_with("checker"), "process ran before start: {}", exe.display());
        c.start()?;
        let st = c.state()?;
        ensure!(st["status"] == "running", "after start: {st}");
        ensure!(st["pid"].as_i64() == Some(pid), "pid changed across start: {st}");
        c.wait_status("stopped", T)?;
        c.delete()?;
        let gone = d.exec(&["state", b.id()])?;
        ensure!(!gone.success(), "state after delete succeeded: {}", gone.stdout);
    }

    /// The state JSON has the fields runc prints (`created` is RFC 3339, `rootfs`
    /// is the bundle's root).
    fn state_fields(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "fields", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        let st = c.state()?;
        for f in ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"] {
            ensure!(st.get(f).is_some(), "state lacks {f}: {st}");
        }
        let created = st["created"].as_str().unwrap_or("");
        ensure!(created.len() > 19 && created.as_bytes()[10] == b'T', "created not RFC 3339: {created}");
        ensure!(st["rootfs"].as_str().is_some_and(|r| r.ends_with("rootfs")), "rootfs: {st}");
    }

    /// kill with the default signal, a name and a number stops the process.
    fn kill_signals(rt) {
        let d = Driver::new(rt)?;
        for sig in ["", "KILL", "SIGTERM", "9"] {
            let b = Bundle::new(rt, "kill", &["/checker", "sleep", "60"])?;
            let c = d.create(&b, &[])?;
            c.start()?;
            let pid = c.pid()?;
            if sig.is_empty() {
                d.ok(&["kill", c.id()])?;
            } else {
                c.kill(sig)?;
            }
            c.wait_status("stopped", T).with_context(|| format!("kill {sig:?}"))?;
            ensure!(dies(pid), "pid {pid} alive after kill {sig:?}");
            c.delete()?;
        }
    }

    /// kill --all (runc) signals every process in the container.
    fn kill_all(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "killall", &["/checker", "sleep", "60"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        d.ok(&["kill", "--all", c.id(), "KILL"])?;
        c.wait_status("stopped", T)?;
    }

    /// `state`, `start`, `kill`, `delete` of an unknown id fail.
    fn unknown_id(rt) {
        let d = Driver::new(rt)?;
        for verb in ["state", "start", "kill", "delete"] {
            let o = d.exec(&[verb, "no-such-container-berth"])?;
            ensure!(o.status.code() == Some(1), "{verb} of an unknown id: exit {:?}, runc exits 1", o.status);
            ensure!(o.stderr.contains("does not exist") || o.stderr.contains("not found"),
                "{verb}: unclear error: {}", o.stderr);
        }
    }

    /// create with an id already in use fails and leaves the first alone.
    fn duplicate_id(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "dup", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        let pid = c.pid()?;
        let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        ensure!(!o.success(), "duplicate create succeeded");
        let st = c.state()?;
        ensure!(st["status"] == "created" && st["pid"].as_i64() == Some(pid), "first changed: {st}");
        ensure!(alive(pid), "first container's init died");
    }

    /// start of a running container fails and the container keeps running.
    fn start_twice(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "start2", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        let o = d.exec(&["start", c.id()])?;
        ensure!(!o.success(), "second start succeeded");
        ensure!(c.status()? == "running", "not running after second start");
    }

    /// delete of a running container needs --force; --force kills and removes it.
    fn delete_running(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "delrun", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        let pid = c.pid()?;
        let o = d.exec(&["delete", c.id()])?;
        ensure!(!o.success(), "delete of a running container succeeded");
        ensure!(c.status()? == "running" && alive(pid), "container harmed by refused delete");
        d.ok(&["delete", "--force", c.id()])?;
        ensure!(!d.exec(&["state", c.id()])?.success(), "still there after delete --force");
        ensure!(dies(pid), "process {pid} survived delete --force");
    }

    /// delete of a created (never started) container is refused without
    /// --force and changes nothing (runtime spec, "delete": a container that
    /// is not stopped); --force removes it and its init.
    #[runc_fails = "runc 1.1.5 deletes a created container without --force (delete.go kills it)"]
    #[runc_shows = "delete of a created container succeeded"]
    fn delete_created_needs_force(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "delcr", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        let pid = c.pid()?;
        let o = d.exec(&["delete", c.id()])?;
        ensure!(!o.success(), "delete of a created container succeeded");
        ensure!(o.stderr.contains("not stopped"), "the refusal does not say why: {}", o.stderr.trim());
        ensure!(c.status()? == "created" && alive(pid), "container harmed by refused delete");
        ensure!(!cgroup::existing_dirs(b.cgroups_path()).is_empty(), "refused delete removed the cgroup");
        d.ok(&["delete", "--force", c.id()])?;
        ensure!(!d.exec(&["state", c.id()])?.success(), "still there after delete --force");
        ensure!(dies(pid), "init {pid} survived delete --force");
    }

    /// delete removes the container's cgroup in every hierarchy.
    fn delete_removes_cgroup(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "delcg", &["/checker", "exit", "0"])?;
        let c = d.create(&b, &[])?;
        ensure!(!cgroup::existing_dirs(b.cgroups_path()).is_empty(), "create made no cgroup");
        c.start()?;
        c.wait_status("stopped", T)?;
        c.delete()?;
        let left = cgroup::existing_dirs(b.cgroups_path());
        ensure!(left.is_empty(), "cgroups left after delete: {left:?}");
    }

    /// `run` = create + start + wait; it returns the process's exit code.
    fn run_exit_code(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "run", &["/checker", "exit", "7"])?;
        b.write()?;
        let o = d.exec(&["run", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        ensure!(o.status.code() == Some(7), "run exit status {:?}, stderr {}", o.status, o.stderr);
        d.exec(&["delete", "--force", b.id()])?;
    }

    /// `run --detach` returns at once with the container running.
    fn run_detach(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "rund", &["/checker", "sleep", "30"])?;
        b.write()?;
        d.ok(&["run", "--detach", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        let st = d.state(b.id())?;
        d.exec(&["delete", "--force", b.id()])?;
        ensure!(st["status"] == "running", "after run -d: {st}");
    }

    /// --pid-file is in place when create returns: exactly the pid's digits
    /// (runtime-tools parses it with Atoi, so no newline), written through a
    /// temp file and a rename that leave nothing else in its directory.
    fn pid_file_written_atomically_by_create(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "pidfa", &["/checker", "sleep", "30"])?;
        let dir = d.scratch("piddir");
        std::fs::create_dir(&dir)?;
        let pf = dir.join("pidfile");
        let c = d.create(&b, &["--pid-file", &pf.to_string_lossy()])?;
        let text = std::fs::read_to_string(&pf).context("pid file right after create")?;
        ensure!(text.parse::<i64>().ok() == Some(c.pid()?), "pid file {text:?}, state pid {}", c.pid()?);
        let names: Vec<_> = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
        ensure!(names == ["pidfile"], "the pid file's directory holds {names:?}");
    }

    /// --pid-file gets the init's host pid.
    fn pid_file(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "pidf", &["/checker", "sleep", "30"])?;
        let pf = d.scratch("pid");
        let c = d.create(&b, &["--pid-file", &pf.to_string_lossy()])?;
        let text = std::fs::read_to_string(&pf).context("pid file")?;
        ensure!(text.trim().parse::<i64>().ok() == Some(c.pid()?), "pid file {text:?}");
    }

    /// list shows the container (table and json).
    fn list(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "list", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        let table = d.ok(&["list"])?.stdout;
        ensure!(table.contains(c.id()) && table.contains("created"), "list: {table}");
        let json = d.ok(&["list", "--format", "json"])?.stdout;
        let v: serde_json::Value = serde_json::from_str(&json)?;
        ensure!(v.as_array().is_some_and(|a| a.iter().any(|x| x["id"] == c.id())), "list json: {json}");
    }

    /// pause freezes every process ("paused"), resume thaws it.
    fn pause_resume(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "pause", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        d.ok(&["pause", c.id()])?;
        ensure!(c.status()? == "paused", "status after pause");
        let pid = c.pid()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let freezer = cgroup::read("freezer", b.cgroups_path(), if cgroup::has_v1("freezer") { "freezer.state" } else { "cgroup.freeze" })?;
        ensure!(freezer == "FROZEN" || freezer == "1", "freezer says {freezer}; status {stat}");
        d.ok(&["resume", c.id()])?;
        ensure!(c.status()? == "running", "status after resume");
    }

    /// exec runs a second process inside the running container's namespaces.
    fn exec_joins(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "exec", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        let pid = c.pid()?;
        let o = d.ok(&["exec", "--env", "BERTH_X=1", "--cwd", "/tmp", c.id(), "/checker"])?;
        let r: serde_json::Value = serde_json::from_str(o.stdout.trim())?;
        for ns in ["mnt", "net", "pid", "ipc", "uts", "cgroup"] {
            let host = std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))?;
            ensure!(r["ns"][ns] == host.to_string_lossy().as_ref(), "exec {ns} ns {} vs init {}", r["ns"][ns], host.display());
        }
        ensure!(r["env"]["BERTH_X"] == "1" && r["cwd"] == "/tmp", "exec env/cwd: {r}");
        ensure!(r["hostname"] == "berth-conformance", "exec hostname {}", r["hostname"]);
        let init_cg = d.ok(&["exec", c.id(), "cat", "/proc/1/cgroup"])?.stdout;
        ensure!(r["cgroup"] == init_cg.trim(), "exec cgroup {} vs init {}", r["cgroup"], init_cg.trim());
    }

    /// exec --process: user, capabilities, noNewPrivileges and env of the
    /// given process spec apply to the new process, and it runs under the
    /// container's seccomp filter.
    fn exec_process_json(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "execp", &["/checker", "sleep", "30"])?;
        b.set("/linux/seccomp", serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]}));
        let c = d.create(&b, &[])?;
        c.start()?;
        let process = serde_json::json!({
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000, "additionalGids": [44]},
            "args": ["/checker", "--syscall", "getppid"],
            "env": ["PATH=/bin", "BERTH_EXEC=yes"],
            "cwd": "/tmp",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
            "noNewPrivileges": true
        });
        let pj = d.scratch("process.json");
        std::fs::write(&pj, process.to_string())?;
        let o = d.ok(&["exec", "--process", &pj.to_string_lossy(), c.id()])?;
        let r: serde_json::Value = serde_json::from_str(o.stdout.trim())?;
        ensure!(r["uid"] == 1000 && r["gid"] == 1000, "exec user: {} {}", r["uid"], r["gid"]);
        ensure!(r["groups"].as_array().is_some_and(|g| g.iter().any(|x| x == 44)), "exec groups {}", r["groups"]);
        ensure!(r["caps"]["CapEff"] == "0000000000000020" && r["caps"]["CapBnd"] == "0000000000000020", "exec caps {}", r["caps"]);
        ensure!(r["no_new_privs"] == "1", "exec NoNewPrivs {}", r["no_new_privs"]);
        ensure!(r["seccomp"] == "2" && r["syscalls"]["getppid"]["errno"] == 42, "exec seccomp: {} {}", r["seccomp"], r["syscalls"]);
        ensure!(r["env"]["BERTH_EXEC"] == "yes" && r["cwd"] == "/tmp", "exec env/cwd {} {}", r["env"], r["cwd"]);
    }

    /// A malformed config.json fails create and leaves no state behind.
    fn malformed_config(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "bad", &["/checker"])?;
        d.assert_functional(&b)?;
        std::fs::write(b.path().join("config.json"), b"{\"ociVersion\": ")?;
        let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        ensure!(!o.success(), "create with malformed config succeeded");
        ensure!(!d.exec(&["state", b.id()])?.success(), "state exists after failed create");
        let left = cgroup::existing_dirs(b.cgroups_path());
        ensure!(left.is_empty(), "cgroups left: {left:?}");
    }

    /// Fields the kernel cannot honour fail create with an error that names
    /// what was wrong, and nothing is left: no state, no cgroup, no process.
    fn invalid_fields_leave_nothing(rt) {
        let d = Driver::new(rt)?;
        d.assert_functional(&Bundle::new(rt, "ok", &["/checker"])?)?;
        let cases: Vec<(&str, &str, Edit)> = vec![
            ("rlimit type", "rlimit", Box::new(|b: &mut Bundle| b.set("/process/rlimits", serde_json::json!([{"type": "RLIMIT_BERTH", "soft": 1, "hard": 1}])))),
            ("namespace type", "namespace", Box::new(|b: &mut Bundle| b.push("/linux/namespaces", serde_json::json!({"type": "berthns"})))),
            ("namespace path", "no-such", Box::new(|b: &mut Bundle| {
                b.drop_namespace("network");
                b.push("/linux/namespaces", serde_json::json!({"type": "network", "path": "/proc/self/ns/no-such"}));
            })),
            ("root.path", "no-such-rootfs", Box::new(|b: &mut Bundle| b.set("/root/path", serde_json::json!("no-such-rootfs")))),
            ("rlimit soft > hard", "rlimit", Box::new(|b: &mut Bundle| b.set("/process/rlimits", serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}])))),
            ("mount type", "/mnt", Box::new(|b: &mut Bundle| b.push("/mounts", serde_json::json!({"destination": "/mnt", "type": "berthfs", "source": "x"})))),
        ];
        for (field, names, edit) in cases {
            let mut b = Bundle::new(rt, "inval", &["/checker", "sleep", "30"])?;
            edit(&mut b);
            b.write()?;
            let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
            let leftover = d.exec(&["state", b.id()])?;
            let _ = d.exec(&["delete", "--force", b.id()]);
            ensure!(!o.success(), "create with a bad {field} succeeded");
            ensure!(o.stderr.to_lowercase().contains(names), "bad {field}: the error does not say {names:?}: {}", o.stderr.trim());
            ensure!(!leftover.success(), "bad {field}: state left behind: {}", leftover.stdout);
            let cg = cgroup::existing_dirs(b.cgroups_path());
            ensure!(cg.is_empty(), "bad {field}: cgroups left: {cg:?}");
        }
    }

    /// kill of a created (not yet started) container ends its init.
    fn kill_created(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "killcr", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.kill("KILL")?;
        c.wait_status("stopped", T)?;
    }

    /// kill of a stopped container is an error (spec: "neither created nor
    /// running") and start of a stopped one too; the container stays.
    fn kill_or_start_stopped_fails(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "killst", &["/checker", "exit", "0"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        c.wait_status("stopped", T)?;
        ensure!(!d.exec(&["kill", c.id(), "KILL"])?.success(), "kill of a stopped container succeeded");
        ensure!(!d.exec(&["start", c.id()])?.success(), "start of a stopped container succeeded");
        ensure!(c.status()? == "stopped", "container changed");
    }

    /// ps lists the container's processes (json: host pids incl. the init).
    fn ps(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "ps", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        let pid = c.pid()?;
        let o = d.ok(&["ps", "--format", "json", c.id()])?;
        let v: serde_json::Value = serde_json::from_str(o.stdout.trim())?;
        ensure!(v.as_array().is_some_and(|a| a.iter().any(|p| p.as_i64() == Some(pid))), "ps json {v}, init {pid}");
        let table = d.ok(&["ps", c.id()])?.stdout;
        ensure!(table.contains("PID") && table.contains(&pid.to_string()), "ps table: {table}");
    }

    /// --version names the runtime version and the spec version, like runc.
    fn version(rt) {
        let d = Driver::new(rt)?;
        let o = d.ok(&["--version"])?;
        let lines: Vec<&str> = o.stdout.lines().collect();
        ensure!(lines.len() >= 3, "--version: {:?}", o.stdout);
        ensure!(lines[0].contains(" version "), "first line {:?}", lines[0]);
        ensure!(lines.iter().any(|l| l.starts_with("commit:")), "no commit line: {:?}", o.stdout);
        ensure!(lines.iter().any(|l| l.starts_with("spec: 1.")), "no spec line: {:?}", o.stdout);
    }

    /// spec writes a usable default config.json (the suite runs it).
    fn spec_verb(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "spec", &["/checker"])?;
        std::fs::remove_file(b.path().join("config.json")).ok();
        d.ok(&["spec", "--bundle", &b.path().to_string_lossy()])?;
        let text = std::fs::read_to_string(b.path().join("config.json"))?;
        let mut v: serde_json::Value = serde_json::from_str(&text)?;
        ensure!(v["ociVersion"].as_str().is_some_and(|s| s.starts_with("1.")), "ociVersion {}", v["ociVersion"]);
        ensure!(v["root"]["path"] == "rootfs" && v["process"]["args"].is_array(), "spec: {v}");
        v["process"]["terminal"] = serde_json::json!(false);
        v["process"]["args"] = serde_json::json!(["/checker"]);
        v["linux"]["cgroupsPath"] = serde_json::json!(b.cgroups_path());
        b.config = v;
        let r = d.run_checker(&b)?;
        ensure!(r.at("/uid") == 0, "default spec does not run: {}", r.0);
    }

    /// --log with --log-format json writes errors as JSON lines with level
    /// and msg (containerd's shim reads them from there).
    fn log_format_json(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "logjson", &["/checker"])?;
        d.assert_functional(&b)?;
        std::fs::write(b.path().join("config.json"), b"{not json")?;
        let log = d.scratch("log.json");
        let o = d.exec(&["--log", &log.to_string_lossy(), "--log-format", "json",
            "create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        ensure!(!o.success(), "create of a bad config succeeded");
        let text = std::fs::read_to_string(&log)?;
        let errors: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &serde_json::Value| v["level"] == "error").collect();
        ensure!(errors.iter().any(|e| e["msg"].as_str().is_some_and(|m| !m.is_empty())), "no JSON error line in log: {text:?}");
    }

    /// --log naming a file that cannot be opened (its directory is missing, or
    /// it is a directory) is an error: nonzero exit, a message naming the path,
    /// and create makes no container.
    fn log_path_unopenable_is_an_error(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "logbad", &["/checker"])?;
        d.assert_functional(&b)?;
        b.write()?;
        let dir = d.scratch("logdir");
        std::fs::create_dir(&dir)?;
        for log in [dir.join("missing").join("log"), dir.clone()] {
            let log = log.to_string_lossy().into_owned();
            let o = d.exec(&["--log", &log, "list"])?;
            ensure!(!o.success(), "list with --log {log} succeeded");
            ensure!(o.stderr.contains(&log), "the error does not name {log}: {:?}", o.stderr);
            let o = d.exec(&["--log", &log, "create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
            let left = d.exec(&["state", b.id()])?;
            let _ = d.exec(&["delete", "--force", b.id()]);
            ensure!(!o.success(), "create with --log {log} succeeded");
            ensure!(!left.success(), "create with --log {log} left a container");
        }
    }

    /// `spec --rootless` writes runc's rootless config: the same JSON as
    /// `runc spec --rootless` (but for ociVersion), a user namespace mapping the
    /// caller (root here) and no network namespace; and it runs: the container
    /// is in a user namespace with that map and shares the host's network.
    fn spec_rootless(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "specrl", &["/checker"])?;
        std::fs::remove_file(b.path().join("config.json")).ok();
        d.ok(&["spec", "--rootless", "--bundle", &b.path().to_string_lossy()])?;
        let ours: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(b.path().join("config.json"))?)?;
        let oracle_dir = d.scratch("runc-rootless");
        std::fs::create_dir(&oracle_dir)?;
        std::process::Command::new(berth_integration_tests::Runtime::Runc.binary()?)
            .args(["spec", "--rootless", "--bundle"]).arg(&oracle_dir).status()?;
        let runc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(oracle_dir.join("config.json"))?)?;
        let without_version = |v: &serde_json::Value| {
            let mut v = v.clone();
            v.as_object_mut().map(|o| o.remove("ociVersion"));
            v
        };
        ensure!(without_version(&ours) == without_version(&runc), "spec --rootless differs from runc's:\n{ours:#}\nrunc:\n{runc:#}");
        let uid = std::fs::read_to_string("/proc/self/status")?.lines()
            .find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default();
        ensure!(ours["linux"]["uidMappings"] == serde_json::json!([{"containerID": 0, "hostID": uid.parse::<u64>()?, "size": 1}]),
            "uidMappings {}", ours["linux"]["uidMappings"]);
        let mut v = ours;
        v["process"]["terminal"] = serde_json::json!(false);
        v["process"]["args"] = serde_json::json!(["/checker"]);
        v["linux"]["cgroupsPath"] = serde_json::json!(b.cgroups_path());
        b.config = v;
        let r = d.run_checker(&b)?;
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        ensure!(norm(r.str("/ns/uid_map")) == format!("0 {uid} 1"), "uid_map inside {}", r.str("/ns/uid_map"));
        let host_net = std::fs::read_link("/proc/self/ns/net")?.display().to_string();
        ensure!(r.str("/ns/net") == host_net, "network namespace {} is not the host's {host_net}", r.str("/ns/net"));
    }

    /// create --no-pivot: the container still runs in the bundle's rootfs.
    fn no_pivot(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "nopivot", &["/checker", "--probe", "/checker"])?;
        let c = d.create(&b, &["--no-pivot"])?;
        c.start()?;
        c.wait_status("stopped", T)?;
        let r = c.report()?;
        ensure!(r.probe("/checker")["type"] == "f", "no checker at / with --no-pivot: {}", r.probe("/checker"));
        ensure!(r.str("/hostname") == "berth-conformance", "hostname {}", r.str("/hostname"));
    }

    /// Without --preserve-fds the process gets stdio only: no runtime fd
    /// (state dir, cgroup dir, sockets) leaks into the container.
    fn no_fd_leak(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "fdleak", &["/checker"])?;
        let r = d.run_checker(&b)?;
        let fds = r.0["fds"].as_object().cloned().unwrap_or_default();
        // The checker's own directory handle on /proc/self/fd is the one extra.
        let extra: Vec<_> = fds.iter()
            .filter(|(n, t)| !["0", "1", "2"].contains(&n.as_str()) && !t.as_str().is_some_and(|t| t.ends_with("/fd")))
            .collect();
        ensure!(extra.is_empty(), "fds leaked into the container: {extra:?}");
    }

    /// --preserve-fds N passes fds 3..3+N to the container process, and no more.
    fn preserve_fds(rt) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "fds", &["/checker"])?;
        b.write()?;
        let kept = std::fs::File::create(d.scratch("kept-fd"))?;
        let extra = std::fs::File::create(d.scratch("not-kept-fd"))?;
        let (k, e) = (kept.as_raw_fd(), extra.as_raw_fd());
        let mut cmd = d.command(&["run", "--preserve-fds", "1", "--bundle", &b.path().to_string_lossy(), b.id()]);
        // Copies first (F_DUPFD above 100), so dup2 never meets its own
        // source at 3 or 4 and always clears close-on-exec.
        // SAFETY: only fcntl/dup2/close between fork and exec, all async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                let k2 = libc::fcntl(k, libc::F_DUPFD, 100);
                let e2 = libc::fcntl(e, libc::F_DUPFD, 100);
                if k2 < 0 || e2 < 0 || libc::dup2(k2, 3) < 0 || libc::dup2(e2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(k2);
                libc::close(e2);
                Ok(())
            });
        }
        let o = d.exec_cmd(cmd)?;
        let _ = d.exec(&["delete", "--force", b.id()]);
        ensure!(o.success(), "run --preserve-fds: {}", o.stderr);
        let r: serde_json::Value = serde_json::from_str(o.stdout.lines().last().unwrap_or(""))?;
        let fd3 = r["fds"]["3"].as_str().unwrap_or("");
        ensure!(fd3.ends_with("kept-fd"), "fd 3 in the container: {:?} (fds {})", fd3, r["fds"]);
        ensure!(!r["fds"]["4"].as_str().is_some_and(|t| t.ends_with("not-kept-fd")), "fd 4 leaked: {}", r["fds"]);
    }

    /// Changing config.json after create has no effect on the container
    /// (the runtime keeps what it was created with).
    fn config_change_after_create_has_no_effect(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "cfgupd", &["/checker"])?;
        b.set("/hostname", serde_json::json!("before-edit"));
        let c = d.create(&b, &[])?;
        b.set("/hostname", serde_json::json!("after-edit"));
        b.set("/process/args", serde_json::json!(["/bin/false"]));
        b.write()?;
        c.start()?;
        c.wait_status("stopped", T)?;
        let r = c.report()?;
        ensure!(r.str("/hostname") == "before-edit", "hostname {}", r.str("/hostname"));
    }

    /// A capability name the kernel does not know is a warning, not an
    /// error (spec, config "capabilities": "MUST be logged as a warning ...
    /// SHOULD NOT fail"); the known ones still apply.
    fn unknown_capability_is_a_warning(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "capunk", &["/checker"])?;
        for set in ["bounding", "effective", "permitted"] {
            b.push(&format!("/process/capabilities/{set}"), serde_json::json!("CAP_BERTH_BOGUS"));
        }
        let r = d.run_checker(&b)?;
        let want = berth_integration_tests::report::cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        ensure!(r.caps("CapBnd") == want && r.caps("CapEff") == want, "caps {:#x} {:#x}", r.caps("CapBnd"), r.caps("CapEff"));
    }

    /// Ids that are not plain names (path separators, "..") are refused and
    /// nothing is created outside the state root.
    fn invalid_id_refused(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "badid", &["/checker"])?;
        d.assert_functional(&b)?;
        b.write()?;
        let outside = d.root().parent().map(|p| p.join("escaped")).unwrap_or_default();
        for id in ["../escaped", "a/b", ".."] {
            let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), id])?;
            let _ = d.exec(&["delete", "--force", id]);
            ensure!(!o.success(), "create with id {id:?} succeeded");
        }
        ensure!(!outside.exists(), "{} was created", outside.display());
    }

    /// A missing process binary fails create or start; nothing is left running.
    fn missing_binary(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "nobin", &["/no/such/binary"])?;
        d.assert_functional(&b)?;
        match d.create(&b, &[]) {
            Err(_) => {}
            Ok(c) => {
                let started = d.exec(&["start", c.id()])?;
                ensure!(!started.success(), "start of a missing binary succeeded");
            }
        };
    }
}
