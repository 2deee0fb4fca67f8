//! The invariants a crash must not break, each checked against the truth
//! rather than against berthd's own account:
//!
//! - a container record agrees with the kernel: the runtime's state
//!   (`berth-runtime --root <state>/runtime state`), the freezer cgroup, the
//!   init process in `/proc`, the shim process and its state dir;
//! - nothing is frozen that the workload did not pause;
//! - each container that ran before the kill still runs, with the same pid,
//!   and its log kept growing without a gap;
//! - no claim without an owner: a volume no container mounts can be
//!   removed, a name no container holds can be taken; and no claim lost: a
//!   volume a container mounts cannot be removed;
//! - no shim, runtime state, cgroup, mount, container dir or process
//!   without a container;
//! - every blob matches its digest, every image's config blob is there.
//!
//! The per-container and leak checks are re-run for a few seconds until
//! they hold (an exit that happened during the check is recorded by a
//! monitor moments later); only what still fails then is a violation.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ops::{LOOP_LABEL, NAMES};
use crate::cgroup;
use crate::engine::{self, Engine};

/// How long a per-container disagreement may last before it counts.
pub const SETTLE: Duration = Duration::from_secs(3);
/// How long a running loop container gets to add a line to its log.
const LOG_WAIT: Duration = Duration::from_millis(1000);

/// The kinds of violation, the rows of the summary table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// berthd did not come back, or a check call failed.
    Unresponsive,
    /// The record's status disagrees with the runtime, freezer or /proc.
    RecordDisagrees,
    /// Frozen (record or freezer) though the workload never paused it.
    FrozenUnpaused,
    /// A container running before the kill is gone or has a new pid.
    DidNotSurvive,
    /// A running container's log did not grow, or lost lines.
    LogStalled,
    /// A volume or name claimed for a container that does not exist.
    LeakedClaim,
    /// A volume a container mounts could be removed.
    LostClaim,
    OrphanShim,
    OrphanRuntimeState,
    OrphanCgroup,
    OrphanMount,
    OrphanDir,
    /// A container process alive with no running container to own it.
    Unsupervised,
    /// A blob whose content does not hash to its name, or a stray file.
    BadBlob,
    /// An image whose config blob is missing.
    MissingBlob,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Unresponsive,
        Kind::RecordDisagrees,
        Kind::FrozenUnpaused,
        Kind::DidNotSurvive,
        Kind::LogStalled,
        Kind::LeakedClaim,
        Kind::LostClaim,
        Kind::OrphanShim,
        Kind::OrphanRuntimeState,
        Kind::OrphanCgroup,
        Kind::OrphanMount,
        Kind::OrphanDir,
        Kind::Unsupervised,
        Kind::BadBlob,
        Kind::MissingBlob,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Unresponsive => "berthd unresponsive",
            Kind::RecordDisagrees => "record != kernel",
            Kind::FrozenUnpaused => "frozen, nobody paused",
            Kind::DidNotSurvive => "running container lost",
            Kind::LogStalled => "log stalled/gap",
            Kind::LeakedClaim => "claim without owner",
            Kind::LostClaim => "owner without claim",
            Kind::OrphanShim => "shim w/o container",
            Kind::OrphanRuntimeState => "runtime state w/o ctr",
            Kind::OrphanCgroup => "cgroup w/o container",
            Kind::OrphanMount => "mount w/o container",
            Kind::OrphanDir => "ctr dir w/o record",
            Kind::Unsupervised => "process w/o container",
            Kind::BadBlob => "blob != digest",
            Kind::MissingBlob => "image w/o blob",
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: Kind,
    /// The container, volume, name, path or digest it is about.
    pub subject: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.subject;
        let short = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            &s[..12]
        } else {
            s.as_str()
        };
        write!(f, "[{}] {short}: {}", self.kind.label(), self.detail)
    }
}

fn v(kind: Kind, subject: impl Into<String>, detail: impl Into<String>) -> Violation {
    Violation {
        kind,
        subject: subject.into(),
        detail: detail.into(),
    }
}

