//! Health checks, as dockerd runs them (moby `daemon/health.go`).
//!
//! A container's check is its image's `Healthcheck` with the create options
//! over it, field by field (a zero field inherits), resolved once at create
//! into `Container::healthcheck`. While the container runs, a monitor
//! (`monitor.rs`) runs the probe as an exec through the shim, every interval
//! (measured from the end of one probe to the start of the next, the first one
//! interval after the start), and folds each result into `State::health`
//! by [`Health::record`]:
//!
//! * exit 0 is a success: the failing streak resets, the status is `healthy`;
//! * anything else is a failure (other exit codes too, and -1 for a probe that
//!   could not run or exceeded its timeout and was killed); while `starting`,
//!   a failure that began within the start period does not count; otherwise
//!   the streak grows, and at `retries` the status is `unhealthy`;
//! * the last [`MAX_LOG`] results are kept, each output cut at
//!   [`MAX_OUTPUT`] bytes.
//!
//! Every (re)start of the process begins at `starting` with a zero streak
//! and keeps the log; when the monitor stops (the container stopped or was
//! paused) the status becomes `unhealthy`, docker's rule "for compatibility".
//! A berthd restart does not reset anything: the record keeps the state and
//! the monitor of a live container resumes from it.

mod monitor;

pub(super) use monitor::Monitor;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// docker's defaults for a zero field.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_PERIOD: Duration = Duration::ZERO;
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept in the log.
pub const MAX_LOG: usize = 5;
/// Bytes of a probe's output kept (docker's `maxOutputLen`).
pub const MAX_OUTPUT: usize = 4096;
/// docker's floor for a non-zero interval, timeout, start period or start interval.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// docker's `HealthConfig`: as a create option (zero fields inherit the
/// image's) and, resolved, the container's check (zero fields take the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["CMD", exe, arg…]`, `["CMD-SHELL", command]` or `["NONE"]`; empty: inherit.
    pub test: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

/// What a probe runs, from a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The argv, for an exec.
    Command(Vec<String>),
    /// `NONE`, or no test at all: nothing runs, the container has no health.
    Disabled,
}

impl HealthConfig {
    /// docker's `merge`: each zero field of the create option takes the
    /// image's; no option at all is the image's check.
    pub fn resolve(
        requested: Option<&HealthConfig>,
        image: Option<&HealthConfig>,
    ) -> Option<HealthConfig> {
        let Some(r) = requested else {
            return image.cloned();
        };
        let Some(i) = image else {
            return Some(r.clone());
        };
        let or = |a: Duration, b: Duration| if a.is_zero() { b } else { a };
        Some(HealthConfig {
            test: if r.test.is_empty() {
                i.test.clone()
            } else {
                r.test.clone()
            },
            interval: or(r.interval, i.interval),
            timeout: or(r.timeout, i.timeout),
            start_period: or(r.start_period, i.start_period),
            start_interval: or(r.start_interval, i.start_interval),
            retries: if r.retries == 0 { i.retries } else { r.retries },
        })
    }

