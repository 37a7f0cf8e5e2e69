//! Races settled by the database, through the real gRPC API.

mod common;

use cg_testkit::on_both_backends;

use std::collections::HashSet;

use cg_testkit::TestDb;
use cg_testkit::{Backend, provisioning::Clients};
use clustergenie_proto::provisioning::v1 as pb;
use common::{config, fast_cloud};
use futures::future::join_all;
use tonic::Code;

async fn fifty_concurrent_actions_on_one_droplet_accept_exactly_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    // The winner must still hold the lock when the last request lands.
    let slow_actions = provisioning::cloud::CloudConfig {
        action_duration: std::time::Duration::from_secs(60),
        ..fast_cloud()
    };
    let server = common::start(&config(&db, slow_actions)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("race", "nyc1").await;
    let d = c.droplet(&cluster.id, "target").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;

    let calls = (0..50).map(|i| {
        let mut actions = c.actions.clone();
        let droplet_id = d.id.clone();
        async move {
            // A mix of action types: the lock, not the type, decides.
            let r#type = if i % 2 == 0 {
                pb::ActionType::Reboot
            } else {
                pb::ActionType::PowerCycle
            };
            actions
                .create_droplet_action(pb::CreateDropletActionRequest {
                    droplet_id,
                    r#type: r#type as i32,
                    ..Default::default()
                })
                .await
        }
    });
    let results = join_all(calls).await;
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::FailedPrecondition))
        .count();
    assert_eq!(accepted, 1, "{results:?}");
    assert_eq!(refused, 49, "{results:?}");
    let stored = c
        .actions
        .list_droplet_actions(pb::ListDropletActionsRequest {
            droplet_id: d.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .actions;
    let requested = stored
        .iter()
        .filter(|a| a.r#type != pb::ActionType::Create as i32)
        .count();
    assert_eq!(requested, 1, "exactly one action was recorded: {stored:?}");
    server.stop().await.expect("stops cleanly");
}

async fn two_hundred_creates_with_distinct_request_ids_make_two_hundred_droplets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("fleet", "ams3").await;
    let calls = (0..200).map(|i| {
        let mut droplets = c.droplets.clone();
        let mut req = Clients::droplet_request(&cluster.id, &format!("node-{i}"));
        req.request_id = format!("create-{i}");
        async move { droplets.create_droplet(req).await }
    });
    let results = join_all(calls).await;
    let droplets: Vec<pb::Droplet> = results
        .into_iter()
        .map(|r| {
            r.expect("every create succeeds")
                .into_inner()
                .droplet
                .unwrap()
        })
        .collect();
    let ids: HashSet<_> = droplets.iter().map(|d| d.id.clone()).collect();
    let ips: HashSet<_> = droplets.iter().map(|d| d.public_ipv4.clone()).collect();
    assert_eq!(ids.len(), 200);
    assert_eq!(
        ips.len(),
        200,
        "public addresses must be unique in a region"
    );

    let listed = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            cluster_id: cluster.id.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(listed.len(), 200);
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
    assert_eq!(got.droplet_count, 200);
    server.stop().await.expect("stops cleanly");
}

async fn one_request_id_sent_twenty_times_at_once_makes_one_droplet(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("once", "sfo3").await;
    let calls = (0..20).map(|_| {
        let mut droplets = c.droplets.clone();
        let mut req = Clients::droplet_request(&cluster.id, "only");
        req.request_id = "the-same-key".into();
        async move { droplets.create_droplet(req).await }
    });
    let results = join_all(calls).await;
    let ids: HashSet<String> = results
        .into_iter()
        .map(|r| r.expect("replays succeed").into_inner().droplet.unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1, "every call answers the same droplet");
    let listed = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            cluster_id: cluster.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(listed.len(), 1);
    server.stop().await.expect("stops cleanly");
}

on_both_backends!(
    fifty_concurrent_actions_on_one_droplet_accept_exactly_one,
    two_hundred_creates_with_distinct_request_ids_make_two_hundred_droplets,
    one_request_id_sent_twenty_times_at_once_makes_one_droplet,
);