/// A container record as `berth inspect` shows it.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub status: String,
    pub pid: i64,
    pub log_path: String,
    /// Names of the named volumes it mounts.
    pub volumes: Vec<String>,
    /// Runs the log loop ([`LOOP_LABEL`]).
    pub is_loop: bool,
    /// `--rm`: gone once it has exited.
    pub auto_remove: bool,
}

impl Record {
    fn from_json(j: &Value) -> Option<Record> {
        let s = |p: &str| {
            j.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (k, val) = LOOP_LABEL.split_once('=').unwrap_or((LOOP_LABEL, ""));
        Some(Record {
            id: j.get("Id")?.as_str()?.to_string(),
            name: s("/Name").trim_start_matches('/').to_string(),
            status: s("/State/Status"),
            pid: j.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0),
            log_path: s("/LogPath"),
            volumes: j
                .get("Mounts")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .filter(|m| m.get("Type").and_then(Value::as_str) == Some("volume"))
                        .filter_map(|m| m.get("Name")?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            is_loop: j
                .pointer("/Config/Labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                == Some(val),
            auto_remove: j
                .pointer("/HostConfig/AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// Whether the record says a task (shim, runtime state, cgroup) exists.
    pub fn has_task(&self) -> bool {
        matches!(self.status.as_str(), "running" | "paused" | "restarting")
    }
}

/// Every container record berthd has; `Err` when it does not answer.
pub fn records(e: &Engine) -> Result<Vec<Record>, String> {
    let o = e
        .cli(&["ps", "-aq", "--no-trunc"])
        .map_err(|x| x.to_string())?;
    if !o.success() {
        return Err(format!("ps -a: {}", o.stderr.trim()));
    }
    let ids: Vec<&str> = o.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["inspect", "--type", "container"];
    args.extend(&ids);
    let o = e.cli(&args).map_err(|x| x.to_string())?;
    // A container removed between ps and inspect (a --rm exit) fails its
    // part only; the rest is still printed.
    let list: Vec<Value> = serde_json::from_str(o.stdout.trim()).map_err(|x| {
        format!(
            "inspect printed no JSON ({x}): {} {}",
            o.stdout.trim(),
            o.stderr.trim()
        )
    })?;
    Ok(list.iter().filter_map(Record::from_json).collect())
}

/// What the machine says about one container.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// `berth-runtime state`'s status, `None` when it knows no such container.
    pub runtime: Option<String>,
    /// `freezer.state`, `None` without a freezer cgroup.
    pub freezer: Option<String>,
    pub pid_alive: bool,
    pub shim_dir: bool,
    pub shim_alive: bool,
    pub cgroup: bool,
    /// Live processes in its freezer cgroup.
    pub in_cgroup: usize,
}

/// The engine's side of the checks: paths and the runtime binary.
pub struct Probe<'a> {
    pub engine: &'a Engine,
    pub runtime: PathBuf,
}

impl Probe<'_> {
    fn runtime_root(&self) -> PathBuf {
        self.engine.state().join("runtime")
    }

    fn shim_dir(&self, id: &str) -> PathBuf {
        self.engine.state().join("shims").join(id)
    }

    /// `berth-runtime state ID`'s status.
    pub fn runtime_status(&self, id: &str) -> Option<String> {
        let mut cmd = std::process::Command::new(&self.runtime);
        cmd.arg("--root")
            .arg(self.runtime_root())
            .args(["state", id]);
        let o = self.engine.run(cmd, Duration::from_secs(10)).ok()?;
        if !o.success() {
            return None;
        }
        let j: Value = serde_json::from_str(&o.stdout).ok()?;
        j.get("status")?.as_str().map(str::to_string)
    }

    /// IDs the runtime has state for.
    pub fn runtime_ids(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime_root())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// IDs with a shim state dir.
    pub fn shim_dirs(&self) -> Vec<String> {
        std::fs::read_dir(self.engine.state().join("shims"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live shim processes of this engine: pid → container ID.
    pub fn shim_processes(&self) -> BTreeMap<i32, String> {
        let state = self.engine.state().display().to_string();
        let mut out = BTreeMap::new();
        for pid in engine::processes_mentioning(&state) {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_shim = args.first().is_some_and(|a| a.ends_with("berth-shim"));
            if !is_shim || !engine::alive(i64::from(pid)) {
                continue;
            }
            if let Some(i) = args.iter().position(|a| a == "--id") {
                if let Some(id) = args.get(i + 1) {
                    out.insert(pid, id.clone());
                }
            }
        }
        out
    }

    /// The pid a file of the shim's state dir names.
    pub fn shim_file_pid(&self, id: &str, file: &str) -> Option<i64> {
        std::fs::read_to_string(self.shim_dir(id).join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn truth(&self, id: &str, pid: i64, shims: &BTreeMap<i32, String>) -> Truth {
        let cg = engine::cgroup_path(id);
        Truth {
            runtime: self.runtime_status(id),
            freezer: cgroup::has_v1("freezer")
                .then(|| cgroup::read("freezer", &cg, "freezer.state").ok())
                .flatten(),
            pid_alive: engine::alive(pid),
            shim_dir: self.shim_dir(id).is_dir(),
            shim_alive: shims.values().any(|s| s == id),
            cgroup: !cgroup::existing_dirs(&cg).is_empty(),
            in_cgroup: cgroup::read("freezer", &cg, "cgroup.procs")
                .map(|s| {
                    s.lines()
                        .filter_map(|l| l.trim().parse::<i64>().ok())
                        .filter(|p| engine::alive(*p))
                        .count()
                })
                .unwrap_or(0),
        }
    }
}

/// Why a record disagrees with the truth, if it does.
pub fn disagreement(r: &Record, t: &Truth) -> Option<String> {
    let rt = t.runtime.as_deref().unwrap_or("none");
    let fz = t.freezer.as_deref().unwrap_or("none");
    let mut wrong = Vec::new();
    match r.status.as_str() {
        "running" | "paused" => {
            let frozen = r.status == "paused";
            if rt != r.status {
                wrong.push(format!("runtime says {rt}"));
            }
            let want_fz = if frozen { "FROZEN" } else { "THAWED" };
            if t.freezer.is_some() && fz != want_fz {
                wrong.push(format!("freezer {fz}"));
            }
            if !t.pid_alive {
                wrong.push(format!("pid {} not alive", r.pid));
            }
            if !t.shim_alive {
                wrong.push("no shim process".into());
            }
        }
        "created" | "exited" | "dead" => {
            if t.runtime.is_some() {
                wrong.push(format!("runtime says {rt}"));
            }
            if r.pid > 0 && t.pid_alive {
                wrong.push(format!("pid {} alive", r.pid));
            }
            if t.shim_alive || t.shim_dir {
                wrong.push("a shim is there".into());
            }
            if r.auto_remove && r.status != "created" {
                wrong.push("it was run with --rm and has exited".into());
            }
            if t.in_cgroup > 0 {
                wrong.push(format!("{} processes alive in its cgroup", t.in_cgroup));
            } else if t.cgroup {
                wrong.push("its cgroup exists".into());
            }
        }
        // Between an exit and the next start: either side is fine.
        "restarting" => {}
        other => wrong.push(format!("status {other:?} after the crash was handled")),
    }
    (!wrong.is_empty()).then(|| format!("record {} but {}", r.status, wrong.join(", ")))
}

/// What the checks need from the workload.
#[derive(Debug, Default, Clone)]
pub struct Expect {
    /// Containers a pause was sent to (the only ones that may be frozen).
    pub maybe_paused: BTreeSet<String>,
    /// Containers that ran before the kill and nobody removed: id → pid.
    pub survivors: BTreeMap<String, i64>,
    /// Every container ID the workload saw.
    pub ever: BTreeSet<String>,
    /// The init pid of a container whose shim was killed.
    pub shim_killed: Option<(String, i64)>,
}

/// What one check found, and what the workload learns from it.
#[derive(Debug, Default)]
pub struct Findings {
    pub violations: Vec<Violation>,
    pub records: Vec<Record>,
    /// Loop containers confirmed running, with their pid.
    pub running: BTreeMap<String, i64>,
    /// How long the check took.
    pub took: Duration,
}

/// Runs every check once the workers have stopped and berthd is back.
pub fn check(p: &Probe, x: &Expect) -> Findings {
    let t0 = Instant::now();
    let mut f = Findings::default();
    let deadline = t0 + SETTLE;
    // Re-run until it holds or the settle time is over.
    let (records, scanned) = loop {
        let recs = match records(p.engine) {
            Ok(r) => r,
            Err(why) => {
                f.violations.push(v(
                    Kind::Unresponsive,
                    "berthd",
                    format!("listing containers: {why}"),
                ));
                f.took = t0.elapsed();
                return f;
            }
        };
        let found = scan(p, x, &recs);
        if found.is_empty() || Instant::now() > deadline {
            break (recs, found);
        }
        std::thread::sleep(Duration::from_millis(400));
    };
    f.violations.extend(scanned);
    f.violations.extend(survivors(x, &records));
    // Claims before the log wait, on a fresh list: a --rm container that
    // exits meanwhile gives its claims back, as it should.
    match self::records(p.engine) {
        Ok(fresh) => f.violations.extend(claims(p, &fresh)),
        Err(why) => f.violations.push(v(
            Kind::Unresponsive,
            "berthd",
            format!("listing containers: {why}"),
        )),
    }
    f.violations.extend(logs(&records));
    f.violations.extend(blobs(p));
    let shims = p.shim_processes();
    for r in &records {
        if r.is_loop && r.status == "running" && shims.values().any(|s| s == &r.id) {
            f.running.insert(r.id.clone(), r.pid);
        }
    }
    f.records = records;
    f.took = t0.elapsed();
    f
}

/// Per-container agreement, frozen containers, and leaks.
fn scan(p: &Probe, x: &Expect, recs: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    let shims = p.shim_processes();
    let by_id: BTreeMap<&str, &Record> = recs.iter().map(|r| (r.id.as_str(), r)).collect();
    let with_task = |id: &str| by_id.get(id).is_some_and(|r| r.has_task());
    for r in recs {
        let t = p.truth(&r.id, r.pid, &shims);
        if let Some(why) = disagreement(r, &t) {
            out.push(v(Kind::RecordDisagrees, &r.id, why));
        }
        let frozen = r.status == "paused" || t.freezer.as_deref() == Some("FROZEN");
        if frozen && !x.maybe_paused.contains(&r.id) {
            out.push(v(
                Kind::FrozenUnpaused,
                &r.id,
                format!(
                    "record {}, freezer {}; no pause was sent to it",
                    r.status,
                    t.freezer.as_deref().unwrap_or("none")
                ),
            ));
        }
    }
    // What has no container at all (a record that disagrees is reported
    // above, once).
    let orphan = |id: &str| !by_id.contains_key(id);
    for id in p.shim_dirs() {
        if orphan(&id) {
            out.push(v(Kind::OrphanShim, &id, "shim dir of no container"));
        }
    }
    for (pid, id) in &shims {
        if orphan(id) && !p.shim_dir(id).is_dir() {
            out.push(v(
                Kind::OrphanShim,
                id,
                format!("shim pid {pid} alive, no container"),
            ));
        }
    }
    for id in p.runtime_ids() {
        if orphan(&id) {
            let st = p.runtime_status(&id).unwrap_or_else(|| "unreadable".into());
            out.push(v(
                Kind::OrphanRuntimeState,
                &id,
                format!("runtime state {st}, no container"),
            ));
        }
    }
    let containers = p.engine.root().join("containers");
    let prefix = format!("{}/", containers.display());
    for m in p.engine.mounts() {
        let id = m
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        if orphan(id) {
            out.push(v(Kind::OrphanMount, &m, "mounted, no container"));
        }
    }
    for id in p.engine.container_dirs() {
        if orphan(&id) {
            out.push(v(Kind::OrphanDir, &id, "container dir with no record"));
        }
    }
    let mut ids: BTreeSet<String> = x.ever.clone();
    ids.extend(p.shim_dirs());
    ids.extend(p.engine.container_dirs());
    for id in &ids {
        let dirs = cgroup::existing_dirs(&engine::cgroup_path(id));
        if !dirs.is_empty() && orphan(id) {
            out.push(v(
                Kind::OrphanCgroup,
                id,
                format!("{} cgroup dirs, no container", dirs.len()),
            ));
        }
    }
    out.extend(unsupervised(p, x, &orphan, &with_task));
    out
}

/// Processes whose root is one of this engine's rootfs dirs, in a berth
/// cgroup of no container; and the init of a container whose shim was
/// killed, if it outlived its shim.
fn unsupervised(
    p: &Probe,
    x: &Expect,
    orphan: &dyn Fn(&str) -> bool,
    with_task: &dyn Fn(&str) -> bool,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let ours = p.engine.root().join("containers").display().to_string();
    let base = cgroup::dir("freezer", "/berth");
    if let Ok(rd) = std::fs::read_dir(&base) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let Ok(procs) = std::fs::read_to_string(e.path().join("cgroup.procs")) else {
                continue;
            };
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i64>().ok()) {
                let root = std::fs::read_link(format!("/proc/{pid}/root"))
                    .map(|r| r.display().to_string())
                    .unwrap_or_default();
                if root.starts_with(&ours) && orphan(&id) && engine::alive(pid) {
                    out.push(v(
                        Kind::Unsupervised,
                        &id,
                        format!("pid {pid} alive in its cgroup, root {root}"),
                    ));
                }
            }
        }
    }
    if let Some((id, pid)) = &x.shim_killed {
        if engine::alive(*pid) && !with_task(id) {
            out.push(v(
                Kind::Unsupervised,
                id,
                format!("init pid {pid} outlived its killed shim"),
            ));
        }
    }
    out
}

/// Containers that ran before the kill still run, with the same pid.
fn survivors(x: &Expect, recs: &[Record]) -> Vec<Violation> {
    let mut out = Vec::new();
    for (id, pid) in &x.survivors {
        match recs.iter().find(|r| &r.id == id) {
            None => out.push(v(
                Kind::DidNotSurvive,
                id,
                format!("record gone (pid {pid})"),
            )),
            Some(r) if !r.has_task() => out.push(v(
                Kind::DidNotSurvive,
                id,
                format!(
                    "record {} (pid {pid}, alive: {})",
                    r.status,
                    engine::alive(*pid)
                ),
            )),
            Some(r) if r.pid != *pid => out.push(v(
                Kind::DidNotSurvive,
                id,
                format!("pid {pid} became {}", r.pid),
            )),
            Some(_) if !engine::alive(*pid) => {
                out.push(v(Kind::DidNotSurvive, id, format!("pid {pid} dead")))
            }
            Some(_) => {}
        }
    }
    out
}

/// The counters a loop container's json-file log holds, in order.
pub fn log_counters(path: &Path) -> Result<Vec<u64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        // A line being written as we read: only the last may be partial.
        let Ok(j) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(n) = j
            .get("log")
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    Ok(out)
}

/// Running, unfrozen loop containers write a line every 100 ms: the log
/// grows while we watch and has no gap (nothing lost while berthd was down).
fn logs(recs: &[Record]) -> Vec<Violation> {
    let watched: Vec<&Record> = recs
        .iter()
        .filter(|r| r.is_loop && r.status == "running")
        .filter(|r| {
            !cgroup::read("freezer", &engine::cgroup_path(&r.id), "freezer.state")
                .is_ok_and(|s| s == "FROZEN")
        })
        .collect();
    let mut out = Vec::new();
    let before: Vec<Option<u64>> = watched
        .iter()
        .map(|r| {
            log_counters(Path::new(&r.log_path))
                .ok()
                .and_then(|c| c.last().copied())
        })
        .collect();
    if watched.is_empty() {
        return out;
    }
    std::thread::sleep(LOG_WAIT);
    for (r, b) in watched.iter().zip(before) {
        let counters = match log_counters(Path::new(&r.log_path)) {
            Ok(c) => c,
            Err(why) => {
                out.push(v(Kind::LogStalled, &r.id, why));
                continue;
            }
        };
        let last = counters.last().copied();
        if last.is_none() || last <= b {
            if engine::alive(r.pid) {
                out.push(v(
                    Kind::LogStalled,
                    &r.id,
                    format!("last line {b:?} then {last:?} after {LOG_WAIT:?}"),
                ));
            }
            continue;
        }
        if let Some(gap) = counters.windows(2).find(|w| w[1] != w[0] + 1) {
            out.push(v(
                Kind::LogStalled,
                &r.id,
                format!("log jumps from {} to {}", gap[0], gap[1]),
            ));
        }
    }
    out
}

/// Volumes: removable exactly when no container mounts them. Names: a name
/// no container holds can be taken.
fn claims(p: &Probe, recs: &[Record]) -> Vec<Violation> {
    let e = p.engine;
    let mut out = Vec::new();
    let volumes = match e.cli(&["volume", "ls", "-q"]) {
        Ok(o) if o.success() => o.stdout,
        Ok(o) => {
            out.push(v(
                Kind::Unresponsive,
                "volume ls",
                o.stderr.trim().to_string(),
            ));
            return out;
        }
        Err(x) => {
            out.push(v(Kind::Unresponsive, "volume ls", x.to_string()));
            return out;
        }
    };
    for vol in volumes.split_whitespace() {
        let users: Vec<String> = recs
            .iter()
            .filter(|r| r.volumes.iter().any(|n| n == vol))
            .map(|r| format!("{} ({})", &r.id[..r.id.len().min(12)], r.status))
            .collect();
        let rm = e.cli(&["volume", "rm", vol]);
        match (users.is_empty(), rm) {
            (true, Ok(o)) if !o.success() => {
                // One violation per claimant named, so a leak of a later
                // cycle on the same volume counts too.
                let ghosts = hex_ids(&o.stderr);
                if ghosts.is_empty() {
                    out.push(v(
                        Kind::LeakedClaim,
                        vol,
                        format!("no container mounts it, yet: {}", o.stderr.trim()),
                    ));
                }
                for g in ghosts {
                    let exists = recs.iter().any(|r| r.id == g);
                    out.push(v(
                        Kind::LeakedClaim,
                        format!("{vol}/{}", &g[..12]),
                        format!(
                            "volume rm refused for user {g} ({}) though no container mounts it",
                            if exists {
                                "a container without this mount"
                            } else {
                                "no such container"
                            }
                        ),
                    ));
                }
            }
            (false, Ok(o)) if o.success() => {
                // Only users that still exist now count: one that exited
                // with --rm between the list and the rm took its claim along.
                let still: Vec<String> = match records(e) {
                    Ok(now) => now
                        .iter()
                        .filter(|r| r.volumes.iter().any(|n| n == vol))
                        .map(|r| format!("{} ({})", &r.id[..r.id.len().min(12)], r.status))
                        .collect(),
                    Err(_) => users.clone(),
                };
                if !still.is_empty() {
                    out.push(v(
                        Kind::LostClaim,
                        vol,
                        format!("removed although {} mount it", still.join(", ")),
                    ));
                }
            }
            (_, Err(x)) => out.push(v(Kind::Unresponsive, vol, x.to_string())),
            _ => {}
        }
    }
    for name in NAMES {
        if recs.iter().any(|r| r.name == name) {
            continue;
        }
        match e.cli(&["create", "--name", name, "busybox", "true"]) {
            Ok(o) if o.success() => {
                let _ = e.cli(&["rm", "-f", name]);
            }
            Ok(o) => out.push(v(
                Kind::LeakedClaim,
                name,
                format!("no container has the name, yet: {}", o.stderr.trim()),
            )),
            Err(x) => out.push(v(Kind::Unresponsive, name, x.to_string())),
        }
    }
    out
}

/// Every blob hashes to its name; every image's config blob exists.
fn blobs(p: &Probe) -> Vec<Violation> {
    let mut out = Vec::new();
    let dir = p.engine.root().join("content/blobs/sha256");
    let mut present = BTreeSet::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_digest = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_digest {
                out.push(v(
                    Kind::BadBlob,
                    &name,
                    "a file that is not named by a digest",
                ));
                continue;
            }
            match sha256_file(&e.path()) {
                Ok(h) if h == name => {
                    present.insert(name);
                }
                Ok(h) => out.push(v(Kind::BadBlob, &name, format!("content hashes to {h}"))),
                Err(x) => out.push(v(Kind::BadBlob, &name, x)),
            }
        }
    }
    match p.engine.cli(&["images", "-q", "--no-trunc"]) {
        Ok(o) if o.success() => {
            for id in o.stdout.split_whitespace() {
                let hex = id.trim_start_matches("sha256:");
                if !present.contains(hex) {
                    out.push(v(
                        Kind::MissingBlob,
                        id,
                        "listed image, no such config blob",
                    ));
                }
            }
        }
        Ok(o) => out.push(v(Kind::Unresponsive, "images", o.stderr.trim().to_string())),
        Err(x) => out.push(v(Kind::Unresponsive, "images", x.to_string())),
    }
    out
}

fn sha256_file(path: &Path) -> Result<String, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex_string(&h.finalize()))
}

