//! What a test needs from the machine (root, busybox, a cgroup hierarchy, a header
//! file, a host layout), checked before the test does anything. Test-only: the unit
//! tests get it as `crate::requirements`, the binary tests in `tests/` include this
//! same file, so the rule is written once for the crate.
//!
//! A missing requirement FAILS the test, with what to install or which host it
//! needs: a root test that passes without having run proves nothing. The one way
//! out is for the run to opt out explicitly with `BERTH_TEST_SKIP_MISSING=1` (a
//! developer's run without root, say); the test then prints `SKIPPED: ...` and
//! returns. CI never sets it.
#![allow(dead_code)]

use std::path::Path;

/// The environment variable that turns a missing requirement from a failure into a
/// printed skip. Only the value `1` counts.
pub const SKIP_MISSING_ENV: &str = "BERTH_TEST_SKIP_MISSING";

/// One thing a test needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Effective uid 0 (namespaces, mounts, cgroups).
    Root,
    /// `/usr/bin/busybox`, statically linked: it is copied into test rootfses.
    Busybox,
    /// A cgroup hierarchy mounted at `/sys/fs/cgroup`.
    CgroupFs,
    /// A file some package provides: its path and how to get it.
    File {
        path: &'static str,
        install: &'static str,
    },
}

impl Requirement {
    /// What is missing and how to get it, or `None` when the machine has it.
    pub fn missing(self) -> Option<String> {
        match self {
            Requirement::Root => (!nix::unistd::geteuid().is_root())
                .then(|| "root: run the tests as root (CI does)".to_string()),
            Requirement::Busybox => (!Path::new("/usr/bin/busybox").is_file())
                .then(|| "/usr/bin/busybox: apt-get install busybox-static".to_string()),
            Requirement::CgroupFs => (!Path::new("/sys/fs/cgroup").is_dir()).then(|| {
                "a cgroup hierarchy at /sys/fs/cgroup: mount cgroup2 (or the v1 controllers) there"
                    .to_string()
            }),
            Requirement::File { path, install } => {
                (!Path::new(path).is_file()).then(|| format!("{path}: {install}"))
            }
        }
    }
}

/// Whether the test may go on. Everything present: `true`. Something missing: a
/// panic naming it, or with [`SKIP_MISSING_ENV`]`=1` a printed skip and `false`.
pub fn met(requirements: &[Requirement]) -> bool {
    let missing: Vec<String> = requirements.iter().filter_map(|r| r.missing()).collect();
    missing.is_empty() || skip_or_fail(&missing.join("; "))
}

/// For a requirement the test computes itself (a controller on the v1 hierarchy, a
/// cgroup2 mount): `present`, or else [`met`]'s failure or skip with `needs`.
pub fn host_has(present: bool, needs: &str) -> bool {
    present || skip_or_fail(needs)
}

/// [`host_has`] for a `let ... else` that has found the host lacking: fails, or
/// prints the skip for the caller's `return`.
pub fn host_lacks(needs: &str) {
    skip_or_fail(needs);
}

/// Always `false` when it returns.
fn skip_or_fail(needs: &str) -> bool {
    decide(
        needs,
        std::env::var_os(SKIP_MISSING_ENV).is_some_and(|v| v == "1"),
    )
}

fn decide(needs: &str, skip: bool) -> bool {
    if skip {
        eprintln!("SKIPPED ({SKIP_MISSING_ENV}=1): this test needs {needs}");
        return false;
    }
    panic!(
        "this test needs {needs}. Install what is missing, or set {SKIP_MISSING_ENV}=1 \
         to skip the tests that need it (never in CI)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_requirement_fails_naming_the_fix_and_the_opt_out() {
        let err = std::panic::catch_unwind(|| decide("/x: apt-get install x", false)).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("apt-get install x"), "{msg}");
        assert!(msg.contains("BERTH_TEST_SKIP_MISSING=1"), "{msg}");
    }

    #[test]
    fn only_an_explicit_opt_out_skips() {
        assert!(!decide("x", true));
        assert!(host_has(true, "never asked"));
        let file = Requirement::File {
            path: "/nonexistent/berth-requirement",
            install: "apt-get install nothing",
        };
        assert_eq!(
            file.missing().as_deref(),
            Some("/nonexistent/berth-requirement: apt-get install nothing")
        );
    }
}
