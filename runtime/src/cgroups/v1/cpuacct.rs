//! v1 cpuacct: CPU usage stats (total, per CPU, user/kernel), in nanoseconds.
use std::path::Path;

use nix::unistd::{sysconf, SysconfVar};

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

fn numbers(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let u = &mut s.cpu.usage;
    u.total = fs::read_u64_or_zero(fs, dir, "cpuacct.usage")?;
    u.percpu = numbers(&fs::read_opt(fs, dir, "cpuacct.usage_percpu")?.unwrap_or_default());
    // usage_all: "cpu user system" header, then one line per CPU.
    if let Some(all) = fs::read_opt(fs, dir, "cpuacct.usage_all")? {
        for line in all.lines().skip(1) {
            if let [_, user, sys] = numbers(line)[..] {
                u.percpu_user.push(user);
                u.percpu_kernel.push(sys);
            }
        }
    }
    // Nanosecond counters where the kernel has them; cpuacct.stat is in ticks.
    match (
        fs::read_opt(fs, dir, "cpuacct.usage_user")?,
        fs::read_opt(fs, dir, "cpuacct.usage_sys")?,
    ) {
        (Some(user), Some(sys)) => {
            u.user = fs::parse_u64(&dir.join("cpuacct.usage_user"), &user)?;
            u.kernel = fs::parse_u64(&dir.join("cpuacct.usage_sys"), &sys)?;
        }
        _ => {
            let st = fs::read_keyed(fs, dir, "cpuacct.stat")?;
            let hz = match sysconf(SysconfVar::CLK_TCK) {
                Ok(Some(hz)) if hz > 0 => hz as u64,
                // USER_HZ is 100 on every Linux architecture berth runs on.
                _ => 100,
            };
            let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000) / hz;
            u.user = ns(st.get("user").copied().unwrap_or(0));
            u.kernel = ns(st.get("system").copied().unwrap_or(0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;

    const D: &str = "/cg/cpuacct/c";

    #[test]
    fn usage_from_all_files() {
        let fs = FakeFs::new();
        fs.set(format!("{D}/cpuacct.usage"), "300\n");
        fs.set(format!("{D}/cpuacct.usage_percpu"), "100 200 \n");
        fs.set(
            format!("{D}/cpuacct.usage_all"),
            "cpu user system\n0 60 40\n1 150 50\n",
        );
        fs.set(format!("{D}/cpuacct.usage_user"), "210\n");
        fs.set(format!("{D}/cpuacct.usage_sys"), "90\n");
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        let u = &s.cpu.usage;
        assert_eq!(u.total, 300);
        assert_eq!(u.percpu, [100, 200]);
        assert_eq!(u.percpu_user, [60, 150]);
        assert_eq!(u.percpu_kernel, [40, 50]);
        assert_eq!((u.user, u.kernel), (210, 90));
    }

    #[test]
    fn ticks_fallback() {
        let fs = FakeFs::new();
        fs.set(format!("{D}/cpuacct.stat"), "user 2\nsystem 1\n");
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        let hz = sysconf(SysconfVar::CLK_TCK).unwrap().unwrap() as u64;
        assert_eq!(s.cpu.usage.user, 2_000_000_000 / hz);
        assert_eq!(s.cpu.usage.kernel, 1_000_000_000 / hz);
    }
}
