//! Serving: binds the shim's socket in its state dir, announces it (the
//! `address` and `shim.pid` files of `berth_proto::shim_state`, and the ready
//! report to the process that spawned the shim), serves the Task API over
//! HTTP/2 until Shutdown, then removes the state dir.
//!
//! hyper directly, no tonic router: the shim is one process per container and
//! its RSS counts (see main.rs).

use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use berth_proto::shim::v1 as pb;
use berth_proto::shim_state::{self, write_atomic};
use tonic::codegen::Service;

use crate::args::Config;
use crate::daemonize::Detached;
use crate::memory::IdleTrim;
use crate::reaper::Reaper;
use crate::service::Service as TaskService;
use crate::shim::Shim;

/// After Shutdown, how long open calls (waits, attaches) may linger.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Listens, reports ready, serves until Shutdown, removes the state dir.
pub fn serve(cfg: Config, mut detached: Detached) -> anyhow::Result<()> {
    match listen(&cfg) {
        Ok(listener) => {
            let sock = cfg.state_dir.join(shim_state::SOCKET_FILE);
            let state_dir = cfg.state_dir.clone();
            if !detached.ready(&shim_state::address(&sock)) {
                // The process berthd spawned was killed before it could pass
                // the address on: berthd takes the start as failed and will
                // never call or delete this shim. Nothing was created yet.
                drop(listener);
                let _ = std::fs::remove_dir_all(&state_dir);
                anyhow::bail!("the spawning process is gone; nobody knows this shim");
            }
            let res = run(cfg, listener);
            if let Err(e) = std::fs::remove_dir_all(&state_dir) {
                crate::log!("removing {}: {e}", state_dir.display());
            }
            res
        }
        Err(e) => {
            detached.fail(&format!("{e:#}"));
            Err(e)
        }
    }
}

/// Binds the socket, then writes the files berthd finds the shim by.
fn listen(cfg: &Config) -> anyhow::Result<UnixListener> {
    let dir = &cfg.state_dir;
    let sock = dir.join(shim_state::SOCKET_FILE);
    let _ = std::fs::remove_file(&sock);
    let listener = shim_state::with_short_path(&sock, |p| UnixListener::bind(p))
        .with_context(|| format!("binding {}", sock.display()))?;
    listener.set_nonblocking(true).context("socket")?;
    let address = shim_state::address(&sock);
    write_atomic(dir, shim_state::ADDRESS_FILE, address.as_bytes()).context("writing address")?;
    write_atomic(
        dir,
        shim_state::PID_FILE,
        std::process::id().to_string().as_bytes(),
    )
    .context("writing pid")?;
    Ok(listener)
}

fn run(cfg: Config, listener: UnixListener) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let reaper = Reaper::start().context("SIGCHLD handler")?;
        let shim = Arc::new(Shim::new(cfg, reaper));
        let listener = tokio::net::UnixListener::from_std(listener).context("socket")?;
        let svc = pb::task_server::TaskServer::new(TaskService::new(Arc::clone(&shim)));
        let mut stop = shim.shutdown_requested();
        let mut conns = tokio::task::JoinSet::new();
        // Startup is over: its code pages need not stay mapped.
        if let Err(e) = crate::memory::trim_code_pages() {
            crate::log!("trimming code pages: {e}");
        }
        let idle = IdleTrim::start();
        loop {
            tokio::select! {
                conn = listener.accept() => {
                    let Ok((stream, _)) = conn else { continue };
                    // Each call restarts the idle timer of memory.rs, hence
                    // our own hyper service around the tonic one.
                    let svc = svc.clone();
                    let idle = idle.clone();
                    let svc = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            idle.touch();
                            let mut svc = svc.clone();
                            async move {
                                std::future::poll_fn(|cx| {
                                    Service::<hyper::Request<hyper::body::Incoming>>::poll_ready(&mut svc, cx)
                                })
                                .await?;
                                svc.call(req).await
                            }
                        },
                    );
                    let mut stop = shim.shutdown_requested();
                    conns.spawn(async move {
                        let conn = hyper::server::conn::http2::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                        tokio::pin!(conn);
                        tokio::select! {
                            _ = conn.as_mut() => return,
                            _ = stop.wait_for(|s| *s) => {}
                        }
                        // GOAWAY: calls in flight (the Shutdown itself) finish.
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    });
                }
                // Reap finished connection tasks as we go.
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        // Long calls of other clients (a Wait, an Attach) get a moment, then
        // the shim goes.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while conns.join_next().await.is_some() {}
        })
        .await;
        anyhow::Ok(())
    })?;
    Ok(())
}
