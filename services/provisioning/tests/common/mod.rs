//! Test support: real databases (MariaDB on this machine, SQLite files) and
//! the service started in-process on port 0.

#![allow(dead_code)]

pub mod flow;

use std::{net::SocketAddr, time::Duration};

use clustergenie_proto::provisioning::v1 as pb;
use provisioning::{App, Config, cloud::CloudConfig};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

#[allow(unused_imports)]
pub use cg_testkit::{Backend, TestDb};

/// Cloud timings small enough for tests.
pub fn fast_cloud() -> CloudConfig {
    CloudConfig {
        boot_delay: Duration::from_millis(100),
        action_duration: Duration::from_millis(100),
        failure_rate: 0.0,
        region_capacity: 1000,
        api_latency: Duration::ZERO,
    }
}

pub fn config(db: &TestDb, cloud: CloudConfig) -> Config {
    Config {
        database: db.config(),
        cloud,
        ..Config::default()
    }
}

/// The service running in-process on a free port.
pub struct Server {
    pub addr: SocketAddr,
    pub app_service: provisioning::Service,
    stop: CancellationToken,
    handle: JoinHandle<Result<(), cg_runtime::Error>>,
}

impl Server {
    pub async fn start(config: &Config) -> Self {
        cg_runtime::telemetry::init_for_tests();
        let app = App::build(config).await.expect("service builds");
        let app_service = app.service.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let handle = tokio::spawn(app.serve(
            listener,
            async move { token.cancelled().await },
            Duration::from_secs(5),
        ));
        Self {
            addr,
            app_service,
            stop,
            handle,
        }
    }

    pub async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn clients(&self) -> Clients {
        let ch = self.channel().await;
        Clients {
            clusters: pb::cluster_service_client::ClusterServiceClient::new(ch.clone()),
            droplets: pb::droplet_service_client::DropletServiceClient::new(ch.clone()),
            actions: pb::droplet_action_service_client::DropletActionServiceClient::new(ch),
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.handle.await.unwrap().expect("server stops cleanly");
    }
}

#[derive(Clone)]
pub struct Clients {
    pub clusters: pb::cluster_service_client::ClusterServiceClient<Channel>,
    pub droplets: pb::droplet_service_client::DropletServiceClient<Channel>,
    pub actions: pb::droplet_action_service_client::DropletActionServiceClient<Channel>,
}

impl Clients {
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

    /// Polls until the droplet has `status` (or panics after 10 s).
    pub async fn wait_droplet(&mut self, id: &str, status: pb::DropletStatus) -> pb::Droplet {
        for _ in 0..200 {
            let d = self
                .droplets
                .get_droplet(pb::GetDropletRequest { id: id.into() })
                .await
                .unwrap()
                .into_inner()
                .droplet
                .unwrap();
            if d.status == status as i32 && !d.locked {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("droplet {id} never reached {status:?}");
    }

    pub async fn wait_action(&mut self, id: &str) -> pb::DropletAction {
        for _ in 0..200 {
            let a = self
                .actions
                .get_droplet_action(pb::GetDropletActionRequest { id: id.into() })
                .await
                .unwrap()
                .into_inner()
                .action
                .unwrap();
            if a.status != pb::ActionStatus::InProgress as i32 {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("action {id} never finished");
    }
}
