//! gRPC adapter of `berth.services.logs.v1`.

use berth_proto::services::logs::v1 as pb;
use pb::logs_server::Logs as Api;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::convert::container_status as st;
use crate::containers::{Containers, LogOptions};

pub struct LogsService {
    pub containers: Containers,
}

#[tonic::async_trait]
impl Api for LogsService {
    type LogsStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::LogEntry, Status>> + Send>>;

    async fn logs(
        &self,
        req: Request<pb::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let r = req.into_inner();
        let both = !r.stdout && !r.stderr;
        let rx = self
            .containers
            .logs(
                &r.id,
                LogOptions {
                    follow: r.follow,
                    tail: r.tail,
                    since: r.since,
                    until: r.until,
                    stdout: r.stdout || both,
                    stderr: r.stderr || both,
                },
            )
            .map_err(st)?;
        let s = ReceiverStream::new(rx).map(|e| {
            Ok(pb::LogEntry {
                stream: e.stream,
                line: e.line,
                time: e.time,
            })
        });
        Ok(Response::new(Box::pin(s)))
    }
}
