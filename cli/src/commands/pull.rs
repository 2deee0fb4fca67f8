//! `berth pull [-a] [-q] [--platform P] REF` and `berth push [-a] [-q] REF`: the
//! credentials for the reference's registry from docker's config go with the call;
//! progress is drawn as it streams from berthd.

use anyhow::Result;
use berth_engine_api::{registry_host, Client, RegistryAuth, TransferEvent};
use tokio_stream::{Stream, StreamExt};

use crate::args::{PullArgs, PushArgs};
use crate::credentials;
use crate::output::progress::Renderer;

fn auth_for(reference: &str) -> Option<RegistryAuth> {
    match credentials::get(&registry_host(reference)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("WARNING: ignoring stored credentials: {e:#}");
            None
        }
    }
}

/// Draws the events; returns the result the last one carries.
async fn follow(
    mut s: impl Stream<Item = Result<TransferEvent, berth_engine_api::Error>> + Unpin,
    quiet: bool,
) -> Result<Vec<String>> {
    let mut r = Renderer::new(quiet);
    let mut result = Vec::new();
    let out = loop {
        match s.next().await {
            None => break Ok(result),
            Some(Err(e)) => break Err(e.into()),
            Some(Ok(ev)) if !ev.result.is_empty() => result = ev.result,
            Some(Ok(ev)) => r.event(&ev),
        }
    };
    r.finish();
    out
}

pub async fn pull(c: &Client, a: PullArgs) -> Result<i32> {
    let s = c
        .images()
        .pull(
            &a.reference,
            &a.platform,
            a.all_tags,
            auth_for(&a.reference),
        )
        .await?;
    for name in follow(Box::pin(s), a.quiet).await? {
        println!("{name}");
    }
    Ok(0)
}

pub async fn push(c: &Client, a: PushArgs) -> Result<i32> {
    let s = c
        .images()
        .push(&a.reference, a.all_tags, auth_for(&a.reference))
        .await?;
    let pushed = follow(Box::pin(s), a.quiet).await?;
    if a.quiet {
        for p in pushed {
            println!("{p}");
        }
    }
    Ok(0)
}
