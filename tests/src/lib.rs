//! Test fixtures for end-to-end tests: the real `switchyard` binary on 127.0.0.1:0, a small HTTP
//! client, an SSE reader, a webhook receiver, and waiting on conditions with deadlines.

pub mod brokers;
pub mod browser;
pub mod client;
pub mod document;
pub mod gateway;
pub mod proxy;
pub mod python;
pub mod receiver;
pub mod sse;

pub use gateway::Gateway;
/// Waits with deadlines, written once in the test-support crate: `eventually(within, what,
/// check)` polls `check` until it returns `Some`; `within(within, what, future)` awaits.
pub use switchyard_testing::{poll_some_within as eventually, within_for as within};
