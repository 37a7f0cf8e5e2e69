//! Data and unfinished work survive a restart of the service.

mod common;

use cg_testkit::on_both_backends;

use std::time::Duration;

use cg_testkit::TestDb;
use cg_testkit::{Backend, provisioning::Clients};
use clustergenie_proto::provisioning::v1 as pb;
use common::{config, fast_cloud};

async fn data_created_before_a_restart_is_there_after_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    // Long enough that the resize is still running when the service stops.
    let slow = provisioning::cloud::CloudConfig {
        action_duration: Duration::from_millis(400),
        ..fast_cloud()
    };
    let server = common::start(&config(&db, slow.clone())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("durable", "fra1").await;
    let a = c.droplet(&cluster.id, "a").await;
    let b = c.droplet(&cluster.id, "b").await;
    c.wait_droplet(&a.id, pb::DropletStatus::Active).await;
    let resize = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: a.id.clone(),
            r#type: pb::ActionType::Resize as i32,
            params: Some(pb::create_droplet_action_request::Params::Resize(
                pb::ResizeParams {
                    size: "s-2vcpu-4gb".into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    server.stop().await.expect("stops cleanly");

    let server = common::start(&config(&db, slow)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let got = c
        .clusters
        .get_cluster(pb::GetClusterRequest {
            id: cluster.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    assert_eq!(got.name, "durable");
    assert_eq!(got.droplet_count, 2);
    let b_after = c
        .droplets
        .get_droplet(pb::GetDropletRequest { id: b.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(b_after.public_ipv4, b.public_ipv4);
    // The resize left in progress is resumed by the new process.
    let done = c.wait_action(&resize.id).await;
    assert_eq!(done.status, pb::ActionStatus::Completed as i32);
    let a_after = c.wait_droplet(&a.id, pb::DropletStatus::Active).await;
    assert_eq!(a_after.size, "s-2vcpu-4gb");
    assert!(!a_after.locked);
    server.stop().await.expect("stops cleanly");
}

on_both_backends!(data_created_before_a_restart_is_there_after_it);
