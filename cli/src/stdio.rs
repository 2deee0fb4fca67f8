//! Wiring the local stdio to an attached container or exec: output chunks to
//! our stdout/stderr, our stdin (when asked) to the process, terminal resizes,
//! and the detach keys.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;

use berth_engine_api::{Attach, ExecSession, Input, Output, OutputKind};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::output::term::{self, DetachMatcher};

/// How an attach ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The process's output closed (it exited).
    Closed,
    /// The user pressed the detach keys.
    Detached,
}

type Next<'a> =
    Pin<Box<dyn Future<Output = Option<Result<Output, berth_engine_api::Error>>> + Send + 'a>>;

/// Something that yields output chunks.
pub trait Source: Send {
    fn next_output(&mut self) -> Next<'_>;
}

impl Source for Attach {
    fn next_output(&mut self) -> Next<'_> {
        Box::pin(self.next())
    }
}

impl Source for ExecSession {
    fn next_output(&mut self) -> Next<'_> {
        Box::pin(self.next())
    }
}

fn write(o: &Output) {
    match o.kind {
        OutputKind::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&o.data);
            let _ = out.flush();
        }
        OutputKind::Stderr => {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&o.data);
            let _ = err.flush();
        }
    }
}

/// Runs the attach until the output ends or the user detaches.
pub async fn pump(
    source: &mut dyn Source,
    input: mpsc::Sender<Input>,
    stdin: bool,
    tty: bool,
    detach_keys: &str,
) -> anyhow::Result<End> {
    let keys = if stdin && tty {
        term::parse_detach_keys(detach_keys).map_err(anyhow::Error::msg)?
    } else {
        Vec::new()
    };
    let _raw = (tty && stdin && term::stdin_is_tty()).then(term::RawMode::enable);
    let (detach_tx, mut detach_rx) = mpsc::channel::<()>(1);
    if tty {
        if let Some((w, h)) = term::size() {
            let _ = input
                .send(Input::Resize {
                    width: w,
                    height: h,
                })
                .await;
        }
        let resize_input = input.clone();
        tokio::spawn(async move {
            let Ok(mut sig) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
            else {
                return;
            };
            while sig.recv().await.is_some() {
                if let Some((w, h)) = term::size() {
                    if resize_input
                        .send(Input::Resize {
                            width: w,
                            height: h,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
    }
    if stdin {
        let input = input.clone();
        tokio::spawn(async move {
            let mut matcher = DetachMatcher::new(keys);
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = input.send(Input::CloseStdin).await;
                        return;
                    }
                    Ok(n) => {
                        let (data, detach) = matcher.feed(&buf[..n]);
                        if !data.is_empty() && input.send(Input::Stdin(data)).await.is_err() {
                            return;
                        }
                        if detach {
                            let _ = detach_tx.send(()).await;
                            return;
                        }
                    }
                }
            }
        });
    }
    loop {
        tokio::select! {
            o = source.next_output() => match o {
                Some(Ok(o)) => write(&o),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(End::Closed),
            },
            Some(()) = detach_rx.recv() => return Ok(End::Detached),
        }
    }
}

/// docker's --sig-proxy: SIGINT/SIGTERM/SIGHUP sent to `berth` go to the
/// container instead of ending the CLI (without a tty; a tty passes ctrl-c as
/// a byte). Runs until the process ends.
pub fn proxy_signals(containers: berth_engine_api::Containers, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    for (kind, name) in [
        (SignalKind::interrupt(), "INT"),
        (SignalKind::terminate(), "TERM"),
        (SignalKind::hangup(), "HUP"),
    ] {
        let Ok(mut sig) = signal(kind) else { continue };
        let containers = containers.clone();
        let id = id.clone();
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                let _ = containers.kill(&id, name).await;
            }
        });
    }
}
