//! `stop`, `kill`, `restart`. `stop` sends the stop signal, waits the grace
//! period, then SIGKILLs — and, when it had to, says why, from PID 1's signal
//! disposition read before the signal was sent: most often it has no handler,
//! and the kernel never applies a default action to a PID namespace's init
//! (only SIGKILL/SIGSTOP from an ancestor namespace get through;
//! kernel/signal.c `sig_task_ignored`, SIGNAL_UNKILLABLE).

use std::time::Duration;

use super::record::Status;
use super::{Containers, Error, Result};

/// How `stop` ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopOutcome {
    /// SIGKILL was needed.
    pub killed: bool,
    /// Why, and what to do about it.
    pub reason: String,
}

/// Signal number from `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|s| s as i32)
}

/// Signal name for messages.
fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {n}"))
}

/// The oldest child of `pid` (the command berth-init runs), from the kernel's list.
fn first_child(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What a process does with a signal, from /proc/<pid>/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// SIG_IGN or blocked: the signal never acts.
    Ignored,
    /// A handler runs; the program decides whether to exit.
    Caught,
    /// The default action (terminate, for the stop signals).
    Default,
}

/// The disposition of `sig` in process `pid`, and its command name. `None`
/// when the process is gone.
fn disposition(pid: u32, sig: i32) -> Option<(Disposition, String)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut masks = [0u64; 3];
    let mut name = String::new();
    for line in status.lines() {
        let field = |v: &str| u64::from_str_radix(v.trim(), 16).unwrap_or(0);
        if let Some(v) = line.strip_prefix("SigIgn:") {
            masks[0] = field(v);
        } else if let Some(v) = line.strip_prefix("SigBlk:") {
            masks[1] = field(v);
        } else if let Some(v) = line.strip_prefix("SigCgt:") {
            masks[2] = field(v);
        } else if let Some(v) = line.strip_prefix("Name:") {
            name = v.trim().to_string();
        }
    }
    if !(1..=64).contains(&sig) {
        return Some((Disposition::Default, name));
    }
    let bit = 1u64 << (sig - 1);
    let d = if (masks[0] | masks[1]) & bit != 0 {
        Disposition::Ignored
    } else if masks[2] & bit != 0 {
        Disposition::Caught
    } else {
        Disposition::Default
    };
    Some((d, name))
}

impl Containers {
    /// Stops a running container. `timeout`: grace period in seconds (None: the
    /// container's own, default 10; negative: wait forever).
    pub async fn stop(&self, reference: &str, timeout: Option<i64>) -> Result<StopOutcome> {
        let c = self.lookup(reference)?;
        let id = c.id.clone();
        let c = self
            .modify(&id, |c| c.manually_stopped = true)?
            .unwrap_or(c);
        if c.state.status == Status::Restarting {
            self.modify(&id, |c| c.state.status = Status::Exited)?;
            return Ok(StopOutcome::default());
        }
        let Some(live) = self.live_task(&id) else {
            return Ok(StopOutcome::default());
        };
        if c.state.status == Status::Paused {
            // A frozen process cannot act on a signal: thaw it first.
            let _ = live.task.resume().await;
        }
        let sig = parse_signal(&c.stop_signal).unwrap_or(libc::SIGTERM);
        // Under --init, PID 1 is berth-init, which blocks every signal to forward it:
        // what matters is what the command it runs does with the signal.
        let target = if c.spec.init {
            first_child(c.state.pid).unwrap_or(c.state.pid)
        } else {
            c.state.pid
        };
        let handler = disposition(target, sig);
        let grace = timeout.unwrap_or(c.stop_timeout);
        self.publish(&c, "kill", &[("signal", sig.to_string())]);
        if let Err(e) = live.task.kill(sig, false).await {
            tracing::debug!(%id, error = %e, "stop signal");
        }
        let exited = if grace < 0 {
            self.wait_not_live(&id, None).await
        } else {
            self.wait_not_live(&id, Some(Duration::from_secs(grace as u64)))
                .await
        };
        if exited {
            self.publish(&c, "stop", &[]);
            return Ok(StopOutcome::default());
        }
        let _ = live.task.kill(libc::SIGKILL, true).await;
        self.wait_not_live(&id, Some(Duration::from_secs(10))).await;
        let signame = signal_name(sig);
        let head = format!(
            "container {} did not exit within {grace} seconds of {signame} and was killed with SIGKILL",
            c.name
        );
        let reason = match handler {
            Some((Disposition::Ignored | Disposition::Default, name)) if c.spec.init => format!(
                "{head}: the --init process forwarded {signame} to {name}, which ignores or blocks it. Handle {signame} in the program, or choose a signal it acts on with --stop-signal."
            ),
            Some((Disposition::Caught, name)) if c.spec.init => format!(
                "{head}: the --init process forwarded {signame} to {name}, which handles it but did not exit. `exec` the program from a shell wrapper, or give it longer with --stop-timeout."
            ),
            Some((Disposition::Ignored, name)) => format!(
                "{head}: its PID 1 ({name}) ignores or blocks {signame}. Run it with --init (an init that forwards signals and exits), handle {signame} in the program, or choose a signal it acts on with --stop-signal."
            ),
            Some((Disposition::Caught, name)) => format!(
                "{head}: its PID 1 ({name}) handles {signame} but did not exit (a shell or wrapper that does not pass the signal on to its child keeps running). Run it with --init, `exec` the program from the shell, or give it longer with --stop-timeout."
            ),
            Some((Disposition::Default, name)) => format!(
                "{head}: its PID 1 ({name}) has no handler for {signame}, and the kernel does not apply a signal's default action to the init of a PID namespace, so {signame} was ignored. Run it with --init (an init that forwards signals), handle {signame} in the program, or choose a signal it handles with --stop-signal."
            ),
            None => format!("{head}: give it longer with --stop-timeout."),
        };
        self.publish(&c, "stop", &[]);
        Ok(StopOutcome {
            killed: true,
            reason,
        })
    }

