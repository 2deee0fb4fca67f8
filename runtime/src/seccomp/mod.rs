//! Seccomp filters from `linux.seccomp`: owns turning the spec's profile into one
//! classic-BPF program and loading it into the kernel.
//!
//! Who calls what (the init sequence lives in `process/`):
//! - [`compile`] runs in the runtime *before* clone, so a bad profile fails `create`
//!   early, names the field, and leaves nothing behind. The [`Filter`] is plain memory
//!   and travels into the child with the clone.
//! - [`install`] runs in the container's init. The kernel accepts a filter only from a
//!   task that has `no_new_privs` set or holds `CAP_SYS_ADMIN`; [`install`] does not set
//!   `no_new_privs` itself (that is `process.noNewPrivileges`' decision). So, like runc:
//!   * `noNewPrivileges: true`: set `PR_SET_NO_NEW_PRIVS`, then call [`install`] as the
//!     very last step before `execve` (after `user::apply` and `capabilities::apply`).
//!   * otherwise: call [`install`] *before* `capabilities::apply` drops `CAP_SYS_ADMIN`.
//!     The filter then also applies to the init's remaining calls (setgroups, setuid,
//!     capset, prctl, execve…), so a profile must allow those, as with runc.
//!
//! A refused load is [`SeccompError::NeedsPrivilege`].
//!
//! Compilation uses seccompiler's rule/condition backend (`SeccompRule`,
//! `SeccompCondition`) for the argument comparisons, but lays the program out itself:
//! seccompiler's `SeccompFilter` has one match action for all rules, while an OCI
//! profile gives every syscall entry its own action and errno. Layout:
//!
//! ```text
//! arch == AUDIT_ARCH_X86_64 -> x86_64 part;  arch == AUDIT_ARCH_I386 -> i386 part
//! any other arch -> RET other-ABI action (see below)
//! x86_64 part: nr has the x32 bit ? (x32 part | RET other-ABI action) : rules
//! rules of an ABI: nr > newest the profile names ? RET ENOSYS (denying default only)
//!   for each syscall number (ascending):
//!     nr == N ? [rule 1 conditions -> RET action 1] [rule 2 ...] RET default : next N
//!   RET default
//! ```
//!
//! Semantics, matching runc + libseccomp where the profile shapes docker, podman and
//! containerd produce are concerned:
//! - Names the covered ABIs lack (`arm_fadvise64_64`, typos) are skipped, as runc does.
//! - Entries whose action (and errno) equal the default are dropped (libseccomp rejects
//!   them; runc skips them).
//! - Entries for one syscall are ORed in spec order; the first matching entry wins.
//!   Conditions within an entry are ANDed, except that several conditions on the *same*
//!   argument index are split into one rule each (ORed), as runc does for e.g. the
//!   `personality` values of docker's profile. All comparisons are 64-bit.
//! - `SCMP_CMP_MASKED_EQ`: `value` is the mask, `valueTwo` the expected masked value.
//! - `architectures`: x86_64 always (libseccomp adds the native arch too), and
//!   `SCMP_ARCH_X86` / `SCMP_ARCH_X32` when listed, each filtered by its own numbers
//!   (`_llseek` resolves on i386 only; x32 has its own `rt_sigaction`). Other arches'
//!   names are resolved only to tell a foreign name from a typo ([`Filter::foreign`],
//!   [`Filter::unknown`]). A call through an ABI the profile does not list gets the
//!   default action when that denies, `ENOSYS` when it allows (a blocklist must not be
//!   bypassable through another ABI; libseccomp would kill the thread).
//! - A denying default answers, per ABI, the numbers above the highest the profile
//!   names (whatever that entry's action) with `ENOSYS`, as runc does: a profile
//!   written before `faccessat2` or `clone3` existed makes libc fall back to the older
//!   call instead of failing on EPERM.
//! - Actions: `SCMP_ACT_KILL` (= kill thread, as in libseccomp), `KILL_THREAD`,
//!   `KILL_PROCESS`, `TRAP`, `ERRNO` (errnoRet, default `EPERM`), `TRACE` (errnoRet,
//!   default 1), `LOG`, `ALLOW`, `NOTIFY` (the listener fd goes to the agent at
//!   `listenerPath`: `notify.rs`; without one, [`SeccompError::NoListenerPath`]).
//! - Flags: `SECCOMP_FILTER_FLAG_TSYNC`, `_LOG` and `_SPEC_ALLOW` are passed to
//!   seccomp(2) (seccompiler's `apply_filter` takes no flags and always sets
//!   `no_new_privs`, which is why [`install`] makes the call itself).
//!   `_WAIT_KILLABLE_RECV` only means something with a notify listener and is
//!   dropped without one; `_NEW_LISTENER` is set when an action notifies.
mod arch;
mod notify;

