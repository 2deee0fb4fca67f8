//! gRPC adapter of `berth.services.events.v1`.

use berth_proto::services::events::v1 as pb;
use pb::events_server::Events as Api;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::events::{parse_filters, Event, Events};

pub struct EventsService {
    pub events: Events,
}

fn to_pb(e: &Event) -> pb::Event {
    pb::Event {
        r#type: e.kind.clone(),
        action: e.action.clone(),
        id: e.id.clone(),
        attributes: e.attributes.clone(),
        time_nano: e.time_nano,
        topic: e.topic(),
    }
}

#[tonic::async_trait]
impl Api for EventsService {
    type SubscribeStream = ReceiverStream<Result<pb::Event, Status>>;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = req.into_inner();
        let filters = parse_filters(&r.filters);
        let (past, mut live) = self.events.subscribe(r.since);
        let until = r.until;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            for e in past.iter().filter(|e| e.matches(&filters)) {
                if tx.send(Ok(to_pb(e))).await.is_err() {
                    return;
                }
            }
            loop {
                let wait = async {
                    if until > 0 {
                        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
                        let left = std::time::Duration::from_nanos((until - now).max(0) as u64);
                        tokio::time::timeout(left, live.recv()).await.ok()
                    } else {
                        Some(live.recv().await)
                    }
                };
                match wait.await {
                    None => return,
                    Some(Ok(e)) => {
                        if e.matches(&filters) && tx.send(Ok(to_pb(&e))).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                    Some(Err(broadcast::error::RecvError::Closed)) => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
