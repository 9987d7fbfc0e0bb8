//! The hub, as a sink, runs the outbound conformance suite: what it confirms is in its log
//! for every subscriber and poller. It lives in this process, so it has no peer to lose, no
//! confirmation to wait for and no event it cannot hold.

use switchyard_core::event::Event;
use switchyard_core::health::Readiness;
use switchyard_core::hub::HubSink;
use switchyard_core::hub::{Hub, HubConfig};
use switchyard_core::pipeline::Sink;
use switchyard_core::topic::TopicFilter;
use switchyard_testing::conformance::{OutboundFixture, check_outbound};
use tower::util::BoxCloneSyncService;

struct InProcess {
    hub: Hub,
}

impl OutboundFixture for InProcess {
    async fn live(&mut self) -> (Sink, Readiness) {
        let readiness = Readiness::default();
        readiness.register("hub").set(true);
        let sink = BoxCloneSyncService::new(HubSink::new(self.hub.clone()));
        (sink, readiness)
    }

    async fn received(&mut self) -> Vec<String> {
        let everything = TopicFilter::parse("#").expect("a valid filter");
        let batch = self.hub.poll(&everything, 0, 1_000);
        batch
            .messages
            .iter()
            .filter_map(|m| serde_json::from_slice::<serde_json::Value>(&m.json).ok())
            .filter_map(|event| event["id"].as_str().map(str::to_owned))
            .collect()
    }

    async fn unreachable(&mut self) -> Option<(Sink, Readiness)> {
        None
    }

    async fn silent(&mut self) -> Option<Sink> {
        None
    }

    fn uncarriable(&self) -> Option<Event> {
        None
    }

    fn has_connection(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn the_hub_conforms() {
    let mut fixture = InProcess {
        hub: Hub::new(HubConfig::default()),
    };
    check_outbound(&mut fixture).await;
}
