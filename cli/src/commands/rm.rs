//! `berth rm`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::RmArgs;

pub async fn rm(c: &Client, a: RmArgs) -> Result<i32> {
    let containers = c.containers();
    super::each(&a.containers, |id| {
        let containers = containers.clone();
        async move { Ok(containers.remove(&id, a.force, a.volumes).await?) }
    })
    .await
}
