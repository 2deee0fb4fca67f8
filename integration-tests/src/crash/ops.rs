//! The seeded operation mix: what the workers do to berthd while it is killed.
//!
//! Every operation is a `berth` CLI call, the way a user drives the engine.
//! The workers share a [`World`], the workload's own model of what it made
//! (containers, volumes, tags) and of what it asked for (which containers it
//! may have paused), so the checks can tell a container frozen by a user from
//! one left frozen by a crash.
//!
//! The mix is bounded so that state accumulates across cycles without
//! swamping two cores: at most [`MAX_RUNNING`] log-writing containers, and
//! removals are favoured once [`MAX_CONTAINERS`] are known.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::rng::Rng;
use crate::engine::Engine;

/// Named volumes the workload uses (a small pool, so containers share them).
pub const VOLUMES: [&str; 3] = ["crash-v0", "crash-v1", "crash-v2"];
/// Container names the workload gives (a small pool, so names are reused
/// and a name kept by a container that is gone shows).
pub const NAMES: [&str; 4] = ["crash-n0", "crash-n1", "crash-n2", "crash-n3"];
/// The label that marks a container running [`LOOP`].
pub const LOOP_LABEL: &str = "berth.crash=loop";
/// Prints a counter every 100 ms: its log must keep growing, without gaps,
/// whatever happens to berthd.
pub const LOOP: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done";
/// Log-writing containers at most.
pub const MAX_RUNNING: usize = 5;
/// Known containers above which removals are favoured.
pub const MAX_CONTAINERS: usize = 12;
/// Time limit of one workload call (a hung call is a finding, not a hang).
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// An operation slower than this is reported.
const SLOW: Duration = Duration::from_secs(10);
/// A uid past u32: `run` must fail, and must give back what it claimed.
pub const BAD_USER: &str = "4294967296";

/// One kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// `run -d` of the log loop, sometimes named, sometimes with a volume.
    RunDetached,
    /// `run --rm`: in the foreground, or `-d` exiting on its own.
    RunRm,
    /// `rm -f` of any known container.
    RmForce,
    /// `commit` of a running container (it is paused meanwhile).
    Commit,
    Pause,
    Unpause,
    VolumeCreate,
    /// `volume rm` (refused while a container uses it).
    VolumeRm,
    Tag,
    Rmi,
    /// `run -v V:/data -u 4294967296`: fails after claiming the volume.
    BadUserRun,
}

impl OpKind {
    pub const ALL: [OpKind; 11] = [
        OpKind::RunDetached,
        OpKind::RunRm,
        OpKind::RmForce,
        OpKind::Commit,
        OpKind::Pause,
        OpKind::Unpause,
        OpKind::VolumeCreate,
        OpKind::VolumeRm,
        OpKind::Tag,
        OpKind::Rmi,
        OpKind::BadUserRun,
    ];

    pub fn label(self) -> &'static str {
        match self {
            OpKind::RunDetached => "run -d",
            OpKind::RunRm => "run --rm",
            OpKind::RmForce => "rm -f",
            OpKind::Commit => "commit",
            OpKind::Pause => "pause",
            OpKind::Unpause => "unpause",
            OpKind::VolumeCreate => "volume create",
            OpKind::VolumeRm => "volume rm",
            OpKind::Tag => "tag",
            OpKind::Rmi => "rmi",
            OpKind::BadUserRun => "run -u <bad>",
        }
    }

    fn base_weight(self) -> u64 {
        match self {
            OpKind::RunDetached => 14,
            OpKind::RunRm => 10,
            OpKind::RmForce => 9,
            OpKind::Commit => 6,
            OpKind::Pause => 6,
            OpKind::Unpause => 6,
            OpKind::VolumeCreate => 4,
            OpKind::VolumeRm => 4,
            OpKind::Tag => 4,
            OpKind::Rmi => 4,
            OpKind::BadUserRun => 3,
        }
    }
}

