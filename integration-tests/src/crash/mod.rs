//! Crash consistency (issue 7 point 4): a seeded mix of operations from
//! several workers runs against a private berthd; at a random moment berthd
//! (or one shim) gets SIGKILL; berthd is restarted on the same root and
//! state, and every invariant of [`invariants`] is checked against the
//! kernel and the disk. Cycles run on the same daemon root, so state
//! accumulates the way it does on a real host.
//!
//! - [`rng`]: the seeded PRNG; the seed is printed first, and the same seed
//!   replays the same operation mix and kill delays.
//! - [`ops`]: the operation mix and the workload's model of what it did.
//! - [`invariants`]: the checks.
//!
//! Used by the `crash-cycles` binary (`--cycles 100` by hand) and by
//! `tests/engine_crash.rs` (a few cycles in CI).

pub mod invariants;
pub mod ops;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::{self, Engine};
use crate::error::SupportError;
use invariants::{Expect, Kind, Probe, Violation};
use ops::{OpKind, OpStats, Shared, World};
use rng::Rng;

/// What gets SIGKILL in each cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// berthd; it is restarted on the same root and state.
    Berthd,
    /// One live shim, picked at random; berthd keeps running.
    Shim,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Berthd => "berthd",
            Target::Shim => "shim",
        }
    }
}

/// One run of cycles.
#[derive(Debug, Clone)]
pub struct Config {
    pub cycles: u32,
    pub seed: u64,
    pub workers: u32,
    pub target: Target,
    /// The kill comes this long after the workers start: a uniform pick in
    /// `kill_after_ms.0 .. kill_after_ms.1`.
    pub kill_after_ms: (u64, u64),
}

impl Config {
    pub fn new(target: Target, cycles: u32, seed: u64) -> Config {
        Config {
            cycles,
            seed,
            workers: 3,
            target,
            kill_after_ms: (200, 1500),
        }
    }
}

/// A seed from `$BERTH_CRASH_SEED` (decimal or 0x-hex), else from the clock.
pub fn seed_from_env() -> u64 {
    std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|s| parse_seed(&s))
        .unwrap_or_else(time_seed)
}

pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

pub fn time_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Rng::new(now.as_nanos() as u64 ^ u64::from(std::process::id())).next_u64()
}

/// What one cycle did and found.
#[derive(Debug)]
pub struct CycleReport {
    pub n: u32,
    pub ops: OpStats,
    pub kill_after: Duration,
    /// What was killed ("berthd", "shim of <id>", or "nothing").
    pub killed: String,
    /// Operations in flight at the kill.
    pub in_flight: Vec<OpKind>,
    pub restart: Duration,
    pub check: Duration,
    /// Violations not already reported in an earlier cycle.
    pub new: Vec<Violation>,
    pub containers: usize,
    pub running: usize,
}

impl CycleReport {
    pub fn line(&self, of: u32) -> String {
        let (ok, failed, cut) = self
            .ops
            .by_kind
            .values()
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        let flight: Vec<&str> = self.in_flight.iter().map(|k| k.label()).collect();
        format!(
            "cycle {}/{of}: {} ops ({ok} ok, {failed} refused, {cut} cut); killed {} at {} ms during [{}]; \
             restart {} ms, check {} ms; {} containers, {} running; {} new violations",
            self.n,
            ok + failed + cut,
            self.killed,
            self.kill_after.as_millis(),
            flight.join(", "),
            self.restart.as_millis(),
            self.check.as_millis(),
            self.containers,
            self.running,
            self.new.len()
        )
    }
}

/// The whole run.
#[derive(Debug)]
pub struct Summary {
    pub config: Config,
    pub cycles: Vec<CycleReport>,
    pub elapsed: Duration,
    /// A run cut short (berthd did not come back): why.
    pub aborted: Option<String>,
}

impl Summary {
    pub fn violations(&self) -> impl Iterator<Item = (u32, &Violation)> {
        self.cycles
            .iter()
            .flat_map(|c| c.new.iter().map(move |v| (c.n, v)))
    }

    pub fn ok(&self) -> bool {
        self.aborted.is_none() && self.violations().next().is_none()
    }

    pub fn ops(&self) -> OpStats {
        let mut s = OpStats::default();
        for c in &self.cycles {
            s.merge(&c.ops);
        }
        s
    }

    pub fn kills(&self) -> usize {
        self.cycles.iter().filter(|c| c.killed != "nothing").count()
    }

