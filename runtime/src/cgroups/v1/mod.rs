//! cgroup v1: one file per controller. Each exposes `set` (write the limits present in
//! its part of `LinuxResources`, in an order the kernel accepts) and `stats` (fill its
//! part of [`super::Stats`]). `pids`, `rdma` and `hugetlb` serve v2 too: their files differ
//! only in name.
pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuacct;
pub(crate) mod cpuset;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod net;
pub(crate) mod pids;
pub(crate) mod rdma;
