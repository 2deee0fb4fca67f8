//! What a berthd test needs from the machine beyond root (containerd, dockerd, a
//! built berth-init). A missing requirement FAILS the test, naming what to install:
//! an interop check that passes without having run proves nothing. The one way out
//! is for the run to opt out explicitly with `BERTH_TEST_SKIP_MISSING=1` (documented
//! in integration-tests/README.md); the test then prints `SKIPPED: ...` and returns.
//! CI never sets it.
#![allow(dead_code)]

/// The environment variable that turns a missing requirement into a printed skip.
/// Only the value `1` counts.
pub const SKIP_MISSING_ENV: &str = "BERTH_TEST_SKIP_MISSING";

/// `binary` is a file in one of `$PATH`'s directories.
pub fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
}

/// The test found the machine lacking `needs` (with how to get it): a panic, or
/// with `BERTH_TEST_SKIP_MISSING=1` a printed skip for the caller's `return`.
pub fn host_lacks(needs: &str) {
    if std::env::var_os(SKIP_MISSING_ENV).is_some_and(|v| v == "1") {
        eprintln!("SKIPPED ({SKIP_MISSING_ENV}=1): this test needs {needs}");
        return;
    }
    panic!(
        "this test needs {needs}. Install what is missing, or set {SKIP_MISSING_ENV}=1 \
         to skip the tests that need it (never in CI)"
    );
}