    /// The probe's argv: `CMD-SHELL` through `/bin/sh -c` (dockerd's shell
    /// on Linux), `CMD` as given.
    pub fn probe(&self) -> Probe {
        match self.test.split_first() {
            // Any words after the command become `$0`, `$1`… as with docker.
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => Probe::Command(
                ["/bin/sh", "-c"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain(rest.iter().cloned())
                    .collect(),
            ),
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => {
                Probe::Command(rest.to_vec())
            }
            _ => Probe::Disabled,
        }
    }

    pub fn enabled(&self) -> bool {
        self.probe() != Probe::Disabled
    }

    /// The values the monitor uses: zero fields as docker's defaults.
    pub fn effective(&self) -> Timing {
        let or = |d: Duration, default| if d.is_zero() { default } else { d };
        Timing {
            interval: or(self.interval, DEFAULT_INTERVAL),
            timeout: or(self.timeout, DEFAULT_TIMEOUT),
            start_period: or(self.start_period, DEFAULT_START_PERIOD),
            start_interval: or(self.start_interval, DEFAULT_START_INTERVAL),
            retries: if self.retries == 0 {
                DEFAULT_RETRIES
            } else {
                self.retries
            },
        }
    }

    /// docker's checks at create (its texts): a non-zero duration is at
    /// least 1 ms; the test is one of docker's kinds.
    pub fn validate(&self) -> Result<(), String> {
        for (what, d) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if !d.is_zero() && d < MIN_DURATION {
                return Err(format!("{what} in Healthcheck cannot be less than 1ms"));
            }
        }
        match self.test.first().map(String::as_str) {
            None | Some("NONE") => Ok(()),
            Some("CMD" | "CMD-SHELL") if self.test.len() > 1 => Ok(()),
            Some(k @ ("CMD" | "CMD-SHELL")) => Err(format!(
                "Healthcheck test {k} needs a command (e.g. [\"{k}\", \"true\"])"
            )),
            Some(k) => Err(format!(
                "unknown Healthcheck test type {k:?}: use CMD, CMD-SHELL or NONE"
            )),
        }
    }

    /// An image config's `Healthcheck` (docker's JSON: `Test`, durations in
    /// nanoseconds). `None` when absent or unreadable: a malformed check in
    /// an image is no check, as docker ignores fields it cannot read.
    pub fn from_image_json(v: &serde_json::Value) -> Option<HealthConfig> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Docker {
            #[serde(default)]
            test: Option<Vec<String>>,
            #[serde(default)]
            interval: Option<i64>,
            #[serde(default)]
            timeout: Option<i64>,
            #[serde(default)]
            start_period: Option<i64>,
            #[serde(default)]
            start_interval: Option<i64>,
            #[serde(default)]
            retries: Option<i64>,
        }
        let d: Docker = serde_json::from_value(v.clone()).ok()?;
        let ns = |v: Option<i64>| {
            Duration::from_nanos(v.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
        };
        Some(HealthConfig {
            test: d.test.unwrap_or_default(),
            interval: ns(d.interval),
            timeout: ns(d.timeout),
            start_period: ns(d.start_period),
            start_interval: ns(d.start_interval),
            retries: d.retries.and_then(|r| u32::try_from(r).ok()).unwrap_or(0),
        })
    }
}

impl HealthConfig {
    /// docker's JSON for an image config (`commit`): zero fields left out.
    pub fn to_image_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "Test": self.test });
        let ns = |d: Duration| serde_json::json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        for (key, d) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
        ] {
            if !d.is_zero() {
                v[key] = ns(d);
            }
        }
        if self.retries != 0 {
            v["Retries"] = serde_json::json!(self.retries);
        }
        v
    }
}

/// A resolved check's timing, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

impl Timing {
    /// docker's `getInterval`: the start interval while the container is
    /// `starting` and within its start period, else the interval.
    pub fn next_wait(&self, since_start: Duration, status: HealthStatus) -> Duration {
        if since_start < self.start_period && status == HealthStatus::Starting {
            self.start_interval
        } else {
            self.interval
        }
    }
}

/// docker's health words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// -1: it could not run, or exceeded its timeout.
    pub exit_code: i32,
    pub output: String,
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    /// Oldest first, at most [`MAX_LOG`].
    pub log: Vec<HealthResult>,
}

