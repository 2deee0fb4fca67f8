//! `/proc/self/mountinfo` parsing: where the host's cgroup hierarchies are, which
//! proc/sysfs mounts must be hidden before a `--no-pivot` chroot.
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    /// Root of the mount inside its filesystem (`/` unless a bind of a subdirectory).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: String,
    /// Optional fields (`shared:1`, `master:2`, …).
    pub optional: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

impl MountInfo {
    #[cfg(test)]
    pub(crate) fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
}

/// Parse the whole file; malformed lines are skipped (the kernel does not write any).
pub(crate) fn parse(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let _id = l.next()?;
    let _parent = l.next()?;
    let _dev = l.next()?;
    let root = unescape(l.next()?);
    let mount_point = unescape(l.next()?);
    let mount_options = l.next()?.to_string();
    let optional = l.filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut r = right.split(' ');
    let fstype = r.next()?.to_string();
    let source = unescape(r.next()?);
    let super_options = r.next().unwrap_or("").to_string();
    Some(MountInfo {
        root: PathBuf::from(root),
        mount_point: PathBuf::from(mount_point),
        mount_options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// The kernel escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime master:5 - cgroup cgroup rw,cpu
90 27 0:50 /sub /with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_and_optional_tags() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 5);
        assert_eq!(m[1].mount_point, PathBuf::from("/"));
        assert!(m[1].is_shared());
        assert!(!m[3].is_shared());
        assert_eq!(m[3].optional, vec!["master:5".to_string()]);
        assert_eq!(m[3].fstype, "cgroup");
        assert_eq!(m[3].mount_options, "rw,relatime");
        assert_eq!(m[3].super_options, "rw,cpu");
        assert_eq!(m[4].root, PathBuf::from("/sub"));
        assert_eq!(m[4].mount_point, PathBuf::from("/with space"));
    }
}
