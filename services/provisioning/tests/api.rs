//! The gRPC contract's behaviour: validation, error codes, lifecycle,
//! idempotency and watches.

mod common;

use cg_testkit::on_both_backends;

use cg_testkit::TestDb;
use cg_testkit::{Backend, provisioning::Clients};
use clustergenie_proto::provisioning::v1 as pb;
use common::{config, fast_cloud};
use futures::StreamExt as _;
use tonic::Code;
use tonic_types::StatusExt as _;

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

async fn bad_input_is_answered_with_field_violations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let err = c
        .clusters
        .create_cluster(pb::CreateClusterRequest {
            name: "Not A Label".into(),
            region: "mars1".into(),
            request_id: "x".repeat(65),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violations(&err), ["name", "region", "request_id"]);

    let err = c
        .droplets
        .create_droplet(pb::CreateDropletRequest {
            cluster_id: "nope".into(),
            name: "ok".into(),
            size: "s-1vcpu-1gb".into(),
            image: "windows-95".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["cluster_id", "image"]);

    let err = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            page_size: -1,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["page_size", "page_token"]);

    let err = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: cg_runtime::new_id(),
            r#type: pb::ActionType::Resize as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["resize.size"]);
    server.stop().await.expect("stops cleanly");
}

async fn missing_things_are_not_found(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let id = cg_runtime::new_id();
    let codes = [
        c.clusters
            .get_cluster(pb::GetClusterRequest { id: id.clone() })
            .await
            .unwrap_err()
            .code(),
        c.droplets
            .get_droplet(pb::GetDropletRequest { id: id.clone() })
            .await
            .unwrap_err()
            .code(),
        c.droplets
            .create_droplet(Clients::droplet_request(&id, "x"))
            .await
            .unwrap_err()
            .code(),
        c.actions
            .list_droplet_actions(pb::ListDropletActionsRequest {
                droplet_id: id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        c.droplets
            .watch_droplet(pb::WatchDropletRequest { id })
            .await
            .unwrap_err()
            .code(),
    ];
    assert!(codes.iter().all(|c| *c == Code::NotFound), "{codes:?}");
    server.stop().await.expect("stops cleanly");
}

async fn a_droplet_lives_from_new_to_archive(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("life", "lon1").await;
    let d = c.droplet(&cluster.id, "web-1").await;
    assert_eq!(d.status, pb::DropletStatus::New as i32);
    assert_eq!(d.cluster_name, "life");
    assert_eq!(d.region, "lon1");

    // A booting droplet refuses actions.
    let err = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id.clone(),
            r#type: pb::ActionType::Reboot as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;

    let off = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id.clone(),
            r#type: pb::ActionType::PowerOff as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    assert_eq!(
        c.wait_action(&off.id).await.status,
        pb::ActionStatus::Completed as i32
    );
    c.wait_droplet(&d.id, pb::DropletStatus::Off).await;

    // Powering off an off droplet is a state conflict.
    let err = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id.clone(),
            r#type: pb::ActionType::PowerOff as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    let rename = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id.clone(),
            r#type: pb::ActionType::Rename as i32,
            params: Some(pb::create_droplet_action_request::Params::Rename(
                pb::RenameParams {
                    name: "web-renamed".into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    c.wait_action(&rename.id).await;
    let renamed = c.wait_droplet(&d.id, pb::DropletStatus::Off).await;
    assert_eq!(renamed.name, "web-renamed");
    // A name another live droplet of the cluster holds is refused up front.
    let taken = c.droplet(&cluster.id, "taken").await;
    let err = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id.clone(),
            r#type: pb::ActionType::Rename as i32,
            params: Some(pb::create_droplet_action_request::Params::Rename(
                pb::RenameParams {
                    name: "taken".into(),
                },
            )),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    c.droplets
        .destroy_droplet(pb::DestroyDropletRequest { id: taken.id })
        .await
        .unwrap();

    let actions = c
        .actions
        .list_droplet_actions(pb::ListDropletActionsRequest {
            droplet_id: d.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .actions;
    let types: Vec<i32> = actions.iter().map(|a| a.r#type).collect();
    assert_eq!(
        types,
        [
            pb::ActionType::Rename as i32,
            pb::ActionType::PowerOff as i32,
            pb::ActionType::Create as i32,
        ]
    );
    assert!(
        actions[2].completed_at.is_some(),
        "the create completed on boot"
    );
    // Numbers name a droplet and its actions as well as their ids do.
    let by_number = c
        .droplets
        .get_droplet(pb::GetDropletRequest {
            id: d.number.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(by_number.id, d.id);
    let action = c
        .actions
        .get_droplet_action(pb::GetDropletActionRequest {
            id: actions[0].number.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    assert_eq!(action.id, actions[0].id);
    for id in ["0", "999999999999", "not-an-id"] {
        let err = c
            .droplets
            .get_droplet(pb::GetDropletRequest { id: id.into() })
            .await
            .unwrap_err();
        let expected = if id == "999999999999" {
            Code::NotFound
        } else {
            Code::InvalidArgument
        };
        assert_eq!(err.code(), expected, "{id}");
    }

    let destroyed = c
        .droplets
        .destroy_droplet(pb::DestroyDropletRequest { id: d.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(destroyed.status, pb::DropletStatus::Archive as i32);
    let cluster = c
        .clusters
        .get_cluster(pb::GetClusterRequest { id: cluster.id })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    assert_eq!(cluster.droplet_count, 0);
    assert_eq!(cluster.cost.unwrap().monthly_cents, 0);
    server.stop().await.expect("stops cleanly");
}

async fn a_reused_request_id_with_another_body_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let req = |name: &str| pb::CreateClusterRequest {
        name: name.into(),
        region: "nyc3".into(),
        request_id: "k1".into(),
        ..Default::default()
    };
    let first = c
        .clusters
        .create_cluster(req("one"))
        .await
        .unwrap()
        .into_inner();
    let again = c
        .clusters
        .create_cluster(req("one"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.cluster.unwrap().id, again.cluster.unwrap().id);
    let err = c.clusters.create_cluster(req("two")).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server.stop().await.expect("stops cleanly");
}

async fn a_cluster_with_droplets_is_deleted_only_with_force(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("doomed", "tor1").await;
    let d = c.droplet(&cluster.id, "a").await;
    let err = c
        .clusters
        .delete_cluster(pb::DeleteClusterRequest {
            id: cluster.id.clone(),
            force: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let resp = c
        .clusters
        .delete_cluster(pb::DeleteClusterRequest {
            id: cluster.id.clone(),
            force: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.destroyed_droplets, 1);
    let d = c
        .droplets
        .get_droplet(pb::GetDropletRequest { id: d.id })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(d.status, pb::DropletStatus::Archive as i32);
    server.stop().await.expect("stops cleanly");
}

async fn update_cluster_changes_only_the_masked_fields(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("before", "sgp1").await;
    let updated = c
        .clusters
        .update_cluster(pb::UpdateClusterRequest {
            cluster: Some(pb::Cluster {
                id: cluster.id.clone(),
                name: "after".into(),
                description: "ignored: not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    assert_eq!(updated.name, "after");
    assert_eq!(updated.description, "");
    let err = c
        .clusters
        .update_cluster(pb::UpdateClusterRequest {
            cluster: Some(pb::Cluster {
                id: cluster.id,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["region".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["update_mask"]);
    server.stop().await.expect("stops cleanly");
}

async fn watching_an_action_streams_it_to_completion(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cloud = provisioning::cloud::CloudConfig {
        action_duration: std::time::Duration::from_millis(500),
        ..fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("watch", "nyc1").await;
    let d = c.droplet(&cluster.id, "w").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    let action = c
        .actions
        .create_droplet_action(pb::CreateDropletActionRequest {
            droplet_id: d.id,
            r#type: pb::ActionType::Reboot as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    let stream = c
        .actions
        .watch_droplet_action(pb::WatchDropletActionRequest { id: action.id })
        .await
        .unwrap()
        .into_inner();
    let seen: Vec<i32> = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.map(|r| r.unwrap().action.unwrap().status).collect(),
    )
    .await
    .expect("the stream ends when the action does");
    assert_eq!(seen.first(), Some(&(pb::ActionStatus::InProgress as i32)));
    assert_eq!(seen.last(), Some(&(pb::ActionStatus::Completed as i32)));
    assert_eq!(seen.len(), 2, "one item per change: {seen:?}");
    server.stop().await.expect("stops cleanly");
}

async fn the_catalog_lists_regions_sizes_and_images(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut catalog = pb::catalog_service_client::CatalogServiceClient::new(
        cg_testkit::channel(&server.endpoint()).await,
    );
    let sizes = catalog
        .list_sizes(pb::ListSizesRequest {
            region: "blr1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .sizes;
    assert!(
        sizes
            .iter()
            .any(|s| s.slug == "s-2vcpu-4gb" && s.price_monthly_cents == 2400)
    );
    assert!(!sizes.iter().any(|s| s.slug == "m-2vcpu-16gb"));
    let regions = catalog
        .list_regions(pb::ListRegionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .regions;
    assert!(
        regions
            .iter()
            .any(|r| r.slug == "nyc1" && r.capacity == 1000)
    );
    let images = catalog
        .list_images(pb::ListImagesRequest {})
        .await
        .unwrap()
        .into_inner()
        .images;
    assert!(images.iter().any(|i| i.slug == "ubuntu-24-04-x64"));
    let err = catalog
        .list_sizes(pb::ListSizesRequest {
            region: "atlantis".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await.expect("stops cleanly");
}

fn action(droplet_id: &str, t: pb::ActionType, request_id: &str) -> pb::CreateDropletActionRequest {
    pb::CreateDropletActionRequest {
        droplet_id: droplet_id.into(),
        r#type: t as i32,
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn an_action_request_id_replays_and_refuses_another_body(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cloud = provisioning::cloud::CloudConfig {
        action_duration: std::time::Duration::from_secs(60),
        ..fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("idem", "nyc1").await;
    let d = c.droplet(&cluster.id, "a").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    let first = c
        .actions
        .create_droplet_action(action(&d.id, pb::ActionType::Reboot, "act-1"))
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    // The droplet is locked now, yet the replay answers the first action.
    let again = c
        .actions
        .create_droplet_action(action(&d.id, pb::ActionType::Reboot, "act-1"))
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    assert_eq!(first.id, again.id);
    let err = c
        .actions
        .create_droplet_action(action(&d.id, pb::ActionType::PowerOff, "act-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server.stop().await.expect("stops cleanly");
}

async fn a_full_region_answers_resource_exhausted_with_retry_info(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cloud = provisioning::cloud::CloudConfig {
        region_capacity: 2,
        ..fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("small", "syd1").await;
    c.droplet(&cluster.id, "a").await;
    c.droplet(&cluster.id, "b").await;
    let err = c
        .droplets
        .create_droplet(Clients::droplet_request(&cluster.id, "c"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.get_error_details().retry_info().is_some(), "{err:?}");
    server.stop().await.expect("stops cleanly");
}

async fn a_failing_cloud_errors_the_action_and_unlocks_the_droplet(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cloud = provisioning::cloud::CloudConfig {
        failure_rate: 1.0,
        ..fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("flaky", "nyc1").await;
    let d = c.droplet(&cluster.id, "a").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    let a = c
        .actions
        .create_droplet_action(action(&d.id, pb::ActionType::PowerOff, ""))
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    let done = c.wait_action(&a.id).await;
    assert_eq!(done.status, pb::ActionStatus::Errored as i32);
    assert!(!done.error.is_empty());
    assert!(done.completed_at.is_some());
    // Unchanged and unlocked.
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    server.stop().await.expect("stops cleanly");
}

async fn droplet_pages_cover_the_list_once_and_tokens_keep_their_filter(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("pages", "nyc1").await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(c.droplet(&cluster.id, &format!("p{i}")).await.id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .droplets
            .list_droplets(pb::ListDropletsRequest {
                cluster_id: cluster.id.clone(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.droplets.len() <= 3);
        seen.extend(page.droplets.into_iter().map(|d| d.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        // The same token with another filter is refused, not misapplied.
        let err = c
            .droplets
            .list_droplets(pb::ListDropletsRequest {
                region: "sfo3".into(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violations(&err), ["page_token"]);
    }
    assert_eq!(seen, made);
    server.stop().await.expect("stops cleanly");
}

async fn a_forced_delete_during_an_action_errors_the_action(backend: Backend) {
    let db = TestDb::new(backend).await;
    let cloud = provisioning::cloud::CloudConfig {
        action_duration: std::time::Duration::from_millis(300),
        ..fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut c = Clients::connect(server.endpoint()).await;
    let cluster = c.cluster("gone", "ams3").await;
    let d = c.droplet(&cluster.id, "a").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    let a = c
        .actions
        .create_droplet_action(action(&d.id, pb::ActionType::PowerOff, ""))
        .await
        .unwrap()
        .into_inner()
        .action
        .unwrap();
    c.clusters
        .delete_cluster(pb::DeleteClusterRequest {
            id: cluster.id.clone(),
            force: true,
        })
        .await
        .unwrap();
    let done = c.wait_action(&a.id).await;
    assert_eq!(done.status, pb::ActionStatus::Errored as i32, "{done:?}");
    let d = c
        .droplets
        .get_droplet(pb::GetDropletRequest { id: d.id })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(d.status, pb::DropletStatus::Archive as i32);
    assert_eq!(
        d.cluster_name, "gone",
        "the droplet still names its deleted cluster"
    );
    server.stop().await.expect("stops cleanly");
}

on_both_backends!(
    an_action_request_id_replays_and_refuses_another_body,
    a_full_region_answers_resource_exhausted_with_retry_info,
    a_failing_cloud_errors_the_action_and_unlocks_the_droplet,
    droplet_pages_cover_the_list_once_and_tokens_keep_their_filter,
    a_forced_delete_during_an_action_errors_the_action,
    bad_input_is_answered_with_field_violations,
    missing_things_are_not_found,
    a_droplet_lives_from_new_to_archive,
    a_reused_request_id_with_another_body_is_refused,
    a_cluster_with_droplets_is_deleted_only_with_force,
    update_cluster_changes_only_the_masked_fields,
    watching_an_action_streams_it_to_completion,
    the_catalog_lists_regions_sizes_and_images,
);
