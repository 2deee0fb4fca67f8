//! v2 devices: cgroup v2 has no devices files; the kernel asks an eBPF program
//! (`BPF_PROG_TYPE_CGROUP_DEVICE`) attached to the cgroup. The rule plan shared with
//! v1 ([`crate::cgroups::devices::plan`]: deny all, the spec's rules, the defaults)
//! is compiled to a straight-line program: the last matching rule decides, so rules
//! are checked newest first and the first match returns its verdict. Loading and
//! attaching go through [`CgroupFs::attach_device_filter`]; [`load_and_attach`] is
//! the kernel side.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgroups::devices::{plan, Rule};
use crate::cgroups::fs::CgroupFs;
use crate::cgroups::CgroupError;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx: access_type = access << 16 | type; major; minor.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// Registers: r2 = type, r3 = requested access, r4 = major, r5 = minor.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        ins(LDX_W, 2, 1, 0, 0),
        ins(AND_K, 2, 0, 0, 0xffff),
        ins(LDX_W, 3, 1, 0, 0),
        ins(RSH_K, 3, 0, 0, 16),
        ins(LDX_W, 4, 1, 4, 0),
        ins(LDX_W, 5, 1, 8, 0),
    ];
    let mut default = 0;
    for rule in rules.iter().rev() {
        let acc = access_bits(&rule.access);
        if rule.typ == 'a' && acc == ACC_ALL {
            // Matches everything: what came before it can never decide.
            default = i32::from(rule.allow);
            break;
        }
        // Each `None` is a jump past this block, patched once its length is known.
        let mut block: Vec<(Insn, bool)> = Vec::new();
        if rule.typ != 'a' {
            let t = if rule.typ == 'b' { DEV_BLOCK } else { DEV_CHAR };
            block.push((ins(JNE_K, 2, 0, 0, t), true));
        }
        if acc != ACC_ALL {
            // Matches only when every requested bit is granted by the rule.
            block.push((ins(MOV_X, 1, 3, 0, 0), false));
            block.push((ins(AND_K, 1, 0, 0, !acc), false));
            block.push((ins(JNE_K, 1, 0, 0, 0), true));
        }
        if rule.typ != 'a' {
            for (reg, v) in [(4, rule.major), (5, rule.minor)] {
                if let Some(n) = v {
                    block.push((ins(JNE_K, reg, 0, 0, n as i32), true));
                }
            }
        }
        block.push((ins(MOV_K, 0, 0, 0, i32::from(rule.allow)), false));
        block.push((ins(EXIT, 0, 0, 0, 0), false));
        let len = block.len();
        for (i, (mut insn, is_skip)) in block.into_iter().enumerate() {
            if is_skip {
                insn.off = (len - i - 1) as i16;
            }
            p.push(insn);
        }
    }
    p.push(ins(MOV_K, 0, 0, 0, default));
    p.push(ins(EXIT, 0, 0, 0, 0));
    p
}

