//! `kill`: a signal (name or number) to the init, or with `--all` to every process in
//! the container's cgroup.
use super::{Container, Error, Status};
use crate::cgroups::FreezerState;
use nix::sys::signal::Signal;
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
            // SAFETY: kill(2) of the pids in the container's cgroup.
            unsafe { libc::kill(pid, sig) };
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
    // SAFETY: kill(2) of the init whose start time `status` just checked.
    if unsafe { libc::kill(c.state.init_pid, sig) } < 0 {
        return Err(Error::NotRunning(id.to_string()));
    }
    Ok(())
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
}
