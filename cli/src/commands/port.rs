//! `berth port CONTAINER`: published ports. Containers have no port publishing
//! yet (network none or host), so there is never a mapping to show; an
//! unknown container or a named port is still an error, as in docker.

use anyhow::{bail, Result};
use berth_engine_api::Client;

use crate::args::PortArgs;

pub async fn port(c: &Client, a: PortArgs) -> Result<i32> {
    let ct = c.containers().inspect(&a.container).await?;
    if let Some(p) = &a.port {
        bail!("No public port '{p}' published for {}", ct.name);
    }
    Ok(0)
}
