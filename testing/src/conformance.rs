//! The conformance suites: what every adapter must do, checked the same way for each. A
//! sink's tests implement [`OutboundFixture`] and call [`check_outbound`]; a broker inbound's
//! implement [`InboundFixture`] and call [`check_inbound`].

mod inbound;
mod outbound;

pub use inbound::{InboundFixture, check_inbound};
pub use outbound::{OutboundFixture, check_outbound};