pub use notify::{Handoff, Listener};

use std::collections::BTreeMap;
use std::os::fd::{FromRawFd, OwnedFd};

use arch::{Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompRule,
};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp: SCMP_ACT_NOTIFY needs a seccomp agent: set linux.seccomp.listenerPath to its UNIX socket")]
    NoListenerPath,
    #[error("seccomp: linux.seccomp.listenerPath {path}: {source}")]
    Listener {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("seccomp: {field} is {index}, but a syscall has only arguments 0-5")]
    ArgIndex { field: String, index: usize },
    #[error("seccomp: {field} is {value}, but the kernel keeps only 16 bits (0-65535)")]
    ErrnoRange { field: String, value: u32 },
    #[error("seccomp: {field}: {reason}")]
    Rule { field: String, reason: String },
    #[error("seccomp: the compiled filter has {len} instructions, the kernel allows 4096")]
    TooLarge { len: usize },
    #[error("seccomp: filters are compiled for x86_64 only, this runtime runs on {arch}")]
    UnsupportedHostArch { arch: &'static str },
    #[error("seccomp: loading the filter needs no_new_privs or CAP_SYS_ADMIN (set process.noNewPrivileges, or install before dropping capabilities)")]
    NeedsPrivilege,
    #[error("seccomp: loading the filter (flags {flags:#x}) failed: {source}")]
    Install {
        flags: u32,
        #[source]
        source: std::io::Error,
    },
}

const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const SECCOMP_FILTER_FLAG_LOG: u32 = 2;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 4;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 8;
const SECCOMP_FILTER_FLAG_TSYNC_ESRCH: u32 = 16;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// `struct seccomp_data`: `nr` at 0, `arch` at 4.
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// BPF_MAXINSNS in the kernel.
const MAX_INSNS: usize = 4096;

/// BPF_LD | BPF_W | BPF_ABS (both 0) | 0x20.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;

// The program is handed to the kernel as `libc::sock_filter`; seccompiler's type is the
// same `repr(C)` layout, which these asserts pin down.
const _: () =
    assert!(std::mem::size_of::<sock_filter>() == std::mem::size_of::<libc::sock_filter>());
const _: () =
    assert!(std::mem::align_of::<sock_filter>() == std::mem::align_of::<libc::sock_filter>());

/// A filter ready to install: the BPF program and the seccomp(2) flags.
#[derive(Debug, Clone)]
pub struct Filter {
    program: BpfProgram,
    flags: u32,
    foreign: Vec<String>,
    unknown: Vec<String>,
    notifies: bool,
}

impl Filter {
    /// The BPF instructions, for inspection and tests.
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }

    /// `SECCOMP_FILTER_FLAG_*` bits passed to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Names of the profile that only other architectures have (`_llseek` is i386's,
    /// `cacheflush` ARM's) when the filter does not cover them: skipped, as libseccomp
    /// does, worth a debug line at most.
    pub fn foreign(&self) -> &[String] {
        &self.foreign
    }

    /// Some action is `SCMP_ACT_NOTIFY`: loading makes a listener fd for the agent.
    pub fn notifies(&self) -> bool {
        self.notifies
    }

    /// Names no Linux architecture knows (typos, calls newer than this build):
    /// skipped, worth a warning.
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }
}

