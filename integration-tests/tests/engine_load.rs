//! Load at CI size (issue 7 point 5): 100 containers created, started,
//! waited for and removed through engine-api in rounds of 20, at most 20 in
//! flight, then 50 running at once, twice. berthd's RSS and open fds must
//! come back to the baseline (its figures after the first round) within
//! `load::Slack::default()` after every round, its fds also after the running
//! ones are removed, and its RSS after the second running round to where the
//! first left it; and nothing may be left: no shim or other process, no mount, no
//! cgroup, no container or shim state dir. A leak of one fd per container
//! puts a round 20 fds over a slack of 4. `berth-load` runs the full size.
//! Root only.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use berth_engine_api::Client;
use berth_integration_tests::engine::Engine;
use berth_integration_tests::load::{self, LoadConfig, Slack, Target};

#[test]
fn berthd_returns_to_baseline_and_leaves_nothing() -> Result<()> {
    let e = Engine::start()?;
    let pid = e.berthd_pid().context("berthd is not running")?;
    let needle = e.state().display().to_string();
    let cfg = LoadConfig {
        total: 100,
        round: 20,
        concurrency: 20,
        running: 50,
        samples: 20,
        ..LoadConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let report = rt.block_on(async {
        let client = Client::connect(e.socket()).await?;
        let target = Target {
            client: client.clone(),
            berthd_pid: pid,
            shim_needle: &needle,
        };
        let report = load::run(&target, &cfg, Slack::default()).await;
        let left = client.containers().list(true, &[], 0).await?;
        anyhow::Ok((report, left))
    });
    let (report, listed) = report?;
    let report = report.with_context(|| format!("berthd log:\n{}", e.berthd_log()))?;
    println!("{report}\n(in {:.1} s)", started.elapsed().as_secs_f64());

    ensure!(
        report.failures().is_empty(),
        "berthd did not come back to its baseline: {:?}\n{report}",
        report.failures()
    );
    ensure!(
        report.created.len() == cfg.total + cfg.running * cfg.running_rounds,
        "{} containers created, expected {}",
        report.created.len(),
        cfg.total + cfg.running * cfg.running_rounds
    );
    ensure!(
        report.running.len() == cfg.running_rounds,
        "{} running rounds",
        report.running.len()
    );
    for r in &report.running {
        ensure!(
            r.shims.count == cfg.running,
            "{} shims for {} running containers",
            r.shims.count,
            cfg.running
        );
    }
    ensure!(listed.is_empty(), "containers still listed: {listed:?}");
    // Removal is synchronous: by the time remove answered, the shim, the
    // mounts and the cgroup must be gone; give stragglers a moment anyway
    // so a failure means "left", not "slow".
    let mut left = Vec::new();
    let clean = berth_integration_tests::engine::eventually(Duration::from_secs(5), || {
        left = load::leftovers(&e);
        left.extend(load::cgroups_left(&report.created));
        left.is_empty()
    });
    ensure!(clean, "left behind: {left:?}");
    Ok(())
}
