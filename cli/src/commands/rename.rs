//! `berth rename`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::RenameArgs;

pub async fn rename(c: &Client, a: RenameArgs) -> Result<i32> {
    c.containers().rename(&a.container, &a.new_name).await?;
    Ok(0)
}
