//! Load on one berthd through its public client (engine-api): containers
//! created, started, waited for and removed in rounds with a bounded number
//! in flight, berthd's resident memory and open files read from `/proc`
//! after each round and compared with a baseline; then many long-running
//! containers at once, with the latency of `list` and `inspect` and the
//! memory of their shims. `src/bin/load.rs` (`berth-load`) prints the
//! figures; `tests/engine_load.rs` runs it small and asserts on them.
//!
//! Baseline: berthd's figures after the first round, not before it. The
//! first containers bring berthd to its working size (allocator arenas and
//! tokio worker stacks touched, metadata pages cached, the image's config
//! parsed), which it keeps; what must not happen is growth with every
//! further round. The figures before any container are reported too.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use berth_engine_api::{Client, ContainerSpec, NetworkMode};
use tokio::task::JoinSet;

/// What one run does.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Containers created and removed over all rounds (the warm-up included).
    pub total: usize,
    /// Containers per round.
    pub round: usize,
    /// At most this many containers in flight (between create and removed).
    pub concurrency: usize,
    /// Long-running containers started at once after the rounds (0: none).
    pub running: usize,
    /// Times the running phase is repeated: the first sets berthd's high
    /// water mark with that many containers, the second must come back to it.
    pub running_rounds: usize,
    /// Calls timed per verb (`list`, `inspect`) with `running` containers.
    pub samples: usize,
    pub image: String,
    pub network: NetworkMode,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            total: 1000,
            round: 100,
            concurrency: 20,
            running: 500,
            running_rounds: 2,
            samples: 50,
            image: "busybox".into(),
            network: NetworkMode::None,
        }
    }
}

/// How far above the baseline berthd may end a round.
///
/// fds: a few that berthd opens lazily and keeps (a redb file handle, an
/// event subscriber, the client's second HTTP/2 connection) may appear after
/// the warm-up; none did in the runs so far (14 before and after 3000
/// containers). A leak of one per container shows as a round's worth more.
///
/// RSS: glibc keeps freed memory in its arenas and returns it in whole pages
/// when it can, so the resident size wanders with the order of frees and
/// creeps up by a slowing amount (+2.5 MiB over 900 containers after the
/// warm-up round, in rounds of 100). 8 MiB is above that; it catches a leak of
/// more than ~10 KiB per container at the full size (1000) and of more than
/// ~100 KiB at the CI size (100). The fd count is the sharp check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slack {
    pub fds: u64,
    pub rss_kb: u64,
}

impl Default for Slack {
    fn default() -> Self {
        Slack {
            fds: 4,
            rss_kb: 8 * 1024,
        }
    }
}

/// A process's resident memory and open files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcSample {
    pub rss_kb: u64,
    pub fds: u64,
}

impl ProcSample {
    /// Reads `/proc/<pid>/status` (VmRSS) and counts `/proc/<pid>/fd`.
    pub fn read(pid: u32) -> std::io::Result<ProcSample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
        Ok(ProcSample {
            rss_kb: status_kb(&status, "VmRSS:").unwrap_or(0),
            fds,
        })
    }

    /// Why `self` is not back at `baseline` within `slack`, if it is not.
    pub fn check_against(&self, baseline: &ProcSample, slack: Slack) -> Result<(), String> {
        let mut why = Vec::new();
        if self.fds > baseline.fds + slack.fds {
            why.push(format!(
                "{} open fds, baseline {} + slack {}",
                self.fds, baseline.fds, slack.fds
            ));
        }
        if self.rss_kb > baseline.rss_kb + slack.rss_kb {
            why.push(format!(
                "RSS {} kB, baseline {} kB + slack {} kB",
                self.rss_kb, baseline.rss_kb, slack.rss_kb
            ));
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }
}

/// A `Key:   123 kB` line of /proc status or smaps files.
fn status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// One round's figures: berthd after the round's containers are all removed.
#[derive(Debug, Clone)]
pub struct Round {
    pub index: usize,
    pub containers: usize,
    pub elapsed: Duration,
    pub berthd: ProcSample,
    /// `Err` when berthd did not come back to the baseline within slack.
    pub verdict: Result<(), String>,
}