/// The x86_64 number of a syscall name, as libseccomp resolves it.
pub fn syscall_number(name: &str) -> Option<i64> {
    Abi::X86_64.number(name).map(i64::from)
}

/// One ABI's part of the program: per syscall number, the rules in spec order
/// (conditions ANDed, or `None` for the number alone) with their action.
#[derive(Debug)]
struct Section {
    abi: Abi,
    chains: BTreeMap<u32, Vec<(Option<SeccompRule>, u32)>>,
    /// The highest number the profile names for this ABI, whatever its action.
    last: Option<u32>,
}

/// Compile `linux.seccomp` into a BPF program for an x86_64 kernel: its native ABI and
/// the i386 and x32 ABIs the profile's `architectures` list.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(SeccompError::UnsupportedHostArch {
            arch: std::env::consts::ARCH,
        });
    }
    let default = action_value(
        spec.default_action(),
        spec.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    let mut flags = spec
        .flags()
        .iter()
        .flatten()
        .fold(0, |acc, flag| acc | flag_bits(*flag));
    let notifies = notify::notifies(spec);
    if notifies {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // TSYNC's answer (a thread id) and the listener fd share the return value;
        // the kernel takes both only with TSYNC_ESRCH.
        if flags & SECCOMP_FILTER_FLAG_TSYNC != 0 {
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
        }
    } else {
        flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }

    // The native ABI always, as libseccomp adds it; then the profile's, in a fixed order.
    let mut abis = vec![Abi::X86_64];
    abis.extend(
        spec.architectures()
            .iter()
            .flatten()
            .filter_map(|a| Abi::of(*a)),
    );
    abis.sort_unstable();
    abis.dedup();
    let mut sections: Vec<Section> = abis
        .iter()
        .map(|&abi| Section {
            abi,
            chains: BTreeMap::new(),
            last: None,
        })
        .collect();

    let (mut foreign, mut unknown) = (Vec::new(), Vec::new());
    for (i, entry) in spec.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let action = action_value(
            entry.action(),
            entry.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        let rules = entry_rules(entry.args().as_deref().unwrap_or(&[]), &field)?;
        for name in entry.names() {
            let mut resolved = false;
            for section in &mut sections {
                let Some(nr) = section.abi.number(name) else {
                    continue;
                };
                resolved = true;
                section.last = section.last.max(Some(nr));
                // An entry that repeats the default changes nothing (libseccomp
                // rejects it; runc skips it), but still counts for `last`.
                if action == default {
                    continue;
                }
                let chain = section.chains.entry(nr).or_default();
                for rule in &rules {
                    chain.push((rule.clone(), action));
                }
            }
            if !resolved {
                let list = if arch::known_elsewhere(name) {
                    &mut foreign
                } else {
                    &mut unknown
                };
                if !list.contains(name) {
                    list.push(name.clone());
                }
            }
        }
    }

    let enosys = u32::from(SeccompAction::Errno(libc::ENOSYS as u32));
    let allows = default == u32::from(SeccompAction::Allow)
        || default == u32::from(SeccompAction::Log)
        || default & 0xffff_0000 == u32::from(SeccompAction::Trace(0));
    let other_abi = if allows { enosys } else { default };
    // Like runc: a denying profile answers the calls newer than any it names (per ABI)
    // with ENOSYS, not its default errno, so libc falls back to the older call
    // (clone3 -> clone, faccessat2 -> faccessat) instead of failing.
    let newer = (!allows).then_some(enosys);
    let program = layout(&sections, default, other_abi, newer);
    if program.len() > MAX_INSNS {
        return Err(SeccompError::TooLarge { len: program.len() });
    }
    Ok(Filter {
        program,
        flags,
        foreign,
        unknown,
        notifies,
    })
}

