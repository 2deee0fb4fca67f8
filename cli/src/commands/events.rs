//! `berth events`: one line per event, docker's text layout.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;
use tokio_stream::StreamExt;

use crate::args::EventsArgs;
use crate::output::format::Template;
use crate::output::units;

pub async fn events(c: &Client, a: EventsArgs) -> Result<i32> {
    let parse = |s: &Option<String>, what: &str| -> Result<i64> {
        match s {
            None => Ok(0),
            Some(s) => {
                units::parse_since(s).ok_or_else(|| anyhow!("invalid value for {what}: {s:?}"))
            }
        }
    };
    let since = parse(&a.since, "--since")?;
    let until = parse(&a.until, "--until")?;
    let template = a
        .format
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let mut s = Box::pin(c.events().subscribe(&a.filter, since, until).await?);
    while let Some(e) = s.next().await {
        let e = e?;
        if let Some(t) = &template {
            println!(
                "{}",
                t.render(&serde_json::to_value(&e)?)
                    .map_err(|e| anyhow!(e))?
            );
            continue;
        }
        let time = chrono::DateTime::from_timestamp_nanos(e.time_nano)
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%dT%H:%M:%S%.9f%:z");
        let attrs = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("{time} {} {} {} ({attrs})", e.kind, e.action, e.id);
    }
    Ok(0)
}
