//! CreateJob requests the suites send again and again.

use clustergenie_proto::jobs::v1 as pb;

/// "Scale `cluster_id` to `n` droplets" (s-1vcpu-1gb, Ubuntu 24.04).
pub fn scale_cluster(cluster_id: &str, n: i32) -> pb::CreateJobRequest {
    request(
        cluster_id,
        pb::job_action::Action::ScaleCluster(pb::ScaleCluster {
            target_count: n,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            remove_droplet_ids: Vec::new(),
        }),
    )
}

/// "Provision one droplet named after `prefix`".
pub fn provision_one(cluster_id: &str, prefix: &str) -> pb::CreateJobRequest {
    request(
        cluster_id,
        pb::job_action::Action::ProvisionDroplets(pb::ProvisionDroplets {
            count: 1,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            name_prefix: prefix.into(),
        }),
    )
}

pub fn request(cluster_id: &str, action: pb::job_action::Action) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        cluster_id: cluster_id.into(),
        action: Some(pb::JobAction {
            action: Some(action),
        }),
        ..Default::default()
    }
}