/// What the workload knows and asked for; shared by the workers and the
/// checks.
#[derive(Debug, Default)]
pub struct World {
    /// Containers it made and has not seen removed: id → runs [`LOOP`].
    pub containers: BTreeMap<String, bool>,
    /// Loop containers believed running (the last check's, plus new runs).
    pub running: BTreeSet<String>,
    /// Containers a `pause` was sent to and no `unpause` succeeded since:
    /// the only ones that may be frozen.
    pub maybe_paused: BTreeSet<String>,
    /// Containers an `rm -f` was sent to this cycle: they need not survive.
    pub touched: BTreeSet<String>,
    /// Tags and committed images it made.
    pub images: BTreeSet<String>,
    /// Every container ID ever seen (their cgroups are checked).
    pub ever: BTreeSet<String>,
    /// Numbers new tags.
    pub next: u64,
}

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Failed while berthd was up (refused, conflict, or a bug).
    Failed,
    /// Failed after the kill (berthd or a shim gone under it).
    Cut,
}

/// Counts per operation kind.
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    /// kind → (ok, failed, cut).
    pub by_kind: BTreeMap<OpKind, (u64, u64, u64)>,
    /// The first few refusals (failures while berthd was up) of each kind.
    pub refusals: BTreeMap<OpKind, Vec<String>>,
    /// Refusals the mix did not expect (of an operation that must succeed),
    /// and operations slower than [`SLOW`].
    pub surprises: Vec<String>,
}

/// Refusals kept per kind.
const SAMPLES: usize = 3;

impl OpStats {
    pub fn add(&mut self, kind: OpKind, outcome: Outcome) {
        let e = self.by_kind.entry(kind).or_default();
        match outcome {
            Outcome::Ok => e.0 += 1,
            Outcome::Failed => e.1 += 1,
            Outcome::Cut => e.2 += 1,
        }
    }

    pub fn merge(&mut self, other: &OpStats) {
        for (k, (a, b, c)) in &other.by_kind {
            let e = self.by_kind.entry(*k).or_default();
            e.0 += a;
            e.1 += b;
            e.2 += c;
        }
        for (k, v) in &other.refusals {
            let mine = self.refusals.entry(*k).or_default();
            for s in v {
                if mine.len() < SAMPLES && !mine.contains(s) {
                    mine.push(s.clone());
                }
            }
        }
        for s in &other.surprises {
            if self.surprises.len() < 20 {
                self.surprises.push(s.clone());
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.by_kind.values().map(|(a, b, c)| a + b + c).sum()
    }
}

/// What a worker shares with the cycle driver.
pub struct Shared<'a> {
    pub engine: &'a Engine,
    pub world: &'a Mutex<World>,
    /// Set by the driver: finish the current operation and return.
    pub stop: &'a AtomicBool,
    /// Set by the driver just before its SIGKILL (of berthd or a shim):
    /// failures from then on count as cut, not refused.
    pub killed_flag: &'a AtomicBool,
}

fn lock(world: &Mutex<World>) -> std::sync::MutexGuard<'_, World> {
    // A worker that panicked holding the lock leaves a usable model.
    world.lock().unwrap_or_else(|p| p.into_inner())
}

/// One worker: operations from its own seeded stream until told to stop.
/// `current` shows the operation in flight (the driver names it at a kill).
pub fn worker(sh: &Shared, mut rng: Rng, current: &Mutex<Option<OpKind>>) -> OpStats {
    let mut stats = OpStats::default();
    while !sh.stop.load(Ordering::SeqCst) {
        let Some(op) = plan(&mut rng, &lock(sh.world)) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(op.kind);
        let t0 = std::time::Instant::now();
        let outcome = run(sh, &op);
        let took = t0.elapsed();
        *current.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // A call that hangs (on a dead shim, say) is a finding of its own.
        if took > SLOW && stats.surprises.len() < 20 {
            stats.surprises.push(format!(
                "{} took {:.1} s",
                op.describe(),
                took.as_secs_f64()
            ));
        }
        let (outcome, why) = match outcome {
            Ok(()) => (Outcome::Ok, None),
            Err(why) if sh.killed_flag.load(Ordering::SeqCst) => (Outcome::Cut, Some(why)),
            Err(why) => (Outcome::Failed, Some(why)),
        };
        if let (Outcome::Failed, Some(why)) = (outcome, why) {
            let line = format!("{}: {why}", op.describe());
            if !op.may_fail() && stats.surprises.len() < 20 {
                stats.surprises.push(line.clone());
            }
            let mine = stats.refusals.entry(op.kind).or_default();
            if mine.len() < SAMPLES {
                mine.push(line);
            }
        }
        stats.add(op.kind, outcome);
    }
    stats
}

