//! What the suites need from the machine (root, busybox, a runc that can run a
//! container, a dockerd that starts), checked before a test does anything.
//!
//! A missing requirement FAILS the test, naming what to install: a conformance case
//! that passes without having run proves nothing. The one way out is for the run to
//! opt out explicitly with `BERTH_TEST_SKIP_MISSING=1` (a developer's machine without
//! docker, say); the test then prints `SKIPPED: ...` and returns. CI never sets it.
//!
//! The documented runc failures (`#[runc_fails]` in [`crate::conformance`]) use
//! [`runc_runs_here`] first, so an absent or broken runc is a failure of the test,
//! never the failure the table documents; then [`documented_failure`] wants the
//! outcome runc is documented to show.

use crate::bundle::Bundle;
use crate::runtime::{Driver, Runtime};
use std::path::Path;
use std::process::{Command, Stdio};

/// The environment variable that turns a missing requirement from a failure into a
/// printed skip. Only the value `1` counts.
pub const SKIP_MISSING_ENV: &str = "BERTH_TEST_SKIP_MISSING";

/// One thing a test needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Effective uid 0: every runtime call makes namespaces, mounts and cgroups.
    Root,
    /// `/usr/bin/busybox`, statically linked: the rootfs of every bundle.
    Busybox,
    /// runc (`$RUNC`, else `/usr/sbin/runc`), and it answers `--version`.
    Runc,
}

impl Requirement {
    /// What is missing and how to get it, or `None` when the machine has it.
    pub fn missing(self) -> Option<String> {
        match self {
            Requirement::Root => (!nix::unistd::geteuid().is_root())
                .then(|| "root: run the suite as root (CI does)".to_string()),
            Requirement::Busybox => (!Path::new("/usr/bin/busybox").is_file())
                .then(|| "/usr/bin/busybox: apt-get install busybox-static".to_string()),
            Requirement::Runc => match Runtime::Runc.binary() {
                Err(e) => Some(e.to_string()),
                Ok(runc) => {
                    let answers = Command::new(&runc)
                        .arg("--version")
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success());
                    (!answers).then(|| {
                        format!(
                            "{} that runs: `{} --version` failed (apt-get install --reinstall runc)",
                            runc.display(),
                            runc.display()
                        )
                    })
                }
            },
        }
    }
}

/// Whether the test may go on. Everything present: `true`. Something missing: a
/// panic naming it, or with [`SKIP_MISSING_ENV`]`=1` a printed skip and `false`.
pub fn met(requirements: &[Requirement]) -> bool {
    let missing: Vec<String> = requirements.iter().filter_map(|r| r.missing()).collect();
    missing.is_empty() || skip_or_fail(&missing.join("; "))
}

/// For a requirement the test finds lacking itself (dockerd does not start): fails,
/// or prints the skip for the caller's `return`.
pub fn host_lacks(needs: &str) {
    skip_or_fail(needs);
}

/// The first step of a `runc_fails_here` test: root, busybox and runc are there
/// ([`met`]), and runc runs a plain container here. A runc that cannot is a failure
/// of the test, whatever the case: only a runc that works can show the documented
/// failure. `false` only when the run opted out of a missing requirement.
pub fn runc_runs_here() -> bool {
    if !met(&[Requirement::Root, Requirement::Busybox, Requirement::Runc]) {
        return false;
    }
    let sane = Driver::new(Runtime::Runc).and_then(|d| {
        let plain = Bundle::new(Runtime::Runc, "runcok", &["/checker", "exit", "0"])?;
        d.assert_functional(&plain)
    });
    if let Err(e) = sane {
        panic!("runc cannot run a plain container here, so no documented runc failure can be checked: {e}");
    }
    true
}

/// A documented runc failure: `error` (what the case returned for runc) must show
/// `shows`, the outcome the README's table documents; any other error (a timeout,
/// a missing file, a different refusal) is not that failure and fails the test.
pub fn documented_failure(error: &dyn std::fmt::Display, why: &str, shows: &str) {
    let text = format!("{error:#}");
    assert!(
        text.contains(shows),
        "runc was documented to fail this case ({why}) showing {shows:?}, but it failed otherwise: {text}"
    );
    eprintln!("runc fails as documented ({why}): {text}");
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
        let err = std::panic::catch_unwind(|| decide("dockerd: apt-get install docker.io", false))
            .unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("apt-get install docker.io"), "{msg}");
        assert!(msg.contains("BERTH_TEST_SKIP_MISSING=1"), "{msg}");
        assert!(!decide("x", true));
    }

    #[test]
    fn only_the_documented_outcome_counts_as_the_runc_failure() {
        let documented = anyhow::anyhow!("machine x86_64");
        documented_failure(&documented, "ignores personality", "machine x86_64");
        let other = anyhow::anyhow!("/usr/sbin/runc not found: apt-get install runc");
        let res = std::panic::catch_unwind(|| {
            documented_failure(&other, "ignores personality", "machine x86_64")
        });
        assert!(
            res.is_err(),
            "an absent runc passed as the documented failure"
        );
    }
}
