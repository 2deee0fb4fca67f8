//! Compiled programs are checked two ways: by running them in a small classic-BPF
//! interpreter (every instruction kind the compiler emits) on chosen syscalls, and by
//! loading them into the kernel in a forked child.
use super::*;
use crate::requirements::{self, Requirement};
use crate::user::forked;
use nix::sys::wait::WaitStatus;

const ALLOW: u32 = 0x7fff_0000;
const ERRNO: u32 = 0x0005_0000;
const KILL_PROCESS: u32 = 0x8000_0000;
const KILL_THREAD: u32 = 0;
const TRAP: u32 = 0x0003_0000;
const TRACE: u32 = 0x7ff0_0000;
const LOG: u32 = 0x7ffc_0000;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("profile json")
}

/// Run `prog` on a `struct seccomp_data`; panics on anything the kernel's checker
/// would refuse (a jump out of the program, an unknown instruction).
fn eval(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = &prog[pc];
        let k = ins.k;
        let branch = |cond: bool| 1 + usize::from(if cond { ins.jt } else { ins.jf });
        pc += match ins.code {
            0x20 => {
                let off = k as usize;
                a = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap());
                1
            }
            0x54 => {
                a &= k;
                1
            }
            0x05 => 1 + k as usize,
            0x15 => branch(a == k),
            0x25 => branch(a > k),
            0x35 => branch(a >= k),
            0x06 => return k,
            code => panic!("instruction {code:#x} at {pc} is not expected"),
        };
        assert!(pc < prog.len(), "jump past the end of the program");
    }
}

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap_or_else(|| panic!("{name} not in table")) as u32
}

fn run(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    eval(f.program(), AUDIT_ARCH_X86_64, nr(name), args)
}

#[test]
fn names_resolve_per_abi_and_across_architectures() {
    assert_eq!(syscall_number("read"), Some(0));
    assert_eq!(syscall_number("mkdir"), Some(83));
    assert_eq!(syscall_number("clone3"), Some(435));
    assert_eq!(syscall_number("_llseek"), None);
    assert_eq!(Abi::I386.number("read"), Some(3));
    assert_eq!(Abi::I386.number("_llseek"), Some(140));
    assert_eq!(Abi::I386.number("socketcall"), Some(102));
    assert_eq!(Abi::X32.number("read"), Some(0x4000_0000));
    // x32 has its own numbers for calls whose arguments differ from x86_64's.
    assert_eq!(Abi::X32.number("rt_sigaction"), Some(0x4000_0200));
    for other in [
        "arm_fadvise64_64",
        "cacheflush",
        "set_tls",
        "s390_runtime_instr",
        "_llseek",
    ] {
        assert!(arch::known_elsewhere(other), "{other}");
    }
    assert!(!arch::known_elsewhere("no_such_call"));
}

#[test]
fn table_matches_libc_constants() {
    let pairs = [
        ("read", libc::SYS_read),
        ("openat", libc::SYS_openat),
        ("mkdir", libc::SYS_mkdir),
        ("mkdirat", libc::SYS_mkdirat),
        ("clone", libc::SYS_clone),
        ("clone3", libc::SYS_clone3),
        ("personality", libc::SYS_personality),
        ("ptrace", libc::SYS_ptrace),
        ("seccomp", libc::SYS_seccomp),
        ("pidfd_open", libc::SYS_pidfd_open),
        ("faccessat2", libc::SYS_faccessat2),
        ("landlock_restrict_self", libc::SYS_landlock_restrict_self),
        ("futex_waitv", libc::SYS_futex_waitv),
        ("fchmodat2", libc::SYS_fchmodat2),
        ("mseal", libc::SYS_mseal),
    ];
    for (name, n) in pairs {
        assert_eq!(syscall_number(name), Some(n), "{name}");
    }
}

