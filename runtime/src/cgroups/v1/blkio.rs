//! v1 blkio: weights (BFQ's files where the kernel has them, else CFQ's) and
//! per-device throttling; I/O stats.
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::stats::BlkioEntry;
use crate::cgroups::{CgroupError, Stats};

pub(crate) fn is_empty(b: &LinuxBlockIo) -> bool {
    let none = |v: &Option<Vec<LinuxThrottleDevice>>| v.as_ref().is_none_or(|v| v.is_empty());
    b.weight().unwrap_or(0) == 0
        && b.leaf_weight().unwrap_or(0) == 0
        && b.weight_device().as_ref().is_none_or(|v| v.is_empty())
        && none(b.throttle_read_bps_device())
        && none(b.throttle_write_bps_device())
        && none(b.throttle_read_iops_device())
        && none(b.throttle_write_iops_device())
}

/// The first of `files` that exists in `dir`, or an error naming `field`.
fn pick<'a>(
    fs: &dyn CgroupFs,
    dir: &Path,
    field: &'static str,
    files: &[&'a str],
) -> Result<&'a str, CgroupError> {
    files
        .iter()
        .copied()
        .find(|f| fs.exists(&dir.join(f)))
        .ok_or_else(|| CgroupError::Unsupported {
            field,
            path: dir.join(files[files.len() - 1]),
        })
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let file = pick(
            fs,
            dir,
            "blockIO.weight",
            &["blkio.bfq.weight", "blkio.weight"],
        )?;
        fs::write(fs, dir, file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let file = pick(fs, dir, "blockIO.leafWeight", &["blkio.leaf_weight"])?;
        fs::write(fs, dir, file, &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let file = pick(
                fs,
                dir,
                "blockIO.weightDevice",
                &["blkio.bfq.weight_device", "blkio.weight_device"],
            )?;
            fs::write(fs, dir, file, &format!("{}:{} {}", d.major(), d.minor(), w))?;
        }
        if let Some(w) = d.leaf_weight() {
            let file = pick(
                fs,
                dir,
                "blockIO.weightDevice.leafWeight",
                &["blkio.leaf_weight_device"],
            )?;
            fs::write(fs, dir, file, &format!("{}:{} {}", d.major(), d.minor(), w))?;
        }
    }
    for (list, file, field) in [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "blockIO.throttleReadBpsDevice",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "blockIO.throttleWriteBpsDevice",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "blockIO.throttleReadIOPSDevice",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "blockIO.throttleWriteIOPSDevice",
        ),
    ] {
        for d in list.iter().flatten() {
            let file = pick(fs, dir, field, &[file])?;
            // A rate of 0 removes the device's limit.
            let value = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            match fs::write(fs, dir, file, &value) {
                Err(CgroupError::Write { source, .. })
                    if matches!(
                        source.raw_os_error(),
                        Some(libc::ENODEV) | Some(libc::EINVAL)
                    ) =>
                {
                    return Err(CgroupError::InvalidValue {
                        field,
                        value,
                        reason: "no such block device".into(),
                    })
                }
                other => other?,
            }
        }
    }
    Ok(())
}

/// `maj:min Op value` lines (or `maj:min value`); `Total` lines are skipped.
pub(crate) fn parse_entries(text: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (dev, op, value) = match f[..] {
            [dev, op, value] => (dev, op, value),
            [dev, value] => (dev, "", value),
            _ => continue,
        };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        if let (Ok(major), Ok(minor), Ok(value)) = (major.parse(), minor.parse(), value.parse()) {
            out.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    out
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let read = |f: &str| -> Result<Vec<BlkioEntry>, CgroupError> {
        Ok(parse_entries(
            &fs::read_opt(fs, dir, f)?.unwrap_or_default(),
        ))
    };
    let b = &mut s.blkio;
    // CFQ's full set when present; else BFQ's; else what the throttle layer counts.
    if fs.exists(&dir.join("blkio.io_service_bytes_recursive")) {
        b.io_service_bytes_recursive = read("blkio.io_service_bytes_recursive")?;
        b.io_serviced_recursive = read("blkio.io_serviced_recursive")?;
        b.io_queued_recursive = read("blkio.io_queued_recursive")?;
        b.io_service_time_recursive = read("blkio.io_service_time_recursive")?;
        b.io_wait_time_recursive = read("blkio.io_wait_time_recursive")?;
        b.io_merged_recursive = read("blkio.io_merged_recursive")?;
        b.io_time_recursive = read("blkio.time_recursive")?;
        b.sectors_recursive = read("blkio.sectors_recursive")?;
    } else if fs.exists(&dir.join("blkio.bfq.io_service_bytes_recursive")) {
        b.io_service_bytes_recursive = read("blkio.bfq.io_service_bytes_recursive")?;
        b.io_serviced_recursive = read("blkio.bfq.io_serviced_recursive")?;
    } else {
        b.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes_recursive")?;
        b.io_serviced_recursive = read("blkio.throttle.io_serviced_recursive")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
    };

    const D: &str = "/cg/blkio/c";

    fn fake() -> FakeFs {
        let fs = FakeFs::new();
        for f in [
            "blkio.throttle.read_bps_device",
            "blkio.throttle.write_bps_device",
            "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
        ] {
            fs.set(format!("{D}/{f}"), "");
        }
        fs
    }

    fn dev(major: i64, minor: i64, rate: u64) -> LinuxThrottleDevice {
        LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(rate)
            .build()
            .unwrap()
    }

    #[test]
    fn throttle_lines() {
        let fs = fake();
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![dev(8, 0, 1048576)])
            .throttle_write_iops_device(vec![dev(8, 16, 100), dev(8, 0, 0)])
            .build()
            .unwrap();
        set(&fs, Path::new(D), &b).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                (
                    "blkio.throttle.read_bps_device".into(),
                    "8:0 1048576".into()
                ),
                ("blkio.throttle.write_iops_device".into(), "8:16 100".into()),
                ("blkio.throttle.write_iops_device".into(), "8:0 0".into()),
            ]
        );
    }

    #[test]
    fn weight_prefers_bfq_and_missing_names_field() {
        let fs = fake();
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .build()
            .unwrap();
        let err = set(&fs, Path::new(D), &b).unwrap_err();
        assert!(err.to_string().contains("blockIO.weight"), "{err}");
        fs.set(format!("{D}/blkio.weight"), "100");
        fs.set(format!("{D}/blkio.bfq.weight"), "100");
        fs.set(format!("{D}/blkio.bfq.weight_device"), "");
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .weight_device(vec![LinuxWeightDeviceBuilder::default()
                .major(8)
                .minor(0)
                .weight(300u16)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        set(&fs, Path::new(D), &b).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("blkio.bfq.weight".into(), "500".into()),
                ("blkio.bfq.weight_device".into(), "8:0 300".into()),
            ]
        );
    }

    #[test]
    fn unknown_device_is_invalid_value() {
        let fs = fake();
        fs.fail_write(
            format!("{D}/blkio.throttle.read_bps_device"),
            libc::ENODEV,
            1,
        );
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![dev(250, 7, 10)])
            .build()
            .unwrap();
        let msg = set(&fs, Path::new(D), &b).unwrap_err().to_string();
        assert!(msg.contains("250:7"), "{msg}");
    }

    #[test]
    fn stats_fall_back_to_throttle_files() {
        let fs = FakeFs::new();
        fs.set(
            format!("{D}/blkio.throttle.io_service_bytes_recursive"),
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
        );
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        let e = &s.blkio.io_service_bytes_recursive;
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].major, e[0].op.as_str(), e[0].value),
            (8, "Read", 4096)
        );
    }
}
