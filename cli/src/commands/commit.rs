//! `berth commit CONTAINER [REPOSITORY[:TAG]]`.

use anyhow::Result;
use berth_engine_api::Client;

use crate::args::CommitArgs;

pub async fn commit(c: &Client, a: CommitArgs) -> Result<i32> {
    let id = c
        .images()
        .commit(
            &a.container,
            a.reference.as_deref().unwrap_or(""),
            &a.change,
            a.message.as_deref().unwrap_or(""),
            a.author.as_deref().unwrap_or(""),
            a.pause,
        )
        .await?;
    println!("{id}");
    Ok(0)
}
