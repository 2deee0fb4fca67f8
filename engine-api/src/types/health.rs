//! Health checks: the check a container runs (docker's `HealthConfig`, from
//! its image or given at create) and what its probes found (docker's
//! `State.Health`). `Serialize` shapes are `docker inspect`'s.

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

/// docker's `HealthConfig`. As a create option every field overrides the
/// image's on its own, and a zero (or empty) one inherits the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["CMD", exe, arg…]`, `["CMD-SHELL", command]` (run by `/bin/sh -c`)
    /// or `["NONE"]` (no check, also none of the image's); empty: the image's.
    pub test: Vec<String>,
    /// Between the end of one probe and the start of the next (docker's default 30 s).
    pub interval: Duration,
    /// A probe running longer is killed and counts as a failure (default 30 s).
    pub timeout: Duration,
    /// Failures this soon after the start do not count (default 0).
    pub start_period: Duration,
    /// The interval while in the start period (default 5 s).
    pub start_interval: Duration,
    /// Consecutive failures that make the container unhealthy (default 3).
    pub retries: u32,
}

impl HealthConfig {
    /// `--no-healthcheck`: disables the image's check.
    pub fn none() -> HealthConfig {
        HealthConfig {
            test: vec!["NONE".to_string()],
            ..Default::default()
        }
    }

    /// A check given as a shell command line (`--health-cmd`).
    pub fn shell(command: &str) -> Vec<String> {
        vec!["CMD-SHELL".to_string(), command.to_string()]
    }

    /// docker's JSON (`Config.Healthcheck`): durations in nanoseconds, zero
    /// fields left out.
    pub fn docker_json(&self) -> Value {
        let mut v = json!({ "Test": self.test });
        let ns = |d: Duration| json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
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
            v["Retries"] = json!(self.retries);
        }
        v
    }
}

/// docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// "starting", "healthy" or "unhealthy".
    pub status: String,
    /// Consecutive failed probes (outside the start period).
    pub failing_streak: u32,
    /// The last probes, oldest first (at most 5).
    pub log: Vec<HealthResult>,
}

/// One probe.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// RFC 3339 with nanoseconds.
    pub start: String,
    pub end: String,
    /// 0: healthy; -1: it could not run or was killed at its timeout.
    pub exit_code: i32,
    /// stdout and stderr, the first 4096 bytes (then "...").
    pub output: String,
}

impl Health {
    /// `ps`'s word for it: "healthy", "unhealthy", "health: starting".
    pub fn ps_text(&self) -> String {
        match self.status.as_str() {
            "starting" => "health: starting".to_string(),
            s => s.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_json_leaves_zero_fields_out() {
        let h = HealthConfig {
            test: HealthConfig::shell("true"),
            interval: Duration::from_millis(200),
            retries: 2,
            ..Default::default()
        };
        assert_eq!(
            h.docker_json(),
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 200_000_000u64, "Retries": 2})
        );
        assert_eq!(
            HealthConfig::none().docker_json(),
            json!({"Test": ["NONE"]})
        );
    }

    #[test]
    fn ps_words_are_dockers() {
        let h = |s: &str| Health {
            status: s.into(),
            ..Default::default()
        };
        assert_eq!(h("starting").ps_text(), "health: starting");
        assert_eq!(h("healthy").ps_text(), "healthy");
        assert_eq!(h("unhealthy").ps_text(), "unhealthy");
    }
}
