//! gRPC adapter of `berth.services.events.v1`: the bus's `watch`, as proto.

use berth_proto::services::events::v1 as pb;
use pb::events_server::Events as Api;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use crate::events::{parse_filters, Event, Events};

pub struct EventsService {
    pub events: Events,
}

fn to_pb(e: Event) -> pb::Event {
    pb::Event {
        topic: e.topic(),
        r#type: e.kind,
        action: e.action,
        id: e.id,
        attributes: e.attributes,
        time_nano: e.time_nano,
    }
}

#[tonic::async_trait]
impl Api for EventsService {
    type SubscribeStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Event, Status>> + Send>>;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let r = req.into_inner();
        let rx = self
            .events
            .watch(r.since, r.until, parse_filters(&r.filters));
        let s = ReceiverStream::new(rx).map(|e| Ok(to_pb(e)));
        Ok(Response::new(Box::pin(s)))
    }
}
