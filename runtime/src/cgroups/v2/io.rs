//! v2 io: `io.bfq.weight` (BFQ takes OCI's 10..=1000 as is) or `io.weight` (1..=10000,
//! runc's linear conversion), and `io.max` for per-device throttling; `io.stat` for
//! stats, reported in blkio's shape.
use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::stats::BlkioEntry;
use crate::cgroups::{CgroupError, Stats};

/// runc's blkio weight (10..=1000) → io.weight (1..=10000).
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = fs.exists(&dir.join("io.bfq.weight"));
    let weight_file = |field| {
        if bfq {
            Ok("io.bfq.weight")
        } else if fs.exists(&dir.join("io.weight")) {
            Ok("io.weight")
        } else {
            Err(CgroupError::Unsupported {
                field,
                path: dir.join("io.weight"),
            })
        }
    };
    let weight = |w: u16| {
        if bfq {
            u64::from(w)
        } else {
            blkio_to_io_weight(w)
        }
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let file = weight_file("blockIO.weight")?;
        fs::write(fs, dir, file, &weight(w).to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let file = weight_file("blockIO.weightDevice")?;
            let line = format!("{}:{} {}", d.major(), d.minor(), weight(w));
            fs::write(fs, dir, file, &line)?;
        }
    }
    for (list, key) in [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ] {
        for d in list.iter().flatten() {
            // v1's 0 ("no limit") is v2's "max".
            let rate = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            let line = format!("{}:{} {key}={rate}", d.major(), d.minor());
            fs::write(fs, dir, "io.max", &line)?;
        }
    }
    Ok(())
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let text = fs::read_opt(fs, dir, "io.stat")?.unwrap_or_default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder};

    #[test]
    fn weight_conversion() {
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
    }

    #[test]
    fn weight_and_io_max() {
        let fs = FakeFs::new();
        fs.set("/c/io.weight", "default 100");
        fs.set("/c/io.max", "");
        let t = |maj: i64, rate: u64| {
            LinuxThrottleDeviceBuilder::default()
                .major(maj)
                .minor(0)
                .rate(rate)
                .build()
                .unwrap()
        };
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .throttle_read_bps_device(vec![t(8, 1024)])
            .throttle_write_iops_device(vec![t(253, 0)])
            .build()
            .unwrap();
        set(&fs, Path::new("/c"), &b).unwrap();
        assert_eq!(
            fs.writes_in("/c"),
            [
                ("io.weight".into(), "4950".into()),
                ("io.max".into(), "8:0 rbps=1024".into()),
                ("io.max".into(), "253:0 wiops=max".into()),
            ]
        );
    }

    #[test]
    fn bfq_takes_raw_weight() {
        let fs = FakeFs::new();
        fs.set("/c/io.bfq.weight", "100");
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .build()
            .unwrap();
        set(&fs, Path::new("/c"), &b).unwrap();
        assert_eq!(fs.get("/c/io.bfq.weight").as_deref(), Some("500"));
    }

    #[test]
    fn io_stat() {
        let fs = FakeFs::new();
        fs.set(
            "/c/io.stat",
            "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        );
        let mut s = Stats::default();
        stats(&fs, Path::new("/c"), &mut s).unwrap();
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        assert_eq!(s.blkio.io_service_bytes_recursive[0].value, 4096);
        assert_eq!(s.blkio.io_serviced_recursive[0].op, "Read");
    }
}
