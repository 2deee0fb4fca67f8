//! The gRPC adapter: each handler unwraps the request, calls [`Shim`], and
//! maps the error once (`From<ShimError> for Status`).

use std::pin::Pin;
use std::sync::Arc;

use berth_proto::shim::v1 as pb;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::ShimError;
use crate::io::fanout::{Chunk, CLIENT_BUFFER};
use crate::io::pump::StdinMsg;
use crate::process::{Status as ProcStatus, StdioMode};
use crate::shim::{InitStdio, LogConfig, Shim};

impl From<ShimError> for Status {
    fn from(e: ShimError) -> Status {
        let msg = e.to_string();
        match e {
            ShimError::NotFound(_) => Status::not_found(msg),
            ShimError::AlreadyExists(_) => Status::already_exists(msg),
            ShimError::FailedPrecondition(_) => Status::failed_precondition(msg),
            ShimError::InvalidArgument(_) => Status::invalid_argument(msg),
            ShimError::Runtime(_) | ShimError::Io { .. } => Status::internal(msg),
        }
    }
}

/// The log path must be absolute: the shim runs in `/`, not in berthd's cwd.
fn init_stdio(r: pb::CreateRequest) -> Result<InitStdio, ShimError> {
    let log = match r.log {
        Some(l) if !std::path::Path::new(&l.path).is_absolute() => {
            return Err(ShimError::InvalidArgument(format!(
                "log path {:?} is not absolute",
                l.path
            )))
        }
        Some(l) => Some(LogConfig {
            path: l.path.into(),
            max_size: (l.max_size > 0).then_some(l.max_size),
            max_file: l.max_file.max(1),
        }),
        None => None,
    };
    Ok(InitStdio {
        mode: StdioMode {
            tty: r.tty,
            stdin: r.stdin,
        },
        log,
    })
}

pub struct Service {
    shim: Arc<Shim>,
}

