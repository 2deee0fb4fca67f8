//! `berth start [-a] [-i]`.

use anyhow::Result;
use berth_engine_api::Client;

use super::ExitCode;
use crate::args::StartArgs;
use crate::stdio::{self, End};

pub async fn start(c: &Client, a: StartArgs) -> Result<i32> {
    let containers = c.containers();
    if !a.attach && !a.interactive {
        return super::each(&a.containers, |id| {
            let containers = containers.clone();
            async move { Ok(containers.start(&id).await?) }
        })
        .await;
    }
    if a.containers.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    let id = &a.containers[0];
    let info = containers.inspect(id).await?;
    let stdin = a.interactive && info.spec.open_stdin;
    let mut attach = containers.attach(id, stdin, true, true).await?;
    if let Err(e) = containers.start(id).await {
        let code = super::run::start_failure_code(&e);
        return Err(ExitCode(code, e.into()).into());
    }
    if !info.spec.tty {
        stdio::proxy_signals(containers.clone(), id.clone());
    }
    let keys = a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
    let input = attach.input.clone();
    let end = stdio::pump(&mut attach, input, stdin, info.spec.tty, keys).await?;
    if end == End::Detached {
        eprintln!("\r\nread escape sequence");
        return Ok(0);
    }
    let w = containers.wait(id, "not-running").await?;
    Ok(w.exit_code)
}