/// Latency percentiles of one verb.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub calls: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Latency {
            calls: samples.len(),
            p50: at(0.50),
            p95: at(0.95),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// The shims of the running containers, from their /proc files.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShimMemory {
    pub count: usize,
    pub rss_kb: u64,
    pub pss_kb: u64,
    /// Pages of anonymous memory (heap, stacks, written data): the part no
    /// other shim shares.
    pub anon_kb: u64,
}

impl ShimMemory {
    /// Sums VmRSS, RssAnon and the Pss of smaps_rollup over `pids`; a
    /// process gone meanwhile counts as not there.
    pub fn read(pids: &[i32]) -> ShimMemory {
        let mut m = ShimMemory::default();
        for p in pids {
            let (Ok(status), Ok(rollup)) = (
                std::fs::read_to_string(format!("/proc/{p}/status")),
                std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")),
            ) else {
                continue;
            };
            m.count += 1;
            m.rss_kb += status_kb(&status, "VmRSS:").unwrap_or(0);
            m.anon_kb += status_kb(&status, "RssAnon:").unwrap_or(0);
            m.pss_kb += status_kb(&rollup, "Pss:").unwrap_or(0);
        }
        m
    }

    fn per_shim(&self, kb: u64) -> f64 {
        kb as f64 / self.count.max(1) as f64
    }
}

/// The figures with many containers running at once.
#[derive(Debug, Clone)]
pub struct Running {
    pub index: usize,
    pub containers: usize,
    pub start_elapsed: Duration,
    pub list: Latency,
    pub inspect: Latency,
    pub shims: ShimMemory,
    pub berthd: ProcSample,
    pub remove_elapsed: Duration,
    /// berthd after they were all removed.
    pub after: ProcSample,
    /// fds against the baseline; RSS, from the second running round on,
    /// against the first's `after`: with that many containers at once
    /// berthd reaches a higher working size than the rounds', and keeps it.
    pub verdict: Result<(), String>,
}

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub config: LoadConfig,
    pub slack: Slack,
    /// berthd before the first container.
    pub cold: ProcSample,
    /// berthd after the first round: what later rounds are judged against.
    pub baseline: ProcSample,
    pub rounds: Vec<Round>,
    pub running: Vec<Running>,
    /// Every container the run created (all removed again).
    pub created: Vec<String>,
}

impl LoadReport {
    /// Every verdict that failed, with where.
    pub fn failures(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rounds
            .iter()
            .filter_map(|r| {
                r.verdict
                    .as_ref()
                    .err()
                    .map(|e| format!("round {}: {e}", r.index))
            })
            .collect();
        for r in &self.running {
            if let Err(e) = &r.verdict {
                v.push(format!(
                    "after removing the running containers (running round {}): {e}",
                    r.index
                ));
            }
        }
        v
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "berth-load: {} containers in rounds of {}, at most {} in flight; {} running at once, {} times",
            c.total, c.round, c.concurrency, c.running, c.running_rounds
        )?;
        writeln!(
            f,
            "berthd before any container: RSS {} kB, {} fds; baseline (after round 1): RSS {} kB, {} fds; slack +{} kB, +{} fds",
            self.cold.rss_kb, self.cold.fds, self.baseline.rss_kb, self.baseline.fds,
            self.slack.rss_kb, self.slack.fds
        )?;
        writeln!(
            f,
            "| round | containers | s | ctr/s | berthd RSS kB | Δ kB | fds | Δ fds | verdict |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
        for r in &self.rounds {
            let secs = r.elapsed.as_secs_f64();
            writeln!(
                f,
                "| {} | {} | {:.1} | {:.1} | {} | {:+} | {} | {:+} | {} |",
                r.index,
                r.containers,
                secs,
                r.containers as f64 / secs.max(1e-9),
                r.berthd.rss_kb,
                r.berthd.rss_kb as i64 - self.baseline.rss_kb as i64,
                r.berthd.fds,
                r.berthd.fds as i64 - self.baseline.fds as i64,
                match &r.verdict {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("FAIL: {e}"),
                }
            )?;
        }
        for r in &self.running {
            writeln!(
                f,
                "running round {}: {} started in {:.1} s; berthd RSS {} kB, {} fds",
                r.index,
                r.containers,
                r.start_elapsed.as_secs_f64(),
                r.berthd.rss_kb,
                r.berthd.fds
            )?;
            writeln!(f, "| call | calls | p50 ms | p95 ms | max ms |")?;
            writeln!(f, "|---|---|---|---|---|")?;
            for (name, l) in [("list (ps)", r.list), ("inspect", r.inspect)] {
                writeln!(
                    f,
                    "| {name} | {} | {} | {} | {} |",
                    l.calls,
                    ms(l.p50),
                    ms(l.p95),
                    ms(l.max)
                )?;
            }
            let s = &r.shims;
            writeln!(
                f,
                "shims: {} found; per shim RSS {:.0} kB, Pss {:.0} kB, anonymous {:.0} kB; all shims RSS {} kB, Pss {} kB",
                s.count,
                s.per_shim(s.rss_kb),
                s.per_shim(s.pss_kb),
                s.per_shim(s.anon_kb),
                s.rss_kb,
                s.pss_kb
            )?;
            writeln!(
                f,
                "removed in {:.1} s; berthd after: RSS {} kB ({:+}), {} fds ({:+}): {}",
                r.remove_elapsed.as_secs_f64(),
                r.after.rss_kb,
                r.after.rss_kb as i64 - self.baseline.rss_kb as i64,
                r.after.fds,
                r.after.fds as i64 - self.baseline.fds as i64,
                match &r.verdict {
                    Ok(()) => "ok".to_string(),
                    Err(e) => format!("FAIL: {e}"),
                }
            )?;
        }
        Ok(())
    }
}

