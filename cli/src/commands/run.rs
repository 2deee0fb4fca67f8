//! `berth run`: create, attach (unless -d), start, wait; the exit status is
//! the container's. With `--rm` the daemon removes it when it exits.

use anyhow::Result;
use berth_engine_api::Client;

use super::create::{create_container, spec_from_args};
use super::ExitCode;
use crate::args::RunArgs;
use crate::stdio::{self, End};

/// docker's status for a start that failed: 127 command not found, 126 not
/// executable, 125 anything else.
pub fn start_failure_code(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("not found") || m.contains("no such file") {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

pub async fn run(c: &Client, a: RunArgs) -> Result<i32> {
    let spec = spec_from_args(&a.create)?;
    let detach = a.detach;
    let id = create_container(c, &spec).await?;
    let containers = c.containers();
    if detach {
        if let Err(e) = containers.start(&id).await {
            let code = start_failure_code(&e.to_string());
            if spec.auto_remove {
                let _ = containers.remove(&id, true, true).await;
            }
            return Err(ExitCode(code, e.into()).into());
        }
        println!("{id}");
        return Ok(0);
    }
    let mut attach = containers
        .attach(&id, spec.open_stdin, true, true)
        .await
        .map_err(|e| ExitCode(125, e.into()))?;
    if let Err(e) = containers.start(&id).await {
        let code = start_failure_code(&e.to_string());
        if spec.auto_remove {
            let _ = containers.remove(&id, true, true).await;
        }
        return Err(ExitCode(code, e.into()).into());
    }
    if !spec.tty {
        stdio::proxy_signals(containers.clone(), id.clone());
    }
    let keys = a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
    let input = attach.input.clone();
    let end = stdio::pump(&mut attach, input, spec.open_stdin, spec.tty, keys).await?;
    if end == End::Detached {
        eprintln!("\r\nread escape sequence");
        return Ok(0);
    }
    let condition = if spec.auto_remove {
        "removed"
    } else {
        "not-running"
    };
    let w = containers.wait(&id, condition).await?;
    if !w.error.is_empty() && w.exit_code != 0 {
        eprintln!("berth: {}", w.error);
    }
    Ok(w.exit_code)
}
