//! OCI runtime spec, config "Process" (args, env, cwd, user, umask,
//! additionalGids, rlimits, capabilities, noNewPrivileges, oomScoreAdj,
//! terminal with `--console-socket`) and config-linux "Sysctl" and
//! "Seccomp"; each read back from /proc/self inside the container.

use anyhow::ensure;
use berth_integration_tests::console::{read_pty, ConsoleSocket};
use berth_integration_tests::report::cap_mask;
use berth_integration_tests::seccomp_agent::Agent;
use berth_integration_tests::{conformance, Bundle, Driver, Runtime};
use serde_json::json;
use std::time::Duration;

conformance! {
    /// args, env and cwd reach the process unchanged.
    fn args_env_cwd(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "argenv", &["/checker", "report", "--probe", "/x y"])?;
        b.set("/process/env", json!(["PATH=/bin", "BERTH_A=1", "BERTH_B=two words", "BERTH_EMPTY="]));
        b.set("/process/cwd", json!("/tmp"));
        let r = d.run_checker(&b)?;
        ensure!(r.at("/args") == &json!(["/checker", "report", "--probe", "/x y"]), "args {}", r.at("/args"));
        ensure!(r.str("/env/BERTH_A") == "1" && r.str("/env/BERTH_B") == "two words"
            && r.at("/env/BERTH_EMPTY") == "", "env {}", r.at("/env"));
        ensure!(r.str("/cwd") == "/tmp", "cwd {}", r.str("/cwd"));
    }

    /// user.uid/gid/additionalGids and umask.
    fn user_groups_umask(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "user", &["/checker"])?;
        b.set("/process/user", json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 30], "umask": 0o027}));
        let r = d.run_checker(&b)?;
        ensure!(r.at("/uid") == 1000 && r.at("/euid") == 1000, "uid {} euid {}", r.at("/uid"), r.at("/euid"));
        ensure!(r.at("/gid") == 1001 && r.at("/egid") == 1001, "gid {} egid {}", r.at("/gid"), r.at("/egid"));
        let mut groups: Vec<u64> = r.at("/groups").as_array().map(|a| a.iter().filter_map(|g| g.as_u64()).collect()).unwrap_or_default();
        groups.sort();
        groups.retain(|g| *g != 1001);
        ensure!(groups == vec![10, 20, 30], "groups {}", r.at("/groups"));
        ensure!(r.str("/umask") == "0027", "umask {}", r.str("/umask"));
    }

    /// Root in the container with the default caps: bounding, permitted and
    /// effective are the configured list, inheritable is empty. (The ambient
    /// set of root is left out: runc ends up with none, and for root it adds
    /// nothing to what permitted already gives.)
    fn capabilities_root(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "capsroot", &["/checker"])?;
        let r = d.run_checker(&b)?;
        let want = cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        for set in ["CapBnd", "CapPrm", "CapEff"] {
            ensure!(r.caps(set) == want, "{set} {:#x} != {want:#x}", r.caps(set));
        }
        ensure!(r.caps("CapInh") == 0, "CapInh {:#x}", r.caps("CapInh"));
    }

    /// All five sets for a non-root user; after execve the kernel keeps
    /// permitted = effective = ambient, so CHOWN (permitted only) is gone.
    fn capabilities_all_sets(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "caps5", &["/checker"])?;
        b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
        b.set("/process/capabilities", json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        }));
        let r = d.run_checker(&b)?;
        let kill = cap_mask(&["CAP_KILL"]);
        ensure!(r.caps("CapBnd") == cap_mask(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]), "CapBnd {:#x}", r.caps("CapBnd"));
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            ensure!(r.caps(set) == kill, "{set} {:#x} != {kill:#x}", r.caps(set));
        }
    }

    /// noNewPrivileges true and false.
    fn no_new_privileges(rt) {
        let d = Driver::new(rt)?;
        for (nnp, want) in [(true, "1"), (false, "0")] {
            let mut b = Bundle::new(rt, "nnp", &["/checker"])?;
            b.set("/process/noNewPrivileges", json!(nnp));
            let r = d.run_checker(&b)?;
            ensure!(r.str("/no_new_privs") == want, "noNewPrivileges {nnp}: NoNewPrivs {}", r.str("/no_new_privs"));
        }
    }

    /// rlimits: each listed limit is set, soft and hard.
    fn rlimits(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "rlim", &["/checker"])?;
        b.set("/process/rlimits", json!([
            {"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLIMIT_CORE", "soft": 1234, "hard": 5678},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
            {"type": "RLIMIT_MSGQUEUE", "soft": 8192, "hard": 16384}
        ]));
        let r = d.run_checker(&b)?;
        for (name, soft, hard) in [("RLIMIT_NOFILE", 1000, 2000), ("RLIMIT_CORE", 1234, 5678),
            ("RLIMIT_NPROC", 300, 400), ("RLIMIT_MSGQUEUE", 8192, 16384)] {
            let v = r.at(&format!("/rlimits/{name}"));
            ensure!(v["soft"] == soft && v["hard"] == hard, "{name}: {v}");
        }
    }

    /// rlimits exactly as given, soft below hard: the values of runtime-tools'
    /// process_rlimits test (gigabytes for AS, CORE, DATA, FSIZE, STACK) and an
    /// unlimited hard limit (RLIM_INFINITY as u64::MAX): nothing is clamped or
    /// otherwise adjusted, with and without a user namespace. (Hard limits stay
    /// within the host's: the test machine's root lacks CAP_SYS_RESOURCE, so
    /// neither runtime may raise one.)
    fn rlimits_exact_as_given(rt) {
        let d = Driver::new(rt)?;
        let gib: u64 = 1 << 30;
        let limits = [
            ("RLIMIT_AS", gib, 2 * gib), ("RLIMIT_CORE", 3 * gib, 4 * gib),
            ("RLIMIT_DATA", 5 * gib, 6 * gib), ("RLIMIT_FSIZE", 7 * gib, 8 * gib),
            ("RLIMIT_STACK", 9 * gib, 10 * gib), ("RLIMIT_CPU", 60, 120),
            ("RLIMIT_NOFILE", 3000, 4000), ("RLIMIT_RTTIME", 1000, u64::MAX),
        ];
        // Also in a user namespace, where the init cannot raise a hard limit itself.
        for userns in [false, true] {
            let mut b = Bundle::new(rt, "rlimx", &["/checker"])?;
            if userns {
                b.map_root_to(100000);
            }
            b.set("/process/rlimits", json!(limits.iter()
                .map(|(t, soft, hard)| json!({"type": t, "soft": soft, "hard": hard}))
                .collect::<Vec<_>>()));
            let r = d.run_checker(&b)?;
            for (name, soft, hard) in limits {
                let v = r.at(&format!("/rlimits/{name}"));
                ensure!(v["soft"] == soft && v["hard"] == hard, "user namespace {userns}: {name}: {v}, wanted soft {soft} hard {hard}");
            }
        }
    }

    /// process.scheduler with the flag names of the spec (oci-spec spells
    /// SCHED_FLAG_RESET_ON_FORK differently): the policy, the reset-on-fork flag
    /// and the nice value, as the kernel reports them for the container process.
    #[runc_fails = "runc 1.1.5 ignores process.scheduler (support came in runc 1.2)"]
    #[runc_shows = "policy 0x0, wanted 0x40000003"]
    fn scheduler_with_spec_flag_names(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "sched", &["/checker", "sleep", "30"])?;
        b.set("/process/scheduler", json!({"policy": "SCHED_BATCH", "nice": 7,
            "flags": ["SCHED_FLAG_RESET_ON_FORK"]}));
        let c = d.create(&b, &[])?;
        c.start()?;
        let pid = c.pid()? as libc::pid_t;
        // SAFETY: plain queries of another process's scheduling attributes.
        let policy = unsafe { libc::sched_getscheduler(pid) };
        let nice = std::fs::read_to_string(format!("/proc/{pid}/stat"))?
            .rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(16).map(str::to_string))
            .unwrap_or_default();
        ensure!(policy == (libc::SCHED_BATCH | libc::SCHED_RESET_ON_FORK), "policy {policy:#x}, wanted {:#x}",
            libc::SCHED_BATCH | libc::SCHED_RESET_ON_FORK);
        ensure!(nice == "7", "nice {nice}");
    }

    /// oomScoreAdj is written to /proc/<pid>/oom_score_adj.
    fn oom_score_adj(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "oom", &["/checker"])?;
        b.set("/process/oomScoreAdj", json!(567));
        let r = d.run_checker(&b)?;
        ensure!(r.str("/oom_score_adj") == "567", "oom_score_adj {}", r.str("/oom_score_adj"));
    }

    /// linux.sysctl values in the container's net and ipc namespaces.
    fn sysctl(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "sysctl", &["/checker", "--sysctl", "net.ipv4.ip_forward",
            "--sysctl", "kernel.shmmax", "--sysctl", "net.core.somaxconn"])?;
        b.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "65536", "net.core.somaxconn": "1234"}));
        let r = d.run_checker(&b)?;
        for (k, v) in [("net.ipv4.ip_forward", "1"), ("kernel.shmmax", "65536"), ("net.core.somaxconn", "1234")] {
            ensure!(r.str(&format!("/sysctl/{k}")) == v, "{k} = {}", r.at(&format!("/sysctl/{k}")));
        }
        let host = std::fs::read_to_string("/proc/sys/net/core/somaxconn")?;
        ensure!(host.trim() != "1234", "sysctl leaked to the host");
    }

    /// Without HOME in process.env, HOME is the user's home from the container's
    /// /etc/passwd, or `/` for a uid it does not list; a given HOME stays.
    fn home_from_passwd(rt) {
        let d = Driver::new(rt)?;
        d.assert_functional(&Bundle::new(rt, "ok", &["/checker"])?)?;
        for (uid, env, want) in [(0, vec!["PATH=/bin"], "/root"), (4242, vec!["PATH=/bin"], "/"),
            (0, vec!["PATH=/bin", "HOME=/given"], "/given")] {
            let mut b = Bundle::new(rt, "home", &["/bin/sh", "-c", "echo HOME=$HOME"])?;
            b.set("/process/env", json!(env));
            b.set("/process/user", json!({"uid": uid, "gid": 0}));
            b.write()?;
            let o = d.exec(&["run", "--bundle", &b.path().to_string_lossy(), b.id()])?;
            let _ = d.exec(&["delete", "--force", b.id()]);
            ensure!(o.stdout.trim() == format!("HOME={want}"), "uid {uid}, env {env:?}: {:?} {}", o.stdout, o.stderr);
        }
    }

    /// A sysctl outside the container's own namespaces would change the host:
    /// create refuses it, leaves nothing, and the host's value stays.
    fn sysctl_outside_own_namespaces_refused(rt) {
        let d = Driver::new(rt)?;
        let cases = [
            ("network", "net.core.somaxconn", "4321"),
            ("ipc", "kernel.shmmni", "1234"),
            ("uts", "kernel.domainname", "berth-leak"),
        ];
        for (ns, key, value) in cases {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            let before = std::fs::read_to_string(&path)?;
            let mut b = Bundle::new(rt, "sysleak", &["/checker"])?;
            b.drop_namespace(ns);
            if ns == "uts" {
                // The hostname field needs a UTS namespace of its own too.
                b.set("/hostname", json!(""));
            }
            b.set("/linux/sysctl", json!({key: value}));
            b.write()?;
            let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
            let left = d.exec(&["state", b.id()])?;
            let _ = d.exec(&["delete", "--force", b.id()]);
            ensure!(!o.success(), "create with {key} in the host's {ns} namespace succeeded");
            ensure!(o.stderr.contains(key), "the error does not name {key}: {}", o.stderr.trim());
            ensure!(!left.success(), "{key}: state left behind");
            let after = std::fs::read_to_string(&path)?;
            ensure!(before == after, "{key} changed on the host: {before:?} -> {after:?}");
        }
    }

    /// seccomp ERRNO with the default errno, with errnoRet, and with an
    /// argument filter; the filter is in mode 2.
    fn seccomp_errno_and_args(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "seccomp", &["/checker", "--syscall", "getppid", "--syscall", "getpriority",
            "--syscall", "umask=63", "--syscall", "umask=18"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 63, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        let r = d.run_checker(&b)?;
        ensure!(r.str("/seccomp") == "2", "Seccomp mode {}", r.str("/seccomp"));
        ensure!(r.at("/syscalls/getppid/errno") == 1, "getppid {}", r.at("/syscalls/getppid"));
        ensure!(r.at("/syscalls/getpriority/errno") == 38, "getpriority {}", r.at("/syscalls/getpriority"));
        ensure!(r.at("/syscalls/umask=63/errno") == 1, "umask(63) {}", r.at("/syscalls/umask=63"));
        ensure!(r.at("/syscalls/umask=18/errno") == 0, "umask(18) {}", r.at("/syscalls/umask=18"));
    }

    /// seccomp argument operators: GE, MASKED_EQ (value = mask, valueTwo =
    /// datum) and NE, each rule with its own errnoRet; calls that match no
    /// rule are untouched.
    fn seccomp_arg_operators(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "secops", &["/checker", "--syscall", "getpriority=1500", "--syscall", "getpriority=85",
            "--syscall", "getpriority=10", "--syscall", "getpriority=0", "--syscall", "umask=18", "--syscall", "umask=63"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 71,
                 "args": [{"index": 1, "value": 1000, "op": "SCMP_CMP_GE"}]},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 72,
                 "args": [{"index": 1, "value": 240, "valueTwo": 80, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 73,
                 "args": [{"index": 0, "value": 18, "op": "SCMP_CMP_NE"}]}
            ]
        }));
        let r = d.run_checker(&b)?;
        for (call, want) in [("getpriority=1500", 71), ("getpriority=85", 72), ("getpriority=10", 3),
            ("getpriority=0", 0), ("umask=18", 0), ("umask=63", 73)] {
            ensure!(r.at(&format!("/syscalls/{call}/errno")) == want, "{call}: {} (wanted errno {want})", r.at(&format!("/syscalls/{call}")));
        }
    }

    /// A default-deny profile written before faccessat2 (Linux 5.8, number 439),
    /// as docker's of 2020 and runtime-tools' generator: create and run work
    /// (the runtime looks the program up before the filter), calls newer than
    /// the profile get ENOSYS so libc falls back, an old call it leaves out
    /// stays EPERM. With and without noNewPrivileges (the filter goes on at
    /// different points of the init).
    fn seccomp_old_profile_newer_calls_enosys(rt) {
        let d = Driver::new(rt)?;
        let allowed: Vec<&str> = (0..439)
            .filter_map(syscall_numbers::x86_64::sys_call_name)
            .filter(|n| *n != "keyctl")
            .collect();
        for nnp in [true, false] {
            let mut b = Bundle::new(rt, "secold", &["/checker", "--syscall", "faccessat2",
                "--syscall", "unassigned", "--syscall", "keyctl"])?;
            b.set("/process/noNewPrivileges", json!(nnp));
            b.set("/linux/seccomp", json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}]
            }));
            let r = d.run_checker(&b)?;
            ensure!(r.str("/seccomp") == "2", "nnp {nnp}: Seccomp mode {}", r.str("/seccomp"));
            ensure!(r.at("/syscalls/faccessat2/errno") == 38, "nnp {nnp}: faccessat2 {}", r.at("/syscalls/faccessat2"));
            ensure!(r.at("/syscalls/unassigned/errno") == 38, "nnp {nnp}: nr 1000 {}", r.at("/syscalls/unassigned"));
            ensure!(r.at("/syscalls/keyctl/errno") == 1, "nnp {nnp}: keyctl {}", r.at("/syscalls/keyctl"));
        }
    }

    /// A profile that lists SCMP_ARCH_X86 filters i386 calls by i386 numbers:
    /// getppid is 110 on x86_64 and 64 on i386, and both meet its rule.
    fn seccomp_i386_by_its_own_numbers(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "sec386", &["/checker", "--syscall", "getppid",
            "--syscall", "i386_getppid", "--syscall", "getpriority"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77}]
        }));
        let r = d.run_checker(&b)?;
        ensure!(r.at("/syscalls/getppid/errno") == 77, "getppid {}", r.at("/syscalls/getppid"));
        ensure!(r.at("/syscalls/i386_getppid/errno") == 77, "i386 getppid {}", r.at("/syscalls/i386_getppid"));
        ensure!(r.at("/syscalls/getpriority/errno") == 0, "getpriority {}", r.at("/syscalls/getpriority"));
    }

    /// A profile that denies execve: the container never runs its program, and
    /// berth says that the profile is why, not that the file is not executable.
    fn seccomp_denied_execve_named(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "secexec", &["/checker"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]
        }));
        b.write()?;
        let o = d.exec(&["run", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        let _ = d.exec(&["delete", "--force", b.id()]);
        ensure!(!o.success(), "run under a profile denying execve succeeded: {}", o.stdout);
        ensure!(!o.stdout.contains("\"seccomp\""), "the checker ran: {}", o.stdout);
        if rt == Runtime::Berth {
            ensure!(o.stderr.contains("seccomp profile denies execve"), "{}", o.stderr.trim());
        }
    }

    /// SCMP_ACT_NOTIFY with listenerPath: the agent gets the listener fd and the
    /// ContainerProcessState over its socket, and a notified getppid returns the
    /// agent's answer in the container; an agent that is not there fails create
    /// and leaves nothing.
    fn seccomp_notify_listener(rt) {
        let d = Driver::new(rt)?;
        let sock = d.scratch("agent.sock");
        let agent = Agent::start(&sock, 4242)?;
        let mut b = Bundle::new(rt, "secnotify", &["/checker", "--syscall", "getppid", "--syscall", "getpriority"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "berth-test-meta",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let r = d.run_checker(&b)?;
        let seen = agent.finish();
        ensure!(seen.error.is_none(), "agent: {:?}", seen.error);
        ensure!(seen.fd_received, "the agent got no listener fd");
        ensure!(r.at("/syscalls/getppid/ret") == 4242, "getppid {} (the agent answers 4242)", r.at("/syscalls/getppid"));
        ensure!(r.at("/syscalls/getpriority/errno") == 0, "getpriority {}", r.at("/syscalls/getpriority"));
        ensure!(seen.answered == 1, "agent answered {} calls", seen.answered);
        let st = seen.state.unwrap_or_default();
        ensure!(st["fds"] == json!(["seccompFd"]), "fds {}", st["fds"]);
        ensure!(st["metadata"] == "berth-test-meta", "metadata {}", st["metadata"]);
        ensure!(st["state"]["id"] == b.id(), "state {}", st["state"]);
        ensure!(st["pid"].as_i64().unwrap_or(0) > 1 && st["pid"] == st["state"]["pid"], "pid {} / {}", st["pid"], st["state"]["pid"]);

        let mut b = Bundle::new(rt, "secnoagent", &["/checker"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": d.scratch("nobody-listens.sock"),
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        b.write()?;
        let o = d.exec(&["create", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        let left = d.exec(&["state", b.id()])?;
        let _ = d.exec(&["delete", "--force", b.id()]);
        ensure!(!o.success(), "create without an agent succeeded");
        ensure!(!left.success(), "state left behind: {}", left.stdout);
    }

    /// seccomp KILL ends the process with SIGSYS (exit 159 through `run`).
    fn seccomp_kill(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "seckill", &["/checker", "--syscall", "getppid"])?;
        b.set("/linux/seccomp", json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL"}]
        }));
        b.write()?;
        let o = d.exec(&["run", "--bundle", &b.path().to_string_lossy(), b.id()])?;
        let _ = d.exec(&["delete", "--force", b.id()]);
        ensure!(o.status.code() == Some(128 + 31), "exit {:?}: {}", o.status, o.stderr);
    }

    /// No seccomp section: mode 0.
    fn seccomp_absent(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "secnone", &["/checker"])?;
        let r = d.run_checker(&b)?;
        ensure!(r.str("/seccomp") == "0", "Seccomp mode {}", r.str("/seccomp"));
    }

    /// process.consoleSize sets the pty's window size.
    fn console_size(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "ttysize", &["/bin/sh", "-c", "stty size"])?;
        b.set("/process/terminal", json!(true));
        b.set("/process/consoleSize", json!({"height": 31, "width": 103}));
        let sock = ConsoleSocket::new()?;
        let c = d.create(&b, &["--console-socket", &sock.path().to_string_lossy()])?;
        let master = sock.receive_master(Duration::from_secs(10))?;
        c.start()?;
        let out = read_pty(master, Duration::from_secs(10));
        ensure!(out.contains("31 103"), "stty size: {out:?}");
    }

    /// linux.personality LINUX32 makes uname report a 32-bit machine.
    #[runc_fails = "runc 1.1.5 ignores linux.personality (support came in runc 1.2)"]
    #[runc_shows = "machine x86_64"]
    fn personality_linux32(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "pers", &["/checker"])?;
        b.set("/linux/personality", json!({"domain": "LINUX32"}));
        let r = d.run_checker(&b)?;
        ensure!(r.str("/machine") == "i686", "machine {}", r.str("/machine"));
    }

    /// exec --tty with --console-socket: the exec'd process gets its own pty.
    fn exec_tty_console_socket(rt) {
        let d = Driver::new(rt)?;
        let b = Bundle::new(rt, "exectty", &["/checker", "sleep", "30"])?;
        let c = d.create(&b, &[])?;
        c.start()?;
        let sock = ConsoleSocket::new()?;
        d.ok(&["exec", "--detach", "--tty", "--console-socket", &sock.path().to_string_lossy(), c.id(),
            "/bin/sh", "-c", "tty; echo exec-on-tty"])?;
        let master = sock.receive_master(Duration::from_secs(10))?;
        let out = read_pty(master, Duration::from_secs(10));
        ensure!(out.contains("/dev/pts/") && out.contains("exec-on-tty"), "exec pty output: {out:?}");
    }

    /// terminal=true: the pty master arrives over --console-socket and the
    /// process's stdio is the pty slave.
    fn console_socket(rt) {
        let d = Driver::new(rt)?;
        let mut b = Bundle::new(rt, "tty", &["/bin/sh", "-c", "tty; echo hello-from-tty"])?;
        b.set("/process/terminal", json!(true));
        let sock = ConsoleSocket::new()?;
        let c = d.create(&b, &["--console-socket", &sock.path().to_string_lossy()])?;
        let master = sock.receive_master(Duration::from_secs(10))?;
        c.start()?;
        let out = read_pty(master, Duration::from_secs(10));
        ensure!(out.contains("/dev/pts/0"), "tty says: {out:?}");
        ensure!(out.contains("hello-from-tty"), "pty output: {out:?}");
        c.wait_status("stopped", Duration::from_secs(10))?;
    }
}