impl Health {
    /// A new run: `starting`, no failures, the log of earlier runs kept.
    pub fn restart(previous: Option<&Health>) -> Health {
        Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: previous.map(|h| h.log.clone()).unwrap_or_default(),
        }
    }

    /// Folds a probe's result in (docker's `handleProbeResult`); returns
    /// the new status when it changed.
    pub fn record(
        &mut self,
        result: HealthResult,
        timing: &Timing,
        started_at: DateTime<Utc>,
    ) -> Option<HealthStatus> {
        let old = self.status;
        let success = result.exit_code == 0;
        let began = result.start;
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            let excess = self.log.len() - MAX_LOG;
            self.log.drain(..excess);
        }
        if success {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let since_start = (began - started_at).to_std().unwrap_or_default();
            let in_start_period =
                self.status == HealthStatus::Starting && since_start < timing.start_period;
            if !in_start_period {
                self.failing_streak += 1;
                if self.failing_streak >= timing.retries {
                    self.status = HealthStatus::Unhealthy;
                }
            }
        }
        (self.status != old).then_some(self.status)
    }
}

/// docker's `limitedBuffer`: the first [`MAX_OUTPUT`] bytes, "..." when cut.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    truncated: bool,
}

impl Output {
    pub fn push(&mut self, data: &[u8]) {
        let keep = (MAX_OUTPUT - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    /// As text; bytes that are not UTF-8 read as U+FFFD (as Go's JSON writes them).
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn create_options_override_the_image_field_by_field() {
        let image = HealthConfig {
            test: s(&["CMD", "/check"]),
            interval: ms(5000),
            timeout: ms(1000),
            retries: 5,
            ..Default::default()
        };
        let asked = HealthConfig {
            interval: ms(200),
            ..Default::default()
        };
        let r = HealthConfig::resolve(Some(&asked), Some(&image)).unwrap();
        assert_eq!(r.test, image.test, "an empty test inherits");
        assert_eq!((r.interval, r.timeout, r.retries), (ms(200), ms(1000), 5));
        assert_eq!(
            HealthConfig::resolve(None, Some(&image)),
            Some(image.clone())
        );
        assert_eq!(HealthConfig::resolve(None, None), None);
        let none = HealthConfig {
            test: s(&["NONE"]),
            ..Default::default()
        };
        let r = HealthConfig::resolve(Some(&none), Some(&image)).unwrap();
        assert!(!r.enabled(), "--no-healthcheck disables the image's");
        assert_eq!(HealthConfig::resolve(Some(&asked), None), Some(asked));
    }

    #[test]
    fn probes_run_as_docker_runs_them() {
        let h = |t: &[&str]| HealthConfig {
            test: s(t),
            ..Default::default()
        };
        assert_eq!(
            h(&["CMD-SHELL", "test -f /ok"]).probe(),
            Probe::Command(s(&["/bin/sh", "-c", "test -f /ok"]))
        );
        assert_eq!(
            h(&["CMD", "cat", "/x"]).probe(),
            Probe::Command(s(&["cat", "/x"]))
        );
        assert_eq!(h(&["NONE"]).probe(), Probe::Disabled);
        assert_eq!(h(&[]).probe(), Probe::Disabled);
        assert_eq!(h(&["CMD"]).probe(), Probe::Disabled);
    }

    #[test]
    fn zero_fields_take_dockers_defaults() {
        let t = HealthConfig::default().effective();
        assert_eq!(
            (
                t.interval,
                t.timeout,
                t.start_period,
                t.start_interval,
                t.retries
            ),
            (ms(30_000), ms(30_000), Duration::ZERO, ms(5000), 3)
        );
    }

    #[test]
    fn validation_uses_dockers_texts() {
        let bad = HealthConfig {
            test: s(&["CMD-SHELL", "true"]),
            interval: Duration::from_micros(10),
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let odd = HealthConfig {
            test: s(&["SHELL", "true"]),
            ..Default::default()
        };
        assert!(odd
            .validate()
            .unwrap_err()
            .contains("CMD, CMD-SHELL or NONE"));
        assert!(HealthConfig::default().validate().is_ok());
    }

    #[test]
    fn image_json_reads_dockers_shape() {
        let v = serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000,
            "StartPeriod": 1_000_000_000u64, "Retries": 2});
        let h = HealthConfig::from_image_json(&v).unwrap();
        assert_eq!(h.test, s(&["CMD-SHELL", "true"]));
        assert_eq!(
            (h.interval, h.start_period, h.retries),
            (ms(200), ms(1000), 2)
        );
        assert_eq!(h.timeout, Duration::ZERO);
        assert!(HealthConfig::from_image_json(&serde_json::json!("nope")).is_none());
        assert_eq!(HealthConfig::from_image_json(&h.to_image_json()), Some(h));
    }

    fn result(start: DateTime<Utc>, code: i32) -> HealthResult {
        HealthResult {
            start,
            end: start,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn retries_consecutive_failures_make_it_unhealthy_and_a_success_healthy() {
        let t0 = Utc::now();
        let timing = HealthConfig {
            retries: 2,
            ..Default::default()
        }
        .effective();
        let mut h = Health::restart(None);
        assert_eq!(h.record(result(t0, 1), &timing, t0), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        assert_eq!(
            h.record(result(t0, 1), &timing, t0),
            Some(HealthStatus::Unhealthy)
        );
        // Other codes than 1 fail too; the streak goes on growing.
        assert_eq!(h.record(result(t0, 2), &timing, t0), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(
            h.record(result(t0, 0), &timing, t0),
            Some(HealthStatus::Healthy)
        );
        assert_eq!(h.failing_streak, 0);
        // One failure of a healthy container is not enough.
        assert_eq!(h.record(result(t0, -1), &timing, t0), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 1));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_a_success_ends_it() {
        let t0 = Utc::now();
        let timing = HealthConfig {
            retries: 1,
            start_period: ms(10_000),
            ..Default::default()
        }
        .effective();
        let early = t0 + chrono::Duration::seconds(1);
        let late = t0 + chrono::Duration::seconds(11);
        let mut h = Health::restart(None);
        assert_eq!(h.record(result(early, 1), &timing, t0), None);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        // A success ends the start period: the next failure counts.
        h.record(result(early, 0), &timing, t0);
        assert_eq!(
            h.record(result(early, 1), &timing, t0),
            Some(HealthStatus::Unhealthy)
        );
        let mut h = Health::restart(None);
        assert_eq!(
            h.record(result(late, 1), &timing, t0),
            Some(HealthStatus::Unhealthy)
        );
    }

    #[test]
    fn the_log_keeps_the_last_five_and_a_restart_keeps_the_log() {
        let t0 = Utc::now();
        let timing = HealthConfig::default().effective();
        let mut h = Health::restart(None);
        for code in 0..7 {
            h.record(result(t0, code), &timing, t0);
        }
        let codes: Vec<i32> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [2, 3, 4, 5, 6]);
        let again = Health::restart(Some(&h));
        assert_eq!(
            (again.status, again.failing_streak),
            (HealthStatus::Starting, 0)
        );
        assert_eq!(again.log.len(), 5);
    }

    #[test]
    fn the_start_interval_applies_while_starting_in_the_start_period() {
        let timing = HealthConfig {
            interval: ms(1000),
            start_interval: ms(100),
            start_period: ms(5000),
            ..Default::default()
        }
        .effective();
        assert_eq!(timing.next_wait(ms(0), HealthStatus::Starting), ms(100));
        assert_eq!(timing.next_wait(ms(0), HealthStatus::Healthy), ms(1000));
        assert_eq!(timing.next_wait(ms(6000), HealthStatus::Starting), ms(1000));
    }

    #[test]
    fn output_is_cut_like_dockers() {
        let mut o = Output::default();
        o.push(b"hello ");
        o.push(b"world");
        assert_eq!(o.text(), "hello world");
        let mut o = Output::default();
        o.push(&vec![b'a'; MAX_OUTPUT - 1]);
        o.push(b"bc");
        let t = o.text();
        assert_eq!(t.len(), MAX_OUTPUT + 3);
        assert!(t.ends_with("ab..."));
    }
}
