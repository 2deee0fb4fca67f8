//! `berth stop`: the stop signal, the grace period, then SIGKILL — and why it
//! had to kill.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::StopArgs;

pub async fn stop(c: &Client, a: StopArgs) -> Result<i32> {
    let containers = c.containers();
    super::each(&a.containers, |id| {
        let containers = containers.clone();
        async move {
            let r = containers.stop(&id, a.time).await?;
            if r.killed && !r.reason.is_empty() {
                eprintln!("{}", r.reason);
            }
            Ok(())
        }
    })
    .await
}
