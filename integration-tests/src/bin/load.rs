//! berth-load: a private berthd (on a temp dir, from the release binaries)
//! under load through engine-api; prints the figures of
//! `berth_integration_tests::load` as markdown tables. Root only.
//!
//! `berth-load --total 1000 --round 100 --concurrency 20 --running 500`
//! (those are the defaults). Exits 1 when berthd did not come back to its
//! baseline, or the run left a process, mount, cgroup or dir behind.

use std::process::ExitCode;

use berth_engine_api::{Client, NetworkMode};
use berth_integration_tests::engine::Engine;
use berth_integration_tests::load::{self, LoadConfig, Slack, Target};

const USAGE: &str = "\
usage: berth-load [--total N] [--round N] [--concurrency N] [--running N]
                  [--running-rounds N] [--samples N] [--network none|bridge|host]
                  [--rss-slack-kb N] [--fd-slack N]

Creates, starts, waits for and removes --total containers in rounds of --round,
at most --concurrency at once, reading berthd's RSS and fds after each round;
then runs --running `sleep` containers at once and times --samples `list` and
`inspect` calls and reads the memory of their shims; --running-rounds times
(default 2: the second must bring berthd back to where the first left it).";

fn parse() -> Result<(LoadConfig, Slack), String> {
    let mut cfg = LoadConfig::default();
    let mut slack = Slack::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let num = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a count\n{USAGE}"))
        };
        match flag.as_str() {
            "--total" => cfg.total = num()?,
            "--round" => cfg.round = num()?.max(1),
            "--concurrency" => cfg.concurrency = num()?.max(1),
            "--running" => cfg.running = num()?,
            "--running-rounds" => cfg.running_rounds = num()?,
            "--samples" => cfg.samples = num()?.max(1),
            "--rss-slack-kb" => slack.rss_kb = num()? as u64,
            "--fd-slack" => slack.fds = num()? as u64,
            "--network" => {
                cfg.network = match value.as_str() {
                    "none" => NetworkMode::None,
                    "bridge" => NetworkMode::Bridge,
                    "host" => NetworkMode::Host,
                    other => {
                        return Err(format!("--network: {other:?}: one of none, bridge, host"))
                    }
                }
            }
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok((cfg, slack))
}

fn main() -> ExitCode {
    let (cfg, slack) = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg, slack) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("berth-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &LoadConfig, slack: Slack) -> Result<bool, String> {
    let engine = Engine::start().map_err(|e| format!("starting berthd: {e}"))?;
    let pid = engine
        .berthd_pid()
        .ok_or("berthd is not running after start")?;
    let needle = engine.state().display().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let report = rt.block_on(async {
        let client = Client::connect(engine.socket())
            .await
            .map_err(|e| format!("connecting to berthd: {e}"))?;
        let target = Target {
            client,
            berthd_pid: pid,
            shim_needle: &needle,
        };
        load::run(&target, cfg, slack)
            .await
            .map_err(|e| format!("{e}\nberthd log tail:\n{}", tail(&engine.berthd_log(), 20)))
    })?;
    println!("{report}");
    // For a look at the idle berthd from outside (gdb, smaps) before it goes.
    if let Some(secs) = std::env::var("BERTH_LOAD_HOLD")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        println!("holding berthd (pid {pid}) for {secs} s (BERTH_LOAD_HOLD)");
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    let mut ok = report.failures().is_empty();
    let left = load::leftovers(&engine);
    let cgroups = load::cgroups_left(&report.created);
    if !left.is_empty() || !cgroups.is_empty() {
        ok = false;
        println!("left behind: {left:?} cgroups {cgroups:?}");
    } else {
        println!(
            "left behind: nothing ({} containers created and removed)",
            report.created.len()
        );
    }
    Ok(ok)
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
