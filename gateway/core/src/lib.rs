//! Switchyard's core: the CloudEvents envelope and its codecs, the event with its delivery
//! context, the pipeline (a `tower::Service<Event>` with its layers), and the hub behind the
//! browser-facing feeds. Adapters depend on this crate; it depends on no adapter.

pub mod backoff;
pub mod cloudevent;
pub mod error;
pub mod event;
pub mod health;
pub mod hub;
pub mod inbound;
pub mod outbound;
pub mod pipeline;
pub mod retry;
pub mod secret;
pub mod settle;
pub mod template;
pub mod topic;
pub mod validation;

pub use error::{BoxError, DeliveryError};
pub use event::{Event, Origin};
