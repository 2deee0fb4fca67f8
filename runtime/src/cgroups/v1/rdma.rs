//! rdma (same file on v1 and v2): `rdma.max`, one `device hca_handle=N hca_object=M`
//! line per device; a missing value is `max`.
use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

fn limit(v: Option<u32>) -> String {
    v.map_or_else(|| "max".to_string(), |n| n.to_string())
}

pub(crate) fn set(
    fs: &dyn CgroupFs,
    dir: &Path,
    rdma: &HashMap<String, LinuxRdma>,
) -> Result<(), CgroupError> {
    let mut devices: Vec<&String> = rdma.keys().collect();
    devices.sort();
    for dev in devices {
        if dev.is_empty() || dev.contains(char::is_whitespace) {
            return Err(CgroupError::InvalidValue {
                field: "rdma",
                value: dev.clone(),
                reason: "not a device name".into(),
            });
        }
        let r = &rdma[dev];
        let line = format!(
            "{dev} hca_handle={} hca_object={}",
            limit(r.hca_handles()),
            limit(r.hca_objects())
        );
        fs::write(fs, dir, "rdma.max", &line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxRdmaBuilder;

    #[test]
    fn one_line_per_device() {
        let fs = FakeFs::new();
        fs.set("/r/rdma.max", "");
        let mut m = HashMap::new();
        m.insert(
            "mlx5_1".to_string(),
            LinuxRdmaBuilder::default()
                .hca_handles(3u32)
                .build()
                .unwrap(),
        );
        m.insert(
            "mlx4_0".to_string(),
            LinuxRdmaBuilder::default()
                .hca_handles(2u32)
                .hca_objects(2000u32)
                .build()
                .unwrap(),
        );
        set(&fs, Path::new("/r"), &m).unwrap();
        assert_eq!(
            fs.writes_in("/r"),
            [
                (
                    "rdma.max".into(),
                    "mlx4_0 hca_handle=2 hca_object=2000".into()
                ),
                (
                    "rdma.max".into(),
                    "mlx5_1 hca_handle=3 hca_object=max".into()
                ),
            ]
        );
    }
}
