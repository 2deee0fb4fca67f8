//! berthd's built-in profile, with the semantics of docker's default: deny
//! by default with EPERM; allow every system call of the kernel's table
//! (`syscalls_x86_64.txt`) except those that reach what namespaces do not
//! isolate (keyrings, kernel modules, the clock, swap, accounting, reboot,
//! new mounts and namespaces, …); allow some of those when the capability
//! that guards them is in the container's set (so `--cap-add SYS_ADMIN`
//! brings back `mount`); and allow `clone`, `personality` and `socket` only
//! with harmless arguments. `clone3` answers ENOSYS without CAP_SYS_ADMIN, so
//! C libraries fall back to `clone`, whose flags can be checked.

use super::{Arg, Filter, Profile, Rule};

const TABLE: &str = include_str!("syscalls_x86_64.txt");

/// Never allowed: nothing namespaces them and no capability makes them safe.
const DENIED: &[&str] = &[
    "add_key",
    "keyctl",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "afs_syscall",
    "tuxcall",
    "security",
    "putpmsg",
    "getpmsg",
    "vserver",
    "epoll_ctl_old",
    "epoll_wait_old",
];

/// Allowed only when the container holds the capability.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "name_to_handle_at",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setns",
            "swapon",
            "swapoff",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
    (
        "CAP_SYS_MODULE",
        &["init_module", "finit_module", "delete_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "clock_settime", "clock_adjtime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
            "move_pages",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
];

/// Allowed with some arguments only (rules below); not in the plain list.
const BY_ARGUMENT: &[&str] = &["clone", "clone3", "personality", "socket"];

/// The namespace flags of clone(2): without CAP_SYS_ADMIN none may be set.
const CLONE_NEW_FLAGS: u64 = 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

/// Execution domains a process may switch to: Linux, with UNAME26, with
/// ADDR_NO_RANDOMIZE, both, and the query value.
const PERSONALITIES: &[u64] = &[0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff];

const AF_VSOCK: u64 = 40;
const ENOSYS: u32 = 38;

fn allow(names: Vec<String>) -> Rule {
    Rule {
        names,
        action: "SCMP_ACT_ALLOW".into(),
        ..Default::default()
    }
}

fn arg(index: u32, value: u64, value_two: u64, op: &str) -> Arg {
    Arg {
        index,
        value,
        value_two,
        op: op.into(),
    }
}

fn caps(c: &[&str]) -> Filter {
    Filter {
        caps: c.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The built-in default profile.
pub fn builtin() -> Profile {
    let guarded: Vec<&str> = BY_CAPABILITY
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .collect();
    let plain: Vec<String> = TABLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|n| !DENIED.contains(n) && !guarded.contains(n) && !BY_ARGUMENT.contains(n))
        .map(str::to_string)
        .collect();
    let mut syscalls = vec![allow(plain)];
    for (cap, names) in BY_CAPABILITY {
        syscalls.push(Rule {
            includes: caps(&[cap]),
            ..allow(names.iter().map(|s| s.to_string()).collect())
        });
    }
    syscalls.push(Rule {
        excludes: caps(&["CAP_SYS_ADMIN"]),
        args: vec![arg(0, CLONE_NEW_FLAGS, 0, "SCMP_CMP_MASKED_EQ")],
        comment: Some("clone without namespace flags".into()),
        ..allow(vec!["clone".into()])
    });
    syscalls.push(Rule {
        includes: caps(&["CAP_SYS_ADMIN"]),
        ..allow(vec!["clone".into(), "clone3".into()])
    });
    syscalls.push(Rule {
        names: vec!["clone3".into()],
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(ENOSYS),
        excludes: caps(&["CAP_SYS_ADMIN"]),
        comment: Some("ENOSYS, so C libraries fall back to clone".into()),
        ..Default::default()
    });
    for p in PERSONALITIES {
        syscalls.push(Rule {
            args: vec![arg(0, *p, 0, "SCMP_CMP_EQ")],
            ..allow(vec!["personality".into()])
        });
    }
    syscalls.push(Rule {
        args: vec![arg(0, AF_VSOCK, 0, "SCMP_CMP_NE")],
        comment: Some("every socket family but vsock".into()),
        ..allow(vec!["socket".into()])
    });
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        architectures: vec![super::native_arch().to_string()],
        syscalls,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn allowed(caps: &[&'static str], name: &str) -> bool {
        let set: BTreeSet<&'static str> = caps.iter().copied().collect();
        let s = builtin().for_container(&set).unwrap();
        s.syscalls().iter().flatten().any(|r| {
            r.names().iter().any(|n| n == name)
                && r.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActAllow
        })
    }

    #[test]
    fn the_default_profile_denies_what_docker_s_denies() {
        let d = crate::security::capabilities::DEFAULT;
        for name in [
            "read",
            "openat",
            "faccessat2",
            "close_range",
            "execve",
            "chroot",
            "ptrace",
        ] {
            assert!(allowed(d, name), "{name} is allowed");
        }
        for name in [
            "mount",
            "unshare",
            "setns",
            "keyctl",
            "reboot",
            "init_module",
            "bpf",
            "io_uring_setup",
        ] {
            assert!(!allowed(d, name), "{name} is denied");
        }
        assert!(allowed(&["CAP_SYS_ADMIN"], "mount"));
        assert!(allowed(&["CAP_SYS_ADMIN"], "clone3"));
        assert!(!allowed(&["CAP_SYS_ADMIN"], "keyctl"));
        // Every guarded or argument-checked name is one the table knows.
        for n in BY_CAPABILITY
            .iter()
            .flat_map(|(_, n)| n.iter())
            .chain(BY_ARGUMENT)
        {
            assert!(TABLE.lines().any(|l| l == *n), "{n}");
        }
    }
}
