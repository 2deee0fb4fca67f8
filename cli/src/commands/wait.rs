//! `berth wait`: prints each container's exit code.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::ContainersArgs;

pub async fn wait(c: &Client, a: ContainersArgs) -> Result<i32> {
    let containers = c.containers();
    let mut status = 0;
    for id in &a.containers {
        match containers.wait(id, "not-running").await {
            Ok(w) => println!("{}", w.exit_code),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                status = 1;
            }
        }
    }
    Ok(status)
}
