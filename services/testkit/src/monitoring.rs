//! Monitoring requests the suites send again and again.

use clustergenie_proto::monitoring::v1 as pb;

/// An HTTP check named `web` on every droplet of `cluster_id`, as quick as
/// the service allows (every 5 s; one failure or success turns it).
pub fn web_check(cluster_id: &str) -> pb::CreateHealthCheckRequest {
    pb::CreateHealthCheckRequest {
        cluster_id: cluster_id.into(),
        name: "web".into(),
        kind: pb::HealthCheckKind::Http as i32,
        interval: Some(prost_types::Duration {
            seconds: 5,
            nanos: 0,
        }),
        timeout: Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        ..Default::default()
    }
}
