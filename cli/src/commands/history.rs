//! `berth history IMAGE`.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;
use serde_json::json;

use crate::args::HistoryArgs;
use crate::output::format::Template;
use crate::output::{table, units};

pub async fn history(c: &Client, a: HistoryArgs) -> Result<i32> {
    let h = c.images().history(&a.image).await?;
    let trunc = !a.no_trunc;
    let values: Vec<serde_json::Value> = h
        .iter()
        .map(|e| {
            let id = if e.id.starts_with("sha256:") && trunc {
                e.id.trim_start_matches("sha256:")[..12.min(e.id.len() - 7)].to_string()
            } else {
                e.id.clone()
            };
            let mut by = e.created_by.clone();
            if trunc && by.chars().count() > 45 {
                by = format!("{}…", by.chars().take(44).collect::<String>());
            }
            json!({
                "ID": id,
                "CreatedSince": if e.created.is_empty() { "N/A".to_string() } else { format!("{} ago", units::duration(units::ago(&e.created))) },
                "CreatedAt": e.created,
                "CreatedBy": by,
                "Size": units::size(e.size as f64),
                "Comment": e.comment,
            })
        })
        .collect();
    if a.quiet {
        for v in &values {
            println!("{}", v["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        for v in &values {
            println!("{}", t.render(v).map_err(|e| anyhow!(e))?);
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"]
                .iter()
                .map(|k| v[*k].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect();
    table::print(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &rows,
    );
    Ok(0)
}
