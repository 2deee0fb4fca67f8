//! Attach streams: stdin in, stdout/stderr chunks out, over one bidirectional
//! shim call.

use std::pin::Pin;
use std::task::{Context, Poll};

use berth_proto::shim::v1 as pb;
use berth_proto::shim::v1::task_client::TaskClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::transport::Channel;

use super::convert::stream_from_pb;
use super::error::TaskError;
use super::manager::map_status;
use super::types::{AttachOptions, OutputChunk};

/// An attached process. Dropping it detaches (the process keeps running and
/// its stdin stays open).
#[derive(Debug)]
pub struct Attached {
    /// `Some` when stdin was asked for.
    pub stdin: Option<StdinWriter>,
    /// stdout/stderr as asked for; ends when the process's output closes.
    pub output: OutputStream,
}

/// Writes to an attached process's stdin.
#[derive(Debug, Clone)]
pub struct StdinWriter {
    id: String,
    tx: mpsc::Sender<pb::AttachRequest>,
}

impl StdinWriter {
    /// Sends `data` to the process's stdin.
    pub async fn write(&self, data: Vec<u8>) -> Result<(), TaskError> {
        self.send(pb::attach_request::Msg::Stdin(data)).await
    }

    /// Closes the process's stdin (EOF), e.g. when the client's input ends.
    pub async fn close(&self) -> Result<(), TaskError> {
        self.send(pb::attach_request::Msg::CloseStdin(true)).await
    }

    async fn send(&self, msg: pb::attach_request::Msg) -> Result<(), TaskError> {
        self.tx
            .send(pb::AttachRequest { msg: Some(msg) })
            .await
            .map_err(|_| TaskError::FailedPrecondition {
                id: self.id.clone(),
                message: "attach stream closed".to_string(),
            })
    }
}

/// stdout/stderr chunks of an attached process.
#[derive(Debug)]
pub struct OutputStream {
    id: String,
    inner: tonic::Streaming<pb::AttachResponse>,
    // Keeps the request stream open while output is read without stdin.
    _keep: Option<mpsc::Sender<pb::AttachRequest>>,
}

impl OutputStream {
    /// The next chunk; `None` once the output has closed.
    pub async fn next(&mut self) -> Option<Result<OutputChunk, TaskError>> {
        tokio_stream::StreamExt::next(self).await
    }
}

impl Stream for OutputStream {
    type Item = Result<OutputChunk, TaskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(r))) => Poll::Ready(Some(Ok(OutputChunk {
                stream: stream_from_pb(r.stream),
                data: r.data,
            }))),
            Poll::Ready(Some(Err(s))) => Poll::Ready(Some(Err(map_status(&this.id, s)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

pub(super) async fn attach(
    id: &str,
    mut client: TaskClient<Channel>,
    exec_id: &str,
    opts: AttachOptions,
) -> Result<Attached, TaskError> {
    let (tx, rx) = mpsc::channel(16);
    let open = pb::AttachRequest {
        msg: Some(pb::attach_request::Msg::Open(pb::AttachOpen {
            exec_id: exec_id.to_string(),
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        })),
    };
    // Queued before the call, so the shim sees it while answering the call:
    // when `attach` returns, the shim has registered this client.
    tx.send(open).await.map_err(|_| TaskError::Shim {
        id: id.to_string(),
        message: "attach: request channel closed".to_string(),
    })?;
    let inner = client
        .attach(ReceiverStream::new(rx))
        .await
        .map_err(|s| map_status(id, s))?
        .into_inner();
    let (stdin, keep) = if opts.stdin {
        (
            Some(StdinWriter {
                id: id.to_string(),
                tx,
            }),
            None,
        )
    } else {
        (None, Some(tx))
    };
    Ok(Attached {
        stdin,
        output: OutputStream {
            id: id.to_string(),
            inner,
            _keep: keep,
        },
    })
}
