//! `berth volume create|ls|rm|prune` (inspect goes through inspect.rs).

use anyhow::{anyhow, Result};
use berth_engine_api::Client;
use serde_json::json;

use crate::args::{VolumeCreateArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs};
use crate::output::format::Template;
use crate::output::{table, units};

pub async fn create(c: &Client, a: VolumeCreateArgs) -> Result<i32> {
    let mut labels = std::collections::BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let v = c
        .volumes()
        .create(a.name.as_deref().unwrap_or(""), &a.driver, &labels)
        .await?;
    println!("{}", v.name);
    Ok(0)
}

pub async fn ls(c: &Client, a: VolumeLsArgs) -> Result<i32> {
    let list = c.volumes().list(&a.filter).await?;
    if a.quiet {
        list.iter().for_each(|v| println!("{}", v.name));
        return Ok(0);
    }
    if let Some(f) = &a.format {
        let t = Template::parse(f).map_err(|e| anyhow!(e))?;
        let mut lines = Vec::new();
        if t.table {
            lines.push(t.header());
        }
        for v in &list {
            let val = json!({"Name": v.name, "Driver": v.driver, "Mountpoint": v.mountpoint, "Scope": v.scope, "Labels": v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")});
            lines.push(t.render(&val).map_err(|e| anyhow!(e))?);
        }
        if t.table {
            table::print_tabbed(&lines);
        } else {
            lines.iter().for_each(|l| println!("{l}"));
        }
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| vec![v.driver.clone(), v.name.clone()])
        .collect();
    table::print(&["DRIVER", "VOLUME NAME"], &rows);
    Ok(0)
}

pub async fn rm(c: &Client, a: VolumeRmArgs) -> Result<i32> {
    let volumes = c.volumes();
    super::each(&a.names, |n| {
        let volumes = volumes.clone();
        async move { Ok(volumes.remove(&n, a.force).await?) }
    })
    .await
}

pub async fn prune(c: &Client, a: VolumePruneArgs) -> Result<i32> {
    let r = c.volumes().prune(a.all).await?;
    if !r.deleted.is_empty() {
        println!("Deleted Volumes:");
        r.deleted.iter().for_each(|d| println!("{d}"));
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        units::size(r.space_reclaimed as f64)
    );
    Ok(0)
}
