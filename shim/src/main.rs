//! berth-shim: one per container. Started by berthd's `tasks`, it detaches
//! (double fork + setsid, so it is no child of berthd and survives its death),
//! becomes the child subreaper of the container, calls the OCI runtime, holds
//! the container's stdio (json-file log, attach streams, pty), records exit
//! statuses, and serves the shim API (`berth.shim.v1.Task`) on
//! `<state-dir>/shim.sock` until it is told to shut down.
//!
//! The first process exits once the shim is listening, printing the socket
//! address (`unix://…`) on stdout, or the reason it could not start on stderr.

mod args;
mod daemonize;
mod exit;
mod io;
mod process;
mod reaper;
mod runtime;
mod service;
mod shim;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: args::Args) -> anyhow::Result<()> {
    let config = args.into_config().context("invalid arguments")?;
    let prepared = daemonize::prepare(&config.state_dir).context("preparing state dir")?;
    // Only the detached grandchild returns from here.
    let detached = daemonize::detach(prepared)?;
    shim::serve(config, detached)
}