/// Why a load run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("container {what}: {source}")]
    Api {
        what: String,
        #[source]
        source: berth_engine_api::Error,
    },
    #[error("reading berthd's /proc files (pid {pid}): {source}")]
    Proc {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Check(String),
    #[error("a load task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn api(what: impl Into<String>) -> impl FnOnce(berth_engine_api::Error) -> LoadError {
    let what = what.into();
    move |source| LoadError::Api { what, source }
}

/// What the run needs to know about the engine under load.
pub struct Target<'a> {
    pub client: Client,
    pub berthd_pid: u32,
    /// Shims are the `berth-shim` processes whose command line contains this
    /// (the engine's state dir), so other engines' shims are not counted.
    pub shim_needle: &'a str,
}

/// Runs the rounds, then the running phase. Stops at the first API error;
/// a berthd that does not come back to baseline is a failed verdict in the
/// report, not an error, so every round is seen.
pub async fn run(t: &Target<'_>, cfg: &LoadConfig, slack: Slack) -> Result<LoadReport, LoadError> {
    let pid = t.berthd_pid;
    let sample = || ProcSample::read(pid).map_err(|source| LoadError::Proc { pid, source });
    let cold = sample()?;
    let mut rounds = Vec::new();
    let mut created = Vec::new();
    let mut baseline = cold;
    let mut done = 0;
    let mut index = 0;
    while done < cfg.total {
        index += 1;
        let n = cfg.round.min(cfg.total - done);
        let started = Instant::now();
        created.extend(churn(t, cfg, n, done).await?);
        let elapsed = started.elapsed();
        done += n;
        let (berthd, verdict) = if index == 1 {
            baseline = settle(pid, None, slack).await?;
            (baseline, Ok(()))
        } else {
            let s = settle(pid, Some(&baseline), slack).await?;
            (s, s.check_against(&baseline, slack))
        };
        rounds.push(Round {
            index,
            containers: n,
            elapsed,
            berthd,
            verdict,
        });
    }
    let mut running: Vec<Running> = Vec::new();
    for index in 1..=cfg.running_rounds {
        if cfg.running == 0 {
            break;
        }
        let (mut r, ids) = run_many(t, cfg, &baseline, slack).await?;
        created.extend(ids);
        let reference = ProcSample {
            fds: baseline.fds,
            rss_kb: running
                .first()
                .map_or(r.after.rss_kb, |first| first.after.rss_kb),
        };
        r.index = index;
        r.verdict = r.after.check_against(&reference, slack);
        running.push(r);
    }
    Ok(LoadReport {
        config: cfg.clone(),
        slack,
        cold,
        baseline,
        rounds,
        running,
        created,
    })
}

/// berthd closes a removed container's shim connection and files as the
/// removal's last steps, some after answering: give it a moment to come
/// back under the baseline before reading the figures that count.
async fn settle(
    pid: u32,
    baseline: Option<&ProcSample>,
    slack: Slack,
) -> Result<ProcSample, LoadError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = ProcSample::read(pid).map_err(|source| LoadError::Proc { pid, source })?;
        let back = baseline.is_none_or(|b| s.check_against(b, slack).is_ok());
        if back || Instant::now() > deadline {
            return Ok(s);
        }
    }
}

