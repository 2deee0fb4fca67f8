//! Stream plumbing shared by the adapters: client stdin → the process,
//! process output → the client, as proto frames. A client that goes away
//! detaches (the process keeps running).

use std::time::Duration;

use berth_proto::services::containers::v1 as cpb;
use berth_proto::services::exec::v1 as epb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use super::convert::container_status;
use crate::containers::{AttachFuture, AttachHandle, Containers, StartedExec};
use crate::system::host;
use crate::tasks::{OutputChunk, StdStream, StdinWriter};

/// One stdin event from a client, whatever the service.
enum Input {
    Data(Vec<u8>),
    Close,
    Resize(u32, u32),
}

fn kind(s: StdStream) -> i32 {
    match s {
        StdStream::Stdout => cpb::StreamKind::Stdout as i32,
        StdStream::Stderr => cpb::StreamKind::Stderr as i32,
    }
}

/// Forwards client input to the process until the client's stream ends.
fn pump_input<F, Fut>(stdin: Option<StdinWriter>, mut next: mpsc::Receiver<Input>, resize: F)
where
    F: Fn(u32, u32) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        while let Some(i) = next.recv().await {
            match i {
                Input::Data(d) => {
                    if let Some(w) = &stdin {
                        if w.write(d).await.is_err() {
                            break;
                        }
                    }
                }
                Input::Close => {
                    if let Some(w) = &stdin {
                        let _ = w.close().await;
                    }
                }
                Input::Resize(w, h) => resize(w, h).await,
            }
        }
    });
}

/// Sends output chunks to the client until the process's output closes or the
/// client leaves.
async fn pump_output<T>(
    handle: &mut AttachHandle,
    tx: &mpsc::Sender<Result<T, Status>>,
    frame: impl Fn(OutputChunk) -> T,
) {
    while let Some(chunk) = handle.output.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(Ok(frame(c))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "attach output");
                return;
            }
        }
    }
}

pub fn attach_stream(
    containers: Containers,
    pending: AttachFuture,
    mut inbound: Streaming<cpb::AttachRequest>,
) -> ReceiverStream<Result<cpb::AttachResponse, Status>> {
    let (tx, rx) = mpsc::channel(64);
    let (in_tx, in_rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok(Some(m)) = inbound.message().await {
            let i = match m.msg {
                Some(cpb::attach_request::Msg::Stdin(d)) => Input::Data(d),
                Some(cpb::attach_request::Msg::CloseStdin(_)) => Input::Close,
                Some(cpb::attach_request::Msg::Resize(s)) => Input::Resize(s.width, s.height),
                _ => continue,
            };
            if in_tx.send(i).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let ready = cpb::AttachResponse {
            msg: Some(cpb::attach_response::Msg::Ready(true)),
        };
        if tx.send(Ok(ready)).await.is_err() {
            return;
        }
        let mut handle = match pending.await {
            Ok(h) => h,
            Err(e) => {
                let _ = tx.send(Err(container_status(e))).await;
                return;
            }
        };
        let id = handle.id.clone();
        let c2 = containers.clone();
        pump_input(handle.stdin.take(), in_rx, move |w, h| {
            let c = c2.clone();
            let id = id.clone();
            async move {
                let _ = c.resize(&id, w, h).await;
            }
        });
        pump_output(&mut handle, &tx, |c| cpb::AttachResponse {
            msg: Some(cpb::attach_response::Msg::Output(cpb::Output {
                stream: kind(c.stream),
                data: c.data,
            })),
        })
        .await;
    });
    ReceiverStream::new(rx)
}

