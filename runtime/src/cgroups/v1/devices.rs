//! v1 devices: the device access list. The spec's rules are applied in order after a
//! deny-all, then the devices every container needs (what runc grants by default:
//! mknod of any node, /dev/null, zero, full, random, urandom, tty, console, ptmx,
//! pts/*, net/tun). Rules are written to `devices.allow` / `devices.deny` as
//! `type major:minor access`.
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

/// (type, major, minor, access); `None` is `*`.
const DEFAULT_ALLOWED: &[(char, Option<i64>, Option<i64>, &str)] = &[
    ('c', None, None, "m"),
    ('b', None, None, "m"),
    ('c', Some(1), Some(3), "rwm"),    // null
    ('c', Some(1), Some(5), "rwm"),    // zero
    ('c', Some(1), Some(7), "rwm"),    // full
    ('c', Some(1), Some(8), "rwm"),    // random
    ('c', Some(1), Some(9), "rwm"),    // urandom
    ('c', Some(5), Some(0), "rwm"),    // tty
    ('c', Some(5), Some(1), "rwm"),    // console
    ('c', Some(5), Some(2), "rwm"),    // ptmx
    ('c', Some(136), None, "rwm"),     // pts/*
    ('c', Some(10), Some(200), "rwm"), // net/tun
];

fn num(v: Option<i64>) -> String {
    v.map_or_else(|| "*".to_string(), |n| n.to_string())
}

/// One validated rule. `typ` is `a` (every device; numbers ignored), `b` or `c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub typ: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

impl Rule {
    pub fn from_spec(rule: &LinuxDeviceCgroup) -> Result<Rule, CgroupError> {
        let access = rule.access().as_deref().unwrap_or("rwm");
        let access = if access.is_empty() { "rwm" } else { access };
        if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(CgroupError::InvalidValue {
                field: "devices.access",
                value: access.to_string(),
                reason: "only r, w and m are allowed".into(),
            });
        }
        let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => {
                return Err(CgroupError::InvalidValue {
                    field: "devices.type",
                    value: "p".into(),
                    reason: "the device cgroup has no fifo type".into(),
                })
            }
        };
        Ok(Rule {
            allow: rule.allow(),
            typ,
            // Negative numbers are how some tools spell the wildcard.
            major: rule.major().filter(|n| *n >= 0),
            minor: rule.minor().filter(|n| *n >= 0),
            access: access.to_string(),
        })
    }

    /// The line the v1 kernel parses; `a` takes no numbers.
    pub fn line(&self) -> String {
        if self.typ == 'a' {
            return "a".to_string();
        }
        format!(
            "{} {}:{} {}",
            self.typ,
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

/// The full rule list, in order: deny all, the spec's rules, the defaults. Built
/// whole before anything is written, so a bad rule changes nothing.
pub(crate) fn plan(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    let mut out = vec![Rule {
        allow: false,
        typ: 'a',
        major: None,
        minor: None,
        access: "rwm".into(),
    }];
    for r in rules {
        out.push(Rule::from_spec(r)?);
    }
    for (typ, major, minor, access) in DEFAULT_ALLOWED {
        out.push(Rule {
            allow: true,
            typ: *typ,
            major: *major,
            minor: *minor,
            access: access.to_string(),
        });
    }
    Ok(out)
}

pub(crate) fn set(
    fs: &dyn CgroupFs,
    dir: &Path,
    rules: &[LinuxDeviceCgroup],
) -> Result<(), CgroupError> {
    for rule in plan(rules)? {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(fs, dir, file, &rule.line())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

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
    fn deny_all_then_rules_then_defaults() {
        let fs = FakeFs::new();
        fs.set("/d/devices.allow", "");
        fs.set("/d/devices.deny", "");
        let rules = [
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(4), None, "rw"),
            rule(false, LinuxDeviceType::B, Some(8), Some(0), "w"),
        ];
        set(&fs, Path::new("/d"), &rules).unwrap();
        let w = fs.writes_in("/d");
        assert_eq!(w[0], ("devices.deny".into(), "a".into()));
        assert_eq!(w[1], ("devices.deny".into(), "a".into()));
        assert_eq!(w[2], ("devices.allow".into(), "c 4:* rw".into()));
        assert_eq!(w[3], ("devices.deny".into(), "b 8:0 w".into()));
        assert!(w.contains(&("devices.allow".into(), "c 1:3 rwm".into())));
        assert!(w.contains(&("devices.allow".into(), "c 136:* rwm".into())));
        assert_eq!(w.len(), 4 + DEFAULT_ALLOWED.len());
    }

    #[test]
    fn privileged_allow_all_ends_allowed() {
        let p = plan(&[rule(true, LinuxDeviceType::A, None, None, "rwm")]).unwrap();
        assert!(p[1].allow);
        assert_eq!(p[1].line(), "a");
    }

    #[test]
    fn bad_access_changes_nothing() {
        let fs = FakeFs::new();
        fs.set("/d/devices.allow", "");
        fs.set("/d/devices.deny", "");
        let err = set(
            &fs,
            Path::new("/d"),
            &[rule(true, LinuxDeviceType::C, Some(1), Some(3), "rx")],
        )
        .unwrap_err();
        assert!(err.to_string().contains("rx"), "{err}");
        assert!(fs.writes().is_empty());
    }
}
