//! Attach streams: input (stdin, resize) goes up a channel, output frames
//! come back from the daemon.

use berth_proto::services::containers::v1 as cpb;
use tokio::sync::mpsc;
use tonic::Streaming;

use crate::error::Result;

/// What a client sends to an attached process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin(Vec<u8>),
    /// The client's stdin ended.
    CloseStdin,
    Resize {
        width: u32,
        height: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
}

/// A chunk of a process's output (with a tty, all of it is `Stdout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub kind: OutputKind,
    pub data: Vec<u8>,
}

pub(crate) fn kind_from_pb(k: i32) -> OutputKind {
    if k == cpb::StreamKind::Stderr as i32 {
        OutputKind::Stderr
    } else {
        OutputKind::Stdout
    }
}

/// An attached container. Dropping it detaches; the container keeps running.
pub struct Attach {
    /// Send stdin data, EOF and terminal sizes here.
    pub input: mpsc::Sender<Input>,
    pub(crate) output: Streaming<cpb::AttachResponse>,
}

impl Attach {
    /// The next output chunk; `None` when the container's output closed.
    pub async fn next(&mut self) -> Option<Result<Output>> {
        loop {
            match self.output.message().await {
                Ok(Some(cpb::AttachResponse {
                    msg: Some(cpb::attach_response::Msg::Output(o)),
                })) => {
                    return Some(Ok(Output {
                        kind: kind_from_pb(o.stream),
                        data: o.data,
                    }))
                }
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(s) => return Some(Err(s.into())),
            }
        }
    }
}
