//! fstab-style mount options of a `spec.mounts` entry → mount(2) flags, propagation
//! flags (applied in a second call, the kernel ignores them mixed with others) and the
//! filesystem data string. The table is runc's, so a config.json means the same thing
//! to both runtimes; unknown options are passed to the filesystem as data.
use nix::mount::MsFlags;

/// One parsed option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    pub flags: MsFlags,
    /// Each applied on its own, in the order given.
    pub propagation: Vec<MsFlags>,
    /// Comma-joined filesystem-specific options (`mode=755`, `size=64m`, …).
    pub data: String,
    /// `tmpcopyup`: copy the destination's existing content into a new tmpfs.
    pub copy_up: bool,
    /// Recursive per-mount attributes (`rro`, `rnosuid`, …) for mount_setattr(2),
    /// applied to the whole mounted tree: `MOUNT_ATTR_*` bits to set and to clear.
    pub rec_set: u64,
    pub rec_clr: u64,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
            rec_set: 0,
            rec_clr: 0,
        }
    }
}

/// `(name, clears?, flag)`: a clearing option removes the flag set by an earlier one.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("acl", false, MsFlags::MS_POSIXACL),
    ("async", true, MsFlags::MS_SYNCHRONOUS),
    ("atime", true, MsFlags::MS_NOATIME),
    ("bind", false, MsFlags::MS_BIND),
    ("defaults", false, MsFlags::empty()),
    ("dev", true, MsFlags::MS_NODEV),
    ("diratime", true, MsFlags::MS_NODIRATIME),
    ("dirsync", false, MsFlags::MS_DIRSYNC),
    ("exec", true, MsFlags::MS_NOEXEC),
    ("iversion", false, MsFlags::MS_I_VERSION),
    ("lazytime", false, MsFlags::MS_LAZYTIME),
    ("loud", true, MsFlags::MS_SILENT),
    ("mand", false, MsFlags::MS_MANDLOCK),
    ("noacl", true, MsFlags::MS_POSIXACL),
    ("noatime", false, MsFlags::MS_NOATIME),
    ("nodev", false, MsFlags::MS_NODEV),
    ("nodiratime", false, MsFlags::MS_NODIRATIME),
    ("noexec", false, MsFlags::MS_NOEXEC),
    ("noiversion", true, MsFlags::MS_I_VERSION),
    ("nolazytime", true, MsFlags::MS_LAZYTIME),
    ("nomand", true, MsFlags::MS_MANDLOCK),
    ("norelatime", true, MsFlags::MS_RELATIME),
    ("nostrictatime", true, MsFlags::MS_STRICTATIME),
    ("nosuid", false, MsFlags::MS_NOSUID),
    ("nosymfollow", false, NOSYMFOLLOW),
    ("rbind", false, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", false, MsFlags::MS_RELATIME),
    ("remount", false, MsFlags::MS_REMOUNT),
    ("ro", false, MsFlags::MS_RDONLY),
    ("rw", true, MsFlags::MS_RDONLY),
    ("silent", false, MsFlags::MS_SILENT),
    ("strictatime", false, MsFlags::MS_STRICTATIME),
    ("suid", true, MsFlags::MS_NOSUID),
    ("symfollow", true, NOSYMFOLLOW),
    ("sync", false, MsFlags::MS_SYNCHRONOUS),
];

/// MS_NOSYMFOLLOW (Linux 5.10) has no name in nix yet.
const NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// `MOUNT_ATTR_*` of mount_setattr(2) (linux/mount.h).
pub(crate) mod attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The access-time setting is a field, not a flag: changing it means clearing
    /// all of it and setting one value (RELATIME is 0).
    pub const ATIME_MASK: u64 = 0x70;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
    pub const NOSYMFOLLOW: u64 = 0x0020_0000;
}

/// `(name, clears?, attr)` for the recursive options.
const REC_ATTRS: &[(&str, bool, u64)] = &[
    ("rro", false, attr::RDONLY),
    ("rrw", true, attr::RDONLY),
    ("rnosuid", false, attr::NOSUID),
    ("rsuid", true, attr::NOSUID),
    ("rnodev", false, attr::NODEV),
    ("rdev", true, attr::NODEV),
    ("rnoexec", false, attr::NOEXEC),
    ("rexec", true, attr::NOEXEC),
    ("rnodiratime", false, attr::NODIRATIME),
    ("rdiratime", true, attr::NODIRATIME),
    ("rnosymfollow", false, attr::NOSYMFOLLOW),
    ("rsymfollow", true, attr::NOSYMFOLLOW),
];

/// Recursive access-time options: the atime value they select.
const REC_ATIME: &[(&str, u64)] = &[
    ("rrelatime", 0),
    ("rnoatime", attr::NOATIME),
    ("rstrictatime", attr::STRICTATIME),
    // "Not X" falls back to the kernel default, relatime; "not relatime" to strict.
    ("ratime", 0),
    ("rnostrictatime", 0),
    ("rnorelatime", attr::STRICTATIME),
];

