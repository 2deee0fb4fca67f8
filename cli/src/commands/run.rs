//! `berth run`: create, attach (unless -d), start, wait; the exit status is
//! the container's. With `--rm` the daemon removes it when it exits.

use anyhow::Result;
use berth_engine_api::Client;

use berth_engine_api::ContainerSpec;

use super::create::create_container;
use super::ExitCode;
use crate::args::RunArgs;
use crate::stdio::{self, End};

/// docker's status for a start that failed: the daemon's (127 command not
/// found, 126 not executable), else 125.
pub fn start_failure_code(e: &berth_engine_api::Error) -> i32 {
    e.exit_code().unwrap_or(125)
}

pub async fn run(c: &Client, a: RunArgs) -> Result<i32> {
    let spec = ContainerSpec::try_from(&a.create)
        // docker: a run option it cannot read exits 125, like the daemon's refusals.
        .map_err(|e| anyhow::Error::from(super::ExitCode(125, e)))?;
    let detach = a.detach;
    let id = create_container(c, &spec).await?;
    let containers = c.containers();
    if detach {
        if let Err(e) = containers.start(&id).await {
            let code = start_failure_code(&e);
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
        let code = start_failure_code(&e);
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