pub(crate) fn set(
    fs: &dyn CgroupFs,
    dir: &Path,
    rules: &[LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    let prog = program(&plan(rules)?);
    fs.attach_device_filter(dir, &prog)
        .map_err(|source| CgroupError::DeviceFilter {
            path: dir.to_path_buf(),
            source,
        })
}

// bpf(2) commands and constants (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised #[repr(C)] prefix of `union bpf_attr`
    // for `cmd`, and its size is passed along; pointers inside it point to buffers
    // that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Load `prog`, attach it to the cgroup directory `dir`, then detach the device
/// programs attached there before (an `update` replaces the rules; attaching first
/// leaves no moment without a filter).
pub fn load_and_attach(dir: &Path, prog: &[Insn]) -> io::Result<()> {
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    let prog_fd = match bpf(BPF_PROG_LOAD, &mut load) {
        Ok(fd) => owned(fd)?,
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            return Err(io::Error::new(
                e.kind(),
                format!("load device program: {e}; verifier: {}", text.trim()),
            ));
        }
    };
    let cgroup = std::fs::File::open(dir)?;
    let cg_fd = cgroup.as_raw_fd() as u32;

    let mut ids = [0u32; 64];
    let mut query = Query {
        target_fd: cg_fd,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    let old: Vec<u32> = match bpf(BPF_PROG_QUERY, &mut query) {
        Ok(_) => ids[..(query.prog_cnt as usize).min(ids.len())].to_vec(),
        Err(_) => Vec::new(),
    };

    let mut attach = Attach {
        target_fd: cg_fd,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attach)
        .map_err(|e| io::Error::new(e.kind(), format!("attach device program: {e}")))?;

    for id in old {
        let mut get = GetFdById {
            id,
            ..Default::default()
        };
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut get) else {
            continue;
        };
        let fd = owned(fd)?;
        let mut detach = Attach {
            target_fd: cg_fd,
            attach_bpf_fd: fd.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        bpf(BPF_PROG_DETACH, &mut detach)
            .map_err(|e| io::Error::new(e.kind(), format!("detach old device program: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    /// Run `prog` the way the kernel would for one access; only our instruction
    /// subset is understood.
    pub(crate) fn run(prog: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> i64 {
        let ctx = [(access << 16 | typ) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                AND_K => r[dst] &= i.imm as i64 as u64,
                RSH_K => r[dst] >>= i.imm,
                MOV_X => r[dst] = r[src],
                MOV_K => r[dst] = i.imm as i64 as u64,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0] as i64,
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    fn rule(
        allow: bool,
        t: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        a: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(a);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn default_plan_allows_only_the_defaults() {
        let prog = program(&plan(&[rule(false, LinuxDeviceType::A, None, None, "rwm")]).unwrap());
        let rw = ACC_READ | ACC_WRITE;
        assert_eq!(run(&prog, DEV_CHAR, rw, 1, 3), 1, "/dev/null");
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 136, 7), 1, "pts");
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 11), 0, "kmsg");
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 8, 0), 0, "sda");
        assert_eq!(run(&prog, DEV_BLOCK, ACC_MKNOD, 8, 0), 1, "mknod any");
        assert_eq!(run(&prog, DEV_BLOCK, ACC_MKNOD | ACC_READ, 8, 0), 0);
    }

    #[test]
    fn later_rules_win_and_access_subsets() {
        let rules = [
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::B, Some(8), None, "r"),
            rule(false, LinuxDeviceType::B, Some(8), Some(16), "rwm"),
        ];
        let prog = program(&plan(&rules).unwrap());
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 8, 0), 1);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_WRITE, 8, 0), 0);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ, 8, 16), 0);
        // The defaults come last: /dev/null stays usable whatever the spec says.
        let deny_null = [rule(false, LinuxDeviceType::C, Some(1), Some(3), "rwm")];
        let prog = program(&plan(&deny_null).unwrap());
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 1, 3), 1);
    }

    #[test]
    fn allow_all_short_circuits() {
        let prog = program(&[Rule {
            allow: true,
            typ: 'a',
            major: None,
            minor: None,
            access: "rwm".into(),
        }]);
        assert_eq!(prog.len(), 8);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_ALL, 259, 1), 1);
    }

    #[test]
    fn set_hands_the_program_to_the_seam() {
        let fs = FakeFs::new();
        assert!(set(&fs, Path::new("/cg/c"), &[]).is_err(), "no such cgroup");
        fs.mount("/cg/c", &[]);
        set(&fs, Path::new("/cg/c"), &[]).unwrap();
        let progs = fs.device_filters();
        assert_eq!(progs.len(), 1);
        assert_eq!(progs[0].0, "/cg/c");
        assert_eq!(run(&progs[0].1, DEV_CHAR, ACC_READ, 1, 11), 0);
    }
}
