//! `berth restart`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::StopArgs;

pub async fn restart(c: &Client, a: StopArgs) -> Result<i32> {
    let containers = c.containers();
    super::each(&a.containers, |id| {
        let containers = containers.clone();
        async move {
            let r = containers.restart(&id, a.time).await?;
            if r.killed && !r.reason.is_empty() {
                eprintln!("{}", r.reason);
            }
            Ok(())
        }
    })
    .await
}
