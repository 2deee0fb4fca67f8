//! `berth top`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::TopArgs;
use crate::output::table;

pub async fn top(c: &Client, a: TopArgs) -> Result<i32> {
    let t = c
        .containers()
        .top(&a.container, &a.ps_args.join(" "))
        .await?;
    let header: Vec<&str> = t.titles.iter().map(String::as_str).collect();
    table::print(&header, &t.processes);
    Ok(0)
}
