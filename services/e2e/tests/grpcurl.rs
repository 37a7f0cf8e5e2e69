//! grpcurl (the real binary) through the gateway: reflection lists every
//! public service; anonymous and viewer mutations are refused; an operator's
//! goes through to the backend.

use std::process::Command;

use cg_testkit::grpcurl::Grpcurl;
use clustergenie_proto::gateway::v1 as gpb;
use e2e::{Flow, fast_cloud, token};
use serde_json::Value;

fn grpcurl(args: &[&str]) -> std::process::Output {
    let bin = std::env::var("GRPCURL").unwrap_or_else(|_| "grpcurl".into());
    Command::new(&bin)
        .arg("-plaintext")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}); `just test` installs it"))
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        grpcurl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_sees_every_service_and_the_roles_hold() {
    let mesh = Flow::start(fast_cloud()).await;
    let gw = mesh.gateway(&mesh.gateway_config()).await;
    let addr = gw.addr.to_string();

    let out = run(vec![addr.clone(), "list".into()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for service in gateway::public_services() {
        assert!(
            listed.lines().any(|l| l == service),
            "{service} missing from:\n{listed}"
        );
    }
    for expected in [
        "clustergenie.provisioning.v1.DropletService",
        "clustergenie.jobs.v1.JobService",
        "clustergenie.diagnosis.v1.DiagnosisService",
        "clustergenie.monitoring.v1.MetricsService",
        "clustergenie.scaler.v1.ScalerService",
        "clustergenie.gateway.v1.TokenService",
    ] {
        assert!(
            listed.contains(expected),
            "{expected} missing from:\n{listed}"
        );
    }
    // Reflection describes methods too, so grpcurl can build requests.
    let out = run(vec![
        addr.clone(),
        "describe".into(),
        "clustergenie.provisioning.v1.ClusterService.CreateCluster".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let create = |who: Option<&str>| {
        let mut args = vec![
            "-d".to_string(),
            r#"{"name":"via-gateway","region":"nyc1"}"#.to_string(),
        ];
        if let Some(t) = who {
            args.extend(["-H".into(), format!("authorization: Bearer {t}")]);
        }
        args.extend([
            addr.clone(),
            "clustergenie.provisioning.v1.ClusterService/CreateCluster".into(),
        ]);
        args
    };
    let anonymous = run(create(None)).await;
    assert!(!anonymous.status.success());
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("Code: Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&anonymous.stderr)
    );
    let viewer = token(&gw.endpoint(), "viewer", gpb::Role::Viewer).await;
    let denied = run(create(Some(&viewer))).await;
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Code: PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let operator = token(&gw.endpoint(), "operator", gpb::Role::Operator).await;
    let ok = run(create(Some(&operator))).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(body["cluster"]["name"], "via-gateway");
    assert_eq!(body["cluster"]["region"], "nyc1");
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_and_the_gateway_describe_all_they_list() {
    let mesh = Flow::start(fast_cloud()).await;
    let mut targets: Vec<(String, String)> = mesh
        .mesh
        .services
        .iter()
        .map(|s| (s.name.to_string(), s.addr.to_string()))
        .collect();
    targets.push(("gateway".into(), mesh.mesh.gateway.to_string()));
    let checked = tokio::task::spawn_blocking(move || {
        for (name, addr) in &targets {
            let g = Grpcurl::new(addr, "");
            let listed = g.list();
            assert!(
                listed
                    .iter()
                    .any(|s| s == "grpc.reflection.v1.ServerReflection"),
                "{name} lists reflection: {listed:?}"
            );
            g.assert_everything_describes();
        }
        targets.len()
    })
    .await
    .unwrap();
    assert_eq!(checked, 6, "five services and the gateway");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scales_a_cluster_with_a_job_and_watches_it_with_grpcurl() {
    let flow = Flow::start(fast_cloud()).await;
    let prov = Grpcurl::new(flow.prov_addr(), "clustergenie.provisioning.v1");
    let jobs = Grpcurl::new(flow.jobs_addr(), "clustergenie.jobs.v1");
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
    // The watch starts with the job as it is when the watch opens (a fast
    // executor may have started it already), then each change in order.
    let rank = |status: &str| {
        [
            "JOB_STATUS_QUEUED",
            "JOB_STATUS_RUNNING",
            "JOB_STATUS_SUCCEEDED",
        ]
        .iter()
        .position(|s| *s == status)
        .unwrap_or_else(|| panic!("unexpected status {status}"))
    };
    assert!(
        seen.windows(2).all(|w| rank(&w[0].0) <= rank(&w[1].0)),
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
