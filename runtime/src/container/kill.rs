//! `kill`: a signal (name or number) to the init, or with `--all` to every process in
//! the container's cgroup.
use super::{Container, Error, Status};
use crate::cgroups::FreezerState;
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::str::FromStr;

/// `KILL`, `SIGKILL`, `kill`, `9`, and real-time numbers up to 64.
pub fn parse_signal(s: &str) -> Result<i32, Error> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(Error::Signal(s.to_string()));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|sig| sig as i32)
        .map_err(|_| Error::Signal(s.to_string()))
}

pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<(), Error> {
    let sig = parse_signal(signal)?;
    let c = Container::load(root, id)?;
    let status = c.status();
    if all {
        let cg = c.cgroup()?;
        let paused = status == Status::Paused;
        for pid in cg.pids()? {
            match send(pid, sig) {
                // It exited between the listing and the signal: nothing left to do.
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(source) => {
                    return Err(Error::Kill {
                        pid,
                        signal: sig,
                        source,
                    })
                }
            }
        }
        // Frozen tasks only act on SIGKILL once thawed; runc thaws them too.
        if paused && sig == libc::SIGKILL {
            cg.freeze(FreezerState::Thawed)?;
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(Error::NotRunning(id.to_string()));
    }
    // The init whose start time `status` just checked; runc also answers "not
    // running" for any failure here.
    send(c.state.init_pid, sig).map_err(|_| Error::NotRunning(id.to_string()))
}

/// kill(2) with a signal number from [`parse_signal`]. nix's `kill` takes only the
/// signals of its `Signal` enum, so the real-time ones (`kill c 40`) go to libc.
fn send(pid: i32, sig: i32) -> Result<(), Errno> {
    match Signal::try_from(sig) {
        Ok(s) => signal::kill(Pid::from_raw(pid), s),
        // SAFETY: kill(2) takes two integers and touches no memory of ours.
        Err(_) => Errno::result(unsafe { libc::kill(pid, sig) }).map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("KILL").expect("KILL"), libc::SIGKILL);
        assert_eq!(parse_signal("SIGTERM").expect("TERM"), libc::SIGTERM);
        assert_eq!(parse_signal("hup").expect("hup"), libc::SIGHUP);
        assert_eq!(parse_signal("9").expect("9"), 9);
        assert_eq!(parse_signal("64").expect("64"), 64);
        for bad in ["0", "65", "SIGNOPE", "", "-1"] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn real_time_signals_are_sent_too() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        send(pid, libc::SIGRTMIN() + 6).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGRTMIN() + 6));
        assert_eq!(send(pid, libc::SIGTERM), Err(Errno::ESRCH), "reaped pid");
    }
}
