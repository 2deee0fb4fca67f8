//! `berth load [-i FILE]`.

use anyhow::{bail, Context, Result};
use berth_engine_api::Client;

use crate::args::LoadArgs;

pub async fn load(c: &Client, a: LoadArgs) -> Result<i32> {
    let lines = match &a.input {
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .with_context(|| format!("open {p}"))?;
            c.images().load(f).await?
        }
        None => {
            if nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
                bail!("requested load from stdin, but stdin is empty (use -i FILE or pipe an archive)");
            }
            c.images().load(tokio::io::stdin()).await?
        }
    };
    if !a.quiet {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(0)
}
