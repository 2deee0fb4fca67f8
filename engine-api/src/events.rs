//! `client.events()`: the daemon's event stream.

use berth_proto::services::events::v1 as pb;
use pb::events_client::EventsClient;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;

use crate::error::{Error, Result};
use crate::types::Event;

#[derive(Clone, Debug)]
pub struct Events {
    c: EventsClient<Channel>,
}

impl Events {
    pub(crate) fn new(channel: Channel) -> Events {
        Events {
            c: EventsClient::new(channel),
        }
    }

    /// Events matching `filters` (`type=container`, `event=die`, …); `since` /
    /// `until` in unix nanoseconds (0: unset).
    pub async fn subscribe(
        &self,
        filters: &[String],
        since: i64,
        until: i64,
    ) -> Result<impl Stream<Item = Result<Event>>> {
        let s = self
            .c
            .clone()
            .subscribe(pb::SubscribeRequest {
                filters: filters.to_vec(),
                since,
                until,
            })
            .await?
            .into_inner();
        Ok(s.map(|r| r.map(Event::from).map_err(Error::from)))
    }
}
