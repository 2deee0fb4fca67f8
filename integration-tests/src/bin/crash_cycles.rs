//! `crash-cycles`: the crash-consistency run by hand (issue 7 point 4).
//!
//! `crash-cycles [--cycles N] [--seed S] [--workers W] [--shim]
//! [--kill-after MIN-MAX]` starts a private berthd (binaries from
//! `$BERTH_BIN_DIR` or `target/release`), runs N cycles of a seeded workload
//! with a SIGKILL of berthd (or with `--shim`, of one shim) at a random moment
//! in each, checks every invariant after each, and prints the seed, each
//! cycle's findings and a summary table. Exit status 1 on any violation,
//! 2 on a usage or setup error. Root only.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_integration_tests::crash::{self, Config, Target};

const USAGE: &str =
    "usage: crash-cycles [--cycles N] [--seed S] [--workers W] [--shim] [--kill-after MIN-MAX]
  --cycles N         cycles to run (default 10)
  --seed S           seed, decimal or 0x-hex (default: $BERTH_CRASH_SEED, else from the clock)
  --workers W        concurrent workers (default 3)
  --shim             SIGKILL one shim per cycle instead of berthd
  --kill-after A-B   kill between A and B ms after the workers start (default 200-1500)";

fn parse(args: &[String]) -> Result<Option<Config>> {
    let mut cfg = Config::new(Target::Berthd, 10, crash::seed_from_env());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--cycles" => {
                cfg.cycles = value("--cycles")?
                    .parse()
                    .context("--cycles wants a number")?
            }
            "--seed" => {
                let s = value("--seed")?;
                cfg.seed = crash::parse_seed(&s)
                    .with_context(|| format!("--seed {s:?}: want a decimal or 0x-hex u64"))?;
            }
            "--workers" => {
                cfg.workers = value("--workers")?
                    .parse()
                    .context("--workers wants a number")?;
                if cfg.workers == 0 {
                    bail!("--workers must be at least 1");
                }
            }
            "--kill-after" => {
                let s = value("--kill-after")?;
                let (lo, hi) = s
                    .split_once('-')
                    .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                    .with_context(|| format!("--kill-after {s:?}: want MIN-MAX in ms"))?;
                if lo >= hi {
                    bail!("--kill-after {s:?}: MIN must be below MAX");
                }
                cfg.kill_after_ms = (lo, hi);
            }
            "--shim" => cfg.target = Target::Shim,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(cfg))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse(&args) {
        Ok(Some(c)) => c,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-cycles: {e:#}");
            return ExitCode::from(2);
        }
    };
    let summary = match crash::run(&cfg, &mut |line| println!("{line}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("crash-cycles: setting up the engine: {e}");
            return ExitCode::from(2);
        }
    };
    println!();
    print!("{}", summary.table());
    if summary.ok() {
        ExitCode::SUCCESS
    } else {
        println!(
            "FAILED: replay with --seed {} (or BERTH_CRASH_SEED={})",
            cfg.seed, cfg.seed
        );
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_parse_and_bad_ones_say_why() {
        let c = parse(&args(
            "--cycles 100 --seed 0x10 --workers 2 --shim --kill-after 50-60",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.cycles, c.seed, c.workers, c.target),
            (100, 16, 2, Target::Shim)
        );
        assert_eq!(c.kill_after_ms, (50, 60));
        let e = parse(&args("--cycles")).unwrap_err().to_string();
        assert!(e.contains("--cycles needs a value"), "{e}");
        let e = parse(&args("--kill-after 9-3")).unwrap_err().to_string();
        assert!(e.contains("MIN must be below MAX"), "{e}");
        assert!(parse(&args("--bogus")).is_err());
    }
}
