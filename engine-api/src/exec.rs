//! `client.exec()`: processes added to a running container.

use berth_proto::services::exec::v1 as pb;
use pb::exec_client::ExecClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

use crate::error::{Error, ErrorKind, Reason, Result};
use crate::io::{Input, Output, OutputKind};

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub privileged: bool,
}

#[derive(Clone, Debug)]
pub struct Exec {
    c: ExecClient<Channel>,
}

/// A started exec: output chunks, then its exit code.
pub struct ExecSession {
    pub input: mpsc::Sender<Input>,
    stream: Streaming<pb::StartResponse>,
    exit: Option<i32>,
}

impl ExecSession {
    /// The next output chunk; `None` once the process has exited (then
    /// [`ExecSession::exit_code`] is set).
    pub async fn next(&mut self) -> Option<Result<Output>> {
        loop {
            match self.stream.message().await {
                Ok(Some(pb::StartResponse { msg: Some(m) })) => match m {
                    pb::start_response::Msg::Output(o) => {
                        let kind = if o.stream == pb::StreamKind::Stderr as i32 {
                            OutputKind::Stderr
                        } else {
                            OutputKind::Stdout
                        };
                        return Some(Ok(Output { kind, data: o.data }));
                    }
                    pb::start_response::Msg::ExitCode(c) => {
                        self.exit = Some(c);
                    }
                    pb::start_response::Msg::Ready(_) => {}
                },
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(s) => return Some(Err(s.into())),
            }
        }
    }

    /// The exit code, once `next` returned `None`.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit
    }
}

impl Exec {
    pub(crate) fn new(channel: Channel) -> Exec {
        Exec {
            c: ExecClient::new(channel),
        }
    }

    pub async fn create(&self, container: &str, cfg: &ExecConfig) -> Result<String> {
        let r = self
            .c
            .clone()
            .create(pb::CreateRequest {
                container_id: container.to_string(),
                args: cfg.args.clone(),
                env: cfg.env.clone(),
                user: cfg.user.clone(),
                working_dir: cfg.working_dir.clone(),
                tty: cfg.tty,
                attach_stdin: cfg.attach_stdin,
                privileged: cfg.privileged,
            })
            .await?
            .into_inner();
        Ok(r.exec_id)
    }

    /// Starts it; with `detach` the session yields no output.
    pub async fn start(&self, exec_id: &str, detach: bool) -> Result<ExecSession> {
        let (req_tx, req_rx) = mpsc::channel::<pb::StartRequest>(64);
        let _ = req_tx
            .send(pb::StartRequest {
                msg: Some(pb::start_request::Msg::Options(pb::StartOptions {
                    exec_id: exec_id.to_string(),
                    detach,
                })),
            })
            .await;
        let mut stream = self
            .c
            .clone()
            .start(ReceiverStream::new(req_rx))
            .await?
            .into_inner();
        match stream.message().await? {
            Some(pb::StartResponse {
                msg: Some(pb::start_response::Msg::Ready(_)),
            }) => {}
            _ => {
                return Err(Error::daemon(
                    ErrorKind::Other,
                    Reason::Internal,
                    "exec: the daemon did not confirm the start",
                ))
            }
        }
        let (in_tx, mut in_rx) = mpsc::channel::<Input>(64);
        tokio::spawn(async move {
            while let Some(i) = in_rx.recv().await {
                let msg = match i {
                    Input::Stdin(d) => pb::start_request::Msg::Stdin(d),
                    Input::CloseStdin => pb::start_request::Msg::CloseStdin(true),
                    Input::Resize { width, height } => {
                        pb::start_request::Msg::Resize(pb::TerminalSize { width, height })
                    }
                };
                if req_tx
                    .send(pb::StartRequest { msg: Some(msg) })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            req_tx.closed().await;
        });
        Ok(ExecSession {
            input: in_tx,
            stream,
            exit: None,
        })
    }

    pub async fn resize(&self, exec_id: &str, width: u32, height: u32) -> Result<()> {
        self.c
            .clone()
            .resize(pb::ResizeRequest {
                exec_id: exec_id.to_string(),
                size: Some(pb::TerminalSize { width, height }),
            })
            .await?;
        Ok(())
    }

    /// (running, exit code, pid).
    pub async fn inspect(&self, exec_id: &str) -> Result<(bool, i32, i64)> {
        let r = self
            .c
            .clone()
            .inspect(pb::InspectRequest {
                exec_id: exec_id.to_string(),
            })
            .await?
            .into_inner();
        Ok((r.running, r.exit_code, r.pid))
    }
}
