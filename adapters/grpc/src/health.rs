//! `grpc.health.v1.Health` following the gateway's readiness, as `/readyz` does: the overall
//! status (service `""`) and each service of the listener are SERVING when every dependency
//! is ready; each dependency has its own entry under its `/readyz` name (`outbound:amqp`,
//! `hub:backplane`, ...). The drain turns everything NOT_SERVING at once, and at its end
//! clears the statuses so that `Watch` streams end and the listener can close.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use switchyard_core::health::Readiness;

/// How often readiness is read: it has no change notification, and this is what `/readyz`
/// pollers see too.
const POLL: Duration = Duration::from_millis(200);

/// The gRPC service names reported beside the overall status.
pub(crate) const SERVICES: [&str; 2] = [
    "switchyard.v1.Gateway",
    "io.cloudevents.v1.CloudEventService",
];

/// Runs until `end`: follows `readiness` until `draining`, then reports NOT_SERVING.
pub(crate) async fn follow(
    readiness: Readiness,
    mut reporter: HealthReporter,
    draining: CancellationToken,
    end: CancellationToken,
) {
    let mut last = None;
    loop {
        let report = readiness.report();
        if last.as_ref() != Some(&report) {
            publish(&reporter, &report).await;
            last = Some(report);
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = draining.cancelled() => break,
        }
    }
    let names: Vec<String> = overall()
        .map(str::to_owned)
        .chain(
            last.into_iter()
                .flat_map(|(_, checks)| checks)
                .map(|(n, _)| n),
        )
        .collect();
    for name in &names {
        reporter
            .set_service_status(name, ServingStatus::NotServing)
            .await;
    }
    end.cancelled().await;
    for name in &names {
        reporter.clear_service_status(name).await;
    }
}

fn overall() -> impl Iterator<Item = &'static str> {
    std::iter::once("").chain(SERVICES)
}

async fn publish(reporter: &HealthReporter, (ready, checks): &(bool, Vec<(String, bool)>)) {
    let status = |ok: bool| {
        if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    for name in overall() {
        reporter.set_service_status(name, status(*ready)).await;
    }
    for (name, ok) in checks {
        reporter.set_service_status(name, status(*ok)).await;
    }
}
