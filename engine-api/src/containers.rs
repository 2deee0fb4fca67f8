//! `client.containers()`: the container verbs.

use berth_proto::services::containers::v1 as pb;
use pb::containers_client::ContainersClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;

use crate::error::{Error, ErrorKind, Reason, Result};
use crate::io::{Attach, Input};
use crate::types::{
    Container, ContainerSpec, CreateResponse, LogEntry, LogsOptions, PruneReport, Stats,
    StopResult, Top, WaitResult,
};

/// The container service.
#[derive(Clone, Debug)]
pub struct Containers {
    c: ContainersClient<Channel>,
    channel: Channel,
}

impl Containers {
    pub(crate) fn new(channel: Channel) -> Containers {
        Containers {
            c: ContainersClient::new(channel.clone()),
            channel,
        }
    }

    fn r(id: &str) -> pb::ContainerRef {
        pb::ContainerRef { id: id.to_string() }
    }

    pub async fn create(&self, spec: &ContainerSpec) -> Result<CreateResponse> {
        let r = self
            .c
            .clone()
            .create(pb::CreateRequest {
                spec: Some(spec.into()),
            })
            .await?
            .into_inner();
        Ok(CreateResponse {
            id: r.id,
            warnings: r.warnings,
        })
    }

    pub async fn start(&self, id: &str) -> Result<()> {
        self.c.clone().start(Self::r(id)).await?;
        Ok(())
    }

    /// `timeout`: grace period in seconds (None: the container's).
    pub async fn stop(&self, id: &str, timeout: Option<i64>) -> Result<StopResult> {
        let r = self
            .c
            .clone()
            .stop(pb::StopRequest {
                id: id.to_string(),
                timeout,
            })
            .await?
            .into_inner();
        Ok(StopResult {
            killed: r.killed,
            reason: r.reason,
        })
    }

    pub async fn restart(&self, id: &str, timeout: Option<i64>) -> Result<StopResult> {
        let r = self
            .c
            .clone()
            .restart(pb::StopRequest {
                id: id.to_string(),
                timeout,
            })
            .await?
            .into_inner();
        Ok(StopResult {
            killed: r.killed,
            reason: r.reason,
        })
    }

