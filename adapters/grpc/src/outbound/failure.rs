//! What a failed attempt means for the delivery: retry or stop, and the [`DeliveryError`]
//! the source gets if it was the last. The rule is [`is_transient`]'s: UNAVAILABLE,
//! DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED answered by the backend may heal, every other
//! code is its final word (`Rejected`, code and message in the reason). Failures raised under
//! gRPC, where the backend never answered (connect refused, connection reset, GOAWAY, tonic's
//! own deadline), carry their transport error as the status's `source()`; they are retried
//! as UNAVAILABLE or as a timeout whatever code tonic gave them.

use std::error::Error as _;
use std::time::Duration;

use tonic::{Code, Status, TimeoutExpired};

use switchyard_core::DeliveryError;

use crate::status::{RETRY_AFTER, is_transient};

/// A failed attempt.
#[derive(Debug)]
pub(super) struct Failure {
    /// What the delivery fails with if this attempt was its last.
    pub(super) error: DeliveryError,
    /// Whether another attempt may do better.
    pub(super) transient: bool,
    /// The channel could not reach the backend (a transport-level UNAVAILABLE): the sink is
    /// not ready until a call or a health check gets through.
    pub(super) disconnected: bool,
}

impl Failure {
    /// No answer within `timeout`.
    pub(super) fn timeout(sink: &str, timeout: Duration) -> Self {
        Self {
            error: DeliveryError::Timeout {
                sink: sink.to_owned(),
                timeout,
            },
            transient: true,
            disconnected: false,
        }
    }

    /// What `status` means, for the sink `sink` whose attempts may take `timeout`; `elapsed`
    /// is how long this attempt took.
    pub(super) fn of(status: &Status, elapsed: Duration, sink: &str, timeout: Duration) -> Self {
        let code = status.code();
        // tonic's channel enforces the `grpc-timeout` it sends, as CANCELLED with
        // `TimeoutExpired` under it, usually just before our own timer fires. A tonic backend
        // answers CANCELLED when that deadline expires on its side: never before ours (which
        // started first), but it can come with it.
        if deadline_passed(status) || (code == Code::Cancelled && elapsed >= timeout) {
            return Self::timeout(sink, timeout);
        }
        if status.source().is_some() {
            let reason = format!("the call failed: {}", transport_chain(status));
            return Self {
                error: unavailable(sink, reason, None),
                transient: true,
                disconnected: code == Code::Unavailable,
            };
        }
        let reason = format!("backend answered {}: {}", code_name(code), status.message());
        let error = match code {
            Code::DeadlineExceeded => return Self::timeout(sink, timeout),
            _ if is_transient(code) => unavailable(sink, reason, retry_after(status)),
            _ => DeliveryError::Rejected {
                sink: sink.to_owned(),
                reason,
            },
        };
        Self {
            error,
            transient: is_transient(code),
            disconnected: false,
        }
    }

    /// How long the backend asked us to wait before the next attempt.
    pub(super) fn retry_after(&self) -> Option<Duration> {
        match &self.error {
            DeliveryError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The delivery's error when this failure ends it, after `attempts` attempts.
    pub(super) fn into_last(self, attempts: u32) -> DeliveryError {
        match self.error {
            DeliveryError::Unavailable {
                sink,
                reason,
                retry_after,
            } if attempts > 1 => DeliveryError::Unavailable {
                sink,
                reason: format!("{reason} (after {attempts} attempts)"),
                retry_after,
            },
            other => other,
        }
    }
}

fn unavailable(sink: &str, reason: String, retry_after: Option<Duration>) -> DeliveryError {
    DeliveryError::Unavailable {
        sink: sink.to_owned(),
        reason,
        retry_after,
    }
}

/// Whether tonic's own deadline (`TimeoutExpired`) expired under the status.
fn deadline_passed(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(error) = source {
        if error.is::<TimeoutExpired>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The backend's `retry-after` metadata, in whole seconds as Switchyard's own listener and
/// HTTP's `Retry-After` write it.
fn retry_after(status: &Status) -> Option<Duration> {
    let seconds: u64 = status
        .metadata()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

/// The status's message and the errors under it, each once.
fn transport_chain(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = status.source();
    while let Some(error) = source {
        let line = error.to_string();
        // tonic's own wrapper says nothing the errors around it do not.
        if !text.contains(&line) && line != "transport error" {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = error.source();
    }
    text
}

/// A code as the gRPC spec writes it (`INVALID_ARGUMENT`), from tonic's `InvalidArgument`.
fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(1);

    fn of(status: &Status) -> Failure {
        Failure::of(status, Duration::from_millis(5), "backend", TIMEOUT)
    }

    #[test]
    fn codes_are_written_as_the_spec_does() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
    }

    #[test]
    fn a_backend_s_retry_after_is_read_in_seconds() {
        let status = crate::status::unavailable("busy", Duration::from_secs(7));
        assert_eq!(of(&status).retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(of(&Status::unavailable("busy")).retry_after(), None);
    }

    #[test]
    fn what_the_backend_answers_decides() {
        let rejected = of(&Status::invalid_argument("bad `type`"));
        assert!(!rejected.transient);
        assert!(
            matches!(&rejected.error, DeliveryError::Rejected { reason, .. }
                if reason == "backend answered INVALID_ARGUMENT: bad `type`"),
            "{rejected:?}"
        );
        let exhausted = of(&Status::resource_exhausted("quota"));
        assert!(exhausted.transient && !exhausted.disconnected);
        assert!(matches!(exhausted.error, DeliveryError::Unavailable { .. }));
        let late = of(&Status::deadline_exceeded("slow"));
        assert!(late.transient && matches!(late.error, DeliveryError::Timeout { .. }));
        let cancelled = Status::cancelled("deadline");
        assert!(
            !of(&cancelled).transient,
            "cancelled early is the backend's word"
        );
        let at_deadline = Failure::of(&cancelled, TIMEOUT, "backend", TIMEOUT);
        assert!(matches!(at_deadline.error, DeliveryError::Timeout { .. }));
    }

    #[test]
    fn failures_under_grpc_are_retried_whatever_their_code() {
        let mut refused = Status::unavailable("tcp connect error");
        refused.set_source(Arc::new(std::io::Error::other("Connection refused")));
        let failure = of(&refused);
        assert!(failure.transient && failure.disconnected);
        assert!(
            matches!(&failure.error, DeliveryError::Unavailable { reason, .. }
                if reason == "the call failed: tcp connect error: Connection refused"),
            "{failure:?}"
        );
        let mut reset = Status::unknown("connection reset");
        reset.set_source(Arc::new(std::io::Error::other("reset")));
        let failure = of(&reset);
        assert!(failure.transient && !failure.disconnected);
        let mut expired = Status::cancelled("Timeout expired");
        expired.set_source(Arc::new(TimeoutExpired(())));
        assert!(matches!(of(&expired).error, DeliveryError::Timeout { .. }));
    }

    #[test]
    fn the_last_failure_says_how_many_attempts_it_took() {
        let error = of(&Status::unavailable("down")).into_last(3);
        assert!(error.to_string().ends_with("(after 3 attempts)"), "{error}");
        let error = of(&Status::unavailable("down")).into_last(1);
        assert!(!error.to_string().contains("attempts"), "{error}");
    }
}
