//! Crash consistency (issue 7 point 4): a seeded workload of several workers
//! (run -d, run --rm, rm -f, commit, pause/unpause, volume create/use/rm,
//! tag/rmi) with SIGKILL of berthd, or of one shim, at a random moment; after
//! each kill every invariant of `crash::invariants` is checked against the
//! kernel and the disk. The seed is printed (and repeated in the failure):
//! `BERTH_CRASH_SEED=<seed>` replays the operation mix and kill moments;
//! `BERTH_CRASH_CYCLES=<n>` runs more cycles. The long run is the
//! `crash-cycles` binary (`--cycles 100`). Root only.

use anyhow::{bail, ensure, Result};
use berth_integration_tests::crash::{self, Config, Target};
use berth_integration_tests::engine::Engine;
use berth_integration_tests::requirements::{self, Requirement};

fn cycles(default: u32) -> u32 {
    std::env::var("BERTH_CRASH_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn run_cycles(target: Target, n: u32) -> Result<()> {
    if !requirements::met(&[Requirement::Root, Requirement::Busybox]) {
        return Ok(());
    }
    let cfg = Config::new(target, n, crash::seed_from_env());
    let mut log = String::new();
    let summary = crash::run(&cfg, &mut |line| {
        println!("{line}");
        log.push_str(line);
        log.push('\n');
    })?;
    let table = summary.table();
    println!("{table}");
    if !summary.ok() {
        bail!(
            "crash consistency broken (seed {seed}; replay with BERTH_CRASH_SEED={seed}):\n{log}\n{table}",
            seed = cfg.seed
        );
    }
    Ok(())
}

#[test]
fn kill9_of_berthd_amid_a_workload_breaks_no_invariant() -> Result<()> {
    run_cycles(Target::Berthd, cycles(10))
}

#[test]
fn kill9_of_a_shim_amid_a_workload_breaks_no_invariant() -> Result<()> {
    run_cycles(Target::Shim, cycles(4))
}

/// The issue's own case: `run -v v:/d -u 4294967296` fails (no such uid),
/// and must give back the claim on `v` it took at create.
#[test]
fn a_run_refused_for_its_user_gives_back_its_volume_claim() -> Result<()> {
    if !requirements::met(&[Requirement::Root, Requirement::Busybox]) {
        return Ok(());
    }
    let e = Engine::start()?;
    e.ok(&["volume", "create", "claimed"])?;
    let o = e.cli(&[
        "run",
        "-v",
        "claimed:/d",
        "-u",
        "4294967296",
        "busybox",
        "true",
    ])?;
    ensure!(!o.success(), "a uid past u32 was accepted");
    let left = e.ok(&["ps", "-aq"])?;
    ensure!(
        left.is_empty(),
        "the refused container is still listed: {left}"
    );
    let o = e.cli(&["volume", "rm", "claimed"])?;
    ensure!(
        o.success(),
        "volume rm of a volume no container uses failed: {}",
        o.stderr.trim()
    );
    let o = e.cli(&["volume", "inspect", "claimed"])?;
    ensure!(!o.success(), "the volume is still there after volume rm");
    Ok(())
}