    /// The summary table: operations, then violations by kind.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let c = &self.config;
        let _ = writeln!(
            t,
            "crash-cycles: target {} seed {} (0x{:x}) workers {}: {} cycles, {} kills, {} ops, {:.1} s",
            c.target.label(),
            c.seed,
            c.seed,
            c.workers,
            self.cycles.len(),
            self.kills(),
            self.ops().total(),
            self.elapsed.as_secs_f64()
        );
        let _ = writeln!(
            t,
            "{:<16} {:>6} {:>8} {:>6}",
            "operation", "ok", "refused", "cut"
        );
        let ops = self.ops();
        for k in OpKind::ALL {
            let (a, b, x) = ops.by_kind.get(&k).copied().unwrap_or_default();
            let _ = writeln!(t, "{:<16} {a:>6} {b:>8} {x:>6}", k.label());
        }
        let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
        for (_, v) in self.violations() {
            *by_kind.entry(v.kind).or_default() += 1;
        }
        let _ = writeln!(t, "{:<24} {:>6}", "violation", "count");
        for k in Kind::ALL {
            let _ = writeln!(t, "{:<24} {:>6}", k.label(), by_kind.get(&k).unwrap_or(&0));
        }
        let total: usize = by_kind.values().sum();
        let _ = writeln!(t, "{:<24} {total:>6}", "total");
        if !ops.refusals.is_empty() {
            let _ = writeln!(t, "sample refusals (while berthd was up):");
            for (k, v) in &ops.refusals {
                for s in v {
                    let _ = writeln!(t, "  {:<14} {s}", k.label());
                }
            }
        }
        if !ops.surprises.is_empty() {
            let _ = writeln!(
                t,
                "unexpected refusals and slow calls (first {}):",
                ops.surprises.len()
            );
            for s in &ops.surprises {
                let _ = writeln!(t, "  {s}");
            }
        }
        if let Some(why) = &self.aborted {
            let _ = writeln!(t, "ABORTED: {why}");
        }
        t
    }
}

/// Runs the cycles; `out` gets the seed first, then a line per cycle and
/// one per new violation. Everything the run started is gone when this
/// returns.
pub fn run(cfg: &Config, out: &mut dyn FnMut(&str)) -> Result<Summary, SupportError> {
    out(&format!(
        "crash-cycles: seed {} (BERTH_CRASH_SEED={} replays it), target {}, {} workers, {} cycles",
        cfg.seed,
        cfg.seed,
        cfg.target.label(),
        cfg.workers,
        cfg.cycles
    ));
    let t0 = Instant::now();
    let mut e = Engine::start()?;
    let runtime = engine::binary("berth-runtime")?;
    let world = Mutex::new(World::default());
    let mut summary = Summary {
        config: cfg.clone(),
        cycles: Vec::new(),
        elapsed: Duration::ZERO,
        aborted: None,
    };
    let mut reported: BTreeSet<(Kind, String)> = BTreeSet::new();
    let mut survivors: BTreeMap<String, i64> = BTreeMap::new();
    for n in 1..=cfg.cycles {
        let r = cycle(
            cfg,
            n,
            &mut e,
            &runtime,
            &world,
            &mut survivors,
            &mut reported,
        );
        match r {
            Ok(rep) => {
                out(&rep.line(cfg.cycles));
                for v in &rep.new {
                    out(&format!("  {v}"));
                }
                summary.cycles.push(rep);
            }
            Err(why) => {
                out(&format!("cycle {n}: {why}"));
                summary.aborted = Some(format!("cycle {n}: {why}"));
                break;
            }
        }
    }
    let ever = std::mem::take(&mut world.lock().unwrap_or_else(|p| p.into_inner()).ever);
    if !summary.ok() {
        // The daemon's side of a failed run outlives the temp dir.
        let kept = std::env::temp_dir().join(format!(
            "crash-{}-{}-berthd.log",
            cfg.target.label(),
            cfg.seed
        ));
        if std::fs::copy(e.dir().join("berthd.log"), &kept).is_ok() {
            out(&format!("berthd's log kept at {}", kept.display()));
        }
    }
    drop(e);
    // What the engine's own cleanup cannot see: cgroups of containers whose
    // dirs are gone already.
    for id in &ever {
        let cg = engine::cgroup_path(id);
        for d in crate::cgroup::existing_dirs(&cg) {
            if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) has no memory effects; the cgroup is one
                    // of this run's containers.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
    }
    if !ever.is_empty() {
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in &ever {
        crate::cgroup::remove_all(&engine::cgroup_path(id));
    }
    summary.elapsed = t0.elapsed();
    Ok(summary)
}

fn lock(world: &Mutex<World>) -> std::sync::MutexGuard<'_, World> {
    world.lock().unwrap_or_else(|p| p.into_inner())
}

