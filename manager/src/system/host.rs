//! Host facts `berth version`, `info` and `stats` report: the kernel, the
//! distribution, memory, CPUs, the cgroup version, the OCI runtime's version.
//! Each reader falls back to docker's placeholder (empty, 0, "Linux") when the
//! host does not tell: a fact missing must not fail `info`. The parsers are
//! apart from the reads so tests feed them text.

use std::path::Path;

/// `uname -r`.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().to_string())
        .unwrap_or_default()
}

/// `PRETTY_NAME` of `/etc/os-release`, else "Linux".
pub fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| pretty_name(&s))
        .unwrap_or_else(|| "Linux".to_string())
}

fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|l| {
        l.strip_prefix("PRETTY_NAME=")
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// `MemTotal` of `/proc/meminfo` in bytes, 0 when unknown.
pub fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total_of(&s))
        .unwrap_or(0)
}

fn mem_total_of(meminfo: &str) -> Option<i64> {
    meminfo.lines().find_map(|l| {
        l.strip_prefix("MemTotal:")
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
            .map(|kb| kb * 1024)
    })
}

/// "2" on a unified (cgroup v2) host, "1" otherwise (hybrid hosts included).
pub fn cgroup_version() -> &'static str {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// CPUs this process may use.
pub fn ncpu() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// The host name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// Host CPU time in nanoseconds (sum of `/proc/stat`'s `cpu` line), the
/// denominator of a container's CPU %.
pub fn cpu_time_ns() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .map(|s| cpu_time_ns_of(&s))
        .unwrap_or(0)
}

fn cpu_time_ns_of(stat: &str) -> u64 {
    let ticks: u64 = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks * 10_000_000
}

/// The first line of `<runtime> --version`, empty when it does not run.
pub async fn runtime_version(runtime: &Path) -> String {
    tokio::process::Command::new(runtime)
        .arg("--version")
        .output()
        .await
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_pretty_name_unquoted() {
        let s = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            pretty_name(s).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(pretty_name("ID=alpine\n"), None);
    }

    #[test]
    fn meminfo_total_in_bytes() {
        let s = "MemTotal:        8048576 kB\nMemFree:  100 kB\n";
        assert_eq!(mem_total_of(s), Some(8048576 * 1024));
        assert_eq!(mem_total_of("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn proc_stat_cpu_line_in_nanoseconds() {
        let s = "cpu  10 0 5 85 0 0 0 0 0 0\ncpu0 10 0 5 85 0 0 0 0 0 0\n";
        assert_eq!(cpu_time_ns_of(s), 100 * 10_000_000);
        assert_eq!(cpu_time_ns_of(""), 0);
    }
}