/// The 64-hex-digit words of a text (container IDs).
fn hex_ids(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|w| w.len() == 64)
        .map(str::to_string)
        .collect()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: &str, pid: i64) -> Record {
        Record {
            id: "c".into(),
            name: "n".into(),
            status: status.into(),
            pid,
            log_path: String::new(),
            volumes: vec![],
            is_loop: true,
            auto_remove: false,
        }
    }

    #[test]
    fn a_created_record_with_a_live_process_disagrees() {
        let t = Truth {
            runtime: Some("running".into()),
            freezer: Some("THAWED".into()),
            pid_alive: true,
            shim_dir: true,
            shim_alive: true,
            cgroup: true,
            in_cgroup: 1,
        };
        let why = disagreement(&rec("created", 0), &t).unwrap();
        assert!(why.contains("runtime says running"), "{why}");
        assert!(why.contains("1 processes alive in its cgroup"), "{why}");
        assert!(disagreement(&rec("running", 5), &t).is_none());
    }

    #[test]
    fn a_running_record_on_a_frozen_cgroup_disagrees() {
        let t = Truth {
            runtime: Some("paused".into()),
            freezer: Some("FROZEN".into()),
            pid_alive: true,
            shim_dir: true,
            shim_alive: true,
            cgroup: true,
            in_cgroup: 1,
        };
        let why = disagreement(&rec("running", 5), &t).unwrap();
        assert!(why.contains("freezer FROZEN"), "{why}");
        assert!(disagreement(&rec("paused", 5), &t).is_none());
        assert!(disagreement(&rec("exited", 0), &Truth::default()).is_none());
    }

    #[test]
    fn claimants_are_read_from_a_refusal() {
        let a = "a".repeat(64);
        let b = "0123456789abcdef".repeat(4);
        let text = format!("remove v: volume is in use - [{a}, {b}]");
        assert_eq!(hex_ids(&text), [a, b]);
        assert!(hex_ids("no such volume: deadbeef").is_empty());
    }

    #[test]
    fn log_counters_skip_a_partial_last_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.log");
        std::fs::write(
            &p,
            "{\"log\":\"0\\n\",\"stream\":\"stdout\"}\n{\"log\":\"1\\n\",\"stream\":\"stdout\"}\n{\"log\":\"2",
        )
        .unwrap();
        assert_eq!(log_counters(&p).unwrap(), [0, 1]);
    }
}