/// One cycle: workload, kill, restart, check. `Err` only when berthd does
/// not come back (nothing more can be checked).
fn cycle(
    cfg: &Config,
    n: u32,
    e: &mut Engine,
    runtime: &std::path::Path,
    world: &Mutex<World>,
    survivors: &mut BTreeMap<String, i64>,
    reported: &mut BTreeSet<(Kind, String)>,
) -> Result<CycleReport, String> {
    lock(world).touched.clear();
    let mut main = Rng::derive(cfg.seed, u64::from(n), 1 << 20);
    let kill_after = Duration::from_millis(main.range(cfg.kill_after_ms.0, cfg.kill_after_ms.1));
    let stop = AtomicBool::new(false);
    let killed_flag = AtomicBool::new(false);
    let current: Vec<Mutex<Option<OpKind>>> = (0..cfg.workers).map(|_| Mutex::new(None)).collect();
    let mut ops = OpStats::default();
    let mut killed = "nothing".to_string();
    let mut in_flight = Vec::new();
    let mut shim_killed = None;
    {
        let e: &Engine = e;
        let sh = Shared {
            engine: e,
            world,
            stop: &stop,
            killed_flag: &killed_flag,
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..cfg.workers)
                .map(|w| {
                    let (sh, cur) = (&sh, &current[w as usize]);
                    let rng = Rng::derive(cfg.seed, u64::from(n), u64::from(w));
                    s.spawn(move || ops::worker(sh, rng, cur))
                })
                .collect();
            std::thread::sleep(kill_after);
            in_flight = current
                .iter()
                .filter_map(|c| *c.lock().unwrap_or_else(|p| p.into_inner()))
                .collect();
            match cfg.target {
                Target::Berthd => {
                    killed_flag.store(true, Ordering::SeqCst);
                    if let Some(pid) = e.berthd_pid() {
                        // SAFETY: kill(2) has no memory effects; the pid is
                        // this engine's berthd, not yet reaped.
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                        killed = "berthd".into();
                    }
                    stop.store(true, Ordering::SeqCst);
                }
                Target::Shim => {
                    let probe = Probe {
                        engine: e,
                        runtime: runtime.to_path_buf(),
                    };
                    let shims: Vec<(i32, String)> = probe.shim_processes().into_iter().collect();
                    killed_flag.store(true, Ordering::SeqCst);
                    if let Some((pid, id)) = main.pick(&shims).cloned() {
                        let init = probe.shim_file_pid(&id, "init.pid");
                        // SAFETY: kill(2) has no memory effects; the pid is a
                        // shim of this engine.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        killed = format!("shim of {}", &id[..id.len().min(12)]);
                        {
                            let mut w = lock(world);
                            w.touched.insert(id.clone());
                            // Its cgroup is checked even if no record shows it.
                            w.ever.insert(id.clone());
                        }
                        shim_killed = init.map(|p| (id, p));
                    }
                    // The workload goes on for a moment with the shim gone.
                    std::thread::sleep(Duration::from_millis(300));
                    stop.store(true, Ordering::SeqCst);
                }
            }
            for h in handles {
                if let Ok(st) = h.join() {
                    ops.merge(&st);
                }
            }
        });
    }
    let t_restart = Instant::now();
    if cfg.target == Target::Berthd {
        e.kill9_berthd();
        e.spawn_berthd()
            .map_err(|x| format!("berthd did not come back: {x}"))?;
    }
    let restart = t_restart.elapsed();
    let expect = {
        let w = lock(world);
        Expect {
            maybe_paused: w.maybe_paused.clone(),
            survivors: survivors
                .iter()
                .filter(|(id, _)| !w.touched.contains(*id))
                .map(|(id, p)| (id.clone(), *p))
                .collect(),
            ever: w.ever.clone(),
            shim_killed,
        }
    };
    let probe = Probe {
        engine: e,
        runtime: runtime.to_path_buf(),
    };
    let f = invariants::check(&probe, &expect);
    let new: Vec<Violation> = f
        .violations
        .iter()
        .filter(|v| reported.insert((v.kind, v.subject.clone())))
        .cloned()
        .collect();
    {
        let mut w = lock(world);
        w.containers = f
            .records
            .iter()
            .map(|r| (r.id.clone(), r.is_loop))
            .collect();
        w.ever.extend(f.records.iter().map(|r| r.id.clone()));
        w.running = f.running.keys().cloned().collect();
        // Forget pauses that did not take (refused, or cut before the
        // freezer) and containers that are gone.
        w.maybe_paused = f
            .records
            .iter()
            .filter(|r| w.maybe_paused.contains(&r.id))
            .filter(|r| {
                r.status == "paused"
                    || crate::cgroup::read("freezer", &engine::cgroup_path(&r.id), "freezer.state")
                        .is_ok_and(|s| s == "FROZEN")
            })
            .map(|r| r.id.clone())
            .collect();
    }
    *survivors = f.running.clone();
    Ok(CycleReport {
        n,
        ops,
        kill_after,
        killed,
        in_flight,
        restart,
        check: f.took,
        new,
        containers: f.records.len(),
        running: f.running.len(),
    })
}