impl Service {
    pub fn new(shim: Arc<Shim>) -> Self {
        Service { shim }
    }
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::task_server::Task for Service {
    async fn create(&self, r: Request<pb::CreateRequest>) -> Res<pb::CreateResponse> {
        let pid = self.shim.create(init_stdio(r.into_inner())?).await?;
        Ok(Response::new(pb::CreateResponse { pid }))
    }

    async fn start(&self, r: Request<pb::StartRequest>) -> Res<pb::StartResponse> {
        let pid = self.shim.start(&r.into_inner().exec_id).await?;
        Ok(Response::new(pb::StartResponse { pid }))
    }

    async fn state(&self, r: Request<pb::StateRequest>) -> Res<pb::StateResponse> {
        let exec_id = r.into_inner().exec_id;
        let p = self.shim.process(&exec_id)?;
        let status = p.status();
        let mode = p.mode();
        Ok(Response::new(pb::StateResponse {
            id: self.shim.id().to_string(),
            bundle: self.shim.bundle().to_string_lossy().into_owned(),
            pid: p.pid(),
            status: status.to_pb() as i32,
            stdin: mode.stdin,
            tty: mode.tty,
            exit: (status == ProcStatus::Stopped)
                .then(|| p.exit().map(|e| e.to_pb(&exec_id)))
                .flatten(),
            exec_id,
        }))
    }

    async fn kill(&self, r: Request<pb::KillRequest>) -> Res<pb::Empty> {
        let r = r.into_inner();
        self.shim.kill(&r.exec_id, r.signal, r.all).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn wait(&self, r: Request<pb::WaitRequest>) -> Res<pb::ExitStatus> {
        let exec_id = r.into_inner().exec_id;
        let p = self.shim.process(&exec_id)?;
        Ok(Response::new(p.wait().await.to_pb(&exec_id)))
    }

    async fn exec(&self, r: Request<pb::ExecRequest>) -> Res<pb::Empty> {
        let r = r.into_inner();
        self.shim
            .exec(&r.exec_id, r.process_json, r.stdin, r.tty)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn resize_pty(&self, r: Request<pb::ResizePtyRequest>) -> Res<pb::Empty> {
        let r = r.into_inner();
        self.shim.resize(&r.exec_id, r.width, r.height)?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn close_stdin(&self, r: Request<pb::CloseStdinRequest>) -> Res<pb::Empty> {
        let p = self.shim.process(&r.into_inner().exec_id)?;
        p.send_stdin(StdinMsg::Close);
        Ok(Response::new(pb::Empty {}))
    }

    type AttachStream = ReceiverStream<Chunk>;

    async fn attach(&self, r: Request<Streaming<pb::AttachRequest>>) -> Res<Self::AttachStream> {
        let mut inbound = r.into_inner();
        let open = match inbound.message().await? {
            Some(pb::AttachRequest {
                msg: Some(pb::attach_request::Msg::Open(o)),
            }) => o,
            _ => {
                return Err(Status::invalid_argument(
                    "attach: first message must be open",
                ))
            }
        };
        let p = self.shim.process(&open.exec_id)?;
        let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
        p.subscribe(tx, open.stdout, open.stderr);
        if open.stdin {
            tokio::spawn(async move {
                while let Ok(Some(m)) = inbound.message().await {
                    let msg = match m.msg {
                        Some(pb::attach_request::Msg::Stdin(d)) => StdinMsg::Data(d),
                        Some(pb::attach_request::Msg::CloseStdin(true)) => StdinMsg::Close,
                        _ => continue,
                    };
                    if !p.send_stdin(msg) {
                        break;
                    }
                }
            });
        }
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn pids(&self, _: Request<pb::PidsRequest>) -> Res<pb::PidsResponse> {
        let processes = self.shim.pids().await?;
        Ok(Response::new(pb::PidsResponse { processes }))
    }

    // Freeze and thaw run to the end in a task of their own: when berthd dies
    // mid-call its request is dropped, but the runtime's freeze still happens,
    // and the status the shim reports afterwards must say so.
    async fn pause(&self, _: Request<pb::Empty>) -> Res<pb::Empty> {
        let shim = Arc::clone(&self.shim);
        tokio::spawn(async move { shim.pause().await })
            .await
            .map_err(|e| Status::internal(format!("pause: {e}")))??;
        Ok(Response::new(pb::Empty {}))
    }

    async fn resume(&self, _: Request<pb::Empty>) -> Res<pb::Empty> {
        let shim = Arc::clone(&self.shim);
        tokio::spawn(async move { shim.resume().await })
            .await
            .map_err(|e| Status::internal(format!("resume: {e}")))??;
        Ok(Response::new(pb::Empty {}))
    }

    async fn stats(&self, _: Request<pb::Empty>) -> Res<pb::StatsResponse> {
        let stats_json = self.shim.stats().await?;
        Ok(Response::new(pb::StatsResponse { stats_json }))
    }

    async fn update(&self, r: Request<pb::UpdateRequest>) -> Res<pb::Empty> {
        self.shim.update(&r.into_inner().resources_json).await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn delete(&self, r: Request<pb::DeleteRequest>) -> Res<pb::ExitStatus> {
        let r = r.into_inner();
        let exit = self.shim.delete(&r.exec_id, r.force).await?;
        Ok(Response::new(exit.to_pb(&r.exec_id)))
    }

    async fn shutdown(&self, r: Request<pb::ShutdownRequest>) -> Res<pb::Empty> {
        self.shim.shutdown(r.into_inner().now)?;
        Ok(Response::new(pb::Empty {}))
    }

    type EventsStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

    async fn events(&self, _: Request<pb::Empty>) -> Res<Self::EventsStream> {
        let mut sub = self.shim.events();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(ev) => {
                        if tx.send(Ok(ev)).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn info(&self, _: Request<pb::Empty>) -> Res<pb::InfoResponse> {
        Ok(Response::new(pb::InfoResponse {
            shim_pid: std::process::id(),
            task_pid: self.shim.init_pid(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_requests_become_the_init_stdio() {
        let s = init_stdio(pb::CreateRequest {
            stdin: true,
            tty: false,
            log: Some(pb::LogOptions {
                path: "/c/log.json".into(),
                max_size: 0,
                max_file: 0,
            }),
        })
        .unwrap();
        assert_eq!(
            s.mode,
            StdioMode {
                tty: false,
                stdin: true
            }
        );
        let log = s.log.unwrap();
        assert_eq!(log.path, std::path::Path::new("/c/log.json"));
        assert_eq!((log.max_size, log.max_file), (None, 1), "0 never rotates");
        let s = init_stdio(pb::CreateRequest::default()).unwrap();
        assert!(s.log.is_none() && s.mode == StdioMode::default());
        let relative = init_stdio(pb::CreateRequest {
            log: Some(pb::LogOptions {
                path: "log.json".into(),
                max_size: 10,
                max_file: 3,
            }),
            ..Default::default()
        });
        assert!(matches!(relative, Err(ShimError::InvalidArgument(_))));
    }
}
