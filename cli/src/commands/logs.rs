//! `berth logs`: the container's json-file log; stdout lines to stdout,
//! stderr lines to stderr, like docker.

use std::io::Write;

use anyhow::{anyhow, Result};
use berth_engine_api::{Client, LogsOptions};
use tokio_stream::StreamExt;

use crate::args::LogsArgs;
use crate::output::units;

pub async fn logs(c: &Client, a: LogsArgs) -> Result<i32> {
    let tail = if a.tail == "all" {
        -1
    } else {
        a.tail.parse().map_err(|_| {
            anyhow!(
                "invalid value for --tail: {:?} (a number or \"all\")",
                a.tail
            )
        })?
    };
    let parse = |s: &Option<String>, what: &str| -> Result<i64> {
        match s {
            None => Ok(0),
            Some(s) => units::parse_since(s).ok_or_else(|| {
                anyhow!("invalid value for {what}: {s:?} (RFC 3339, unix time or e.g. 10m)")
            }),
        }
    };
    let opts = LogsOptions {
        follow: a.follow,
        tail,
        since: parse(&a.since, "--since")?,
        until: parse(&a.until, "--until")?,
        stdout: true,
        stderr: true,
    };
    let mut s = Box::pin(c.containers().logs(&a.container, &opts).await?);
    while let Some(e) = s.next().await {
        let e = e?;
        let mut buf = Vec::new();
        if a.timestamps {
            buf.extend_from_slice(e.time.as_bytes());
            buf.push(b' ');
        }
        buf.extend_from_slice(&e.line);
        if e.stream == "stderr" {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&buf);
            let _ = err.flush();
        } else {
            let mut out = std::io::stdout().lock();
            if out.write_all(&buf).is_err() {
                // A closed pipe (logs | head) is a normal end.
                return Ok(0);
            }
            let _ = out.flush();
        }
    }
    Ok(0)
}