    /// `signal`: name or number; empty: SIGKILL.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<()> {
        self.c
            .clone()
            .kill(pb::KillRequest {
                id: id.to_string(),
                signal: signal.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn remove(&self, id: &str, force: bool, volumes: bool) -> Result<()> {
        self.c
            .clone()
            .remove(pb::RemoveRequest {
                id: id.to_string(),
                force,
                volumes,
            })
            .await?;
        Ok(())
    }

    pub async fn pause(&self, id: &str) -> Result<()> {
        self.c.clone().pause(Self::r(id)).await?;
        Ok(())
    }

    pub async fn unpause(&self, id: &str) -> Result<()> {
        self.c.clone().unpause(Self::r(id)).await?;
        Ok(())
    }

    /// `filters`: docker's `key=value`; `limit` 0: no limit.
    pub async fn list(&self, all: bool, filters: &[String], limit: i32) -> Result<Vec<Container>> {
        let r = self
            .c
            .clone()
            .list(pb::ListRequest {
                all,
                filters: filters.to_vec(),
                limit,
            })
            .await?
            .into_inner();
        Ok(r.containers.into_iter().map(Container::from).collect())
    }

    pub async fn inspect(&self, id: &str) -> Result<Container> {
        let r = self.c.clone().inspect(Self::r(id)).await?.into_inner();
        Ok(Container::from(r))
    }

    /// `condition`: "not-running", "next-exit" or "removed".
    pub async fn wait(&self, id: &str, condition: &str) -> Result<WaitResult> {
        let r = self
            .c
            .clone()
            .wait(pb::WaitRequest {
                id: id.to_string(),
                condition: condition.to_string(),
            })
            .await?
            .into_inner();
        Ok(WaitResult {
            exit_code: r.exit_code,
            error: r.error,
            oom_killed: r.oom_killed,
        })
    }

    pub async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        self.c
            .clone()
            .rename(pb::RenameRequest {
                id: id.to_string(),
                new_name: new_name.to_string(),
            })
            .await?;
        Ok(())
    }

    pub async fn top(&self, id: &str, ps_args: &str) -> Result<Top> {
        let r = self
            .c
            .clone()
            .top(pb::TopRequest {
                id: id.to_string(),
                ps_args: ps_args.to_string(),
            })
            .await?
            .into_inner();
        Ok(Top {
            titles: r.titles,
            processes: r.processes.into_iter().map(|p| p.columns).collect(),
        })
    }

    /// Samples once a second while `stream`, else one sample.
    pub async fn stats(&self, id: &str, stream: bool) -> Result<impl Stream<Item = Result<Stats>>> {
        let s = self
            .c
            .clone()
            .stats(pb::StatsRequest {
                id: id.to_string(),
                stream,
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(Stats::from).map_err(Error::from)))
    }

    /// Removes stopped containers.
    pub async fn prune(&self) -> Result<PruneReport> {
        let r = self
            .c
            .clone()
            .prune(pb::PruneRequest { filters: vec![] })
            .await?
            .into_inner();
        Ok(PruneReport {
            deleted: r.deleted,
            space_reclaimed: r.space_reclaimed,
        })
    }

    /// Attaches to a container's stdio. Returns once the daemon has registered
    /// the attach: starting the container after this loses no output.
    pub async fn attach(
        &self,
        id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    ) -> Result<Attach> {
        let (req_tx, req_rx) = mpsc::channel::<pb::AttachRequest>(64);
        let first = pb::AttachRequest {
            msg: Some(pb::attach_request::Msg::Options(pb::AttachOptions {
                id: id.to_string(),
                stdin,
                stdout,
                stderr,
                logs: false,
            })),
        };
        req_tx.send(first).await.map_err(|_| {
            Error::daemon(
                ErrorKind::Other,
                Reason::Internal,
                "attach: request stream closed",
            )
        })?;
        let mut output = self
            .c
            .clone()
            .attach(ReceiverStream::new(req_rx))
            .await?
            .into_inner();
        // Wait for the daemon's "ready".
        match output.message().await? {
            Some(pb::AttachResponse {
                msg: Some(pb::attach_response::Msg::Ready(_)),
            }) => {}
            _ => {
                return Err(Error::daemon(
                    ErrorKind::Other,
                    Reason::Internal,
                    "attach: the daemon did not confirm the attach",
                ))
            }
        }
        let (in_tx, mut in_rx) = mpsc::channel::<Input>(64);
        tokio::spawn(async move {
            while let Some(i) = in_rx.recv().await {
                let msg = match i {
                    Input::Stdin(d) => pb::attach_request::Msg::Stdin(d),
                    Input::CloseStdin => pb::attach_request::Msg::CloseStdin(true),
                    Input::Resize { width, height } => {
                        pb::attach_request::Msg::Resize(pb::TerminalSize { width, height })
                    }
                };
                if req_tx
                    .send(pb::AttachRequest { msg: Some(msg) })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // Keep the request stream open until the response side ends:
            // dropping req_tx here would only close our half.
            req_tx.closed().await;
        });
        Ok(Attach {
            input: in_tx,
            output,
        })
    }

    pub async fn resize(&self, id: &str, width: u32, height: u32) -> Result<()> {
        self.c
            .clone()
            .resize(pb::ResizeRequest {
                id: id.to_string(),
                size: Some(pb::TerminalSize { width, height }),
            })
            .await?;
        Ok(())
    }

    /// The container's filesystem as tar bytes (docker export).
    pub async fn export(&self, id: &str) -> Result<impl Stream<Item = Result<Vec<u8>>>> {
        let s = self.c.clone().export(Self::r(id)).await?.into_inner();
        Ok(s.map(|r| r.map(|c| c.data).map_err(Error::from)))
    }

    /// A tar of `path` in the container (its base name as the top entry).
    pub async fn copy_from(
        &self,
        id: &str,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Vec<u8>>>> {
        let s = self
            .c
            .clone()
            .copy_from(pb::CopyFromRequest {
                id: id.to_string(),
                path: path.to_string(),
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(|c| c.data).map_err(Error::from)))
    }

    /// Unpacks `tar` at `path` in the container: into it when it is a
    /// directory, else as that name.
    pub async fn copy_to(
        &self,
        id: &str,
        path: &str,
        tar: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    ) -> Result<()> {
        use tokio::io::AsyncReadExt;
        let (tx, rx) = mpsc::channel(8);
        let first = pb::CopyToRequest {
            msg: Some(pb::copy_to_request::Msg::Options(pb::CopyToOptions {
                id: id.to_string(),
                path: path.to_string(),
            })),
        };
        let reader = tokio::spawn(async move {
            let mut tar = tar;
            if tx.send(first).await.is_err() {
                return Ok(());
            }
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = tar.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                let msg = pb::CopyToRequest {
                    msg: Some(pb::copy_to_request::Msg::Data(buf[..n].to_vec())),
                };
                if tx.send(msg).await.is_err() {
                    return Ok(());
                }
            }
        });
        let r = self.c.clone().copy_to(ReceiverStream::new(rx)).await;
        if let Ok(Err(source)) = reader.await {
            return Err(Error::Io {
                path: "copy input".into(),
                source,
            });
        }
        r?;
        Ok(())
    }

    /// The container's log (from the json-file log; works while it is stopped).
    pub async fn logs(
        &self,
        id: &str,
        opts: &LogsOptions,
    ) -> Result<impl Stream<Item = Result<LogEntry>>> {
        use berth_proto::services::logs::v1 as lpb;
        let mut c = lpb::logs_client::LogsClient::new(self.channel.clone());
        let s = c
            .logs(lpb::LogsRequest {
                id: id.to_string(),
                follow: opts.follow,
                tail: opts.tail,
                since: opts.since,
                until: opts.until,
                stdout: opts.stdout,
                stderr: opts.stderr,
            })
            .await?
            .into_inner();
        Ok(s.map(|r| {
            r.map(|e| LogEntry {
                stream: e.stream,
                line: e.line,
                time: e.time,
            })
            .map_err(Error::from)
        }))
    }
}
