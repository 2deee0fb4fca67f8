//! `top`: the container's processes, as the host's ps(1) shows them.

use super::{Containers, Error, Result};

impl Containers {
    /// Titles and rows of `ps <ps_args>` limited to the container's pids.
    pub async fn top(
        &self,
        reference: &str,
        ps_args: &str,
    ) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let c = self.lookup(reference)?;
        let live = self.live_task(&c.id).ok_or_else(|| Error::NotRunning {
            name: c.name.clone(),
        })?;
        let pids: Vec<u32> = live
            .task
            .pids()
            .await
            .map_err(super::task_err(&c.name))?
            .into_iter()
            .map(|p| p.pid)
            .collect();
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::InvalidArgument {
                message: format!("running ps: {e}"),
            })?;
        if !out.status.success() {
            return Err(Error::InvalidArgument {
                message: format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
        let pid_col =
            titles
                .iter()
                .position(|t| t == "PID")
                .ok_or_else(|| Error::InvalidArgument {
                    message: "Couldn't find PID field in ps output".to_string(),
                })?;
        let n = titles.len();
        let mut rows = Vec::new();
        for line in lines {
            // The last column (command) may contain spaces.
            let mut fields: Vec<String> = Vec::new();
            let mut rest = line.trim_start();
            while fields.len() + 1 < n {
                let Some(end) = rest.find(char::is_whitespace) else {
                    break;
                };
                fields.push(rest[..end].to_string());
                rest = rest[end..].trim_start();
            }
            fields.push(rest.to_string());
            if fields
                .get(pid_col)
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| pids.contains(&p))
            {
                rows.push(fields);
            }
        }
        Ok((titles, rows))
    }
}
