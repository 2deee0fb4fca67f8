//! The checker must run in a bare busybox rootfs: it has to be a static
//! executable, with no ELF interpreter (PT_INTERP) to look up.

use berth_integration_tests::checker::checker_binary;

const PT_INTERP: u32 = 3;

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

#[test]
fn checker_has_no_elf_interpreter() -> anyhow::Result<()> {
    let path = checker_binary()?;
    let elf = std::fs::read(path)?;
    anyhow::ensure!(
        elf.get(..4) == Some(b"\x7fELF".as_slice()) && elf.get(4) == Some(&2),
        "not a 64-bit ELF: {}",
        path.display()
    );
    let bad = || anyhow::anyhow!("truncated ELF header in {}", path.display());
    let phoff = u64_at(&elf, 0x20).ok_or_else(bad)? as usize;
    let phentsize = u16_at(&elf, 0x36).ok_or_else(bad)? as usize;
    let phnum = u16_at(&elf, 0x38).ok_or_else(bad)? as usize;
    anyhow::ensure!(phnum > 0, "no program headers");
    for i in 0..phnum {
        let p_type = u32_at(&elf, phoff + i * phentsize).ok_or_else(bad)?;
        anyhow::ensure!(
            p_type != PT_INTERP,
            "{} is dynamically linked (has PT_INTERP)",
            path.display()
        );
    }
    Ok(())
}
