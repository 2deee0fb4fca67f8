//! `berth inspect`: containers, images or volumes, as docker's JSON or through
//! a `--format` template.

use anyhow::{anyhow, Result};
use berth_engine_api::Client;
use serde::Serialize;
use serde_json::Value;

use crate::args::InspectArgs;
use crate::output::format::Template;

/// docker indents inspect output by 4 spaces.
fn pretty(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8_lossy(&buf).to_string()
}

async fn find(
    c: &Client,
    kind: Option<&str>,
    name: &str,
) -> Result<Value, berth_engine_api::Error> {
    let want = |k: &str| kind.is_none() || kind == Some(k);
    let mut last = None;
    if want("container") {
        match c.containers().inspect(name).await {
            Ok(ct) => return Ok(ct.docker_json()),
            Err(e) if e.is_not_found() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    if want("image") {
        match c.images().inspect(name).await {
            Ok(i) => return Ok(i.docker_json()),
            Err(e) if e.is_not_found() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    if want("volume") {
        match c.volumes().inspect(name).await {
            Ok(v) => return Ok(serde_json::to_value(v).unwrap_or_default()),
            Err(e) if e.is_not_found() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(match (kind, last) {
        (Some(_), Some(e)) => e,
        _ => berth_engine_api::Error::daemon(
            berth_engine_api::ErrorKind::NotFound,
            berth_engine_api::Reason::NotFound,
            format!("No such object: {name}"),
        ),
    })
}

pub async fn inspect(c: &Client, a: InspectArgs) -> Result<i32> {
    let template = a
        .format
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| anyhow!(e))?;
    let mut found = Vec::new();
    let mut status = 0;
    for n in &a.names {
        match find(c, a.kind.as_deref(), n).await {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("Error: {e}");
                status = 1;
            }
        }
    }
    match template {
        Some(t) => {
            for v in &found {
                println!("{}", t.render(v).map_err(|e| anyhow!(e))?);
            }
        }
        None => println!("{}", pretty(&Value::Array(found))),
    }
    Ok(status)
}