/// One planned operation: its kind and its target.
#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    pub container: Option<String>,
    pub name: Option<String>,
    pub volume: Option<String>,
    pub image: Option<String>,
    pub detached: bool,
}

impl Op {
    fn new(kind: OpKind) -> Op {
        Op {
            kind,
            container: None,
            name: None,
            volume: None,
            image: None,
            detached: false,
        }
    }

    /// Whether a refusal is a normal answer here (a name taken, a volume or
    /// image in use, a container gone meanwhile).
    fn may_fail(&self) -> bool {
        match self.kind {
            OpKind::RunDetached => self.name.is_some(),
            OpKind::RunRm => false,
            OpKind::BadUserRun => true,
            _ => true,
        }
    }

    pub fn describe(&self) -> String {
        let mut s = self.kind.label().to_string();
        for x in [&self.container, &self.name, &self.volume, &self.image]
            .into_iter()
            .flatten()
        {
            s.push(' ');
            s.push_str(&x[..x.len().min(12)]);
        }
        s
    }
}

/// Picks the next operation from the model; `None` when nothing fits.
pub fn plan(rng: &mut Rng, w: &World) -> Option<Op> {
    let running: Vec<&String> = w.running.iter().collect();
    let unpaused: Vec<&String> = running
        .iter()
        .copied()
        .filter(|id| !w.maybe_paused.contains(*id))
        .collect();
    let paused: Vec<&String> = w.maybe_paused.iter().collect();
    let known: Vec<&String> = w.containers.keys().collect();
    let images: Vec<&String> = w.images.iter().collect();
    let weights: Vec<u64> = OpKind::ALL
        .iter()
        .map(|k| {
            let base = k.base_weight();
            match k {
                OpKind::RunDetached if running.len() >= MAX_RUNNING => 0,
                OpKind::RmForce if known.is_empty() => 0,
                OpKind::RmForce if known.len() > MAX_CONTAINERS => base * 4,
                OpKind::Commit | OpKind::Pause if unpaused.is_empty() => 0,
                OpKind::Unpause if paused.is_empty() => 0,
                OpKind::Rmi if images.is_empty() => 0,
                _ => base,
            }
        })
        .collect();
    let kind = OpKind::ALL[rng.weighted(&weights)?];
    let mut op = Op::new(kind);
    let volume = |rng: &mut Rng| rng.pick(&VOLUMES).map(|v| v.to_string());
    match kind {
        OpKind::RunDetached => {
            if rng.chance(40) {
                op.name = rng.pick(&NAMES).map(|n| n.to_string());
            }
            if rng.chance(40) {
                op.volume = volume(rng);
            }
        }
        OpKind::RunRm => {
            op.detached = rng.chance(50);
            if rng.chance(50) {
                op.volume = volume(rng);
            }
        }
        OpKind::RmForce => op.container = rng.pick(&known).map(|s| s.to_string()),
        OpKind::Commit | OpKind::Pause => {
            op.container = rng.pick(&unpaused).map(|s| s.to_string());
        }
        OpKind::Unpause => op.container = rng.pick(&paused).map(|s| s.to_string()),
        OpKind::VolumeCreate | OpKind::VolumeRm | OpKind::BadUserRun => op.volume = volume(rng),
        OpKind::Tag => {
            // Tag busybox or one of ours, to a number of this stream.
            op.image = if rng.chance(50) || images.is_empty() {
                Some("busybox".into())
            } else {
                rng.pick(&images).map(|s| s.to_string())
            };
            op.name = Some(format!("crash/t:{}", rng.range(0, 1_000_000)));
        }
        OpKind::Rmi => op.image = rng.pick(&images).map(|s| s.to_string()),
    }
    Some(op)
}