#[test]
fn table_matches_uapi_header() {
    let path = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
    let header_file = Requirement::File {
        path,
        install: "apt-get install linux-libc-dev",
    };
    if !requirements::met(&[header_file]) {
        return;
    }
    let header = std::fs::read_to_string(path).expect("the uapi header");
    let mut checked = 0;
    for line in header.lines() {
        let mut it = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(n)) = (it.next(), it.next(), it.next()) {
            if let (Some(name), Ok(n)) = (name.strip_prefix("__NR_"), n.parse::<i64>()) {
                assert_eq!(syscall_number(name), Some(n), "{name}");
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "header parsed: {checked}");
}

/// The shape of docker's / moby's default profile: an allowlist with ERRNO(EPERM) as
/// default, three architectures, names from other arches, argument filters on
/// `personality` (several values of one argument: ORed) and `clone` (MASKED_EQ).
const DOCKER_LIKE: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["read", "write", "exit_group", "_llseek", "arm_fadvise64_64", "mkdir"],
     "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
              {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
              {"index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ"}]},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}
  ]
}"#;

#[test]
fn docker_like_profile() {
    let f = compile(&profile(DOCKER_LIKE)).unwrap();
    // _llseek is i386's, which the profile covers; arm_fadvise64_64 only ARM's.
    assert_eq!(f.foreign(), ["arm_fadvise64_64"]);
    assert!(f.unknown().is_empty());
    let z = [0u64; 6];
    assert_eq!(run(&f, "read", z), ALLOW);
    assert_eq!(run(&f, "mkdir", z), ALLOW);
    assert_eq!(run(&f, "mount", z), ERRNO | 1);
    assert_eq!(run(&f, "personality", [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(run(&f, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(run(&f, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(run(&f, "personality", [7, 0, 0, 0, 0, 0]), ERRNO | 1);
    // 64-bit compare: the high half must match too.
    assert_eq!(
        run(&f, "personality", [(1 << 32) | 8, 0, 0, 0, 0, 0]),
        ERRNO | 1
    );
    let sigchld = libc::SIGCHLD as u64;
    let newuser = libc::CLONE_NEWUSER as u64;
    assert_eq!(run(&f, "clone", [sigchld, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(
        run(&f, "clone", [newuser | sigchld, 0, 0, 0, 0, 0]),
        ERRNO | 1
    );
    assert_eq!(run(&f, "clone3", z), ERRNO | 38);
    assert_eq!(
        run(&f, "socket", [libc::AF_INET as u64, 0, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(run(&f, "socket", [40, 0, 0, 0, 0, 0]), ERRNO | 1);
    // Calls newer than the newest the profile names (clone3): ENOSYS so libc falls
    // back; older ones it does not name get the default.
    assert_eq!(run(&f, "faccessat2", z), ERRNO | 38);
    assert_eq!(eval(f.program(), AUDIT_ARCH_X86_64, 1000, z), ERRNO | 38);
    // i386 and x32 are filtered by their own numbers.
    let i386 = |name: &str| Abi::I386.number(name).expect(name);
    assert_eq!(eval(f.program(), AUDIT_ARCH_I386, i386("read"), z), ALLOW);
    assert_eq!(
        eval(f.program(), AUDIT_ARCH_I386, i386("_llseek"), z),
        ALLOW
    );
    assert_eq!(
        eval(f.program(), AUDIT_ARCH_I386, i386("mount"), z),
        ERRNO | 1
    );
    assert_eq!(
        eval(f.program(), AUDIT_ARCH_I386, i386("faccessat2"), z),
        ERRNO | 38
    );
    // On i386, 3 is read; on x86_64, 3 is close, which the profile does not allow.
    assert_eq!(eval(f.program(), AUDIT_ARCH_X86_64, 3, z), ERRNO | 1);
    let x32 = |name: &str| Abi::X32.number(name).expect(name);
    assert_eq!(eval(f.program(), AUDIT_ARCH_X86_64, x32("write"), z), ALLOW);
    assert_eq!(
        eval(f.program(), AUDIT_ARCH_X86_64, x32("mount"), z),
        ERRNO | 1
    );
    assert_eq!(
        eval(f.program(), AUDIT_ARCH_X86_64, x32("faccessat2"), z),
        ERRNO | 38
    );
    // An arch the profile does not list gets the (denying) default.
    assert_eq!(eval(f.program(), 40 | 0x4000_0000, 3, z), ERRNO | 1);
}

/// A default-deny profile written before faccessat2, clone3 and close_range: those
/// answer ENOSYS (glibc falls back), while an old call it leaves out stays EPERM.
#[test]
fn an_old_profile_answers_newer_calls_with_enosys() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read", "write", "execve", "statx", "io_uring_setup"],
                      "action": "SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    let z = [0u64; 6];
    assert_eq!(run(&f, "io_uring_setup", z), ALLOW);
    for newer in ["faccessat2", "clone3", "close_range", "openat2"] {
        assert_eq!(run(&f, newer, z), ERRNO | 38, "{newer}");
    }
    assert_eq!(run(&f, "mount", z), ERRNO | 1);
    assert_eq!(run(&f, "copy_file_range", z), ERRNO | 1);
    // A profile that names nothing has no "newer": the default for everything.
    let f = compile(&profile(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#)).unwrap();
    assert_eq!(run(&f, "faccessat2", z), ERRNO | 1);
}

/// runc-style blocklist: default ALLOW, a few calls denied with several actions.
#[test]
fn blocklist_profile_with_every_action() {
    let f = compile(&profile(
        r#"{
      "defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [
        {"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["reboot"], "action": "SCMP_ACT_KILL"},
        {"names": ["swapon"], "action": "SCMP_ACT_KILL_THREAD"},
        {"names": ["acct"], "action": "SCMP_ACT_TRAP"},
        {"names": ["vhangup"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["syslog"], "action": "SCMP_ACT_LOG"},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
      ]
    }"#,
    ))
    .unwrap();
    let z = [0u64; 6];
    assert_eq!(run(&f, "kexec_load", z), ERRNO | libc::EPERM as u32);
    assert_eq!(run(&f, "ptrace", z), KILL_PROCESS);
    assert_eq!(run(&f, "reboot", z), KILL_THREAD);
    assert_eq!(run(&f, "swapon", z), KILL_THREAD);
    assert_eq!(run(&f, "acct", z), TRAP);
    assert_eq!(run(&f, "vhangup", z), TRACE | 7);
    assert_eq!(run(&f, "syslog", z), LOG);
    assert_eq!(run(&f, "getpid", z), ALLOW);
    assert_eq!(run(&f, "read", z), ALLOW);
    assert_eq!(eval(f.program(), AUDIT_ARCH_X86_64, 470, z), ALLOW);
    // A blocklist cannot be bypassed through the i386 or x32 ABI.
    assert_eq!(eval(f.program(), AUDIT_ARCH_I386, 26, z), ERRNO | 38);
    assert_eq!(
        eval(
            f.program(),
            AUDIT_ARCH_X86_64,
            0x4000_0000 | nr("ptrace"),
            z
        ),
        ERRNO | 38
    );
}

#[test]
fn every_comparison_operator() {
    let ops = [
        (
            "SCMP_CMP_NE",
            5u64,
            None,
            vec![(4u64, true), (5, false), ((1 << 32) | 5, true)],
        ),
        (
            "SCMP_CMP_LT",
            5,
            None,
            vec![(4, true), (5, false), ((1 << 32) | 4, false)],
        ),
        (
            "SCMP_CMP_LE",
            5,
            None,
            vec![(5, true), (6, false), (0, true)],
        ),
        (
            "SCMP_CMP_EQ",
            1 << 40,
            None,
            vec![(1 << 40, true), (0, false)],
        ),
        (
            "SCMP_CMP_GE",
            5,
            None,
            vec![(5, true), (4, false), (1 << 33, true)],
        ),
        (
            "SCMP_CMP_GT",
            5,
            None,
            vec![(6, true), (5, false), (u64::MAX, true)],
        ),
        (
            "SCMP_CMP_MASKED_EQ",
            0xf0,
            Some(0x30),
            vec![(0x3f, true), (0x13f, true), (0x4f, false)],
        ),
    ];
    for (op, value, two, cases) in ops {
        let two = two
            .map(|v| format!(r#", "valueTwo": {v}"#))
            .unwrap_or_default();
        let f = compile(&profile(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{{"names": ["write"],
            "action": "SCMP_ACT_ERRNO", "args": [{{"index": 2, "value": {value}{two}, "op": "{op}"}}]}}]}}"#
        )))
        .unwrap();
        for (arg, hit) in cases {
            let got = run(&f, "write", [0, 0, arg, 0, 0, 0]);
            let want = if hit { ERRNO | 1 } else { ALLOW };
            assert_eq!(got, want, "{op} {value} against {arg:#x}");
        }
    }
}

#[test]
fn rules_for_one_syscall_are_ored_in_order_args_are_anded() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 2, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
         "args": [{"index": 3, "value": 9, "op": "SCMP_CMP_EQ"}]},
        {"names": ["openat", "getpid"], "action": "SCMP_ACT_ALLOW"}
    ]}"#,
    ))
    .unwrap();
    assert_eq!(run(&f, "openat", [1, 0, 2, 0, 0, 0]), ERRNO | 13);
    assert_eq!(run(&f, "openat", [1, 0, 3, 0, 0, 0]), ALLOW);
    assert_eq!(run(&f, "openat", [0, 0, 2, 9, 0, 0]), ERRNO | 2);
    assert_eq!(run(&f, "openat", [1, 0, 2, 9, 0, 0]), ERRNO | 13);
    // The ALLOW entry equals the default action and is dropped, as runc does.
    assert_eq!(run(&f, "getpid", [0; 6]), ALLOW);

    // An unconditional entry first makes later ones for that syscall unreachable.
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3},
        {"names": ["getpid"], "action": "SCMP_ACT_KILL",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]}
    ]}"#,
    ))
    .unwrap();
    assert_eq!(run(&f, "getpid", [0; 6]), ERRNO | 3);
}