    /// Waits until the container has no live task; false on timeout.
    async fn wait_not_live(&self, id: &str, timeout: Option<Duration>) -> bool {
        let mut rx = self.watch();
        let fut = async {
            loop {
                match self.lookup(id) {
                    // The record, not the live map: the monitor clears the map
                    // before it has recorded the exit.
                    Ok(c) if c.state.status.is_live() => {}
                    _ => return,
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
            None => {
                fut.await;
                true
            }
        }
    }

    /// Sends a signal (default SIGKILL) to a running container's init.
    pub async fn kill(&self, reference: &str, signal: &str) -> Result<()> {
        let c = self.lookup(reference)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            parse_signal(signal).ok_or_else(|| Error::InvalidArgument {
                message: format!("Invalid signal: {signal}"),
            })?
        };
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        if c.state.status == Status::Paused && sig != libc::SIGKILL {
            return Err(Error::Paused { name: c.name });
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            self.modify(&c.id, |c| c.manually_stopped = true)?;
        }
        self.publish(&c, "kill", &[("signal", sig.to_string())]);
        live.task
            .kill(sig, sig == libc::SIGKILL)
            .await
            .map_err(super::task_err(&c.name))?;
        Ok(())
    }

    /// Stop, then start.
    pub async fn restart(&self, reference: &str, timeout: Option<i64>) -> Result<StopOutcome> {
        let out = self.stop(reference, timeout).await?;
        self.start(reference).await?;
        let c = self.lookup(reference)?;
        self.publish(&c, "restart", &[]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse() {
        assert_eq!(parse_signal("SIGTERM"), Some(15));
        assert_eq!(parse_signal("term"), Some(15));
        assert_eq!(parse_signal("9"), Some(9));
        assert_eq!(parse_signal("SIGHUP"), Some(1));
        assert_eq!(parse_signal("BOGUS"), None);
        assert_eq!(parse_signal("0"), None);
    }

    #[test]
    fn dispositions_are_read_from_proc() {
        // A child that ignores SIGTERM, one that traps it, one with defaults.
        let spawn = |script: &str| {
            std::process::Command::new("sh")
                .args(["-c", script])
                .spawn()
                .unwrap()
        };
        let mut ign = spawn("trap '' TERM; sleep 5");
        let mut cgt = spawn("trap 'exit 0' TERM; sleep 5 & wait");
        let mut def = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let d = |c: &std::process::Child| disposition(c.id(), libc::SIGTERM).unwrap().0;
        assert_eq!(d(&ign), Disposition::Ignored);
        assert_eq!(d(&cgt), Disposition::Caught);
        assert_eq!(d(&def), Disposition::Default);
        for c in [&mut ign, &mut cgt, &mut def] {
            let _ = c.kill();
            let _ = c.wait();
        }
        assert!(disposition(u32::MAX, 15).is_none());
    }

    use crate::containers::task_fake::Harness;

    #[tokio::test]
    async fn stop_sends_sigterm_then_sigkill_after_the_grace_period() {
        let h = Harness::new();
        h.add("c1", |_| {});
        h.containers.start("c1").await.unwrap();
        h.tasks.ignore_signal(libc::SIGTERM);
        // The grace period passes on the test's clock, not the wall's.
        tokio::time::pause();
        let t0 = tokio::time::Instant::now();
        let out = h.containers.stop("c1", Some(10)).await.unwrap();
        let waited = t0.elapsed();
        assert!(
            (Duration::from_secs(10)..Duration::from_secs(11)).contains(&waited),
            "{waited:?}"
        );
        assert!(out.killed);
        assert!(
            out.reason.starts_with(
                "container name-c1 did not exit within 10 seconds of SIGTERM and was killed with SIGKILL"
            ),
            "{}",
            out.reason
        );
        assert_eq!(h.tasks.calls_of("kill"), ["kill c1 15", "kill c1 9 all"]);
        let c = h.get("c1");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 137));
        assert!(c.manually_stopped);
    }

    #[tokio::test]
    async fn stop_needs_no_sigkill_when_the_stop_signal_works() {
        let h = Harness::new();
        h.add("c1", |c| c.stop_signal = "SIGINT".into());
        h.containers.start("c1").await.unwrap();
        tokio::time::pause();
        let t0 = tokio::time::Instant::now();
        let out = h.containers.stop("c1", None).await.unwrap();
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert_eq!(out, StopOutcome::default());
        assert_eq!(h.tasks.calls_of("kill"), ["kill c1 2"]);
        let c = h.get("c1");
        assert_eq!((c.state.status, c.state.exit_code), (Status::Exited, 130));
    }

    #[tokio::test]
    async fn stop_of_a_paused_container_thaws_it_first() {
        let h = Harness::new();
        h.add("c1", |_| {});
        h.containers.start("c1").await.unwrap();
        h.containers.pause("c1").await.unwrap();
        assert_eq!(h.get("c1").state.status, Status::Paused);
        h.containers.stop("c1", Some(1)).await.unwrap();
        let calls = h.tasks.calls();
        let at = |call: &str| {
            calls
                .iter()
                .position(|c| c == call)
                .unwrap_or_else(|| panic!("no {call:?} in {calls:?}"))
        };
        assert!(at("resume c1") < at("kill c1 15"), "{calls:?}");
        assert_eq!(h.get("c1").state.status, Status::Exited);
    }
}
