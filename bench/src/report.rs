//! The printed report: the run's identification, one table per benchmark as it completes, and
//! a final summary with each figure against its target from the benchmark plan
//! (`shared/reliability.md` section 2).

mod bridge;
mod codec;
mod env;
mod fanout;
mod grpc;
mod idle;
mod summary;

use crate::bridge::BridgeResult;
use crate::codec::CodecResult;
use crate::fanout::CaseResult;
use crate::idle::IdleResult;
use crate::subscriber::Kind;

pub use bridge::print_bridge;
pub use codec::print_codec;
pub use env::Env;
pub use fanout::{fanout_details, fanout_header, fanout_row};
pub use grpc::{
    GrpcFanoutEntry, print_grpc_fanout_details, print_grpc_fanout_header, print_grpc_fanout_ratios,
    print_grpc_fanout_row, print_grpc_unary,
};
pub use idle::print_idle;
pub use summary::print_summary;

/// Codec target (G7): the gateway's round trip at most this many times serde_json's.
pub const CODEC_TARGET_RATIO: f64 = 2.0;
/// Write-coalescing target (G6a): events per write syscall at >= 10k deliveries/s.
pub const EVENTS_PER_WRITE_TARGET: f64 = 5.0;

/// One fan-out case as it ended: its figures, or why it failed.
#[derive(Debug)]
pub struct FanoutEntry {
    pub kind: Kind,
    pub n: usize,
    pub outcome: Result<CaseResult, String>,
}

/// One idle-memory kind: its figures, or why it failed.
#[derive(Debug)]
pub struct IdleEntry {
    pub kind: Kind,
    pub outcome: Result<IdleResult, String>,
}

/// Everything measured in one run.
#[derive(Debug, Default)]
pub struct Report {
    pub fanout: Vec<FanoutEntry>,
    pub idle: Vec<IdleEntry>,
    pub codec: Option<Result<Vec<CodecResult>, String>>,
    pub bridge: Option<BridgeResult>,
    pub notes: Vec<String>,
}