#[test]
fn flags_and_empty_profile() {
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    ))
    .unwrap();
    assert_eq!(f.flags(), 1 | 2 | 4);
    assert_eq!(run(&f, "mount", [0; 6]), ALLOW);
    let f = compile(&profile(r#"{"defaultAction": "SCMP_ACT_KILL_PROCESS"}"#)).unwrap();
    assert_eq!(run(&f, "read", [0; 6]), KILL_PROCESS);
    assert_eq!(f.flags(), 0);
}

#[test]
fn a_profile_with_every_syscall_fits() {
    let names: Vec<String> = (0..1024)
        .filter_map(syscall_numbers::x86_64::sys_call_name)
        .map(|n| format!("\"{n}\""))
        .collect();
    assert!(names.len() > 370, "{}", names.len());
    let f = compile(&profile(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {{"names": [{}], "action": "SCMP_ACT_ALLOW"}},
        {{"names": [{}], "action": "SCMP_ACT_LOG",
          "args": [{{"index": 1, "value": 3, "op": "SCMP_CMP_GT"}}]}}]}}"#,
        names.join(","),
        names.join(",")
    )))
    .unwrap();
    assert!(f.program().len() < 4096, "{}", f.program().len());
    assert_eq!(run(&f, "mseal", [0; 6]), ALLOW);
}

