//! `berth system df` and `berth system prune`.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;

use crate::args::{DfArgs, SystemPruneArgs};
use crate::output::format::Template;
use crate::output::{table, units};

pub async fn df(c: &Client, a: DfArgs) -> Result<i32> {
    let report = c.system().disk_usage().await?;
    let usage = &report.entries;
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        for u in usage {
            println!(
                "{}",
                t.render(&serde_json::to_value(u)?)
                    .map_err(|e| anyhow!(e))?
            );
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = usage
        .iter()
        .map(|u| {
            let perc = (u.reclaimable * 100)
                .checked_div(u.size)
                .map(|p| format!(" ({p}%)"))
                .unwrap_or_default();
            vec![
                u.kind.clone(),
                u.total.to_string(),
                u.active.to_string(),
                units::size(u.size as f64),
                format!("{}{perc}", units::size(u.reclaimable as f64)),
            ]
        })
        .collect();
    if !a.verbose {
        table::print(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows);
        return Ok(0);
    }
    println!("Images space usage:\n");
    let images: Vec<Vec<String>> = report
        .images
        .iter()
        .flat_map(|i| {
            let tags: Vec<(String, String)> = if i.repo_tags.is_empty() {
                vec![("<none>".into(), "<none>".into())]
            } else {
                i.repo_tags
                    .iter()
                    .map(
                        |t| match t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
                            Some((r, tag)) => (r.to_string(), tag.to_string()),
                            None => (t.clone(), "<none>".into()),
                        },
                    )
                    .collect()
            };
            tags.into_iter().map(move |(repo, tag)| {
                let hex = i.id.strip_prefix("sha256:").unwrap_or(&i.id);
                vec![
                    repo,
                    tag,
                    hex[..12.min(hex.len())].to_string(),
                    format!("{} ago", units::duration(units::ago(&i.created))),
                    units::size(i.size as f64),
                    units::size(i.shared_size as f64),
                    units::size(i.unique_size as f64),
                    i.containers.to_string(),
                ]
            })
        })
        .collect();
    table::print(
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
        &images,
    );
    println!("\nSpace usage:\n");
    table::print(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &rows);
    Ok(0)
}

pub async fn prune(c: &Client, a: SystemPruneArgs) -> Result<i32> {
    let r = c.system().prune(a.volumes, a.all).await?;
    for (title, list) in [
        ("Deleted Containers:", &r.containers),
        ("Deleted Volumes:", &r.volumes),
        ("Deleted Images:", &r.images),
    ] {
        if !list.is_empty() {
            println!("{title}");
            list.iter().for_each(|x| println!("{x}"));
            println!();
        }
    }
    println!(
        "Total reclaimed space: {}",
        units::size(r.space_reclaimed as f64)
    );
    Ok(0)
}
