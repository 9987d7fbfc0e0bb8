//! Switchyard's core: the event with its delivery context, the pipeline (a
//! `tower::Service<Event>` with its layers), the adapter contracts (inbound, outbound,
//! settlement), and the hub behind the browser-facing feeds. The CloudEvents model and its
//! codecs are their own crate, re-exported as [`cloudevent`]. Adapters depend on this crate; it
//! depends on no adapter.

pub mod auth;
pub mod backoff;
pub mod error;
pub mod event;
pub mod health;
pub mod hub;
pub mod inbound;
pub mod outbound;
pub mod pair;
pub mod pipeline;
pub mod principal;
pub mod queue;
pub mod rate;
pub mod retry;
pub mod rpc;
pub mod secret;
pub mod settle;
pub mod streams;
pub mod template;
pub mod tls;
pub mod topic;
pub mod validation;

pub use error::{BoxError, DeliveryError};
pub use event::{Event, Origin};
/// The CloudEvents model, formats and bindings (the `switchyard-cloudevents` crate).
pub use switchyard_cloudevents as cloudevent;
