//! `berth ps` / `berth container ls`.

use anyhow::{anyhow, Result};
use berth_engine_api::{Client, Container};
use serde_json::{json, Value};

use crate::args::PsArgs;
use crate::output::format::Template;
use crate::output::{table, units};

fn status_text(c: &Container) -> String {
    let s = &c.state;
    match s.status.as_str() {
        // docker: `Up 5 seconds (healthy)`, `(unhealthy)`, `(health: starting)`.
        "running" => match &s.health {
            Some(h) => format!(
                "Up {} ({})",
                units::duration(units::ago(&s.started_at)),
                h.ps_text()
            ),
            None => format!("Up {}", units::duration(units::ago(&s.started_at))),
        },
        "paused" => format!("Up {} (Paused)", units::duration(units::ago(&s.started_at))),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            units::duration(units::ago(&s.finished_at))
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            units::duration(units::ago(&s.finished_at))
        ),
        "created" => "Created".to_string(),
        "removing" => "Removal In Progress".to_string(),
        other => other.to_string(),
    }
}

fn row_value(c: &Container, trunc: bool) -> Value {
    let mut cmd = c.command();
    if trunc && cmd.chars().count() > 20 {
        cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
    }
    let id = if trunc {
        c.id[..12.min(c.id.len())].to_string()
    } else {
        c.id.clone()
    };
    let labels = c
        .spec
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    json!({
        "ID": id,
        "Image": c.image,
        "Command": format!("\"{cmd}\""),
        "CreatedAt": c.created,
        "RunningFor": format!("{} ago", units::duration(units::ago(&c.created))),
        "Ports": "",
        "Status": status_text(c),
        "State": c.state.status,
        "Names": c.name,
        "Labels": labels,
        "Mounts": c.mounts.iter().map(|m| if m.name.is_empty() { m.source.clone() } else { m.name.clone() }).collect::<Vec<_>>().join(","),
        "Networks": c.spec.network_mode.to_string(),
        "Size": "",
    })
}

pub async fn ps(c: &Client, a: PsArgs) -> Result<i32> {
    let limit = if a.latest {
        1
    } else {
        a.last.unwrap_or(0).max(0)
    };
    let list = c
        .containers()
        .list(a.all || limit > 0, &a.filter, limit)
        .await?;
    if a.quiet {
        for ct in &list {
            println!(
                "{}",
                if a.no_trunc {
                    &ct.id[..]
                } else {
                    &ct.id[..12.min(ct.id.len())]
                }
            );
        }
        return Ok(0);
    }
    let trunc = !a.no_trunc;
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let mut lines = Vec::new();
        if t.table {
            lines.push(t.header());
        }
        for ct in &list {
            lines.push(t.render(&row_value(ct, trunc)).map_err(|e| anyhow!(e))?);
        }
        if t.table {
            table::print_tabbed(&lines);
        } else {
            for l in lines {
                println!("{l}");
            }
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|ct| {
            let v = row_value(ct, trunc);
            [
                "ID",
                "Image",
                "Command",
                "RunningFor",
                "Status",
                "Ports",
                "Names",
            ]
            .iter()
            .map(|k| v[*k].as_str().unwrap_or_default().to_string())
            .collect()
        })
        .collect();
    table::print(
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ],
        &rows,
    );
    Ok(0)
}
