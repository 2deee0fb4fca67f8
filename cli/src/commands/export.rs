//! `berth export [-o FILE] CONTAINER`: the container's filesystem as a tar
//! (to a temp file renamed into place, so a failure leaves no partial file).

use std::io::Write;

use anyhow::{bail, Context, Result};
use berth_engine_api::Client;
use tokio_stream::StreamExt;

use crate::args::ExportArgs;

pub async fn export(c: &Client, a: ExportArgs) -> Result<i32> {
    if a.output.is_none() && nix::unistd::isatty(std::io::stdout()).unwrap_or(false) {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut s = Box::pin(c.containers().export(&a.container).await?);
    match &a.output {
        Some(path) => {
            let tmp = format!("{path}.berth-tmp");
            let mut f = std::fs::File::create(&tmp).with_context(|| format!("create {tmp}"))?;
            let r: Result<()> = async {
                while let Some(chunk) = s.next().await {
                    f.write_all(&chunk?)
                        .with_context(|| format!("write {tmp}"))?;
                }
                f.sync_all().with_context(|| format!("sync {tmp}"))?;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).with_context(|| format!("rename to {path}"))?;
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = s.next().await {
                out.write_all(&chunk?).context("write to stdout")?;
            }
            out.flush().context("write to stdout")?;
        }
    }
    Ok(0)
}
