//! Test support for the end-to-end suites: everything a test needs to run a
//! real OCI runtime binary (Debian's runc or berth-runtime) against the real
//! kernel and read back what happened.
//!
//! - [`checker`] builds the static `berth-checker` once per test run; it runs
//!   inside containers and reports what it sees.
//! - [`build`] what the builder suites share (contexts, `berth build`, leftovers).
//! - [`bundle`] makes a busybox bundle with the checker in it and a
//!   `config.json` a test edits as JSON.
//! - [`runtime`] drives a runtime binary (`--root` in a temp dir, every call
//!   with a timeout) and owns the cleanup guards.
//! - [`console`] receives the pty master sent over `--console-socket`.
//! - [`report`] decodes what the checker printed.
//! - [`cgroup`] reads the host's cgroup files, the kernel's side of a limit.
//! - [`dockerd`] a private dockerd, oracle and peer.
//! - [`engine`] a private berthd driven through the `berth` CLI.
//! - [`crash`] kill -9 of berthd or a shim amid a seeded workload, and the
//!   invariants that must hold afterwards (`crash-cycles`, `engine_crash`).
//! - [`load`] (feature `load`, on by default) berthd under load through
//!   engine-api: the library of `berth-load` and `tests/engine_load.rs`.
//! - [`netns`] a network namespace of a test's own, for what it serves and dials.
//! - [`registry`] Debian's distribution registry on a free port, plain or TLS.
//! - [`requirements`] what a test needs from the machine: a missing one fails
//!   the test unless `BERTH_TEST_SKIP_MISSING=1`.
//!
//! Every case of the conformance suite runs against both runtimes, so runc
//! checks the suite itself: see the README for the cases runc fails here.

pub mod build;
pub mod bundle;
pub mod cgroup;
pub mod checker;
pub mod console;
pub mod crash;
pub mod dockerd;
pub mod engine;
pub mod error;
pub mod fake_registry;
#[cfg(feature = "load")]
pub mod load;
pub mod netns;
pub mod registry;
pub mod report;
pub mod requirements;
pub mod runtime;
pub mod seccomp_agent;

pub use bundle::Bundle;
pub use error::SupportError;
pub use report::Report;
pub use runtime::{Container, Driver, Runtime};

/// Defines conformance cases, each run once per runtime.
///
/// `fn name(rt) { ... }` becomes the module `name` with the tests `name::runc`
/// and `name::berth`, so `cargo test ::runc` runs the runc halves only. A case
/// that runc 1.1.5 fails on this machine carries `#[runc_fails = "why"]` and
/// `#[runc_shows = "text"]`: its runc half becomes `name::runc_fails_here`, which
/// passes only while runc still fails *with an error containing the text* (so the
/// table in the README stays true), after checking that runc is there and runs a
/// plain container (an absent or broken runc fails it: see [`requirements`]).
#[macro_export]
macro_rules! conformance {
    ($(
        $(#[doc = $doc:literal])*
        $(#[runc_fails = $why:literal] #[runc_shows = $shows:literal])?
        fn $name:ident($rt:ident) $body:block
    )*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unreachable_code, clippy::unit_arg)]
            fn case($rt: $crate::Runtime) -> ::anyhow::Result<()> {
                $body;
                Ok(())
            }

            $crate::conformance!(@runc $($why, $shows)?);

            #[test]
            fn berth() -> ::anyhow::Result<()> {
                case($crate::Runtime::Berth)
            }
        }
    )*};
    (@runc) => {
        #[test]
        fn runc() -> ::anyhow::Result<()> {
            case($crate::Runtime::Runc)
        }
    };
    (@runc $why:literal, $shows:literal) => {
        #[test]
        fn runc_fails_here() {
            if !$crate::requirements::runc_runs_here() {
                return;
            }
            match case($crate::Runtime::Runc) {
                Ok(()) => panic!(
                    "runc was documented to fail this case ({}) but passed: update the table in integration-tests/README.md",
                    $why
                ),
                Err(e) => $crate::requirements::documented_failure(&e, $why, $shows),
            }
        }
    };
}
