//! `berth stats [--no-stream]`.

use anyhow::Result;
use berth_engine_api::{Client, Stats};
use tokio_stream::StreamExt;

use crate::args::StatsArgs;
use crate::output::{table, units};

fn row(s: &Stats, prev: Option<&Stats>) -> Vec<String> {
    let cpu = match prev {
        Some(p) if s.system_cpu_ns > p.system_cpu_ns => {
            let d_cpu = s.cpu_total_ns.saturating_sub(p.cpu_total_ns) as f64;
            let d_sys = (s.system_cpu_ns - p.system_cpu_ns) as f64;
            d_cpu / d_sys * f64::from(s.online_cpus.max(1)) * 100.0
        }
        _ => 0.0,
    };
    let limit = if s.memory_limit == 0 || s.memory_limit > (1u64 << 62) {
        0
    } else {
        s.memory_limit
    };
    let mem_perc = if limit > 0 {
        s.memory_usage as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    vec![
        s.id[..12.min(s.id.len())].to_string(),
        s.name.clone(),
        format!("{cpu:.2}%"),
        format!(
            "{} / {}",
            units::bytes(s.memory_usage as f64),
            if limit > 0 {
                units::bytes(limit as f64)
            } else {
                "unlimited".to_string()
            }
        ),
        format!("{mem_perc:.2}%"),
        s.pids_current.to_string(),
    ]
}

const HEADER: [&str; 6] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "PIDS",
];

pub async fn stats(c: &Client, a: StatsArgs) -> Result<i32> {
    let containers = c.containers();
    let ids: Vec<String> = if a.containers.is_empty() {
        containers
            .list(a.all, &[], 0)
            .await?
            .into_iter()
            .filter(|c| c.state.running)
            .map(|c| c.id)
            .collect()
    } else {
        a.containers.clone()
    };
    if a.no_stream {
        // Two samples a moment apart, so CPU % means something.
        let mut rows = Vec::new();
        for id in &ids {
            let mut s = Box::pin(containers.stats(id, true).await?);
            let first = s.next().await.transpose()?;
            let second = s.next().await.transpose()?;
            if let Some(cur) = second.as_ref().or(first.as_ref()) {
                rows.push(row(cur, first.as_ref().filter(|_| second.is_some())));
            }
        }
        table::print(&HEADER, &rows);
        return Ok(0);
    }
    let mut prev: std::collections::HashMap<String, Stats> = Default::default();
    loop {
        let mut rows = Vec::new();
        for id in &ids {
            let mut s = Box::pin(containers.stats(id, false).await?);
            if let Some(cur) = s.next().await.transpose()? {
                rows.push(row(&cur, prev.get(id)));
                prev.insert(id.clone(), cur);
            }
        }
        print!("\x1b[2J\x1b[H");
        table::print(&HEADER, &rows);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
