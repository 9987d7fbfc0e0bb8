//! What a backplane feeds the hub with when many gateways act as one: events at the stream's
//! sequence, and consumer groups from consumers the gateways share.

use std::sync::Arc;

use super::{Hub, HubError, message};
use crate::cloudevent::CloudEvent;

impl Hub {
    /// [`Hub::publish`] at the cursor `seq` (a backplane stream's sequence). Cursors only grow:
    /// an event at or below the newest one was seen already and is not stored again; a jump
    /// means the stream lost what lies between, and a resume from there gets a reset.
    pub fn publish_at(&self, seq: u64, topic: &str, event: &CloudEvent) -> Result<u64, HubError> {
        self.store(topic, event, Some(seq), true)
    }

    /// [`Hub::publish_at`] for history (a gateway catching up with the stream at start): kept
    /// for replay and resume, but not handed to live subscribers, who subscribed after it was
    /// published.
    pub fn restore_at(&self, seq: u64, topic: &str, event: &CloudEvent) -> Result<u64, HubError> {
        self.store(topic, event, Some(seq), false)
    }

    /// Every (filter, group) with members on this gateway, for a backplane that feeds each
    /// group from a consumer shared by the gateways.
    pub fn groups(&self) -> Vec<(String, String)> {
        self.lock().registry.groups()
    }

    /// Hands `event` (at cursor `seq`, not stored for replay: groups have none) to one member
    /// of `group` on `filter` here; `false` when none took it.
    pub fn deliver_to_group(
        &self,
        (filter, group): (&str, &str),
        seq: u64,
        topic: &str,
        event: &CloudEvent,
    ) -> bool {
        let msg = Arc::new(message::Encoded::new(event).into_message(seq, topic.into()));
        let taken = self.lock().registry.deliver_to_group(filter, group, &msg);
        if taken {
            self.inner.deliveries.increment(1);
        }
        taken
    }
}