/// Runs one operation and updates the model; `Err` carries the first line
/// of what the CLI said.
fn run(sh: &Shared, op: &Op) -> Result<(), String> {
    let e = sh.engine;
    let c = op.container.as_deref().unwrap_or("");
    let vol_arg = op.volume.as_ref().map(|v| format!("{v}:/data"));
    let mut args: Vec<&str> = Vec::new();
    match op.kind {
        OpKind::RunDetached => {
            args.extend(["run", "-d", "-l", LOOP_LABEL]);
            if let Some(n) = &op.name {
                args.extend(["--name", n]);
            }
            if let Some(v) = &vol_arg {
                args.extend(["-v", v]);
            }
            args.extend(["busybox", "sh", "-c", LOOP]);
        }
        OpKind::RunRm => {
            args.extend(["run", "--rm"]);
            if op.detached {
                args.push("-d");
            }
            if let Some(v) = &vol_arg {
                args.extend(["-v", v]);
            }
            if op.detached {
                args.extend(["busybox", "sleep", "0.3"]);
            } else {
                args.extend(["busybox", "true"]);
            }
        }
        OpKind::RmForce => {
            // Before the call: a removal cut short may still have removed it.
            lock(sh.world).touched.insert(c.to_string());
            args.extend(["rm", "-f", c]);
        }
        OpKind::Commit => {
            let tag = {
                let mut w = lock(sh.world);
                w.next += 1;
                format!("crash/img:{}", w.next)
            };
            call(e, &["commit", c, &tag])?;
            lock(sh.world).images.insert(tag);
            return Ok(());
        }
        OpKind::Pause => {
            let fresh = lock(sh.world).maybe_paused.insert(c.to_string());
            let r = call(e, &["pause", c]);
            if r.is_err() && fresh && !sh.killed_flag.load(Ordering::SeqCst) {
                lock(sh.world).maybe_paused.remove(c);
            }
            return r.map(drop);
        }
        OpKind::Unpause => {
            call(e, &["unpause", c])?;
            lock(sh.world).maybe_paused.remove(c);
            return Ok(());
        }
        OpKind::VolumeCreate => {
            args.extend(["volume", "create", op.volume.as_deref().unwrap_or("")])
        }
        OpKind::VolumeRm => args.extend(["volume", "rm", op.volume.as_deref().unwrap_or("")]),
        OpKind::Tag => {
            let (img, tag) = (
                op.image.as_deref().unwrap_or(""),
                op.name.as_deref().unwrap_or(""),
            );
            call(e, &["tag", img, tag])?;
            lock(sh.world).images.insert(tag.to_string());
            return Ok(());
        }
        OpKind::Rmi => {
            let img = op.image.as_deref().unwrap_or("");
            call(e, &["rmi", img])?;
            lock(sh.world).images.remove(img);
            return Ok(());
        }
        OpKind::BadUserRun => {
            let v = vol_arg.as_deref().unwrap_or("crash-v0:/data");
            return match call(e, &["run", "-v", v, "-u", BAD_USER, "busybox", "true"]) {
                Ok(_) => Err("a uid past u32 was accepted".into()),
                Err(_) => Ok(()),
            };
        }
    }
    let out = call(e, &args)?;
    let mut w = lock(sh.world);
    match op.kind {
        OpKind::RunDetached => {
            let id = out.trim().to_string();
            w.ever.insert(id.clone());
            w.running.insert(id.clone());
            w.containers.insert(id, true);
        }
        OpKind::RunRm if op.detached => {
            let id = out.trim().to_string();
            w.ever.insert(id);
        }
        OpKind::RmForce => {
            w.containers.remove(c);
            w.running.remove(c);
            w.maybe_paused.remove(c);
        }
        _ => {}
    }
    Ok(())
}

/// One CLI call; its stdout, or the first line of its stderr.
fn call(e: &Engine, args: &[&str]) -> Result<String, String> {
    match e.cli_timeout(args, OP_TIMEOUT) {
        Ok(o) if o.success() => Ok(o.stdout),
        Ok(o) => Err(o.stderr.lines().next().unwrap_or("").to_string()),
        Err(err) => Err(err.to_string()),
    }
}
