//! berth-shim: one per container. Started by berthd's `tasks`, it detaches
//! (double fork + setsid, so it is no child of berthd and survives its death),
//! becomes the child subreaper of the container, calls the OCI runtime, holds
//! the container's stdio (json-file log, attach streams, pty), records exit
//! statuses, and serves the shim API (`berth.shim.v1.Task`) on
//! `<state-dir>/shim.sock` until it is told to shut down.
//!
//! The first process exits once the shim is listening, printing the socket
//! address (`unix://…`) on stdout, or the reason it could not start on stderr.
//!
//! Memory: one shim runs per container, so its idle RSS matters more than its
//! speed: release builds use `opt-level = "s"` for this crate; the shim runs
//! a current-thread runtime, serves HTTP/2 with hyper directly (no router, no
//! HTTP/1), and carries no clap, tracing-subscriber or chrono. Linked
//! statically (`scripts/build-release.sh`: `+crt-static`, built with
//! `[profile.shim]`, fat LTO) it maps no libc.so pages, and once it has had
//! no call for 2 s it unmaps its code pages (`memory.rs`). Idle, with
//! `bench/load.sh` (500 `sleep` containers): RSS 1.1 MB and Pss 0.3 MB per
//! shim, of which 0.26 MB anonymous; before those two steps RSS was 3.0 MB
//! (2.3 MB of it its own text, mapped again in every shim) and Pss 0.4 MB.

mod args;
mod clock;
mod daemonize;
mod error;
mod exit;
mod io;
mod memory;
mod process;
mod reaper;
mod runtime;
mod server;
mod service;
mod shim;

use std::process::ExitCode;

use anyhow::Context;

/// Logs a line to stderr, which is `<state-dir>/shim.log` once detached.
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!(
            "{} berth-shim: {}",
            $crate::clock::Instant::now().rfc3339_nano(),
            format_args!($($arg)*)
        )
    };
}
pub(crate) use log;

fn main() -> ExitCode {
    let args = match args::Args::parse(std::env::args_os().skip(1)) {
        Ok(args::Parsed::Run(a)) => a,
        Ok(args::Parsed::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(args::Parsed::Version) => {
            println!("berth-shim {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("berth-shim: {e}");
            return ExitCode::from(2);
        }
    };
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
    server::serve(config, detached)
}
