//! berthd: parse flags, read daemon.json, open the stores, take back running
//! containers (live-restore), serve the manager API on `<state>/berthd.sock`.
//! Stopping berthd never stops containers: their shims live on.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

use berthd::config::{Config, DEFAULT_CONFIG};
use berthd::containers::{Containers, LocalImages, Settings};
use berthd::events::Events;
use berthd::images::ImageService;
use berthd::metadata::Store;
use berthd::services::{self, Daemon};
use berthd::tasks::TaskManager;
use berthd::volumes::Volumes;

/// berth's daemon: images, containers, volumes; gRPC on <state>/berthd.sock.
#[derive(Parser, Debug)]
#[command(name = "berthd", version)]
struct Args {
    /// Data root: images, containers, volumes, meta.redb [default: /var/lib/berth]
    #[arg(long)]
    root: Option<PathBuf>,
    /// State dir: the API socket, shim and runtime state [default: /run/berth]
    #[arg(long)]
    state: Option<PathBuf>,
    /// Daemon config file (JSON)
    #[arg(long)]
    config: Option<PathBuf>,
    /// OCI runtime binary (overrides daemon.json's "runtime")
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Log debug messages
    #[arg(long, short = 'D')]
    debug: bool,
}

fn load_config(args: &Args) -> Result<Config> {
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let mut cfg = Config::load(&path, required)?;
    if let Some(r) = &args.root {
        cfg.root = r.clone();
    }
    if let Some(s) = &args.state {
        cfg.state = s.clone();
    }
    if let Some(r) = &args.runtime {
        cfg.runtime = r.clone();
    }
    cfg.debug |= args.debug;
    Ok(cfg)
}

fn prepare_dirs(cfg: &Config) -> Result<()> {
    for (dir, mode) in [(&cfg.root, 0o711), (&cfg.state, 0o711)] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", dir.display()))?;
    }
    Ok(())
}

fn bind_socket(cfg: &Config) -> Result<tokio::net::UnixListener> {
    let sock = cfg.socket();
    // Safe: the store lock taken before this proves no other berthd uses this root.
    match std::fs::remove_file(&sock) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale {}", sock.display())),
    }
    let listener = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("listening on {}", sock.display()))?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", sock.display()))?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name("berth") {
        let _ = nix::unistd::chown(&sock, None, Some(group.gid));
    }
    Ok(listener)
}

async fn run(cfg: Config) -> Result<()> {
    if !cfg.runtime.exists() {
        tracing::warn!(runtime = %cfg.runtime.display(), "OCI runtime not found; containers will fail to start (set \"runtime\" in daemon.json)");
    }
    if !cfg.shim.exists() {
        tracing::warn!(shim = %cfg.shim.display(), "berth-shim not found next to berthd; containers will fail to start");
    }
    prepare_dirs(&cfg)?;
    // Uploads (import/load) spooled when a crash hit are garbage.
    let tmp = cfg.root.join("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("clearing {}", tmp.display()))?;
    }
    if cfg.confinement.remap.is_some() {
        berthd::security::userns::open_path_to(&cfg.root)
            .map_err(anyhow::Error::msg)
            .context("userns-remap")?;
    }
    let store = Store::open(&cfg.root).context("opening the metadata store")?;
    let events = Events::new();
    let images = Arc::new(
        ImageService::new(&cfg.root, store.clone())
            .context("opening the image store")?
            .with_events(events.clone()),
    );
    let registry = berthd::registry::Registry::new(images.clone(), cfg.registry.clone());
    let volumes = Volumes::new(&cfg.root, store.clone()).with_events(events.clone());
    let tasks = Arc::new(TaskManager::new(&cfg.state, &cfg.runtime, &cfg.shim));
    let containers = Containers::new(
        Settings {
            root: cfg.root.clone(),
            log_max_size: cfg.log_max_size,
            log_max_file: cfg.log_max_file,
            default_network: berthd::containers::NetworkMode::parse(&cfg.default_network),
            init_path: cfg.init_path.clone(),
            confinement: cfg.confinement.clone(),
        },
        store.clone(),
        tasks,
        Arc::new(LocalImages::new(images.clone())),
        volumes.clone(),
        events.clone(),
    );
    let report = containers.restore().await.context("restoring containers")?;
    tracing::info!(
        reconnected = report.reconnected.len(),
        exited_while_down = report.exited_while_down.len(),
        restarted = report.restarted.len(),
        cleaned = report.removed_half_done.len(),
        repaired = report.repaired.len(),
        "containers restored"
    );
    // After restore: rootfs of removed containers are gone, so unreferenced
    // snapshots can go too.
    {
        let images = images.clone();
        let volumes = volumes.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = images.remove_stale_views() {
                tracing::warn!(error = %e, "removing stale build views");
            }
            if let Err(e) = images.gc() {
                tracing::warn!(error = %e, "image store clean-up");
            }
            if let Err(e) = volumes.gc() {
                tracing::warn!(error = %e, "volume clean-up");
            }
        })
        .await
        .context("start-up clean-up")?;
    }
    let listener = bind_socket(&cfg)?;
    let sock = cfg.socket();
    tracing::info!(socket = %sock.display(), root = %cfg.root.display(), "berthd ready");
    events.publish("daemon", "start", "", Default::default());
    let contexts = cfg.root.join("build").join("contexts");
    // Contexts of builds a crash cut short.
    let _ = std::fs::remove_dir_all(&contexts);
    let builder = berthd::build::exec::Builder::new(
        images.clone(),
        containers.clone(),
        registry.clone(),
        berthd::build::cache::Cache::new(store.clone()),
        berthd::build::exec::Dirs::new(cfg.root.join("build"), cfg.state.join("build")),
    );
    builder.dirs().clear_scratch();
    let daemon = Daemon {
        builder,
        contexts,
        config: cfg,
        containers,
        images,
        registry,
        volumes,
        events,
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down; containers keep running");
    };
    services::serve(daemon, listener, shutdown)
        .await
        .context("serving the API")?;
    let _ = std::fs::remove_file(&sock);
    Ok(())
}

fn main() {
    // glibc gives every thread that allocates its own arena (berthd's blocking
    // pool has dozens), and memory freed in an arena stays with it: after 500
    // containers come and go berthd kept ~35 MB it no longer used. Two arenas
    // hold the steady state (bench/load.sh); set before any thread exists.
    // SAFETY: mallopt only changes allocator parameters; called single-threaded.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let args = Args::parse();
    let cfg = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            std::process::exit(1);
        }
    };
    // h2/tonic debug output drowns berthd's own.
    let filter = if cfg.debug {
        "info,berthd=debug"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTHD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cfg)) {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}
