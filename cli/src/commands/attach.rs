//! `berth attach`: connect to a running container's stdio; ctrl-p ctrl-q detaches.

use anyhow::{bail, Result};
use berth_engine_api::Client;

use crate::args::AttachArgs;
use crate::stdio::{self, End};

pub async fn attach(c: &Client, a: AttachArgs) -> Result<i32> {
    let containers = c.containers();
    let info = containers.inspect(&a.container).await?;
    if !info.state.running {
        bail!("You cannot attach to a stopped container, start it first");
    }
    let stdin = !a.no_stdin && info.spec.open_stdin;
    let mut att = containers.attach(&a.container, stdin, true, true).await?;
    let keys = a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
    let input = att.input.clone();
    let end = stdio::pump(&mut att, input, stdin, info.spec.tty, keys).await?;
    if end == End::Detached {
        eprintln!("\r\nread escape sequence");
        return Ok(0);
    }
    let w = containers.wait(&a.container, "not-running").await?;
    Ok(w.exit_code)
}
