//! `berth container prune`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::PruneArgs;
use crate::output::units;

pub async fn prune(c: &Client, _a: PruneArgs) -> Result<i32> {
    let r = c.containers().prune().await?;
    if !r.deleted.is_empty() {
        println!("Deleted Containers:");
        for d in &r.deleted {
            println!("{d}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        units::size(r.space_reclaimed as f64)
    );
    Ok(0)
}
