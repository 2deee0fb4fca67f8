//! `berth pause`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::ContainersArgs;

pub async fn pause(c: &Client, a: ContainersArgs) -> Result<i32> {
    let containers = c.containers();
    super::each(&a.containers, |id| {
        let containers = containers.clone();
        async move { Ok(containers.pause(&id).await?) }
    })
    .await
}
