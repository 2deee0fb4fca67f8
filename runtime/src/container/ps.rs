//! `ps`: the container's pids as JSON, or the host's `ps` output filtered to them.
use super::{Container, Error, Status};
use crate::cli::ListFormat;
use std::path::Path;
use std::process::Command;

pub fn ps(root: &Path, id: &str, format: ListFormat, ps_args: &[String]) -> Result<String, Error> {
    let c = Container::load(root, id)?;
    let pids = if c.status() == Status::Stopped {
        Vec::new()
    } else {
        c.cgroup()?.pids()?
    };
    if format == ListFormat::Json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string(&pids).unwrap_or_default()
        ));
    }
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::io(Path::new("ps"), e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

/// Keep the header and the lines whose PID column is one of `pids`.
fn filter_ps(text: &str, pids: &[i32]) -> Result<String, Error> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::Usage("couldn't find PID field in ps output".into()))?;
    let mut out = format!("{header}\n");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_pid_column() {
        let text = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 00:00 ? 00:00:01 init\nroot 42 1 0 00:00 ? 00:00:00 sh\n";
        let out = filter_ps(text, &[42]).expect("filter");
        assert_eq!(
            out,
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 00:00 ? 00:00:00 sh\n"
        );
    }
}