/// NOTIFY: the action is the kernel's USER_NOTIF, loading asks for a listener
/// (with TSYNC, in the form the kernel accepts), and without `listenerPath` there is
/// no agent to hand it to.
#[test]
fn notify_asks_for_a_listener() {
    let spec = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"], "syscalls": [
        {"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    );
    let f = compile(&spec).unwrap();
    assert!(f.notifies());
    assert_eq!(run(&f, "write", [0; 6]), libc::SECCOMP_RET_USER_NOTIF);
    assert_eq!(run(&f, "read", [0; 6]), ALLOW);
    assert_eq!(f.flags(), 1 | 8 | 16 | 32);
    let e = Listener::connect(&spec, serde_json::json!({})).unwrap_err();
    assert!(e.to_string().contains("linux.seccomp.listenerPath"), "{e}");
    let mut spec = spec;
    spec.set_listener_path(Some("/nonexistent/agent.sock".into()));
    let e = Listener::connect(&spec, serde_json::json!({})).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/agent.sock"), "{e}");
    // Without a notifying action nothing is connected and no listener is asked for.
    let plain = profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    assert!(Listener::connect(&plain, serde_json::json!({}))
        .unwrap()
        .is_none());
    assert_eq!(compile(&plain).unwrap().flags(), 0);
}

#[test]
fn error_texts_name_the_field() {
    let e = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "seccomp: linux.seccomp.syscalls[0].args[0].index is 6, but a syscall has only arguments 0-5"
    );
    let e = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}"#,
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "seccomp: linux.seccomp.defaultErrnoRet is 70000, but the kernel keeps only 16 bits (0-65535)"
    );
}

