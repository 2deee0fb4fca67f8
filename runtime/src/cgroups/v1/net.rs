//! v1 net_cls / net_prio: the class id stamped on the container's packets and
//! per-interface priorities. cgroup v2 has neither (eBPF does that job there).
use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

pub(crate) fn set_classid(
    fs: &dyn CgroupFs,
    dir: &Path,
    n: &LinuxNetwork,
) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id() {
        fs::write(fs, dir, "net_cls.classid", &id.to_string())?;
    }
    Ok(())
}

pub(crate) fn set_priorities(
    fs: &dyn CgroupFs,
    dir: &Path,
    n: &LinuxNetwork,
) -> Result<(), CgroupError> {
    for p in n.priorities().iter().flatten() {
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            return Err(CgroupError::InvalidValue {
                field: "network.priorities.name",
                value: p.name().clone(),
                reason: "not an interface name".into(),
            });
        }
        // One "ifname prio" pair per write: the kernel parses one per call.
        fs::write(
            fs,
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::{LinuxInterfacePriorityBuilder, LinuxNetworkBuilder};

    #[test]
    fn classid_and_priorities() {
        let fs = FakeFs::new();
        fs.set("/n/net_cls.classid", "0");
        fs.set("/n/net_prio.ifpriomap", "");
        let n = LinuxNetworkBuilder::default()
            .class_id(0x100001u32)
            .priorities(vec![
                LinuxInterfacePriorityBuilder::default()
                    .name("lo")
                    .priority(2u32)
                    .build()
                    .unwrap(),
                LinuxInterfacePriorityBuilder::default()
                    .name("eth0")
                    .priority(5u32)
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        set_classid(&fs, Path::new("/n"), &n).unwrap();
        set_priorities(&fs, Path::new("/n"), &n).unwrap();
        assert_eq!(
            fs.writes_in("/n"),
            [
                ("net_cls.classid".into(), "1048577".into()),
                ("net_prio.ifpriomap".into(), "lo 2".into()),
                ("net_prio.ifpriomap".into(), "eth0 5".into()),
            ]
        );
    }
}