fn spec(cfg: &LoadConfig, cmd: &[&str]) -> ContainerSpec {
    ContainerSpec {
        image: cfg.image.clone(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        network_mode: cfg.network.clone(),
        labels: BTreeMap::from([("berth-load".to_string(), "1".to_string())]),
        ..Default::default()
    }
}

/// Runs `op` over `items` with at most `limit` at once; the first error
/// stops it (the tasks in flight are aborted).
async fn bounded<I, F, Fut, T>(items: I, limit: usize, op: F) -> Result<Vec<T>, LoadError>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future<Output = Result<T, LoadError>> + Send + 'static,
    T: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::new();
    for item in items {
        while set.len() >= limit.max(1) {
            if let Some(r) = set.join_next().await {
                out.push(r??);
            }
        }
        set.spawn(op(item));
    }
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

/// `n` containers through create, start, wait for exit, remove.
async fn churn(
    t: &Target<'_>,
    cfg: &LoadConfig,
    n: usize,
    first: usize,
) -> Result<Vec<String>, LoadError> {
    let spec = spec(cfg, &["true"]);
    let client = t.client.clone();
    bounded(first..first + n, cfg.concurrency, |i| {
        let c = client.containers();
        let mut spec = spec.clone();
        spec.name = Some(format!("load-{i}"));
        async move {
            let id = c
                .create(&spec)
                .await
                .map_err(api(format!("create load-{i}")))?
                .id;
            c.start(&id).await.map_err(api(format!("start load-{i}")))?;
            c.wait(&id, "not-running")
                .await
                .map_err(api(format!("wait load-{i}")))?;
            c.remove(&id, false, false)
                .await
                .map_err(api(format!("remove load-{i}")))?;
            Ok(id)
        }
    })
    .await
}

/// `berth-shim` processes whose command line contains `needle`.
pub fn shim_pids(needle: &str) -> Vec<i32> {
    crate::engine::processes_mentioning(needle)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .map(|c| c.trim() == "berth-shim")
                .unwrap_or(false)
        })
        .collect()
}

/// How long after the last call a shim unmaps its code pages
/// (`shim/src/memory.rs`); the idle figures are read after it.
const SHIM_QUIET: Duration = Duration::from_secs(3);

async fn run_many(
    t: &Target<'_>,
    cfg: &LoadConfig,
    baseline: &ProcSample,
    slack: Slack,
) -> Result<(Running, Vec<String>), LoadError> {
    let spec = spec(cfg, &["sleep", "3600"]);
    let client = t.client.clone();
    let started = Instant::now();
    let ids = bounded(0..cfg.running, cfg.concurrency, |i| {
        let c = client.containers();
        let mut spec = spec.clone();
        spec.name = Some(format!("load-run-{i}"));
        async move {
            let id = c
                .create(&spec)
                .await
                .map_err(api(format!("create load-run-{i}")))?
                .id;
            c.start(&id)
                .await
                .map_err(api(format!("start load-run-{i}")))?;
            Ok(id)
        }
    })
    .await;
    let start_elapsed = started.elapsed();
    // Remove whatever started, even when a start failed.
    let measured = match &ids {
        Ok(ids) => measure_running(t, cfg, ids).await,
        Err(_) => Err(LoadError::Check("not every container started".into())),
    };
    let removed = Instant::now();
    let all = t
        .client
        .containers()
        .list(true, &["label=berth-load".to_string()], 0)
        .await
        .map_err(api("list for cleanup"))?;
    let c = t.client.containers();
    bounded(all.into_iter().map(|x| x.id), cfg.concurrency, |id| {
        let c = c.clone();
        async move {
            c.remove(&id, true, false)
                .await
                .map_err(api(format!("remove -f {id}")))
        }
    })
    .await?;
    let remove_elapsed = removed.elapsed();
    let ids = ids?;
    let (list, inspect, shims, berthd) = measured?;
    let after = settle(t.berthd_pid, Some(baseline), slack).await?;
    let r = Running {
        index: 0,
        containers: ids.len(),
        start_elapsed,
        list,
        inspect,
        shims,
        berthd,
        remove_elapsed,
        after,
        verdict: Ok(()),
    };
    Ok((r, ids))
}

