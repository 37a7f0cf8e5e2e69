//! Clients of a running provisioning service and the waits its suites
//! share.

use std::time::Duration;

use clustergenie_proto::provisioning::v1 as pb;
use tonic::transport::Channel;

use crate::eventually;

/// Every provisioning client on one channel.
#[derive(Clone)]
pub struct Clients {
    pub clusters: pb::cluster_service_client::ClusterServiceClient<Channel>,
    pub droplets: pb::droplet_service_client::DropletServiceClient<Channel>,
    pub actions: pb::droplet_action_service_client::DropletActionServiceClient<Channel>,
    pub faults: pb::fault_service_client::FaultServiceClient<Channel>,
}

impl Clients {
    /// Connects to `endpoint` (`http://host:port`).
    pub async fn connect(endpoint: String) -> Self {
        let ch = crate::channel(&endpoint).await;
        Self {
            clusters: pb::cluster_service_client::ClusterServiceClient::new(ch.clone()),
            droplets: pb::droplet_service_client::DropletServiceClient::new(ch.clone()),
            actions: pb::droplet_action_service_client::DropletActionServiceClient::new(ch.clone()),
            faults: pb::fault_service_client::FaultServiceClient::new(ch),
        }
    }

    pub async fn cluster(&mut self, name: &str, region: &str) -> pb::Cluster {
        self.clusters
            .create_cluster(pb::CreateClusterRequest {
                name: name.into(),
                region: region.into(),
                ..Default::default()
            })
            .await
            .expect("create cluster")
            .into_inner()
            .cluster
            .unwrap()
    }

    /// A 1 vCPU Ubuntu droplet named `name` in the cluster.
    pub fn droplet_request(cluster_id: &str, name: &str) -> pb::CreateDropletRequest {
        pb::CreateDropletRequest {
            cluster_id: cluster_id.into(),
            name: name.into(),
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            ..Default::default()
        }
    }

    pub async fn droplet(&mut self, cluster_id: &str, name: &str) -> pb::Droplet {
        self.droplets
            .create_droplet(Self::droplet_request(cluster_id, name))
            .await
            .expect("create droplet")
            .into_inner()
            .droplet
            .unwrap()
    }

    pub async fn get_droplet(&mut self, id: &str) -> pb::Droplet {
        self.droplets
            .get_droplet(pb::GetDropletRequest { id: id.into() })
            .await
            .expect("get droplet")
            .into_inner()
            .droplet
            .unwrap()
    }

    /// Waits until the droplet has `status` and no action holds it.
    pub async fn wait_droplet(&mut self, id: &str, status: pb::DropletStatus) -> pb::Droplet {
        eventually(
            Duration::from_secs(10),
            &format!("droplet {id} to be {status:?}"),
            || {
                let mut c = self.clone();
                async move {
                    let d = c.get_droplet(id).await;
                    if d.status == status as i32 && !d.locked {
                        Ok(d)
                    } else {
                        Err((d.status, d.locked))
                    }
                }
            },
        )
        .await
    }

    /// Waits until the action completes or errors.
    pub async fn wait_action(&mut self, id: &str) -> pb::DropletAction {
        eventually(
            Duration::from_secs(10),
            &format!("action {id} to end"),
            || {
                let mut c = self.clone();
                async move {
                    let a = c
                        .actions
                        .get_droplet_action(pb::GetDropletActionRequest { id: id.into() })
                        .await
                        .expect("get action")
                        .into_inner()
                        .action
                        .unwrap();
                    if a.status == pb::ActionStatus::InProgress as i32 {
                        Err(a.status)
                    } else {
                        Ok(a)
                    }
                }
            },
        )
        .await
    }
}
