//! `berth exec`: run a command in a running container; the status is its exit code.

use anyhow::Result;
use berth_engine_api::{Client, ExecConfig};

use super::ExitCode;
use crate::args::ExecArgs;
use crate::stdio::{self, End};

pub async fn exec(c: &Client, a: ExecArgs) -> Result<i32> {
    let cfg = ExecConfig {
        args: a.command.clone(),
        env: a.env.clone(),
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        tty: a.tty,
        attach_stdin: a.interactive && !a.detach,
        privileged: a.privileged,
    };
    let exec = c.exec();
    let id = exec.create(&a.container, &cfg).await?;
    let mut session = exec
        .start(&id, a.detach)
        .await
        .map_err(|e| ExitCode(super::run::start_failure_code(&e), e.into()))?;
    if a.detach {
        return Ok(0);
    }
    let keys = a.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q");
    let input = session.input.clone();
    let end = stdio::pump(&mut session, input, cfg.attach_stdin, cfg.tty, keys).await?;
    if end == End::Detached {
        return Ok(0);
    }
    Ok(session.exit_code().unwrap_or(0))
}
