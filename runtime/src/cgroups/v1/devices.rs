//! v1 devices: the device access list. The rule plan shared with v2
//! ([`crate::cgroups::devices::plan`]: deny all, the spec's rules, the defaults) is
//! written in order to `devices.allow` / `devices.deny` as `type major:minor access`.
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgroups::devices::{plan, Rule};
use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

fn num(v: Option<i64>) -> String {
    v.map_or_else(|| "*".to_string(), |n| n.to_string())
}

/// The line the v1 kernel parses; `a` takes no numbers.
fn line(rule: &Rule) -> String {
    if rule.typ == 'a' {
        return "a".to_string();
    }
    format!(
        "{} {}:{} {}",
        rule.typ,
        num(rule.major),
        num(rule.minor),
        rule.access
    )
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
        fs::write(fs, dir, file, &line(&rule))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::DEFAULT_ALLOWED;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

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
