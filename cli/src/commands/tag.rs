//! `berth tag SOURCE TARGET`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::TagArgs;

pub async fn tag(c: &Client, a: TagArgs) -> Result<i32> {
    c.images().tag(&a.source, &a.target).await?;
    Ok(0)
}
