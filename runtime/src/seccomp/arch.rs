//! The ABIs an x86_64 kernel runs, each with its own syscall numbers, and the names
//! that exist only on architectures such a kernel never runs.
//!
//! Numbers come from the `syscall-numbers` crate (the kernel's tables); it maps numbers
//! to names, so each ABI's reverse map is built once, on first use.
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use oci_spec::runtime::Arch;

/// `AUDIT_ARCH_X86_64`: EM_X86_64 | 64-bit | little-endian. x32 shares it and marks
/// its numbers with [`X32_SYSCALL_BIT`].
pub(super) const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `AUDIT_ARCH_I386`: EM_386 | little-endian.
pub(super) const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Tables are dense from their base; no ABI has a number this far past it.
const SPAN: i64 = 2048;

/// One ABI a filter on this kernel can meet: `seccomp_data.arch` plus, for x32, the
/// number's high bit tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Abi {
    X86_64,
    X32,
    I386,
}

impl Abi {
    /// The ABI a profile's `architectures` entry names, or `None` for one an x86_64
    /// kernel does not run (`SCMP_ARCH_AARCH64`…): its names only need resolving.
    pub(super) fn of(arch: Arch) -> Option<Abi> {
        match arch {
            Arch::ScmpArchX86_64 | Arch::ScmpArchNative => Some(Abi::X86_64),
            Arch::ScmpArchX86 => Some(Abi::I386),
            Arch::ScmpArchX32 => Some(Abi::X32),
            _ => None,
        }
    }

    /// This ABI's number for `name` (x32's carry [`X32_SYSCALL_BIT`]).
    pub(super) fn number(self, name: &str) -> Option<u32> {
        static TABLES: OnceLock<[HashMap<&'static str, u32>; 3]> = OnceLock::new();
        let tables = TABLES.get_or_init(|| {
            [
                reverse(0, syscall_numbers::x86_64::sys_call_name),
                reverse(
                    i64::from(X32_SYSCALL_BIT),
                    syscall_numbers::x32::sys_call_name,
                ),
                reverse(0, syscall_numbers::x86::sys_call_name),
            ]
        });
        let table = match self {
            Abi::X86_64 => &tables[0],
            Abi::X32 => &tables[1],
            Abi::I386 => &tables[2],
        };
        table.get(name).copied()
    }
}

/// A kernel table of the `syscall-numbers` crate: number → name.
type NameOf = fn(libc::c_long) -> Option<&'static str>;

fn reverse(base: i64, name_of: NameOf) -> HashMap<&'static str, u32> {
    (base..base + SPAN)
        .filter_map(|nr| Some((name_of(nr as libc::c_long)?, u32::try_from(nr).ok()?)))
        .collect()
}

/// Names libseccomp (and so docker's and podman's profiles) uses where the kernel
/// tables say otherwise: ARM's private calls (`__ARM_NR_*`), which the tables list
/// apart, and ARM's spellings of two common calls.
const LIBSECCOMP_ONLY: &[&str] = &[
    "breakpoint",
    "cacheflush",
    "usr26",
    "usr32",
    "set_tls",
    "get_tls",
    "arm_fadvise64_64",
    "arm_sync_file_range",
];

/// Whether `name` is a syscall of some Linux architecture (not a typo): such names in
/// a profile are skipped quietly, as libseccomp does.
pub(super) fn known_elsewhere(name: &str) -> bool {
    static NAMES: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        use syscall_numbers as s;
        let tables: [(i64, NameOf); 17] = [
            (0, s::aarch64::sys_call_name),
            (0, s::arm::sys_call_name),
            (0, s::loongarch64::sys_call_name),
            (0, s::m68k::sys_call_name),
            (0, s::microblaze::sys_call_name),
            (4000, s::mips::sys_call_name),
            (5000, s::mips64::sys_call_name),
            (6000, s::mipsn32::sys_call_name),
            (0, s::or1k::sys_call_name),
            (0, s::powerpc::sys_call_name),
            (0, s::powerpc64::sys_call_name),
            (0, s::riscv32::sys_call_name),
            (0, s::riscv64::sys_call_name),
            (0, s::s390x::sys_call_name),
            (0, s::sh::sys_call_name),
            (i64::from(X32_SYSCALL_BIT), s::x32::sys_call_name),
            (0, s::x86::sys_call_name),
        ];
        let mut all: HashSet<&'static str> = LIBSECCOMP_ONLY.iter().copied().collect();
        for (base, name_of) in tables {
            all.extend((base..base + SPAN).filter_map(|nr| name_of(nr as libc::c_long)));
        }
        all
    });
    names.contains(name)
}
