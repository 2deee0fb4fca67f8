//! Resident memory of the shim's own code. One shim runs per container and
//! sits idle nearly all of its life, yet the kernel maps its binary's pages
//! generously: a page fault on the text maps up to 64 KiB around it
//! (fault-around), so after startup and after each served call most of the
//! 2 MiB text and of the read-only data count in its RSS, though the idle
//! shim executes none of it.
//!
//! [`trim_code_pages`] unmaps the binary's read-only, file-backed pages
//! (`MADV_DONTNEED`). They stay in the page cache, shared with every other
//! shim; the next call maps back what it executes, at the cost of a minor
//! fault per 64 KiB window touched. [`IdleTrim`] runs it once the shim has
//! had no call for [`QUIET`], so an idle shim holds little more than its heap,
//! and a busy one pays nothing (no trim while calls keep coming).
//!
//! Only mappings that are not writable and hold no anonymous (copied on
//! write) page are touched: for those, dropping a page loses nothing, as the
//! next access reads the same bytes back from the file. Writable data and
//! relocated read-only data (RELRO) keep their pages.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long without a call before the code pages are unmapped.
pub const QUIET: Duration = Duration::from_secs(2);

/// Trims the code pages once the shim has gone [`QUIET`] without a call.
#[derive(Clone)]
pub struct IdleTrim {
    activity: Arc<Notify>,
}

impl IdleTrim {
    /// Starts the trimming task on the current runtime. It sleeps until the
    /// first [`IdleTrim::touch`], so an idle shim has no timer running.
    pub fn start() -> IdleTrim {
        let activity = Arc::new(Notify::new());
        let a = Arc::clone(&activity);
        tokio::spawn(async move {
            loop {
                a.notified().await;
                // Every call within the quiet period starts it again.
                while tokio::time::timeout(QUIET, a.notified()).await.is_ok() {}
                if let Err(e) = trim_code_pages() {
                    crate::log!("trimming code pages: {e}");
                }
            }
        });
        IdleTrim { activity }
    }

    /// A call arrived.
    pub fn touch(&self) {
        self.activity.notify_one();
    }
}

/// One mapping of /proc/self/smaps that may be trimmed.
#[derive(Debug, PartialEq, Eq)]
struct Region {
    start: usize,
    end: usize,
}

/// Unmaps the resident pages of the shim's read-only code and data. Returns
/// how many mappings were trimmed, or why /proc/self/smaps could not be read.
pub fn trim_code_pages() -> std::io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let regions = trimmable(&smaps, &exe);
    for r in &regions {
        let len = r.end - r.start;
        // SAFETY: the range is one whole mapping of our own executable that
        // is read-only and has no private (copied) page, so MADV_DONTNEED only
        // drops page-table entries that refault from the unchanged file. No
        // memory that Rust code owns is freed.
        unsafe {
            libc::madvise(r.start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
    Ok(regions.len())
}

/// The mappings of `exe` in `smaps` that are not writable and have no
/// private page, resident (`Anonymous`) or swapped out (`Swap`): both
/// fields must be there and zero.
fn trimmable(smaps: &str, exe: &std::path::Path) -> Vec<Region> {
    struct Candidate {
        region: Region,
        anon_kb: Option<u64>,
        swap_kb: Option<u64>,
    }
    fn finish(c: Option<Candidate>, out: &mut Vec<Region>) {
        if let Some(c) = c {
            if c.anon_kb == Some(0) && c.swap_kb == Some(0) {
                out.push(c.region);
            }
        }
    }
    let kb = |rest: &str| {
        rest.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
    };
    let exe = exe.to_string_lossy();
    let mut out = Vec::new();
    let mut current: Option<Candidate> = None;
    for line in smaps.lines() {
        if let Some(rest) = line.strip_prefix("Anonymous:") {
            if let Some(c) = current.as_mut() {
                c.anon_kb = kb(rest);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("Swap:") {
            if let Some(c) = current.as_mut() {
                c.swap_kb = kb(rest);
            }
            continue;
        }
        // A mapping header: "start-end perms offset dev inode path".
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            // Any other key line ("Rss:", "VmFlags:").
            continue;
        };
        finish(current.take(), &mut out);
        let path = fields.nth(3).unwrap_or("");
        let read_only = perms.len() == 4 && perms.starts_with('r') && perms.as_bytes()[1] != b'w';
        current = (read_only && path == exe).then_some(Candidate {
            region: Region { start, end },
            anon_kb: None,
            swap_kb: None,
        });
    }
    finish(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SMAPS: &str = "\
00400000-00401000 r--p 00000000 fe:00 42 /usr/bin/berth-shim
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me
00401000-00600000 r-xp 00001000 fe:00 42 /usr/bin/berth-shim
Size:               2044 kB
Anonymous:             0 kB
Swap:                  0 kB
00600000-00620000 r--p 00200000 fe:00 42 /usr/bin/berth-shim
Size:                128 kB
Anonymous:           128 kB
Swap:                  0 kB
00620000-00624000 r--p 00220000 fe:00 42 /usr/bin/berth-shim
Anonymous:             0 kB
Swap:                 16 kB
00624000-00625000 r--p 00224000 fe:00 42 /usr/bin/berth-shim
Anonymous:             0 kB
00625000-00626000 rw-p 00225000 fe:00 42 /usr/bin/berth-shim
Anonymous:             0 kB
Swap:                  0 kB
00626000-0062c000 r-xp 00000000 fe:00 43 /usr/lib/other.so
Anonymous:             0 kB
Swap:                  0 kB
7ffef98a4000-7ffef98c5000 rw-p 00000000 00:00 0 [stack]
Anonymous:            48 kB
";

    #[test]
    fn only_read_only_mappings_of_the_binary_without_private_pages_are_trimmed() {
        let r = trimmable(SMAPS, Path::new("/usr/bin/berth-shim"));
        assert_eq!(
            r,
            vec![
                Region {
                    start: 0x400000,
                    end: 0x401000
                },
                Region {
                    start: 0x401000,
                    end: 0x600000
                },
            ]
        );
    }

    #[test]
    fn trimming_our_own_test_binary_keeps_it_running() {
        let n = trim_code_pages().expect("smaps readable");
        assert!(n > 0, "no mapping of the test binary was found");
        // Code and read-only data fault back in: this still runs and formats.
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
