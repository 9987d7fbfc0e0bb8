//! The client's deadline (`grpc-timeout`), enforced by the handler itself. tonic's server
//! enforces it too, but answers CANCELLED ("Timeout expired") when it fires; the contract
//! says a delivery cut short by the deadline is DEADLINE_EXCEEDED, so ours fires first, a
//! little before tonic's. tonic's parser of the header is private, so it is read here: up to
//! 8 digits and a unit (gRPC over HTTP/2, "Timeout").

use std::time::Duration;

use tonic::Status;
use tonic::metadata::MetadataMap;

/// Room left for our answer to go out before tonic's own timer: a twentieth of the
/// deadline, at most 20 ms.
const MARGIN_MAX: Duration = Duration::from_millis(20);

/// The time the handler has, from `grpc-timeout`; `None` without one (or an unreadable one,
/// which tonic ignores too).
pub(crate) fn budget(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let deadline = parse(value)?;
    Some(deadline.saturating_sub((deadline / 20).min(MARGIN_MAX)))
}

fn parse(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Runs `work` within `budget`: DEADLINE_EXCEEDED when it passes (the delivery is dropped;
/// at-least-once, so the client may retry with the same id).
pub(crate) async fn within<T>(
    budget: Option<Duration>,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    match budget {
        None => work.await,
        Some(budget) => tokio::time::timeout(budget, work)
            .await
            .unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(
                    "the call's deadline passed before every sink confirmed",
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_header_forms_and_refuses_the_rest() {
        assert_eq!(parse("500m"), Some(Duration::from_millis(500)));
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("123456789m"), None, "at most 8 digits");
        assert_eq!(parse("m"), None);
        assert_eq!(parse("5x"), None);
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", "1000m".parse().expect("value"));
        assert_eq!(budget(&metadata), Some(Duration::from_millis(980)));
    }
}
