//! berth-runtime: runc's command line → one library call per verb.
//!
//! Errors end the process with exit code 1 (255 for `exec`) like runc: logged at level=error (to the
//! `--log` file when given, else stderr), and when a log file is used the bare
//! message goes to stderr too.
use anyhow::Context;
use berth_runtime::cli::{Cli, Command, LogFormat};
use berth_runtime::container::{self, CreateOptions, ExecOptions, UpdateFlags};
use berth_runtime::logging;
use clap::Parser;
use std::io::{Read, Write};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let format = match cli.log_format {
        LogFormat::Text => logging::Format::Text,
        LogFormat::Json => logging::Format::Json,
    };
    // Like runc, which opens --log before running any command: a log file that
    // cannot be opened is an error, not a run whose errors vanish (issue 12 point 6).
    if let Some(msg) = cli.log.as_deref().and_then(unopenable_log) {
        logging::init(None, format, cli.debug);
        logging::error(&msg);
        std::process::exit(1);
    }
    logging::init(cli.log.clone(), format, cli.debug);
    // runc: a failed exec exits 255, so it cannot pass for the process's own code.
    let failure_code = match cli.command {
        Some(Command::Exec(_)) => 255,
        _ => 1,
    };
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let msg = format!("{e:#}");
            logging::error(&msg);
            if !logging::to_stderr() {
                eprintln!("{msg}");
            }
            std::process::exit(failure_code);
        }
    }
}

/// Why the `--log` file cannot be opened for appending (created when missing), if it
/// cannot. `/dev/stderr` is stderr itself, which `logging` writes to directly.
fn unopenable_log(path: &std::path::Path) -> Option<String> {
    if path == std::path::Path::new("/dev/stderr") {
        return None;
    }
    let open = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    open.err().map(|e| {
        format!(
            "--log {}: cannot open the log file: {e}; give a writable file in an existing directory",
            path.display()
        )
    })
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn create_options(root: &std::path::Path, c: berth_runtime::cli::Create) -> CreateOptions {
    CreateOptions {
        root: root.to_path_buf(),
        id: c.id,
        bundle: c.bundle,
        pid_file: c.pid_file,
        console_socket: c.console_socket,
        preserve_fds: c.preserve_fds,
        no_pivot: c.no_pivot,
        no_new_keyring: c.no_new_keyring,
    }
}

fn bytes(v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(container::parse_bytes)
        .transpose()
        .map_err(Into::into)
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let root = cli.root;
    // `spec --rootless` (or `--rootless=true`); `--rootless=false` is a plain spec.
    let spec_rootless = cli.rootless.as_deref().is_some_and(|v| v != "false");
    if cli.version {
        print(&format!(
            "berth-runtime version {}\ncommit: {}\nspec: {}\n",
            env!("CARGO_PKG_VERSION"),
            env!("BERTH_RUNTIME_COMMIT"),
            berth_runtime::OCI_VERSION
        ));
        return Ok(0);
    }
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return Ok(0);
    };
    match command {
        Command::Create(c) => {
            container::create(&create_options(&root, c))?;
        }
        Command::Start(a) => container::start(&root, &a.id)?,
        Command::Run(r) => {
            return Ok(container::run(
                &create_options(&root, r.create),
                r.detach,
                r.keep,
            )?)
        }
        Command::State(a) => print(&format!("{}\n", container::state(&root, &a.id)?)),
        Command::Kill(k) => container::kill(&root, &k.id, &k.signal, k.all)?,
        Command::Delete(d) => container::delete(&root, &d.id, d.force)?,
        Command::Exec(e) => {
            let opts = ExecOptions {
                process: e.process,
                args: e.command,
                env: e.env,
                cwd: e.cwd,
                user: e.user,
                additional_gids: e.additional_gids,
                tty: e.tty,
                caps: e.cap,
                no_new_privs: e.no_new_privs,
                detach: e.detach,
                pid_file: e.pid_file,
                console_socket: e.console_socket,
                preserve_fds: e.preserve_fds,
                ignore_paused: e.ignore_paused,
            };
            return Ok(container::exec(&root, &e.id, &opts)?);
        }
        Command::Ps(p) => print(&container::ps(&root, &p.id, p.format, &p.ps_args)?),
        Command::List(l) => print(&container::list(&root, l.format, l.quiet)?),
        Command::Pause(a) => container::pause(&root, &a.id)?,
        Command::Resume(a) => container::resume(&root, &a.id)?,
        Command::Events(e) => {
            let mut out = std::io::stdout().lock();
            container::events(&root, &e.id, &e.interval, e.stats, &mut out)?;
        }
        Command::Spec(s) => {
            let rootless = spec_rootless.then(container::RootlessIds::current);
            container::write_default_spec(&s.bundle, rootless)?
        }
        Command::Features => print(&format!("{}\n", container::features_json())),
        Command::Update(u) => {
            let resources = match u.resources.as_deref() {
                Some("-") => {
                    let mut buf = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .context("reading --resources from stdin")?;
                    Some(buf)
                }
                Some(path) => {
                    Some(std::fs::read(path).with_context(|| format!("--resources {path}"))?)
                }
                None => None,
            };
            let flags = UpdateFlags {
                blkio_weight: u.blkio_weight,
                cpu_period: u.cpu_period,
                cpu_quota: u.cpu_quota,
                cpu_shares: u.cpu_shares,
                cpu_rt_period: u.cpu_rt_period,
                cpu_rt_runtime: u.cpu_rt_runtime,
                cpuset_cpus: u.cpuset_cpus,
                cpuset_mems: u.cpuset_mems,
                memory: bytes(&u.memory)?,
                memory_reservation: bytes(&u.memory_reservation)?,
                memory_swap: bytes(&u.memory_swap)?,
                pids_limit: u.pids_limit,
            };
            container::update(&root, &u.id, resources.as_deref(), &flags)?;
        }
    }
    Ok(0)
}
