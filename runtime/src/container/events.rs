//! `events`: resource usage as runc's `{"type":"stats","id":…,"data":…}` lines, once
//! (`--stats`) or every `--interval` until the container stops.
use super::{Container, Error, Status};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub fn stats_event(root: &Path, id: &str) -> Result<String, Error> {
    let c = Container::load(root, id)?;
    event_line(&c)
}

fn event_line(c: &Container) -> Result<String, Error> {
    if c.status() == Status::Stopped {
        return Err(Error::NotRunning(c.state.id.clone()));
    }
    let event = c.cgroup()?.stats()?.into_event(&c.state.id);
    Ok(serde_json::to_string(&event).unwrap_or_default())
}

/// Go duration syntax as runc takes it: `5s`, `500ms`, `1m30s`, `2h`.
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let bad = || Error::Usage(format!("invalid --interval {s:?} (use e.g. 5s or 500ms)"));
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = &rest[unit_end..];
    }
    Ok(Duration::from_secs_f64(total))
}

pub fn events(
    root: &Path,
    id: &str,
    interval: &str,
    stats_only: bool,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let interval = parse_duration(interval)?;
    let c = Container::load(root, id)?;
    if stats_only {
        let line = event_line(&c)?;
        let _ = writeln!(out, "{line}");
        return Ok(());
    }
    loop {
        if c.status() == Status::Stopped {
            return Ok(());
        }
        match event_line(&c) {
            Ok(line) => {
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return Ok(());
                }
            }
            Err(Error::NotRunning(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").expect("5s"), Duration::from_secs(5));
        assert_eq!(
            parse_duration("500ms").expect("ms"),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("1m30s").expect("m"), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("3 days").is_err());
    }
}
