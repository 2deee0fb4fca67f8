//! `berth import` / `berth image import FILE|- [REFERENCE]`.

use anyhow::{Context, Result};
use berth_engine_api::Client;

use crate::args::ImportArgs;

pub async fn import(c: &Client, a: ImportArgs) -> Result<i32> {
    let reference = a.reference.clone().unwrap_or_default();
    let message = a.message.clone().unwrap_or_default();
    let image = if a.file == "-" {
        c.images()
            .import(tokio::io::stdin(), &reference, &a.change, &message)
            .await?
    } else {
        let f = tokio::fs::File::open(&a.file)
            .await
            .with_context(|| format!("open {}", a.file))?;
        c.images()
            .import(f, &reference, &a.change, &message)
            .await?
    };
    println!("{}", image.id);
    Ok(0)
}
