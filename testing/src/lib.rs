//! Test support, written once for every crate's tests: waits on conditions with deadlines
//! (never fixed sleeps), a recording pipeline and sink whose answers a test scripts, and a
//! harness that runs any [`switchyard_core::inbound::Inbound`] as the app would, and the
//! outbound conformance suite every sink runs ([`conformance`]).

pub mod conformance;
mod harness;
mod recorder;
mod wait;

pub use harness::RunningInbound;
pub use recorder::{Answer, Call, Recorder};
pub use wait::{
    DEADLINE, eventually, poll_some, poll_some_mut, poll_some_within, within, within_for,
};
