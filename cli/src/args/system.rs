//! System verbs' arguments.

use clap::{Args, Subcommand};

#[derive(Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// Format output using a Go template subset
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (type, event, container, image, volume, label)
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Show all events created since timestamp (RFC 3339, unix seconds, or relative like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Format output using a Go template subset
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Args, Debug, Clone)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(FormatArgs),
    /// Show berth disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Get real time events from the server
    Events(EventsArgs),
}