/// Options that need kernel features we do not drive (id-mapped mounts). Refused by
/// name rather than handed to the filesystem as data, where they would fail with a
/// confusing EINVAL.
const UNSUPPORTED: &[&str] = &["idmap", "ridmap"];

/// A propagation keyword (`rslave`, `private`, …) as mount(2) flags.
pub(crate) fn propagation_flag(name: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// Parse one entry's `options`. The error is the offending option and why.
pub(crate) fn parse(options: &[String]) -> Result<MountOptions, (String, &'static str)> {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let o = opt.as_str();
        if let Some((_, clear, flag)) = FLAGS.iter().find(|(n, _, _)| *n == o) {
            if *clear {
                out.flags.remove(*flag);
            } else {
                out.flags.insert(*flag);
            }
        } else if let Some(p) = propagation_flag(o) {
            out.propagation.push(p);
        } else if let Some((_, clear, a)) = REC_ATTRS.iter().find(|(n, _, _)| *n == o) {
            if *clear {
                out.rec_set &= !a;
                out.rec_clr |= a;
            } else {
                out.rec_clr &= !a;
                out.rec_set |= a;
            }
        } else if let Some((_, value)) = REC_ATIME.iter().find(|(n, _)| *n == o) {
            out.rec_clr |= attr::ATIME_MASK;
            out.rec_set = (out.rec_set & !attr::ATIME_MASK) | value;
        } else if o == "tmpcopyup" {
            out.copy_up = true;
        } else if UNSUPPORTED.contains(&o) {
            return Err((opt.clone(), "not supported by berth-runtime"));
        } else if o.is_empty() {
            return Err((opt.clone(), "empty option"));
        } else {
            data.push(o);
        }
    }
    out.data = data.join(",");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn default_proc_and_dev_options() {
        let m = p(&["nosuid", "noexec", "nodev"]);
        assert_eq!(
            m.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV
        );
        assert!(m.propagation.is_empty());
        assert_eq!(m.data, "");

        let m = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(m.data, "mode=755,size=65536k");
    }

    #[test]
    fn later_option_clears_earlier() {
        let m = p(&[
            "ro", "nosuid", "rw", "suid", "noexec", "exec", "nodev", "dev",
        ]);
        assert_eq!(m.flags, MsFlags::empty());
        let m = p(&["rw", "ro"]);
        assert_eq!(m.flags, MsFlags::MS_RDONLY);
    }

    #[test]
    fn every_runc_flag_option_is_known() {
        for (name, clear, flag) in FLAGS {
            let m = p(&[name]);
            assert_eq!(m.data, "", "{name} leaked into data");
            if *clear {
                assert_eq!(m.flags, MsFlags::empty(), "{name}");
            } else {
                assert_eq!(m.flags, *flag, "{name}");
            }
        }
        for name in [
            "sync",
            "async",
            "dirsync",
            "remount",
            "mand",
            "nomand",
            "atime",
            "noatime",
            "diratime",
            "nodiratime",
            "relatime",
            "norelatime",
            "strictatime",
            "nostrictatime",
        ] {
            assert!(FLAGS.iter().any(|(n, _, _)| *n == name), "{name} missing");
        }
    }

    #[test]
    fn bind_rbind_and_propagation_go_to_separate_calls() {
        let m = p(&["rbind", "ro", "rprivate", "shared"]);
        assert_eq!(
            m.flags,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(
            m.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SHARED]
        );
        for (name, want) in [
            ("slave", MsFlags::MS_SLAVE),
            ("rslave", MsFlags::MS_SLAVE | MsFlags::MS_REC),
            ("unbindable", MsFlags::MS_UNBINDABLE),
            ("runbindable", MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            ("rshared", MsFlags::MS_SHARED | MsFlags::MS_REC),
            ("private", MsFlags::MS_PRIVATE),
        ] {
            assert_eq!(p(&[name]).propagation, vec![want], "{name}");
        }
    }

    #[test]
    fn recursive_attributes_for_mount_setattr() {
        let m = p(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(m.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert_eq!(m.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(m.rec_clr, attr::ATIME_MASK);
        assert_eq!(m.data, "");
        // Later wins, as with the plain flags.
        let m = p(&["rro", "rrw", "rexec"]);
        assert_eq!(m.rec_set, 0);
        assert_eq!(m.rec_clr, attr::RDONLY | attr::NOEXEC);
        let m = p(&["rnoatime", "rrelatime"]);
        assert_eq!((m.rec_set, m.rec_clr), (0, attr::ATIME_MASK));
        for (name, _, _) in REC_ATTRS {
            let m = p(&[name]);
            assert_ne!(m.rec_set | m.rec_clr, 0, "{name}");
        }
    }

    #[test]
    fn tmpcopyup_is_an_extension_not_data() {
        let m = p(&["tmpcopyup", "mode=1777"]);
        assert!(m.copy_up);
        assert_eq!(m.data, "mode=1777");
    }

    #[test]
    fn unsupported_and_empty_options_are_named() {
        let err = parse(&["rw".into(), "idmap".into()]).unwrap_err();
        assert_eq!(err.0, "idmap");
        let err = parse(&["".into()]).unwrap_err();
        assert_eq!(err.1, "empty option");
    }
}