/// Load `filter` into the calling thread and, when it notifies, pass its listener fd
/// to the agent (`handoff`, rendered before the load).
pub fn load(filter: &Filter, handoff: Option<&Handoff>) -> Result<(), SeccompError> {
    match (install(filter)?, handoff) {
        (Some(fd), Some(h)) => h.send(fd),
        (Some(_), None) => Err(SeccompError::NoListenerPath),
        (None, _) => Ok(()),
    }
}

/// Load `filter` into the calling thread (the container's init, right before exec).
/// Needs `no_new_privs` or `CAP_SYS_ADMIN`; see the module doc for the order. Returns
/// the listener fd when the filter notifies.
pub fn install(filter: &Filter) -> Result<Option<OwnedFd>, SeccompError> {
    let len = u16::try_from(filter.program.len()).map_err(|_| SeccompError::TooLarge {
        len: filter.program.len(),
    })?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` initialized instructions whose layout matches
    // `libc::sock_filter` (asserted above); the kernel copies them before returning.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::c_ulong::from(filter.flags),
            &prog as *const libc::sock_fprog,
        )
    };
    if rc == 0 {
        return Ok(None);
    }
    if rc > 0 && filter.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER a positive return is a new fd that we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
    }
    let source = std::io::Error::last_os_error();
    if rc < 0 && source.raw_os_error() == Some(libc::EACCES) {
        return Err(SeccompError::NeedsPrivilege);
    }
    if rc > 0 {
        // TSYNC failure: rc is the id of the thread that could not be synchronized.
        return Err(SeccompError::Install {
            flags: filter.flags,
            source: std::io::Error::other(format!("thread {rc} could not be synchronized")),
        });
    }
    Err(SeccompError::Install {
        flags: filter.flags,
        source,
    })
}

fn flag_bits(flag: LinuxSeccompFilterFlag) -> u32 {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => SECCOMP_FILTER_FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        // Kept only with a notify listener (see `compile`): the kernel refuses it alone.
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        }
    }
}

/// The `SECCOMP_RET_*` value of an action and its optional errno.
fn action_value(
    action: LinuxSeccompAction,
    errno: Option<u32>,
    errno_field: &str,
) -> Result<u32, SeccompError> {
    let data = |default: u32| match errno {
        Some(v) if v > 0xffff => Err(SeccompError::ErrnoRange {
            field: errno_field.to_string(),
            value: v,
        }),
        Some(v) => Ok(v),
        None => Ok(default),
    };
    let action = match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(data(libc::EPERM as u32)?),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(data(1)?),
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActNotify => return Ok(libc::SECCOMP_RET_USER_NOTIF),
    };
    Ok(u32::from(action))
}

/// The rules of one syscall entry: `[None]` when it has no args (match on the number
/// alone), one ANDed rule, or — when an argument index repeats — one rule per
/// condition, ORed (runc's reading of such entries).
fn entry_rules(
    args: &[LinuxSeccompArg],
    field: &str,
) -> Result<Vec<Option<SeccompRule>>, SeccompError> {
    if args.is_empty() {
        return Ok(vec![None]);
    }
    let mut conditions = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        conditions.push(condition(arg, &format!("{field}.args[{j}]"))?);
    }
    let repeats = args
        .iter()
        .enumerate()
        .any(|(j, a)| args[..j].iter().any(|b| b.index() == a.index()));
    let to_rule = |conds: Vec<SeccompCondition>| {
        SeccompRule::new(conds)
            .map(Some)
            .map_err(|e| SeccompError::Rule {
                field: format!("{field}.args"),
                reason: e.to_string(),
            })
    };
    if repeats {
        conditions.into_iter().map(|c| to_rule(vec![c])).collect()
    } else {
        Ok(vec![to_rule(conditions)?])
    }
}

fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<SeccompCondition, SeccompError> {
    let index = u8::try_from(arg.index())
        .ok()
        .filter(|i| *i <= 5)
        .ok_or_else(|| SeccompError::ArgIndex {
            field: format!("{field}.index"),
            index: arg.index(),
        })?;
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            SeccompCmpOp::MaskedEq(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|e| {
        SeccompError::Rule {
            field: field.to_string(),
            reason: e.to_string(),
        }
    })
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn layout(sections: &[Section], default: u32, other_abi: u32, newer: Option<u32>) -> BpfProgram {
    let body = |s: &Section| section_body(s, default, newer);
    let x86_64 = sections.iter().find(|s| s.abi == Abi::X86_64);
    let x32 = sections.iter().find(|s| s.abi == Abi::X32);
    let i386 = sections.iter().find(|s| s.abi == Abi::I386);

    // The x86_64 part: load nr, send x32 numbers to their part (or away), then rules.
    let mut native = vec![stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR)];
    let native_rules = x86_64
        .map(body)
        .unwrap_or_else(|| vec![stmt(BPF_RET_K, default)]);
    let x32_part = x32.map(body);
    native.push(jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1));
    match &x32_part {
        // The x32 part follows the native rules; the accumulator still holds nr.
        Some(_) => native.push(stmt(BPF_JMP_JA, native_rules.len() as u32)),
        None => native.push(stmt(BPF_RET_K, other_abi)),
    }
    native.extend(native_rules);
    native.extend(x32_part.unwrap_or_default());
    let i386_part = i386.map(|s| {
        let mut p = vec![stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR)];
        p.extend(body(s));
        p
    });

    // Dispatch on seccomp_data.arch: two instructions per covered arch, then the RET
    // for any other; parts follow in the order they are dispatched.
    let parts: Vec<(u32, BpfProgram)> = [
        (AUDIT_ARCH_X86_64, Some(native)),
        (AUDIT_ARCH_I386, i386_part),
    ]
    .into_iter()
    .filter_map(|(token, part)| Some((token, part?)))
    .collect();
    let mut prog = vec![stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH)];
    let header = 1 + 2 * parts.len() + 1;
    let mut start = header;
    for (token, part) in &parts {
        prog.push(jump(BPF_JMP_JEQ_K, *token, 0, 1));
        let next = prog.len() + 1;
        prog.push(stmt(BPF_JMP_JA, (start - next) as u32));
        start += part.len();
    }
    prog.push(stmt(BPF_RET_K, other_abi));
    for (_, part) in parts {
        prog.extend(part);
    }
    prog
}

/// One ABI's rules, with the syscall number in the accumulator; ends in a RET.
fn section_body(section: &Section, default: u32, newer: Option<u32>) -> BpfProgram {
    let mut prog = Vec::new();
    if let (Some(action), Some(last)) = (newer, section.last) {
        prog.push(jump(BPF_JMP_JGT_K, last, 0, 1));
        prog.push(stmt(BPF_RET_K, action));
    }
    for (&nr, chain) in &section.chains {
        if let Some((None, action)) = chain.first() {
            prog.push(jump(BPF_JMP_JEQ_K, nr, 0, 1));
            prog.push(stmt(BPF_RET_K, *action));
            continue;
        }
        // Each rule's conditions fall through on a match to the RET of its action
        // and jump, on a mismatch, to the instruction right after that RET: the next
        // rule, or the RET default closing the chain. The accumulator is clobbered
        // inside a chain, but every path into a chain ends in a RET.
        let mut body: BpfProgram = Vec::new();
        let mut unconditional = false;
        for (rule, action) in chain {
            match rule {
                Some(rule) => body.extend(BpfProgram::from(rule.clone())),
                // Matches whatever the arguments: later rules are unreachable.
                None => unconditional = true,
            }
            body.push(stmt(BPF_RET_K, *action));
            if unconditional {
                break;
            }
        }
        if !unconditional {
            body.push(stmt(BPF_RET_K, default));
        }
        prog.push(jump(BPF_JMP_JEQ_K, nr, 1, 0));
        prog.push(stmt(BPF_JMP_JA, body.len() as u32));
        prog.extend(body);
    }
    prog.push(stmt(BPF_RET_K, default));
    prog
}

#[cfg(test)]
mod tests;
