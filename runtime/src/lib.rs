//! berth-runtime: a runc-compatible OCI runtime.
//!
//! A bundle (`config.json` + rootfs) in, an isolated, resource-limited process out.
//! Synchronous code only (no tokio): a run is short and must start fast. The binary
//! (`main.rs`) parses runc's command line with the structs in `cli/` and makes one
//! call into this library per verb.
//!
//! Module ownership:
//! - `container/`  state on disk and one file per lifecycle verb
//! - `process/`    clone of the init process, the init sequence, parent<->child channel
//! - `namespaces`  clone flags, setns for `path` namespaces, uid/gid maps
//! - `rootfs/`     mounts, devices, /dev symlinks, pivot_root, masked/readonly paths
//! - `cgroups/`    v1, v2 and hybrid managers, stats, freezer
//! - `capabilities`, `seccomp`, `hooks`, `rlimits`, `scheduler`, `user`: process security,
//!   scheduling and spec hooks
//! - `console`     the pty of `process.terminal` and `--console-socket`
//! - `logging`     runc-style log lines (`--log`, `--log-format`)
//! - `requirements` (tests only) what a root test needs from the machine; a missing
//!   one fails the test unless `BERTH_TEST_SKIP_MISSING=1`

pub mod capabilities;
pub mod cgroups;
pub mod cli;
pub mod console;
pub mod container;
pub mod hooks;
pub mod logging;
pub mod namespaces;
pub mod process;
#[cfg(test)]
mod requirements;
pub mod rlimits;
pub mod rootfs;
pub mod scheduler;
pub mod seccomp;
pub mod user;

/// The OCI runtime-spec version this runtime implements: the `ociVersion` of the
/// state it prints and hands to hooks, and the `--version` and `features` maximum.
pub const OCI_VERSION: &str = "1.2.0";