/// The kernel's view: a real filter in a forked child (root holds CAP_SYS_ADMIN, so
/// no no_new_privs is needed), `Seccomp: 2` in its status, and mkdir with mode 0700
/// refused with EPERM while mode 0755 still works (an argument filter at work), with
/// all three flags the kernel accepts from a profile.
#[test]
fn root_installed_filter_is_enforced_by_the_kernel() {
    if !requirements::met(&[Requirement::Root]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let f = compile(&profile(
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap();
    let denied = std::ffi::CString::new(
        dir.path()
            .join("denied")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let allowed = std::ffi::CString::new(
        dir.path()
            .join("allowed")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let mut child = forked::spawn(|ch| {
        if let Err(e) = install(&f) {
            return ch.fail(&e.to_string());
        }
        ch.ready();
        ch.wait_go();
        // SAFETY: plain syscalls with valid C strings.
        let rc = unsafe { libc::syscall(libc::SYS_mkdir, allowed.as_ptr(), 0o755) };
        if rc != 0 {
            return 100;
        }
        // SAFETY: as above.
        let rc = unsafe { libc::syscall(libc::SYS_mkdir, denied.as_ptr(), 0o700) };
        if rc == 0 {
            return 0;
        }
        std::io::Error::last_os_error().raw_os_error().unwrap_or(99)
    });
    child.report(false).expect("install in child");
    assert_eq!(child.status_field("Seccomp"), "2");
    assert_eq!(child.status_field("NoNewPrivs"), "0");
    let pid = child.pid;
    assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, libc::EPERM));
    assert!(dir.path().join("allowed").is_dir());
    assert!(!dir.path().join("denied").exists());
}

/// Without CAP_SYS_ADMIN and without no_new_privs the kernel refuses the filter.
#[test]
fn root_install_without_privilege_is_a_clear_error() {
    let f = compile(&profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#)).unwrap();
    let mut child = forked::spawn(|ch| {
        if caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        )
        .is_err()
        {
            return ch.fail("drop CAP_SYS_ADMIN");
        }
        match install(&f) {
            Err(SeccompError::NeedsPrivilege) => {}
            other => return ch.fail(&format!("{other:?}")),
        }
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        if let Err(e) = install(&f) {
            return ch.fail(&e.to_string());
        }
        ch.ready();
        ch.wait_go();
        0
    });
    child.report(false).expect("child");
    assert_eq!(child.status_field("Seccomp"), "2");
    assert_eq!(child.status_field("NoNewPrivs"), "1");
}

/// An allowlist as large as docker's (every syscall but mkdir/mkdirat) loaded in the
/// kernel, then a real program exec'd under it: busybox's shell works, mkdir is EPERM.
#[test]
fn root_large_allowlist_under_a_real_program() {
    if !requirements::met(&[Requirement::Root, Requirement::Busybox]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let names: Vec<String> = (0..1024)
        .filter_map(syscall_numbers::x86_64::sys_call_name)
        .filter(|n| *n != "mkdir" && *n != "mkdirat")
        .map(|n| format!("\"{n}\""))
        .collect();
    let f = compile(&profile(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{{"names": [{}], "action": "SCMP_ACT_ALLOW"}}]}}"#,
        names.join(",")
    )))
    .unwrap();
    let script = format!(
        "echo ok > {d}/written; mkdir {d}/made || exit 7",
        d = dir.path().display()
    );
    let script = std::ffi::CString::new(script).unwrap();
    let mut child = forked::spawn(|ch| {
        if let Err(e) = install(&f) {
            return ch.fail(&e.to_string());
        }
        let err = nix::unistd::execv(c"/usr/bin/busybox", &[c"sh", c"-c", script.as_c_str()]);
        ch.fail(&format!("exec: {err:?}"))
    });
    child.report(true).expect("install + exec");
    let pid = child.pid;
    assert_eq!(child.wait(), WaitStatus::Exited(pid, 7));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("written")).unwrap(),
        "ok\n"
    );
    assert!(!dir.path().join("made").exists());
}
