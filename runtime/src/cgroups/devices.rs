//! The device-rule plan both cgroup versions enforce: a deny-all, the spec's
//! `linux.resources.devices` rules in order, then the devices every container needs
//! (what runc grants by default: mknod of any node, /dev/null, zero, full, random,
//! urandom, tty, console, ptmx, pts/*, net/tun). The last matching rule decides.
//! Validating and ordering live here; how a plan reaches the kernel is each
//! version's part (v1 writes `devices.allow`/`devices.deny`, v2 compiles an eBPF
//! program).
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::cgroups::CgroupError;

/// (type, major, minor, access); `None` is `*`.
pub(crate) const DEFAULT_ALLOWED: &[(char, Option<i64>, Option<i64>, &str)] = &[
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

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    fn rule(allow: bool, t: LinuxDeviceType, access: &str) -> LinuxDeviceCgroup {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(access)
            .build()
            .unwrap()
    }

    #[test]
    fn privileged_allow_all_ends_allowed() {
        let p = plan(&[rule(true, LinuxDeviceType::A, "rwm")]).unwrap();
        assert!(p[1].allow);
        assert_eq!(p[1].typ, 'a');
    }

    #[test]
    fn deny_all_first_and_the_defaults_last() {
        let p = plan(&[rule(true, LinuxDeviceType::C, "")]).unwrap();
        assert_eq!((p[0].allow, p[0].typ), (false, 'a'));
        assert_eq!(
            (p[1].typ, p[1].access.as_str()),
            ('c', "rwm"),
            "empty access is rwm"
        );
        assert_eq!(p.len(), 2 + DEFAULT_ALLOWED.len());
        assert!(p[2..].iter().all(|r| r.allow));
    }

    #[test]
    fn fifo_rules_are_refused() {
        let err = plan(&[rule(true, LinuxDeviceType::P, "rwm")]).unwrap_err();
        assert!(err.to_string().contains("fifo"), "{err}");
    }
}
