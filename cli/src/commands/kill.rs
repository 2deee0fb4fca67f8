//! `berth kill`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::KillArgs;

pub async fn kill(c: &Client, a: KillArgs) -> Result<i32> {
    let containers = c.containers();
    let sig = a.signal.clone();
    super::each(&a.containers, |id| {
        let containers = containers.clone();
        let sig = sig.clone();
        async move { Ok(containers.kill(&id, &sig).await?) }
    })
    .await
}
