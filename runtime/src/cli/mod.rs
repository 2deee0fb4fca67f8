//! runc's command line, as clap structs only (the dispatch lives in `main.rs`).
//!
//! Flag names, short forms and defaults follow runc 1.1 so containerd, docker
//! (`--add-runtime`) and podman can drive this binary unchanged. Options are accepted
//! before or after the container id; global options anywhere.
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default state root (`--root`).
pub const DEFAULT_ROOT: &str = "/run/berth/runtime";

#[derive(Debug, Parser)]
#[command(
    name = "berth-runtime",
    about = "berth's OCI runtime (runc-compatible command line)",
    disable_version_flag = true
)]
pub struct Cli {
    /// Root directory for the state of containers (keep it on tmpfs).
    #[arg(long, global = true, default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Enable debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility; cgroups are always managed through cgroupfs.
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (ignored), except by `spec`: there
    /// `--rootless` writes a config for an unprivileged user (a user namespace
    /// mapping the caller to root, no network namespace, /sys bound from the host,
    /// no cgroup resources), as `runc spec --rootless`. One global flag serves
    /// both, since clap cannot give a subcommand a flag of the same name.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container (it waits for `start`).
    Create(Create),
    /// Run the user process of a created container.
    Start(Id),
    /// Create and start a container.
    Run(Run),
    /// Print the state of a container.
    State(Id),
    /// Send a signal (default SIGTERM) to the container's init process.
    Kill(Kill),
    /// Delete a container and everything it holds.
    Delete(Delete),
    /// Run a new process inside a container.
    Exec(Exec),
    /// List the processes of a container.
    Ps(Ps),
    /// List the containers under --root.
    List(List),
    /// Freeze every process of a container.
    Pause(Id),
    /// Thaw a paused container.
    Resume(Id),
    /// Print resource usage (`--stats`) or stream it every `--interval`.
    Events(Events),
    /// Write a default config.json.
    Spec(SpecArgs),
    /// Print the features of this runtime as JSON.
    Features,
    /// Change the resource limits of a running container.
    Update(Update),
}

#[derive(Debug, Args)]
pub struct Id {
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Create {
    /// Bundle directory (holds config.json).
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master (with process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// File to write the init process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (3, 4, ...) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub create: Create,
    /// Detach from the container's process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits (runc compatibility).
    #[arg(long)]
    pub keep: bool,
    /// Accepted for runc compatibility (ignored).
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
}

#[derive(Debug, Args)]
pub struct Kill {
    /// Send the signal to every process of the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Debug, Args)]
pub struct Delete {
    /// Kill a running container first.
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct Exec {
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pty.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// `UID[:GID]` to run as.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group ids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// process.json with the whole process spec.
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc compatibility (ignored).
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    /// Set no_new_privileges.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to the bounding, effective, permitted and ambient sets.
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass this many extra file descriptors (3, 4, ...) to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility (ignored).
    #[arg(long, hide = true)]
    pub cgroup: Vec<String>,
    /// Allow exec in a paused container.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// Command and arguments (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Ps {
    /// table (runs `ps`) or json (pids).
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Arguments passed to `ps` (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct List {
    #[arg(short = 'f', long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct Events {
    /// Interval between stats (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Print one stats object and exit.
    #[arg(long)]
    pub stats: bool,
    pub id: String,
}

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// Directory to write config.json into.
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
}

#[derive(Debug, Args)]
pub struct Update {
    /// LinuxResources JSON file, or `-` for stdin.
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a unit: 512k, 64m, 1g).
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut all = vec!["berth-runtime"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).expect("parse")
    }

    #[test]
    fn flags_after_the_id_are_accepted() {
        let cli = parse(&["create", "c1", "--bundle", "/b", "--pid-file", "/p"]);
        match cli.command {
            Some(Command::Create(c)) => {
                assert_eq!(c.id, "c1");
                assert_eq!(c.bundle, PathBuf::from("/b"));
                assert_eq!(c.pid_file, Some(PathBuf::from("/p")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_flags_and_kill_signal() {
        let cli = parse(&[
            "--root",
            "/r",
            "--log-format",
            "json",
            "kill",
            "--all",
            "c1",
            "9",
        ]);
        assert_eq!(cli.root, PathBuf::from("/r"));
        assert_eq!(cli.log_format, LogFormat::Json);
        match cli.command {
            Some(Command::Kill(k)) => {
                assert!(k.all);
                assert_eq!(k.signal, "9");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exec_keeps_command_flags_for_the_command() {
        let cli = parse(&["exec", "-t", "c1", "sh", "-c", "echo hi"]);
        match cli.command {
            Some(Command::Exec(e)) => {
                assert!(e.tty);
                assert_eq!(e.command, vec!["sh", "-c", "echo hi"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn update_cpu_shares_alias() {
        let cli = parse(&["update", "--cpu-shares", "512", "c1"]);
        match cli.command {
            Some(Command::Update(u)) => assert_eq!(u.cpu_shares, Some(512)),
            other => panic!("{other:?}"),
        }
    }
}