pub fn exec_stream(
    containers: Containers,
    exec_id: String,
    started: StartedExec,
    mut inbound: Streaming<epb::StartRequest>,
) -> ReceiverStream<Result<epb::StartResponse, Status>> {
    let (tx, rx) = mpsc::channel(64);
    let (in_tx, in_rx) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok(Some(m)) = inbound.message().await {
            let i = match m.msg {
                Some(epb::start_request::Msg::Stdin(d)) => Input::Data(d),
                Some(epb::start_request::Msg::CloseStdin(_)) => Input::Close,
                Some(epb::start_request::Msg::Resize(s)) => Input::Resize(s.width, s.height),
                _ => continue,
            };
            if in_tx.send(i).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let ready = epb::StartResponse {
            msg: Some(epb::start_response::Msg::Ready(true)),
        };
        if tx.send(Ok(ready)).await.is_err() {
            return;
        }
        let StartedExec { attach, exit } = started;
        if let Some(mut handle) = attach {
            let c2 = containers.clone();
            let id = exec_id.clone();
            pump_input(handle.stdin.take(), in_rx, move |w, h| {
                let c = c2.clone();
                let id = id.clone();
                async move {
                    let _ = c.exec_resize(&id, w, h).await;
                }
            });
            pump_output(&mut handle, &tx, |c| epb::StartResponse {
                msg: Some(epb::start_response::Msg::Output(epb::Output {
                    stream: match c.stream {
                        StdStream::Stdout => epb::StreamKind::Stdout as i32,
                        StdStream::Stderr => epb::StreamKind::Stderr as i32,
                    },
                    data: c.data,
                })),
            })
            .await;
        }
        let code = exit.await.unwrap_or(255);
        let _ = tx
            .send(Ok(epb::StartResponse {
                msg: Some(epb::start_response::Msg::ExitCode(code)),
            }))
            .await;
    });
    ReceiverStream::new(rx)
}

pub fn stats_stream(
    containers: Containers,
    id: String,
    stream: bool,
) -> ReceiverStream<Result<cpb::StatsSample, Status>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let online = host::ncpu();
        loop {
            let sample = match containers.stats(&id).await {
                Ok((cid, name, s)) => cpb::StatsSample {
                    id: cid,
                    name,
                    read: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    cpu_total_ns: s.cpu_total_ns,
                    system_cpu_ns: host::cpu_time_ns(),
                    online_cpus: online,
                    memory_usage: s.memory_usage,
                    memory_limit: s.memory_limit.unwrap_or(0),
                    pids_current: s.pids_current,
                    pids_limit: s.pids_limit.unwrap_or(0),
                    blkio_read: 0,
                    blkio_write: 0,
                },
                Err(_) => return,
            };
            if tx.send(Ok(sample)).await.is_err() || !stream {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    ReceiverStream::new(rx)
}

/// A `Write` that sends chunks down a channel, from a blocking thread.
struct ChunkWriter(mpsc::Sender<Result<cpb::ExportChunk, Status>>);

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(cpb::ExportChunk { data: buf.to_vec() }))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn export_stream(
    containers: Containers,
    id: String,
) -> ReceiverStream<Result<cpb::ExportChunk, Status>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let w = std::io::BufWriter::with_capacity(256 * 1024, ChunkWriter(tx));
        if let Err(e) = containers.export_blocking(&id, w) {
            let _ = err_tx.blocking_send(Err(container_status(e)));
        }
    });
    ReceiverStream::new(rx)
}

pub fn copy_from_stream(
    containers: Containers,
    id: String,
    path: String,
) -> ReceiverStream<Result<cpb::ExportChunk, Status>> {
    let (tx, rx) = mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let err_tx = tx.clone();
        let w = std::io::BufWriter::with_capacity(256 * 1024, ChunkWriter(tx));
        if let Err(e) = containers.copy_from_blocking(&id, &path, w) {
            let _ = err_tx.blocking_send(Err(container_status(e)));
        }
    });
    ReceiverStream::new(rx)
}

/// A `Read` over chunks arriving on a channel (the tar of `cp` to a container).
struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub async fn copy_to(
    containers: Containers,
    id: String,
    path: String,
    mut inbound: Streaming<cpb::CopyToRequest>,
) -> Result<(), Status> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>(16);
    let unpack = tokio::task::spawn_blocking(move || {
        containers.copy_to_blocking(
            &id,
            &path,
            ChunkReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            },
        )
    });
    while let Some(m) = inbound.message().await? {
        if let Some(cpb::copy_to_request::Msg::Data(d)) = m.msg {
            if tx.send(d).await.is_err() {
                break;
            }
        }
    }
    drop(tx);
    unpack
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(container_status)
}