async fn measure_running(
    t: &Target<'_>,
    cfg: &LoadConfig,
    ids: &[String],
) -> Result<(Latency, Latency, ShimMemory, ProcSample), LoadError> {
    let c = t.client.containers();
    let mut list = Vec::with_capacity(cfg.samples);
    for _ in 0..cfg.samples {
        let at = Instant::now();
        let got = c.list(false, &[], 0).await.map_err(api("list"))?;
        list.push(at.elapsed());
        let running = got.iter().filter(|x| x.state.running).count();
        if running < ids.len() {
            return Err(LoadError::Check(format!(
                "list shows {running} running containers, {} were started",
                ids.len()
            )));
        }
    }
    let mut inspect = Vec::with_capacity(cfg.samples);
    for i in 0..cfg.samples {
        let id = &ids[i * 7919 % ids.len()];
        let at = Instant::now();
        let x = c.inspect(id).await.map_err(api(format!("inspect {id}")))?;
        inspect.push(at.elapsed());
        if !x.state.running {
            return Err(LoadError::Check(format!("{id} is not running")));
        }
    }
    tokio::time::sleep(SHIM_QUIET).await;
    let pids = shim_pids(t.shim_needle);
    let shims = ShimMemory::read(&pids);
    if shims.count != ids.len() {
        return Err(LoadError::Check(format!(
            "{} shims found for {} running containers",
            shims.count,
            ids.len()
        )));
    }
    let berthd = ProcSample::read(t.berthd_pid).map_err(|source| LoadError::Proc {
        pid: t.berthd_pid,
        source,
    })?;
    Ok((Latency::of(list), Latency::of(inspect), shims, berthd))
}

/// What a run leaves behind on the engine's dirs: processes, mounts,
/// container dirs. Empty when it cleaned up.
pub fn leftovers(e: &crate::engine::Engine) -> Vec<String> {
    let mut v = Vec::new();
    let procs = e.own_processes();
    if !procs.is_empty() {
        v.push(format!("processes left: {procs:?}"));
    }
    let mounts = e.mounts();
    if !mounts.is_empty() {
        v.push(format!("mounts left: {mounts:?}"));
    }
    let dirs = e.container_dirs();
    if !dirs.is_empty() {
        v.push(format!("container dirs left: {dirs:?}"));
    }
    let shims = e.state().join("shims");
    if let Ok(rd) = std::fs::read_dir(&shims) {
        let left: Vec<_> = rd.flatten().map(|d| d.file_name()).collect();
        if !left.is_empty() {
            v.push(format!(
                "shim state dirs left in {}: {left:?}",
                shims.display()
            ));
        }
    }
    v
}

/// The cgroup dirs of `ids` that still exist (each controller's
/// `berth/<id>`).
pub fn cgroups_left(ids: &[String]) -> Vec<String> {
    ids.iter()
        .flat_map(|id| crate::cgroup::existing_dirs(&crate::engine::cgroup_path(id)))
        .map(|d| d.display().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fd_per_container_over_a_round_fails_the_check() {
        let base = ProcSample {
            rss_kb: 50_000,
            fds: 30,
        };
        let slack = Slack::default();
        let leaked = ProcSample {
            rss_kb: 50_000,
            fds: 30 + 20,
        };
        let e = leaked.check_against(&base, slack).unwrap_err();
        assert!(e.contains("50 open fds"), "{e}");
        let within = ProcSample {
            rss_kb: 50_000 + slack.rss_kb,
            fds: 30 + slack.fds,
        };
        assert_eq!(within.check_against(&base, slack), Ok(()));
        let grown = ProcSample {
            rss_kb: 50_001 + slack.rss_kb,
            fds: 30,
        };
        assert!(grown.check_against(&base, slack).is_err());
    }

    #[test]
    fn percentiles_pick_ranks() {
        let l = Latency::of((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(l.p50, Duration::from_millis(50));
        assert_eq!(l.p95, Duration::from_millis(95));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latency::of(Vec::new()).calls, 0);
    }

    #[test]
    fn reads_our_own_proc_files() {
        let s = ProcSample::read(std::process::id()).unwrap();
        assert!(s.rss_kb > 0 && s.fds >= 3, "{s:?}");
        let m = ShimMemory::read(&[std::process::id() as i32]);
        assert_eq!(m.count, 1);
        assert!(m.pss_kb > 0 && m.rss_kb >= m.anon_kb);
    }
}
