//! The route table: which events go to which sinks. A route matches on the inbound an event came
//! from, its topic (with `+`/`#` wildcards) and CloudEvents attribute filters (the Subscriptions
//! API dialects `exact`, `prefix`, `suffix`, `all`, `any`, `not`); it may rewrite the topic its
//! sinks see with a template, and says whether the source waits for its sinks to confirm.

mod config;
mod filter;
mod policy;
mod router;

pub use config::{FilterConfig, OneOrMany, RouteConfig};
pub use filter::Filter;
pub use policy::{DedupeConfig, ROUTE_RETRY};
pub use router::{Route, RouteTable, Router};
pub use switchyard_core::retry::RetryConfig;
pub use switchyard_core::template::TopicTemplate;
